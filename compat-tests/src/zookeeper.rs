//! A real ZooKeeper 3.8 server for tests: Debian's `zookeeper` package run
//! as `ZooKeeperServerMain` on a free loopback port with its own temporary
//! data directory, stopped by its pid (never by name) and killed on drop.
//!
//! Uses only `std` and `tempfile` so crates below compat-tests (the
//! detector) can include this same file in their own tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where `.ci/setup-zookeeper.sh` (Debian's package) puts the jars.
const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
const CLASSPATH: &str = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar";

/// One ZooKeeper server process.
pub struct ZooKeeperServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl ZooKeeperServer {
    /// Starts a server and waits until it answers `ruok` with `imok`.
    /// Fails loudly when ZooKeeper is not installed.
    pub fn start() -> Self {
        assert!(
            std::path::Path::new(ZOOKEEPER_JAR).exists(),
            "{ZOOKEEPER_JAR} is missing: run `bash .ci/setup-zookeeper.sh` first"
        );
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
            listener.local_addr().expect("local addr").port()
        };
        let dir = tempfile::tempdir().expect("tempdir for ZooKeeper");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("ZooKeeper data dir");
        // A short tick lets tests negotiate sessions down to 1 s.
        let config = format!(
            "tickTime=500\nminSessionTimeout=1000\nmaxSessionTimeout=60000\n\
             dataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\n4lw.commands.whitelist=ruok\n",
            data.display()
        );
        std::fs::write(dir.path().join("zoo.cfg"), config).expect("write zoo.cfg");
        let mut server = ZooKeeperServer {
            port,
            dir,
            child: None,
        };
        server.spawn();
        server
    }

    /// `127.0.0.1:<port>`.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (by pid) and reaps it. Its data stay for a restart.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server and starts it again on the same port with the same
    /// data directory (so sessions and znodes survive, as in production).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("zookeeper.log")).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("zookeeper.log"))
            .expect("ZooKeeper log");
        let child = Command::new("java")
            .args(["-Xmx256m", "-cp", CLASSPATH])
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("ZooKeeper log"))
            .stderr(log)
            .spawn()
            .expect("spawn java ZooKeeperServerMain (is a JRE installed?)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.ruok() {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "ZooKeeper exited during startup ({status}):\n{}",
                        self.log()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "ZooKeeper did not answer ruok within 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("zoo.cfg")
    }

    fn ruok(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream.write_all(b"ruok").is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer == "imok"
    }
}

impl Drop for ZooKeeperServer {
    fn drop(&mut self) {
        self.stop();
    }
}
