//! The server under test: `accord serve` as a child process on a free port, pinned to its
//! own core, with its bootstrap credentials, resident memory and CPU time read from /proc.
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The credentials `accord serve` prints on an empty database.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub organization_id: String,
    pub project_id: String,
    pub api_key: String,
}

pub struct Server {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub boot: Bootstrap,
    log: PathBuf,
}

/// True when `taskset` (util-linux) can be run.
pub fn has_taskset() -> bool {
    Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Pins every thread of this process to `core`; threads started later inherit it.
pub fn pin_self(core: usize) -> Result<()> {
    let status = Command::new("taskset")
        .args([
            "-a",
            "-cp",
            &core.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("taskset -a -cp {core} failed");
    }
    Ok(())
}

fn free_port() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// `bin serve` on `addr` (pinned to `core` with taskset when given), rate limits off.
fn serve_command(
    bin: &Path,
    addr: SocketAddr,
    database: &str,
    data_dir: &Path,
    core: Option<usize>,
) -> Command {
    let mut cmd = match core {
        Some(c) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(c.to_string()).arg(bin);
            cmd
        }
        None => Command::new(bin),
    };
    cmd.arg("serve")
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--database")
        .arg(database)
        .arg("--data-dir")
        .arg(data_dir)
        .env("ACCORD_RATE_LIMIT_PRIVACY", "0")
        .env("ACCORD_RATE_LIMIT_SITE", "0")
        .env("ACCORD_LOG", "warn")
        .env_remove("ACCORD_S3_BUCKET");
    cmd
}

impl Server {
    /// Starts `bin serve` on a fresh port and waits for the bootstrap lines and a healthy
    /// `/privacy-v1/health`.
    pub fn start(
        bin: &Path,
        database: &str,
        data_dir: &Path,
        core: Option<usize>,
    ) -> Result<Server> {
        Self::start_env(bin, database, data_dir, core, &[])
    }

    /// [`start`](Self::start) with extra environment variables (settings) for the server.
    pub fn start_env(
        bin: &Path,
        database: &str,
        data_dir: &Path,
        core: Option<usize>,
        envs: &[(&str, &str)],
    ) -> Result<Server> {
        let addr = free_port()?;
        let log = data_dir.join("server.log");
        let mut cmd = serve_command(bin, addr, database, data_dir, core);
        cmd.envs(envs.iter().copied());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log)?));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().context("child stdout")?;
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    // Keep draining so the server never blocks on a full pipe.
                    continue;
                }
            }
        });
        let mut server = Server {
            child,
            pid,
            addr,
            boot: Bootstrap {
                organization_id: String::new(),
                project_id: String::new(),
                api_key: String::new(),
            },
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut boot = (None, None, None);
        while boot.0.is_none() || boot.2.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => bail!(
                    "no bootstrap lines from the server within 60 s; log:\n{}",
                    server.log_tail()
                ),
            };
            if let Some(rest) = line.strip_prefix("Accord bootstrap: ") {
                for word in rest.split_whitespace() {
                    if let Some(v) = word.strip_prefix("organizationId=") {
                        boot.0 = Some(v.to_string());
                    } else if let Some(v) = word.strip_prefix("projectId=") {
                        boot.1 = Some(v.to_string());
                    } else if let Some(v) = word.strip_prefix("apiKey=") {
                        boot.2 = Some(v.to_string());
                    }
                }
            }
        }
        server.boot = Bootstrap {
            organization_id: boot.0.unwrap_or_default(),
            project_id: boot.1.context("bootstrap line without projectId")?,
            api_key: boot.2.unwrap_or_default(),
        };
        server.wait_healthy(deadline)?;
        Ok(server)
    }

    /// Starts the server again on the same database and data directory (no bootstrap
    /// expected), keeping the bootstrap identifiers of the first start.
    pub fn restart(
        bin: &Path,
        database: &str,
        data_dir: &Path,
        core: Option<usize>,
        boot: Bootstrap,
    ) -> Result<Server> {
        let addr = free_port()?;
        let log = data_dir.join("server-restart.log");
        let mut cmd = serve_command(bin, addr, database, data_dir, core);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log)?));
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid = child.id();
        let mut server = Server {
            child,
            pid,
            addr,
            boot,
            log,
        };
        server.wait_healthy(Instant::now() + Duration::from_secs(120))?;
        Ok(server)
    }

    fn wait_healthy(&mut self, deadline: Instant) -> Result<()> {
        use std::io::{Read, Write};
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("server exited with {status}; log:\n{}", self.log_tail());
            }
            if let Ok(mut s) = std::net::TcpStream::connect(self.addr) {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                s.write_all(
                    b"GET /privacy-v1/health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n",
                )?;
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                if out.starts_with("HTTP/1.1 200") {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("server not healthy within 60 s; log:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lines the server wrote to stderr.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stops the server with SIGTERM (graceful shutdown), SIGKILL after 10 s.
    pub fn stop(&mut self) -> Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `Vm*` line of /proc/<pid>/status in kB.
pub fn vm_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix(field)?
            .strip_prefix(':')?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

/// User plus system CPU time of a process, in seconds (USER_HZ = 100 on Linux).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}
