//! The benchmark programs' server: `consentry serve` in a child process, a sender with a
//! key and a list to drive it, and the process's memory figures.
//!
//! Include it with `#[path = "server.rs"] mod server;`. The binary is the one cargo built
//! for this benchmark, or `BENCH_SERVER_BIN` when set, so that two builds (before and after
//! a change) can be measured by the same benchmark program.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use consentry::clock;
use consentry::db::{lists, Db};
use consentry::domain::api_key::Role;
use consentry::domain::ids::SenderId;
use consentry::domain::list::ConsentText;
use consentry::domain::sender::SenderProfile;
use secrecy::ExposeSecret;

pub const PEPPER: &str = "bench-pepper-bench-pepper-bench-pepper-0123456789";
pub const TOKEN_KEYS: &str = "b1:YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktMDEyMzQ1Njc4OQ";

pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The sender "Bench" in good standing, its sender key and the list `newsletter`.
pub struct Seeded {
    pub sender_id: SenderId,
    pub key: String,
    pub list: consentry::db::lists::ListRow,
}

/// Creates the sender, its key and its list.
pub fn seed_sender(db: &Db) -> anyhow::Result<Seeded> {
    let profile = SenderProfile::parse("Bench", "Bench KK", "Tokyo", "b@example.jp", None, "JP")?;
    let sender_id = SenderId::parse(&consentry::cli::sender::create_sender_in(
        db,
        profile,
        Some(consentry::domain::standing::Standing::Good),
    )?)?;
    let (_, key) = consentry::cli::key::create_key(db, sender_id.as_str(), Role::Sender)?;
    let text = ConsentText::parse("I agree to receive offers.")?;
    let (list, first) = lists::new_list_rows(
        &sender_id,
        "newsletter",
        "Offers".into(),
        &text,
        "https://example.jp/p".into(),
        "ja",
        clock::now(),
    );
    lists::insert_list(&mut *db.get()?, &list, &first)?;
    Ok(Seeded {
        sender_id,
        key: key.expose_secret().to_owned(),
        list,
    })
}

/// Where the servers started for `dir` write their mail: `dir/mail`, or with
/// `BENCH_MAIL_DIR=BASE` a folder of this process's in BASE. Creating a file costs what the
/// file system makes it: on this machine's ext4, 0.06 ms or 1.3 ms per file depending on how
/// many files were deleted near it lately (tens of thousands per benchmark run), which moved
/// the signup figures by a third from one run to the next; a tmpfs such as `/dev/shm` keeps
/// that out of them while the database stays where `TMPDIR` puts it.
pub fn mail_dir(dir: &Path) -> PathBuf {
    match std::env::var_os("BENCH_MAIL_DIR") {
        Some(base) => {
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            PathBuf::from(base).join(format!("consentry-{}-{name}", std::process::id()))
        }
        None => dir.join("mail"),
    }
}

/// Removes a [`mail_dir`] when dropped: under `BENCH_MAIL_DIR` it is outside the run's
/// temporary folder, and on a tmpfs it holds memory until removed.
pub struct MailDirRemoved(pub PathBuf);

impl Drop for MailDirRemoved {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// How long a server may take to accept connections. Long, because it migrates its database
/// first: a 1,000,000-subscription database that `BENCH_SQLITE_DIR` kept from an older build
/// can take tens of seconds.
const START_PATIENCE: Duration = Duration::from_secs(300);

/// A running `consentry serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub address: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts a server on `database_url` that writes its mail to [`mail_dir`]`(dir)`, with the
    /// per-sender rate limit out of the way, and waits until it accepts connections.
    pub fn start(database_url: &str, dir: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let address: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let binary = std::env::var_os("BENCH_SERVER_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_consentry")),
            PathBuf::from,
        );
        let child = Command::new(binary)
            .arg("serve")
            .env("CONSENTRY_DATABASE_URL", database_url)
            .env("CONSENTRY_BIND", address.to_string())
            .env("CONSENTRY_PEPPER", PEPPER)
            .env("CONSENTRY_TOKEN_KEYS", TOKEN_KEYS)
            .env(
                "CONSENTRY_MAIL_URL",
                format!("file://{}", mail_dir(dir).display()),
            )
            .env("CONSENTRY_SENDER_RATE_PER_SECOND", "10000000")
            .env("CONSENTRY_SENDER_BURST", "10000000")
            .env("CONSENTRY_LOG", "error")
            .stdout(Stdio::null())
            .spawn()?;
        // Owned at once, so that every way out of here kills it: a server left running keeps
        // the benchmark's output open, and whatever reads that output waits for ever.
        let mut server = Self { child, address };
        let started = Instant::now();
        while std::net::TcpStream::connect(server.address).is_err() {
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!("the server exited before it accepted connections: {status}");
            }
            if started.elapsed() > START_PATIENCE {
                anyhow::bail!("the server did not accept connections within {START_PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size of the server process (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        proc_status_mib(self.child.id(), "VmHWM:")
    }
}

/// A `/proc/PID/status` figure in kB (`VmRSS:`, `RssAnon:`, ...), in MiB.
pub fn proc_status_mib(pid: u32, field: &str) -> f64 {
    proc_mib(pid, "status", field)
}

/// A `/proc/PID/smaps_rollup` figure in kB (`Pss_File:`, ...), in MiB. The kernel walks
/// every mapping to make it, so read it once, not in a sampling loop.
pub fn proc_rollup_mib(pid: u32, field: &str) -> f64 {
    proc_mib(pid, "smaps_rollup", field)
}

fn proc_mib(pid: u32, file: &str, field: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// User plus system CPU time of a process so far, in seconds (`/proc/PID/stat`).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
        return 0.0;
    };
    // In USER_HZ ticks, which Linux fixes at 100 per second for user space.
    (user + system) / 100.0
}
