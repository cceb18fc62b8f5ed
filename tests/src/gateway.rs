//! A gateway on `127.0.0.1:0` over real TLS with a SQLite file: in-process
//! on its own thread and runtime, or as the real `gateway serve` binary.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use prikk_gateway::{Config, Gateway, GatewayError, Store, SystemClock, Transport};
use tokio::sync::oneshot;

use crate::agent::{AgentState, GatewayAccess};
use crate::error::HarnessError;
use crate::pki::LocalCa;

/// How long a gateway may take to come up.
const STARTUP: Duration = Duration::from_secs(60);

/// A gateway configuration for a database in `dir` with the CA's server
/// certificate, listening on `127.0.0.1:0`.
pub fn config(dir: &Path, ca: &LocalCa) -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        db: dir.join("gateway.db"),
        tls_cert: Some(ca.server_cert.clone()),
        tls_key: Some(ca.server_key.clone()),
        ..Config::default()
    }
}

/// The gateway's receipt public key, creating the key next to the database
/// if no gateway has started there yet.
pub fn receipt_key(config: &Config) -> Result<[u8; 32], HarnessError> {
    let signer = prikk_gateway::registry::load_or_create_receipt_key(&config.receipt_key_path())?;
    key32(signer.public_key())
}

fn key32(bytes: &[u8]) -> Result<[u8; 32], HarnessError> {
    bytes.try_into().map_err(|_| {
        HarnessError::Process(format!("receipt key has {} bytes, not 32", bytes.len()))
    })
}

/// Registers every agent's project (id, name, region, public key) in the
/// gateway's database, through the gateway library. Returns the key ids.
pub fn register_all(store: &Store, agents: &[AgentState]) -> Result<Vec<String>, HarnessError> {
    let now = crate::now_unix();
    agents
        .iter()
        .map(|a| {
            Ok(prikk_gateway::registry::register(
                store,
                &a.project,
                &a.name,
                &a.region,
                &a.public_key,
                now,
            )?)
        })
        .collect()
}

/// A gateway served in-process: opened on the calling thread (so set-up
/// errors come back here), then run on a dedicated thread with its own
/// two-worker runtime until [`InProcessGateway::stop`].
#[derive(Debug)]
pub struct InProcessGateway {
    config: Config,
    addr: SocketAddr,
    receipt_key: [u8; 32],
    store: Arc<Store>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), GatewayError>>>,
}

impl InProcessGateway {
    /// Opens the database (creating it and the receipt key if needed),
    /// binds `127.0.0.1:0` and starts serving. The listener is bound before
    /// this returns, so clients may connect at once.
    pub fn start(config: &Config) -> Result<Self, HarnessError> {
        let gateway = Gateway::open(config, Arc::new(SystemClock))?;
        let receipt_key = key32(&gateway.receipt_public_key())?;
        let store = gateway.store();
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .map_err(HarnessError::io("127.0.0.1:0"))?;
        listener
            .set_nonblocking(true)
            .map_err(HarnessError::io("127.0.0.1:0"))?;
        let addr = listener
            .local_addr()
            .map_err(HarnessError::io("127.0.0.1:0"))?;
        let transport = Transport::from_parts(
            config.tls_cert.as_deref(),
            config.tls_key.as_deref(),
            config.insecure_plaintext,
            addr,
        )
        .map_err(GatewayError::from)?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let role = config.role;
        let thread = std::thread::Builder::new()
            .name(format!("gateway-{}", addr.port()))
            .spawn(move || -> Result<(), GatewayError> {
                let io = |source| GatewayError::Io {
                    path: "gateway runtime".into(),
                    source,
                };
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("gateway")
                    .enable_all()
                    .build()
                    .map_err(io)?;
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).map_err(io)?;
                    let stop = async move {
                        let _ = stop_rx.await;
                    };
                    if role == prikk_gateway::config::Role::Helper {
                        gateway.run_helper(listener, transport, stop).await
                    } else {
                        gateway.run(listener, transport, None, stop).await
                    }
                })
            })
            .map_err(HarnessError::io("gateway thread"))?;
        Ok(Self {
            config: config.clone(),
            addr,
            receipt_key,
            store,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// The receipt public key.
    pub fn receipt_key(&self) -> [u8; 32] {
        self.receipt_key
    }

    /// The gateway's datastore (a separate connection to the same file).
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What an agent needs to deliver here.
    pub fn access(&self, ca: &LocalCa) -> GatewayAccess {
        GatewayAccess {
            url: self.url(),
            ca_cert: ca.ca_cert.clone(),
            receipt_key: self.receipt_key,
        }
    }

    /// Shuts down gracefully: in-flight submissions finish and commit.
    pub fn stop(mut self) -> Result<(), HarnessError> {
        self.shutdown()
    }

    /// Stops it and starts a new one on the same database (a new port).
    pub fn restart(mut self) -> Result<Self, HarnessError> {
        self.shutdown()?;
        Self::start(&self.config)
    }

    fn shutdown(&mut self) -> Result<(), HarnessError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(r)) => Ok(r?),
            Some(Err(_)) => Err(HarnessError::Process("the gateway thread panicked".into())),
        }
    }
}

impl Drop for InProcessGateway {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// The real `gateway serve` binary as a child process, over TLS on
/// `127.0.0.1`. Its stderr (logs) goes to a file in the gateway's folder.
#[derive(Debug)]
pub struct GatewayProcess {
    child: Option<Child>,
    addr: SocketAddr,
    log_thread: Option<JoinHandle<()>>,
}

impl GatewayProcess {
    /// Starts `binary serve` on `listen` (port 0 for any) with this
    /// configuration's database and TLS files, appending its log to `log`,
    /// and waits until it reports the address it listens on.
    pub fn spawn(
        binary: &Path,
        config: &Config,
        listen: SocketAddr,
        log: &Path,
    ) -> Result<Self, HarnessError> {
        let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
            return Err(HarnessError::Process(
                "the gateway process needs tls_cert and tls_key".into(),
            ));
        };
        let mut log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(HarnessError::io(log))?;
        let mut child = Command::new(binary)
            .arg("serve")
            .arg("--listen")
            .arg(listen.to_string())
            .arg("--db")
            .arg(&config.db)
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(HarnessError::io(binary))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| HarnessError::Process("no stderr pipe".into()))?;
        let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
        let log_thread = std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("gateway listening on ")
                    && let Ok(addr) = rest.trim().parse::<SocketAddr>()
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr);
                }
                let _ = writeln!(log_file, "{line}");
            }
        });
        match rx.recv_timeout(STARTUP) {
            Ok(addr) => Ok(Self {
                child: Some(child),
                addr,
                log_thread: Some(log_thread),
            }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                let _ = log_thread.join();
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                Err(HarnessError::Process(format!(
                    "gateway did not report its address (exit {status:?}); log:\n{}",
                    tail.lines()
                        .rev()
                        .take(20)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("\n")
                )))
            }
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills it with SIGKILL (no shutdown of any kind) and reaps it.
    pub fn kill(mut self) -> Result<(), HarnessError> {
        self.kill_now()
    }

    fn kill_now(&mut self) -> Result<(), HarnessError> {
        if let Some(mut c) = self.child.take() {
            // `Child::kill` is SIGKILL on Unix.
            c.kill().map_err(HarnessError::io("gateway process"))?;
            c.wait().map_err(HarnessError::io("gateway process"))?;
        }
        if let Some(t) = self.log_thread.take() {
            let _ = t.join();
        }
        Ok(())
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.kill_now();
    }
}

/// Where the gateway's log goes inside its folder.
pub fn log_path(config: &Config) -> PathBuf {
    config.db.with_extension("log")
}
