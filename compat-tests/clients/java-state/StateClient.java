// Exercises org.apache.mesos.state.ZooKeeperState through libmesos.so the
// way Chronos and older Marathon use it: fetch, mutate, store, expunge and
// names, a store of a stale Variable, two writers racing to create an
// entry, both constructors (with and without digest credentials), the
// Future contract (get with a timeout, cancel, isDone), and the classes
// this library refuses. Every observation is printed as one line for the
// Rust test to check.
//
// Usage: StateClient <zk servers> <znode>

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.mesos.state.LevelDBState;
import org.apache.mesos.state.State;
import org.apache.mesos.state.Variable;
import org.apache.mesos.state.ZooKeeperState;

public class StateClient {
  static void out(String line) {
    System.out.println(line);
    System.out.flush();
  }

  static String text(Variable v) {
    return v == null ? "null" : "'" + new String(v.value(), StandardCharsets.UTF_8) + "'";
  }

  static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static String names(State state) throws Exception {
    List<String> names = new ArrayList<>();
    Iterator<String> it = state.names().get(10, TimeUnit.SECONDS);
    while (it.hasNext()) {
      names.add(it.next());
    }
    Collections.sort(names);
    return String.join(",", names);
  }

  static Object call(Object target, String name, Class<?>[] types, Object... args) throws Exception {
    java.lang.reflect.Method method =
        org.apache.mesos.state.AbstractState.class.getDeclaredMethod(name, types);
    method.setAccessible(true);
    return method.invoke(target, args);
  }

  public static void main(String[] args) throws Exception {
    String servers = args[0];
    String znode = args[1];

    State state = new ZooKeeperState(servers, 10, TimeUnit.SECONDS, znode);
    out("NAMES_EMPTY [" + names(state) + "]");

    // A name with no entry: an empty variable, storable once.
    Variable alpha = state.fetch("alpha").get();
    out("FETCH alpha " + text(alpha));
    Variable one = state.store(alpha.mutate(bytes("one"))).get();
    out("STORE alpha " + text(one));
    out("FETCH alpha " + text(state.fetch("alpha").get(10, TimeUnit.SECONDS)));

    // The stored variable moves on; the one it came from is now stale.
    Variable two = state.store(one.mutate(bytes("two"))).get();
    out("STORE alpha " + text(two));
    Variable stale = state.store(one.mutate(bytes("stale"))).get();
    out("STALE_STORE alpha " + text(stale));
    out("STALE_STORE_AGAIN alpha " + text(state.store(alpha.mutate(bytes("x"))).get()));
    out("FETCH alpha " + text(state.fetch("alpha").get()));

    // Two writers (two sessions) both fetch a missing name and race to
    // create it: the first wins, the second's store yields null.
    State other = new ZooKeeperState(servers, 10, TimeUnit.SECONDS, znode + "/");
    Variable mine = state.fetch("beta").get();
    Variable theirs = other.fetch("beta").get();
    out("RACE theirs " + text(other.store(theirs.mutate(bytes("theirs"))).get()));
    out("RACE mine " + text(state.store(mine.mutate(bytes("mine"))).get()));
    out("FETCH beta " + text(state.fetch("beta").get()));

    // A value mutated from a fresh fetch by the other session wins; ours,
    // fetched before, loses.
    Variable ours = state.fetch("beta").get();
    Variable newer = other.store(other.fetch("beta").get().mutate(bytes("newer"))).get();
    out("CONCURRENT theirs " + text(newer));
    out("CONCURRENT ours " + text(state.store(ours.mutate(bytes("ours"))).get()));

    Variable bin = state.store(state.fetch("binary").get().mutate(new byte[] {0, 1, 2, (byte) 255})).get();
    byte[] back = state.fetch("binary").get().value();
    out("BINARY " + back.length + " " + (back[3] & 0xff));

    out("NAMES [" + names(state) + "]");

    // Expunge needs the current uuid too.
    out("EXPUNGE stale " + state.expunge(one).get());
    Variable current = state.fetch("alpha").get();
    Future<Boolean> expunged = state.expunge(current);
    out("EXPUNGE current " + expunged.get(10, TimeUnit.SECONDS) + " done=" + expunged.isDone()
        + " cancelled=" + expunged.isCancelled());
    out("EXPUNGE again " + state.expunge(current).get());
    out("FETCH alpha " + text(state.fetch("alpha").get()));
    out("NAMES [" + names(state) + "]");

    // With digest credentials (the second constructor).
    State authed = new ZooKeeperState(servers, 10, TimeUnit.SECONDS, znode + "-auth",
        "digest", bytes("chronos:secret"));
    Variable secret = authed.store(authed.fetch("key").get().mutate(bytes("s3cret"))).get();
    out("AUTH store " + text(secret));
    out("AUTH fetch " + text(authed.fetch("key").get()));
    // Anyone may read; only the creator may write.
    State reader = new ZooKeeperState(servers, 10, TimeUnit.SECONDS, znode + "-auth");
    Variable read = reader.fetch("key").get();
    out("AUTH anonymous read " + text(read));
    try {
      reader.store(read.mutate(bytes("overwrite"))).get();
      out("AUTH anonymous write succeeded");
    } catch (ExecutionException e) {
      out("AUTH anonymous write refused");
    }

    // ZooKeeper that never answers: get(timeout) times out, cancel asks
    // for a discard (reporting false, as upstream), isDone then holds and
    // get() reports the cancellation.
    State nowhere = new ZooKeeperState("127.0.0.1:1", 60, TimeUnit.SECONDS, "/nowhere");
    Future<Variable> waiting = nowhere.fetch("x");
    try {
      waiting.get(200, TimeUnit.MILLISECONDS);
      out("TIMEOUT none");
    } catch (TimeoutException e) {
      out("TIMEOUT thrown");
    }
    out("PENDING done=" + waiting.isDone());
    out("CANCEL " + waiting.cancel(true) + " done=" + waiting.isDone()
        + " cancelled=" + waiting.isCancelled());
    try {
      waiting.get();
      out("CANCELLED get returned");
    } catch (CancellationException e) {
      out("CANCELLED get threw CancellationException");
    }
    Future<Iterator<String>> kept = nowhere.names();
    out("CANCEL without interrupt " + kept.cancel(false) + " done=" + kept.isDone());

    // A short session timeout bounds how long an operation may wait.
    State brief = new ZooKeeperState("127.0.0.1:1", 1, TimeUnit.SECONDS, "/nowhere");
    long started = System.nanoTime();
    try {
      brief.fetch("x").get();
      out("UNREACHABLE returned");
    } catch (ExecutionException e) {
      long ms = (System.nanoTime() - started) / 1000000;
      out("UNREACHABLE ExecutionException within_deadline=" + (ms < 15000));
    }

    // The natives that jars before 0.22.1 call from anonymous futures
    // (AbstractState.__fetch_get(long) and friends), reached by reflection
    // since this jar picks the named future classes.
    long fetch = (Long) call(state, "__fetch", new Class<?>[] {String.class}, "beta");
    Variable old = (Variable) call(state, "__fetch_get_timeout",
        new Class<?>[] {long.class, long.class, TimeUnit.class}, fetch, 10L, TimeUnit.SECONDS);
    out("OLD fetch " + text(old) + " done=" + call(state, "__fetch_is_done", new Class<?>[] {long.class}, fetch));
    call(state, "__fetch_finalize", new Class<?>[] {long.class}, fetch);
    long store = (Long) call(state, "__store", new Class<?>[] {Variable.class}, old.mutate(bytes("old")));
    out("OLD store " + text((Variable) call(state, "__store_get", new Class<?>[] {long.class}, store)));
    call(state, "__store_finalize", new Class<?>[] {long.class}, store);
    long names = (Long) call(state, "__names", new Class<?>[] {});
    @SuppressWarnings("unchecked")
    Iterator<String> it = (Iterator<String>) call(state, "__names_get", new Class<?>[] {long.class}, names);
    int count = 0;
    while (it.hasNext()) {
      it.next();
      count++;
    }
    out("OLD names " + count);
    call(state, "__names_finalize", new Class<?>[] {long.class}, names);
    try {
      call(state, "__fetch_get", new Class<?>[] {long.class}, names);
      out("OLD finalized get returned");
    } catch (java.lang.reflect.InvocationTargetException e) {
      out("OLD finalized get threw " + e.getCause().getClass().getSimpleName());
    }

    try {
      new LevelDBState("/tmp/leveldb-state");
      out("LEVELDB constructed");
    } catch (UnsupportedOperationException e) {
      out("LEVELDB refused");
    }

    // Let the collector finalize what is unreachable: variables, futures
    // and a state with work still pending must not crash the JVM.
    nowhere = null;
    waiting = null;
    kept = null;
    brief = null;
    for (int i = 0; i < 3; i++) {
      System.gc();
      System.runFinalization();
    }
    out("FETCH beta after gc " + text(state.fetch("beta").get()));
    out("DONE");
  }
}
