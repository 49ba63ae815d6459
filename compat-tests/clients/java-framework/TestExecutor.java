// A custom executor on org.apache.mesos.MesosExecutorDriver: reports every
// launched task running, answers framework messages with "pong:<data>",
// reports killed tasks killed and stops on shutdown. Callbacks go to
// stderr (the sandbox's stderr file).
import org.apache.mesos.*;
import org.apache.mesos.Protos.*;

public class TestExecutor implements Executor {
  static void log(String line) {
    System.err.println("EXEC " + line);
    System.err.flush();
  }

  public void registered(ExecutorDriver d, ExecutorInfo e, FrameworkInfo f, SlaveInfo s) {
    log("registered " + e.getExecutorId().getValue() + " " + f.getName());
  }

  public void reregistered(ExecutorDriver d, SlaveInfo s) { log("reregistered"); }

  public void disconnected(ExecutorDriver d) { log("disconnected"); }

  public void launchTask(ExecutorDriver d, TaskInfo task) {
    log("launchTask " + task.getTaskId().getValue());
    d.sendStatusUpdate(TaskStatus.newBuilder().setTaskId(task.getTaskId())
        .setState(TaskState.TASK_RUNNING).build());
  }

  public void killTask(ExecutorDriver d, TaskID id) {
    log("killTask " + id.getValue());
    d.sendStatusUpdate(TaskStatus.newBuilder().setTaskId(id).setState(TaskState.TASK_KILLED).build());
  }

  public void frameworkMessage(ExecutorDriver d, byte[] data) {
    log("frameworkMessage " + new String(data));
    d.sendFrameworkMessage(("pong:" + new String(data)).getBytes());
  }

  public void shutdown(ExecutorDriver d) {
    log("shutdown");
    d.stop();
  }

  public void error(ExecutorDriver d, String message) { log("error " + message); }

  public static void main(String[] args) {
    Status status = new MesosExecutorDriver(new TestExecutor()).run();
    log("run returned " + status);
    System.exit(status == Status.DRIVER_STOPPED ? 0 : 1);
  }
}
