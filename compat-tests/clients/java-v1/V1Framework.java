// A v1 Java framework on org.apache.mesos.v1.scheduler.V1Mesos (the HTTP
// scheduler library) or V0Mesos (the v1 interface over the v0 driver), as
// MESOS_NATIVE_JAVA_LIBRARY provides them. It prints one line per
// callback, "CB connected", "CB disconnected", "CB received <TYPE> ...", so
// the test can compare the sequence with what upstream's library delivers.
//
// Usage: V1Framework <v1|v0> <master> <master http host:port> <mode>
//   mode "launch": SUBSCRIBE on connected, ACCEPT the first offer with a
//     LAUNCH of a command task, ACKNOWLEDGE every update, TEARDOWN once the
//     task is TASK_FINISHED, and wait until the master has the framework
//     among its completed ones.
//   mode "failover": like "launch", but the task runs until the scheduler,
//     after a disconnection, has re-subscribed under the same framework id
//     (the leading master is killed meanwhile); then it is killed.
//   mode "credential:PRINCIPAL:SECRET": the library is given a Credential
//     (and FrameworkInfo.principal); print the first event and stop.
//   mode "throw": connected() throws; the JVM must live on.
//   mode "threads": print the library's native threads while subscribed and
//     after the object is dropped and collected.
import java.io.*;
import java.net.*;
import java.util.*;
import java.util.concurrent.*;
import org.apache.mesos.v1.Protos.*;
import org.apache.mesos.v1.scheduler.Mesos;
import org.apache.mesos.v1.scheduler.Scheduler;
import org.apache.mesos.v1.scheduler.V0Mesos;
import org.apache.mesos.v1.scheduler.V1Mesos;
import org.apache.mesos.v1.scheduler.Protos.Call;
import org.apache.mesos.v1.scheduler.Protos.Event;

public class V1Framework {
  static final BlockingQueue<String> events = new LinkedBlockingQueue<>();

  static synchronized void out(String line) {
    System.out.println(line);
    System.out.flush();
  }

  static void cb(String line) {
    out("CB " + line);
    events.add(line);
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

  static Resource scalar(String name, double value) {
    return Resource.newBuilder().setName(name).setType(Value.Type.SCALAR)
        .setScalar(Value.Scalar.newBuilder().setValue(value)).build();
  }

  static class Sched implements Scheduler {
    final String mode;
    volatile FrameworkInfo info;
    volatile FrameworkID frameworkId;
    volatile boolean launched;
    volatile AgentID agentId;

    Sched(String mode, FrameworkInfo info) {
      this.mode = mode;
      this.info = info;
      this.launched = mode.equals("threads");
    }

    Call.Builder call(Call.Type type) {
      Call.Builder b = Call.newBuilder().setType(type);
      if (frameworkId != null) b.setFrameworkId(frameworkId);
      return b;
    }

    void subscribe(Mesos mesos) {
      FrameworkInfo.Builder i = info.toBuilder();
      if (frameworkId != null) i.setId(frameworkId);
      mesos.send(call(Call.Type.SUBSCRIBE)
          .setSubscribe(Call.Subscribe.newBuilder().setFrameworkInfo(i)).build());
    }

    volatile Mesos connectedTo;
    volatile boolean subscribed;

    public void connected(Mesos mesos) {
      cb("connected");
      if (mode.equals("throw")) {
        events.add("threw");
        throw new RuntimeException("thrown by connected()");
      }
      subscribed = false;
      connectedTo = mesos;
      subscribe(mesos);
    }

    public void disconnected(Mesos mesos) {
      cb("disconnected");
      connectedTo = null;
      subscribed = false;
    }

    // A master that is not yet the leader, or still recovering, refuses
    // SUBSCRIBE (503, 307): try again while connected and not subscribed,
    // as upstream's example frameworks do. The library drops the extra
    // ones while a SUBSCRIBE is in flight.
    void retrySubscribe() {
      Thread t = new Thread(() -> {
        while (true) {
          try {
            Thread.sleep(1000);
          } catch (InterruptedException e) {
            return;
          }
          Mesos m = connectedTo;
          if (m != null && !subscribed) subscribe(m);
        }
      });
      t.setDaemon(true);
      t.start();
    }

    public void received(Mesos mesos, Event event) {
      switch (event.getType()) {
        case SUBSCRIBED:
          boolean same = frameworkId != null
              && frameworkId.equals(event.getSubscribed().getFrameworkId());
          frameworkId = event.getSubscribed().getFrameworkId();
          subscribed = true;
          cb("received SUBSCRIBED" + (same ? " same-id" : ""));
          break;
        case HEARTBEAT:
          cb("received HEARTBEAT");
          break;
        case OFFERS: {
          List<Offer> offers = event.getOffers().getOffersList();
          out("CB received OFFERS " + offers.size());
          for (Offer offer : offers) {
            if (!launched) {
              launched = true;
              agentId = offer.getAgentId();
              String command = mode.equals("failover") ? "sleep 600" : "sleep 1";
              TaskInfo task = TaskInfo.newBuilder()
                  .setName("v1 task")
                  .setTaskId(TaskID.newBuilder().setValue("t1"))
                  .setAgentId(offer.getAgentId())
                  .setCommand(CommandInfo.newBuilder().setValue(command))
                  .addResources(scalar("cpus", 0.1))
                  .addResources(scalar("mem", 32))
                  .build();
              mesos.send(call(Call.Type.ACCEPT)
                  .setAccept(Call.Accept.newBuilder()
                      .addOfferIds(offer.getId())
                      .addOperations(Offer.Operation.newBuilder()
                          .setType(Offer.Operation.Type.LAUNCH)
                          .setLaunch(Offer.Operation.Launch.newBuilder().addTaskInfos(task))))
                  .build());
            } else {
              mesos.send(call(Call.Type.DECLINE)
                  .setDecline(Call.Decline.newBuilder().addOfferIds(offer.getId())
                      .setFilters(Filters.newBuilder().setRefuseSeconds(1)))
                  .build());
            }
          }
          break;
        }
        case UPDATE: {
          TaskStatus status = event.getUpdate().getStatus();
          cb("received UPDATE " + status.getTaskId().getValue() + " " + status.getState());
          if (status.hasUuid()) {
            mesos.send(call(Call.Type.ACKNOWLEDGE)
                .setAcknowledge(Call.Acknowledge.newBuilder()
                    .setAgentId(status.getAgentId())
                    .setTaskId(status.getTaskId())
                    .setUuid(status.getUuid()))
                .build());
          }
          break;
        }
        case ERROR:
          cb("received ERROR " + event.getError().getMessage());
          break;
        default:
          cb("received " + event.getType());
      }
    }
  }

  // Native threads the library starts, by the names it gives them.
  static int libraryThreads() {
    return threadsNamed("mesos-");
  }

  // Threads whose name (as the kernel keeps it: at most 15 characters)
  // starts with `prefix`.
  static int threadsNamed(String prefix) {
    int n = 0;
    File[] tasks = new File("/proc/self/task").listFiles();
    if (tasks == null) return -1;
    for (File task : tasks) {
      try {
        String comm = new String(java.nio.file.Files.readAllBytes(new File(task, "comm").toPath())).trim();
        if (comm.startsWith(prefix)) n++;
      } catch (IOException e) {
        // The thread ended while we looked.
      }
    }
    return n;
  }

  static String get(String hostPort, String path) {
    try {
      HttpURLConnection c = (HttpURLConnection) new java.net.URL("http://" + hostPort + path).openConnection();
      c.setConnectTimeout(2000);
      c.setReadTimeout(5000);
      if (c.getResponseCode() != 200) return "";
      try (InputStream in = c.getInputStream()) {
        return new String(in.readAllBytes());
      }
    } catch (IOException e) {
      return "";
    }
  }

  // Whether the master lists the framework among its completed ones (the
  // array holds objects whose "id" is the framework id).
  static boolean completed(String hostPort, String id) {
    String state = get(hostPort, "/master/frameworks");
    int at = state.indexOf("\"completed_frameworks\"");
    if (at < 0) return false;
    int start = state.indexOf('[', at);
    int depth = 0;
    for (int i = start; i >= 0 && i < state.length(); i++) {
      char ch = state.charAt(i);
      if (ch == '[') depth++;
      if (ch == ']' && --depth == 0) {
        return state.substring(start, i).contains("\"id\":\"" + id + "\"");
      }
    }
    return false;
  }

  public static void main(String[] args) throws Exception {
    String impl = args[0];
    String master = args[1];
    String http = args[2];
    String mode = args[3];
    FrameworkInfo info = FrameworkInfo.newBuilder()
        .setUser(System.getProperty("user.name"))
        .setName("java-" + impl)
        .setFailoverTimeout(mode.equals("failover") ? 120 : 0)
        .build();
    Sched sched = new Sched(mode, info);
    if (impl.equals("v1") && !mode.equals("threads")) sched.retrySubscribe();
    if (mode.equals("threads")) out("THREADS loaded " + libraryThreads());
    Mesos mesos;
    if (mode.startsWith("credential:")) {
      String[] parts = mode.split(":", 3);
      Credential credential = Credential.newBuilder().setPrincipal(parts[1]).setSecret(parts[2]).build();
      sched.info = info.toBuilder().setPrincipal(parts[1]).build();
      mesos = impl.equals("v1")
          ? new V1Mesos(sched, master, credential)
          : new V0Mesos(sched, sched.info, master, credential);
      String first = await("received ", 60);
      out("FIRST " + first);
      if (first.startsWith("received SUBSCRIBED")) mesos.send(sched.call(Call.Type.TEARDOWN).build());
      out("DONE");
      return;
    }
    mesos = impl.equals("v1") ? new V1Mesos(sched, master) : new V0Mesos(sched, info, master);

    if (mode.equals("threads")) {
      await("received SUBSCRIBED", 60);
      out("THREADS running " + libraryThreads());
      mesos.send(sched.call(Call.Type.TEARDOWN).build());
      mesos = null;
      sched = null;
      for (int i = 0; i < 100 && libraryThreads() > 0; i++) {
        System.gc();
        System.runFinalization();
        Thread.sleep(100);
      }
      out("THREADS collected " + libraryThreads());
      out("DONE");
      return;
    }

    if (mode.equals("throw")) {
      // The library stops delivering; the JVM goes on.
      await("threw", 60);
      // connected() is still unwinding on the library's callback thread,
      // which reports the stop once back in the library and then ends:
      // its end is the library's signal that the report is written.
      // (The V0Mesos adapter's thread lives on until the driver is
      // collected, so there the V1 thread is the only one to wait for.)
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (threadsNamed("mesos-v1-schedu") > 0) {
        if (System.nanoTime() > deadline) {
          out("TIMEOUT waiting for the library's callback thread to end");
          System.exit(2);
        }
        Thread.sleep(20);
      }
      out("ALIVE");
      out("DONE");
      return;
    }

    if (mode.equals("failover")) {
      await("received UPDATE t1 TASK_RUNNING", 120);
      out("READY");
      await("disconnected", 300);
      await("received SUBSCRIBED", 300);
      mesos.send(sched.call(Call.Type.TEARDOWN).build());
      out("DONE");
      return;
    }

    await("received UPDATE t1 TASK_FINISHED", 120);
    mesos.send(sched.call(Call.Type.TEARDOWN).build());
    String id = sched.frameworkId.getValue();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!completed(http, id)) {
      if (System.nanoTime() > deadline) {
        out("TIMEOUT waiting for the framework to be torn down");
        System.exit(2);
      }
      Thread.sleep(100);
    }
    out("TORN_DOWN " + id);
    if (impl.equals("v1")) await("disconnected", 30);
    out("DONE");
  }
}
