//! A Postgres server of a test's own, for tests that stop and start it (an
//! outage, a restart): `initdb` into a temporary directory, on a spare port,
//! run as the `postgres` user when the tests run as root (Postgres refuses
//! root), stopped and removed when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use chronik::config::Config;
use chronik::db::tokens::TokenSpec;
use chronik::models::token::Scope;

pub struct PrivatePostgres {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
}

/// The newest installed Postgres's programs (Debian's layout), or those on `PATH`.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_unstable();
    match versions.last() {
        Some(version) => PathBuf::from(format!("/usr/lib/postgresql/{version}/bin")),
        None => PathBuf::new(),
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn spare_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a spare port")
        .port()
}

impl PrivatePostgres {
    /// A server's directory, not initialized yet, and a spare port for it.
    fn new() -> PrivatePostgres {
        let dir =
            std::env::temp_dir().join(format!("chronik-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("creating the server's directory");
        let server = PrivatePostgres {
            bin: bin_dir(),
            dir,
            port: spare_port(),
        };
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&server.dir)
                .status()
                .expect("chown");
            assert!(status.success());
        }
        server
    }

    /// Initializes and starts a server.
    pub fn start() -> PrivatePostgres {
        let server = Self::new();
        server.run(
            "initdb",
            &[
                "-D",
                &server.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        server.start_again();
        server
    }

    /// A streaming replica of this server (a hot standby), started: a base
    /// backup (`pg_basebackup -R`) on a port of its own, replaying this
    /// server's log as it comes.
    pub fn replica(&self) -> PrivatePostgres {
        let replica = Self::new();
        let port = self.port.to_string();
        replica.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                &replica.data(),
                "-R",
                "-X",
                "stream",
                "--no-sync",
                // Not a spread checkpoint, which would take minutes.
                "--checkpoint=fast",
            ],
        );
        replica.start_again();
        replica
    }

    /// Runs `sql` with `psql` in `database`; what it printed, trimmed.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let port = self.port.to_string();
        self.run(
            "psql",
            &[
                "-X",
                "-q",
                "-At",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ],
        )
        .trim()
        .to_owned()
    }

    /// Chronik's database `chronik` on this server, migrated, and a `write`
    /// token for it: the settings to serve it with, and the token's secret.
    pub async fn chronik(&self) -> (Config, String) {
        let config = Config::for_database(format!("{}/chronik", self.url()));
        let pool = chronik::app::prepare_database(&config).await.unwrap();
        let mut conn = pool.get().await.unwrap();
        let token = chronik::db::tokens::create(&mut conn, TokenSpec::new("writer", Scope::Write))
            .await
            .unwrap();
        (config, token.secret)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// `postgres://…` without a database name.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Stops the server at once (clients are disconnected, nothing is flushed that was not committed).
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// Starts the server again (after [`stop`](Self::stop)), waiting until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    /// `program` of the server's Postgres, run as the user the server runs as.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> String {
        let output = self
            .command(program)
            .args(args)
            .current_dir(Path::new("/"))
            .output()
            .unwrap_or_else(|e| panic!("running {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["-D", data.as_str(), "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
