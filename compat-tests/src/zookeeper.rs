//! A real ZooKeeper 3.8 (the Debian `zookeeper` package) on a free
//! loopback port, for tests: started with its own data directory, ready
//! once `ruok` answers `imok`, stopped by its pid (never by name).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running ZooKeeper server. Dropping it stops the server.
pub struct ZooKeeperServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl ZooKeeperServer {
    /// Starts a standalone server and waits until it serves.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = ZooKeeperServer {
            port: crate::free_port(),
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

    /// Kills the server (by pid) and reaps it; its data stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts again on the same port with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn config(&self) -> PathBuf {
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).expect("zk data dir");
        let config = self.dir.path().join("zoo.cfg");
        std::fs::write(
            &config,
            format!(
                "tickTime=2000\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\n4lw.commands.whitelist=ruok\n",
                data.display(),
                self.port
            ),
        )
        .expect("zoo.cfg");
        config
    }

    fn spawn(&mut self) {
        let config = self.config();
        let log = std::fs::File::create(self.dir.path().join("zookeeper.log")).expect("zk log");
        let child = Command::new("java")
            .arg("-Xmx256m")
            .arg("-cp")
            .arg("/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar")
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("zk log"))
            .stderr(log)
            .spawn()
            .expect("start ZooKeeper (is the Debian zookeeper package installed?)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.ruok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log =
            std::fs::read_to_string(self.dir.path().join("zookeeper.log")).unwrap_or_default();
        panic!("ZooKeeper did not answer ruok within 60s:\n{log}");
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
