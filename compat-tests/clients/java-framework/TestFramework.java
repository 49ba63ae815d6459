// A v0 Java framework driven through org.apache.mesos.MesosSchedulerDriver
// (and so through whichever libmesos.so MESOS_NATIVE_JAVA_LIBRARY names).
// It prints one line per scheduler callback, "CB <driver> <callback> ...",
// and one line per driver call result, "RET <call> <status>", so the test
// can compare the sequence with what upstream's driver delivers.
//
// Usage: TestFramework <master> <executor command> <mode>
//   mode "scenario": launch two tasks on a custom executor, exchange
//     framework messages, kill one, reconcile, fail over to a second driver
//     under the same framework id, kill the other and stop.
//   mode "throw": a callback throws; the driver must abort.
//   mode "down": the master is down; start() must return DRIVER_RUNNING and
//     the driver keep retrying until stopped.
//   mode "threads": print the driver's native threads (by name, from
//     /proc/self/task) while running and after stop and collection.
//   mode "late": the master comes up after start(); the driver registers.
//   mode "credential:PRINCIPAL:SECRET": the driver is given a Credential
//     (and FrameworkInfo.principal); it registers (or reports error) and
//     stops.
//   mode "latency:N": decline every offer at once and print "LAT <epoch us>"
//     on entering resourceOffers, for N offer rounds (the benchmark).
import java.util.*;
import java.util.concurrent.*;
import org.apache.mesos.*;
import org.apache.mesos.Protos.*;

public class TestFramework {
  static final BlockingQueue<String> events = new LinkedBlockingQueue<>();
  static final java.util.concurrent.atomic.AtomicInteger latencyRounds = new java.util.concurrent.atomic.AtomicInteger();
  static volatile SlaveID slaveId;
  static volatile ExecutorID executorId = ExecutorID.newBuilder().setValue("java-executor").build();

  static synchronized void out(String line) {
    System.out.println(line);
    System.out.flush();
  }

  static String await(String prefix, long seconds) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (true) {
      long left = deadline - System.nanoTime();
      String e = events.poll(Math.max(left, 0), TimeUnit.NANOSECONDS);
      if (e == null) {
        out("TIMEOUT waiting for " + prefix);
        System.exit(2);
      }
      if (e.startsWith(prefix)) return e;
    }
  }

  static class Sched implements Scheduler {
    final String name;
    final String executorCommand;
    final boolean launch;
    final boolean throwOnRegistered;
    boolean launched = false;
    boolean latency = false;

    Sched(String name, String executorCommand, boolean launch, boolean throwOnRegistered) {
      this.name = name;
      this.executorCommand = executorCommand;
      this.launch = launch;
      this.throwOnRegistered = throwOnRegistered;
    }

    void cb(String line) {
      out("CB " + name + " " + line);
      events.add(line);
    }

    public void registered(SchedulerDriver d, FrameworkID id, MasterInfo m) {
      cb("registered " + id.getValue() + " " + m.getPid());
      if (throwOnRegistered) throw new RuntimeException("thrown by registered()");
    }

    public void reregistered(SchedulerDriver d, MasterInfo m) { cb("reregistered " + m.getPid()); }

    public void disconnected(SchedulerDriver d) { cb("disconnected"); }

    public void resourceOffers(SchedulerDriver d, List<Offer> offers) {
      if (latency) {
        java.time.Instant now = java.time.Instant.now();
        out("LAT " + (now.getEpochSecond() * 1000000L + now.getNano() / 1000));
        latencyRounds.incrementAndGet();
        for (Offer offer : offers) d.declineOffer(offer.getId(), Filters.newBuilder().setRefuseSeconds(0).build());
        return;
      }
      out("CB " + name + " resourceOffers " + offers.size());
      for (Offer offer : offers) {
        if (launch && !launched) {
          launched = true;
          slaveId = offer.getSlaveId();
          ExecutorInfo executor = ExecutorInfo.newBuilder()
              .setExecutorId(executorId)
              .setName("java test executor")
              .setCommand(CommandInfo.newBuilder().setValue(executorCommand)
                  .setEnvironment(Environment.newBuilder().addVariables(
                      Environment.Variable.newBuilder().setName("MESOS_NATIVE_JAVA_LIBRARY")
                          .setValue(System.getenv("MESOS_NATIVE_JAVA_LIBRARY")))))
              .addResources(scalar("cpus", 0.1))
              .addResources(scalar("mem", 128))
              .build();
          List<TaskInfo> tasks = new ArrayList<>();
          for (String t : new String[] {"A", "B"}) {
            tasks.add(TaskInfo.newBuilder()
                .setName("task " + t)
                .setTaskId(TaskID.newBuilder().setValue(t))
                .setSlaveId(offer.getSlaveId())
                .setExecutor(executor)
                .addResources(scalar("cpus", 0.1))
                .addResources(scalar("mem", 16))
                .build());
          }
          out("RET launchTasks " + d.launchTasks(Collections.singletonList(offer.getId()), tasks));
        } else {
          d.declineOffer(offer.getId(), Filters.newBuilder().setRefuseSeconds(1).build());
        }
      }
    }

    public void offerRescinded(SchedulerDriver d, OfferID id) { out("CB " + name + " offerRescinded"); }

    public void statusUpdate(SchedulerDriver d, TaskStatus s) {
      cb("statusUpdate " + s.getTaskId().getValue() + " " + s.getState()
          + (s.hasSlaveId() ? "" : " NO_SLAVE_ID"));
    }

    public void frameworkMessage(SchedulerDriver d, ExecutorID e, SlaveID s, byte[] data) {
      cb("frameworkMessage " + e.getValue() + " " + new String(data));
    }

    public void slaveLost(SchedulerDriver d, SlaveID id) { cb("slaveLost"); }

    public void executorLost(SchedulerDriver d, ExecutorID e, SlaveID s, int status) {
      cb("executorLost " + e.getValue());
    }

    public void error(SchedulerDriver d, String message) { cb("error " + message); }
  }

  // Native threads the driver library starts, by the names it gives them.
  static int driverThreads() throws java.io.IOException {
    int n = 0;
    java.io.File[] tasks = new java.io.File("/proc/self/task").listFiles();
    if (tasks == null) return -1;
    for (java.io.File task : tasks) {
      try {
        String comm = new String(java.nio.file.Files.readAllBytes(new java.io.File(task, "comm").toPath())).trim();
        if (comm.startsWith("mesos-")) n++;
      } catch (java.io.IOException e) {
        // The thread ended while we looked.
      }
    }
    return n;
  }

  static Resource scalar(String name, double value) {
    return Resource.newBuilder().setName(name).setType(Value.Type.SCALAR)
        .setScalar(Value.Scalar.newBuilder().setValue(value)).build();
  }

  static FrameworkInfo.Builder info() {
    return FrameworkInfo.newBuilder().setUser("").setName("java-compat").setFailoverTimeout(60);
  }

  public static void main(String[] args) throws Exception {
    String master = args[0];
    String executorCommand = args[1];
    String mode = args[2];
    MesosNativeLibrary.load();
    MesosNativeLibrary.Version v = MesosNativeLibrary.version();
    out("VERSION " + v.major + "." + v.minor + "." + v.patch);
    if (mode.equals("down")) {
      MesosSchedulerDriver d = new MesosSchedulerDriver(new Sched("s1", executorCommand, false, false), info().build(), master);
      out("RET start " + d.start());
      Thread.sleep(3000);
      out("RET stop " + d.stop());
      out("RET join " + d.join());
      out("DONE");
      return;
    }
    if (mode.startsWith("latency:")) {
      int rounds = Integer.parseInt(mode.substring("latency:".length()));
      Sched s = new Sched("s1", executorCommand, false, false);
      s.latency = true;
      MesosSchedulerDriver d = new MesosSchedulerDriver(s, info().build(), master);
      out("RET start " + d.start());
      await("registered", 60);
      // Count rounds through the printed lines: wait until enough arrived.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(600);
      while (latencyRounds.get() < rounds && System.nanoTime() < deadline) Thread.sleep(50);
      out("RET stop " + d.stop());
      out("DONE");
      return;
    }
    if (mode.equals("threads")) {
      out("THREADS loaded " + driverThreads());
      MesosSchedulerDriver d = new MesosSchedulerDriver(new Sched("s1", executorCommand, false, false), info().build(), master);
      out("RET start " + d.start());
      await("registered", 60);
      out("THREADS running " + driverThreads());
      out("RET stop " + d.stop());
      out("RET join " + d.join());
      d = null;
      for (int i = 0; i < 50 && driverThreads() > 0; i++) {
        System.gc();
        System.runFinalization();
        Thread.sleep(100);
      }
      out("THREADS stopped " + driverThreads());
      out("DONE");
      return;
    }
    if (mode.equals("late")) {
      MesosSchedulerDriver d = new MesosSchedulerDriver(new Sched("s1", executorCommand, false, false), info().build(), master);
      out("RET start " + d.start());
      await("registered", 120);
      out("RET stop " + d.stop());
      out("RET join " + d.join());
      out("DONE");
      return;
    }
    if (mode.startsWith("credential:")) {
      String[] parts = mode.split(":", 3);
      Credential credential = Credential.newBuilder().setPrincipal(parts[1]).setSecret(parts[2]).build();
      MesosSchedulerDriver d = new MesosSchedulerDriver(
          new Sched("s1", executorCommand, false, false),
          info().setPrincipal(parts[1]).build(), master, credential);
      out("RET start " + d.start());
      String first = await("", 60);
      out("FIRST " + first);
      out("RET stop " + d.stop());
      out("DONE");
      return;
    }
    if (mode.equals("throw")) {
      MesosSchedulerDriver d = new MesosSchedulerDriver(new Sched("s1", executorCommand, false, true), info().build(), master);
      out("RET start " + d.start());
      out("RET join " + d.join());
      out("RET stop " + d.stop());
      out("DONE");
      return;
    }

    Sched s1 = new Sched("s1", executorCommand, true, false);
    MesosSchedulerDriver d1 = new MesosSchedulerDriver(s1, info().build(), master);
    out("RET start " + d1.start());
    String registered = await("registered", 60);
    String frameworkId = registered.split(" ")[1];
    await("statusUpdate A TASK_RUNNING", 120);
    await("statusUpdate B TASK_RUNNING", 60);
    out("RET sendFrameworkMessage " + d1.sendFrameworkMessage(executorId, slaveId, "ping".getBytes()));
    await("frameworkMessage", 60);
    out("RET killTask " + d1.killTask(TaskID.newBuilder().setValue("B").build()));
    await("statusUpdate B TASK_KILLED", 60);
    out("RET reconcileTasks " + d1.reconcileTasks(Collections.singletonList(TaskStatus.newBuilder()
        .setTaskId(TaskID.newBuilder().setValue("A")).setState(TaskState.TASK_STAGING)
        .setSlaveId(slaveId).build())));
    await("statusUpdate A TASK_RUNNING", 60);
    out("RET stop(failover) " + d1.stop(true));
    out("RET join " + d1.join());

    Sched s2 = new Sched("s2", executorCommand, false, false);
    MesosSchedulerDriver d2 = new MesosSchedulerDriver(s2,
        info().setId(FrameworkID.newBuilder().setValue(frameworkId)).build(), master);
    out("RET start " + d2.start());
    String again = await("registered", 60);
    out("SAME_ID " + again.split(" ")[1].equals(frameworkId));
    out("RET sendFrameworkMessage " + d2.sendFrameworkMessage(executorId, slaveId, "again".getBytes()));
    await("frameworkMessage", 60);
    out("RET killTask " + d2.killTask(TaskID.newBuilder().setValue("A").build()));
    await("statusUpdate A TASK_KILLED", 60);
    out("RET stop " + d2.stop());
    out("RET join " + d2.join());
    out("DONE");
  }
}
