//! The built binary, run as an operator runs it: `chronik serve` on a
//! database, signalled as an orchestrator signals it.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `chronik`, without the settings of the environment the tests run in.
pub fn chronik() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chronik"));
    // Settings of the environment the tests run in must not change what is checked.
    for name in [
        "NO_COLOR",
        "CHRONIK_LOG",
        "CHRONIK_LOG_FORMAT",
        "DATABASE_URL",
    ] {
        command.env_remove(name);
    }
    command
}

/// A port nothing listens on (yet).
pub fn spare_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a spare port")
        .port()
}

/// A running `chronik serve`; killed, if still running, when dropped.
pub struct Served {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
    /// Its standard error, for failure messages.
    log: PathBuf,
    token_file: PathBuf,
}

impl Served {
    /// Starts `chronik serve` on `database_url` with `settings` (environment
    /// variables) and waits until it is ready.
    pub async fn start(database_url: &str, settings: &[(&str, &str)]) -> Served {
        let name = format!("chronik-served-{}", uuid::Uuid::new_v4().simple());
        let log = std::env::temp_dir().join(format!("{name}.log"));
        let token_file = std::env::temp_dir().join(format!("{name}-admin-token"));
        let addr = format!("127.0.0.1:{}", spare_port());
        let child = chronik()
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("CHRONIK_ADDR", &addr)
            .env("CHRONIK_INITIAL_TOKEN_FILE", &token_file)
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .expect("starting chronik serve");
        let served = Served {
            child,
            addr,
            log,
            token_file,
        };
        let client = crate::helpers::client(None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !client
            .get(served.url("/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(
                Instant::now() < deadline,
                "the server never became ready: {}",
                served.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        served
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `KILL`) to the server.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// How the server ended, waiting for it at most `within`.
    pub async fn exit_status(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the server") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server still runs {within:?} later: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the server refuses new connections, at most `within`.
    pub async fn wait_until_refusing(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while tokio::net::TcpStream::connect(&self.addr).await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "still accepting connections {within:?} later: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What it wrote to standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_file(&self.token_file);
    }
}
