// ZooKeeperState across an expired session: store a variable, then (once
// the test has frozen this JVM with SIGSTOP until ZooKeeper expired its
// session, and thawed it) fetch, store and fetch again through the same
// State object, printing each result.
//
// Usage: ExpiryClient <zk servers> <znode> <go file>
//   prints "STORED alpha 'one'", then waits until <go file> exists.
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import org.apache.mesos.state.State;
import org.apache.mesos.state.Variable;
import org.apache.mesos.state.ZooKeeperState;

public class ExpiryClient {
  static void out(String line) {
    System.out.println(line);
    System.out.flush();
  }

  static String text(Variable v) {
    return v == null ? "null" : "'" + new String(v.value(), StandardCharsets.UTF_8) + "'";
  }

  public static void main(String[] args) throws Exception {
    State state = new ZooKeeperState(args[0], 2, TimeUnit.SECONDS, args[1]);
    Variable alpha = state.fetch("alpha").get(30, TimeUnit.SECONDS);
    alpha = state.store(alpha.mutate("one".getBytes(StandardCharsets.UTF_8))).get(30, TimeUnit.SECONDS);
    out("STORED alpha " + text(alpha));
    File go = new File(args[2]);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!go.exists()) {
      if (System.nanoTime() > deadline) {
        out("TIMEOUT waiting for " + go);
        System.exit(2);
      }
      Thread.sleep(50);
    }
    Variable again = state.fetch("alpha").get(60, TimeUnit.SECONDS);
    out("FETCH after expiry " + text(again));
    Variable stored = state.store(again.mutate("two".getBytes(StandardCharsets.UTF_8))).get(60, TimeUnit.SECONDS);
    out("STORE after expiry " + text(stored));
    out("STALE_STORE " + text(state.store(alpha.mutate("three".getBytes(StandardCharsets.UTF_8))).get(60, TimeUnit.SECONDS)));
    out("FETCH " + text(state.fetch("alpha").get(60, TimeUnit.SECONDS)));
    out("DONE");
  }
}
