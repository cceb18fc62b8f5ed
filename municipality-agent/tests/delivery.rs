//! Store-and-forward delivery against the real gateway over real TLS (an
//! rcgen CA and a server certificate for 127.0.0.1), with real SQLite files
//! on both sides and the agent binary as a separate process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use municipality_agent::outbox::{Outbox, State};
use municipality_agent::synthetic::{SyntheticOptions, write_export};
use prikk_gateway::{Config, Store};

const PROJECT: &str = "bergen";
const PERIOD: &str = "2006";

struct Env {
    dir: tempfile::TempDir,
    gateway_config: Config,
    gateway_key: PathBuf,
    ca: PathBuf,
    key: PathBuf,
    input: PathBuf,
    outbox: PathBuf,
}

/// A CA, and a gateway certificate for 127.0.0.1 signed by it.
fn tls_material(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "prikk test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("gateway.crt"),
        dir.join("gateway.key"),
    );
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    std::fs::write(&cert, leaf.pem()).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    (ca, cert, key)
}

fn setup() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca, cert, tls_key) = tls_material(d);
    let gateway_config = Config {
        db: d.join("gateway.db"),
        tls_cert: Some(cert),
        tls_key: Some(tls_key),
        ..Config::default()
    };
    // The gateway's receipt key, published to the agent as hex.
    let receipt =
        prikk_gateway::registry::load_or_create_receipt_key(&gateway_config.receipt_key_path())
            .unwrap();
    let gateway_key = d.join("gateway-receipt.pub");
    std::fs::write(
        &gateway_key,
        format!("{}\n", hex::encode(receipt.public_key())),
    )
    .unwrap();

    // The municipality's key, registered at the directorate.
    let key = d.join("agent.key");
    let new = municipality_agent::keys::generate(&key).unwrap();
    let public = hex::decode(&new.public_hex).unwrap();
    let store = Store::open(&gateway_config.db).unwrap();
    prikk_gateway::registry::register(&store, PROJECT, "Bergen", "vestland", &public, 1_000)
        .unwrap();
    drop(store);

    let input = d.join("bergen.csv");
    write_export(&input, PROJECT, 120, 7, &SyntheticOptions::default()).unwrap();
    let outbox = d.join("outbox.sqlite");
    Env {
        dir,
        gateway_config,
        gateway_key,
        ca,
        key,
        input,
        outbox,
    }
}

/// A gateway served in-process on its own runtime and thread.
struct RunningGateway {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningGateway {
    fn start(config: &Config) -> Self {
        let config = config.clone();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                prikk_gateway::serve(listener, config, async move {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        Self {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An address where nothing listens.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("https://127.0.0.1:{port}")
}

fn agent(env: &Env, sub: &str, url: &str, gateway_key: &Path) -> Command {
    agent_with_key(env, sub, url, gateway_key, &env.key)
}

fn agent_with_key(env: &Env, sub: &str, url: &str, gateway_key: &Path, key: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_municipality-agent"));
    c.arg(sub)
        .args(["--gateway", url])
        .arg("--ca")
        .arg(&env.ca)
        .arg("--key")
        .arg(key)
        .arg("--gateway-key")
        .arg(gateway_key)
        .arg("--outbox")
        .arg(&env.outbox)
        .env_remove("PRIKK_AGENT_CONFIG");
    c
}

fn submit(env: &Env, url: &str, gateway_key: &Path) -> Output {
    agent(env, "submit", url, gateway_key)
        .arg("--input")
        .arg(&env.input)
        .args(["--period", PERIOD, "--project", PROJECT])
        .output()
        .unwrap()
}

fn run_once(env: &Env, url: &str) -> Output {
    agent(env, "run", url, &env.gateway_key)
        .arg("--once")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn gateway_revisions(env: &Env) -> Vec<(String, u32)> {
    Store::open(&env.gateway_config.db)
        .unwrap()
        .revisions(PROJECT, PERIOD)
        .unwrap()
}

fn only_report(env: &Env) -> municipality_agent::outbox::QueuedReport {
    let o = Outbox::open(&env.outbox).unwrap();
    let list = o.list().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    o.get(&list[0].report_id).unwrap().unwrap()
}

#[test]
fn unreachable_gateway_queues_then_run_once_drains() {
    let env = setup();
    let out = submit(&env, &dead_url(), &env.gateway_key);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NOT DELIVERED"),
        "{}",
        text(&out)
    );
    let queued = only_report(&env);
    assert_eq!(queued.state, State::Queued);
    assert_eq!(queued.attempts, 1);
    assert!(
        queued
            .last_error
            .as_deref()
            .unwrap()
            .contains("unreachable"),
        "{:?}",
        queued.last_error
    );

    // The gateway comes up; one drain delivers the stored signed bytes.
    let gw = RunningGateway::start(&env.gateway_config);
    let out = run_once(&env, &gw.url());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let delivered = only_report(&env);
    assert_eq!(delivered.state, State::Delivered);
    assert_eq!(
        delivered.envelope, queued.envelope,
        "the queued bytes are what was delivered"
    );
    assert_eq!(gateway_revisions(&env), vec![(queued.report_id.clone(), 1)]);

    // The journal shows both steps and verifies.
    let o = Outbox::open(&env.outbox).unwrap();
    let kinds: Vec<_> = o
        .journal_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["queued", "delivered"]);
    assert!(o.verify_journal().unwrap().problem.is_none());

    // Submitting the same export again sends nothing new and counts nothing twice.
    let again = submit(&env, &gw.url(), &env.gateway_key);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("revision: 1"),
        "{}",
        text(&again)
    );
    assert_eq!(gateway_revisions(&env).len(), 1);
}

#[test]
fn receipt_from_the_wrong_key_is_refused_and_report_stays_queued() {
    let env = setup();
    let gw = RunningGateway::start(&env.gateway_config);
    let wrong = env.dir.path().join("wrong.pub");
    std::fs::write(&wrong, "ab".repeat(32)).unwrap();
    let out = submit(&env, &gw.url(), &wrong);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let r = only_report(&env);
    assert_eq!(r.state, State::Queued);
    assert!(
        r.last_error.as_deref().unwrap().contains("receipt refused"),
        "{:?}",
        r.last_error
    );
    assert!(
        Outbox::open(&env.outbox)
            .unwrap()
            .receipt(&r.report_id)
            .unwrap()
            .is_none()
    );

    // With the right key, the retry gets the gateway's receipt for the same
    // report: stored once at the gateway, one revision.
    let out = run_once(&env, &gw.url());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(only_report(&env).state, State::Delivered);
    assert_eq!(gateway_revisions(&env), vec![(r.report_id, 1)]);
}

#[test]
fn agent_killed_before_the_receipt_delivers_exactly_once_after_restart() {
    let env = setup();
    // A "gateway" that accepts connections and never answers: the agent
    // queues the report, connects, and hangs waiting for TLS.
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_url = format!(
        "https://127.0.0.1:{}",
        black_hole.local_addr().unwrap().port()
    );
    let mut child = agent(&env, "submit", &hole_url, &env.gateway_key)
        .arg("--input")
        .arg(&env.input)
        .args(["--period", PERIOD, "--project", PROJECT])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (conn, _) = black_hole.accept().unwrap();
    // The outbox is committed before any network I/O, so by now it holds the report.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Outbox::open(&env.outbox)
        .map(|o| o.list().unwrap().len())
        .unwrap_or(0)
        == 0
    {
        assert!(Instant::now() < deadline, "report never reached the outbox");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    drop(conn);
    let queued = only_report(&env);
    assert_eq!(queued.state, State::Queued);

    // Restart: the real gateway is up now.
    let gw = RunningGateway::start(&env.gateway_config);
    let out = run_once(&env, &gw.url());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A second drain, and a re-submit of the same export, change nothing.
    assert_eq!(run_once(&env, &gw.url()).status.code(), Some(0));
    assert_eq!(
        submit(&env, &gw.url(), &env.gateway_key).status.code(),
        Some(0)
    );
    assert_eq!(gateway_revisions(&env), vec![(queued.report_id.clone(), 1)]);
    assert_eq!(
        Store::open(&env.gateway_config.db)
            .unwrap()
            .report_count()
            .unwrap(),
        1
    );
    assert_eq!(only_report(&env).state, State::Delivered);
}

#[test]
fn corrected_export_is_a_new_revision() {
    let env = setup();
    let gw = RunningGateway::start(&env.gateway_config);
    let out = submit(&env, &gw.url(), &env.gateway_key);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("revision: 1"),
        "{}",
        text(&out)
    );

    // The case system corrects the export: more people, same project and period.
    write_export(&env.input, PROJECT, 150, 8, &SyntheticOptions::default()).unwrap();
    let out = submit(&env, &gw.url(), &env.gateway_key);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("revision: 2"),
        "{}",
        text(&out)
    );
    let revs: Vec<u32> = gateway_revisions(&env)
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(revs, [1, 2]);
}

#[test]
fn rejected_report_is_not_retried() {
    let env = setup();
    let gw = RunningGateway::start(&env.gateway_config);
    // A key the gateway has never seen for this project: register it for
    // another project, so the gateway refuses it with PermissionDenied.
    let other = env.dir.path().join("other.key");
    let new = municipality_agent::keys::generate(&other).unwrap();
    let store = Store::open(&env.gateway_config.db).unwrap();
    prikk_gateway::registry::register(
        &store,
        "skien",
        "Skien",
        "telemark",
        &hex::decode(&new.public_hex).unwrap(),
        1,
    )
    .unwrap();
    let out = agent_with_key(&env, "submit", &gw.url(), &env.gateway_key, &other)
        .arg("--input")
        .arg(&env.input)
        .args(["--period", PERIOD, "--project", PROJECT])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rejected"),
        "{}",
        text(&out)
    );
    let r = only_report(&env);
    assert_eq!(r.state, State::Rejected);
    // Not queued any more: a drain has nothing to do.
    let out = run_once(&env, &gw.url());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(gateway_revisions(&env).is_empty());
}

#[test]
fn plaintext_is_refused_without_the_flag_and_off_loopback() {
    let env = setup();
    let out = submit(&env, "http://127.0.0.1:9", &env.gateway_key);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--insecure-plaintext"),
        "{}",
        text(&out)
    );
    let out = agent(&env, "submit", "http://192.0.2.1:9", &env.gateway_key)
        .arg("--insecure-plaintext")
        .arg("--input")
        .arg(&env.input)
        .args(["--period", PERIOD])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        !env.outbox.exists(),
        "nothing is queued on a refused configuration"
    );
}

/// A config file for `run`, watching `incoming/` with no settle delay.
fn run_config(env: &Env, url: &str) -> PathBuf {
    let incoming = env.dir.path().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    let cfg = env.dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"key = "agent.key"
outbox = "outbox.sqlite"

[gateway]
url = "{url}"
ca_certificate = "ca.pem"
receipt_key = "gateway-receipt.pub"

[[projects]]
id = "bergen"

[run]
watch_folder = "incoming"
poll_secs = 1
settle_secs = 0
"#
        ),
    )
    .unwrap();
    cfg
}

fn run_with_config(cfg: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_municipality-agent"));
    c.arg("run")
        .arg("--config")
        .arg(cfg)
        .env_remove("PRIKK_AGENT_CONFIG");
    c
}

#[test]
fn run_picks_up_each_export_once() {
    let env = setup();
    let gw = RunningGateway::start(&env.gateway_config);
    let cfg = run_config(&env, &gw.url());
    let incoming = env.dir.path().join("incoming");
    std::fs::copy(&env.input, incoming.join("bergen_2006.csv")).unwrap();
    // Same content under another name, and a name that carries no period.
    std::fs::copy(&env.input, incoming.join("bergen_copy.csv")).unwrap();
    std::fs::write(incoming.join("notes.csv"), "person_ref\n1\n").unwrap();
    std::fs::write(incoming.join("readme.txt"), "not an export").unwrap();

    let out = run_with_config(&cfg).arg("--once").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(gateway_revisions(&env).len(), 1);
    assert_eq!(only_report(&env).period, PERIOD);

    // A second round finds nothing new.
    let out = run_with_config(&cfg).arg("--once").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(gateway_revisions(&env).len(), 1);
    let c = rusqlite::Connection::open(&env.outbox).unwrap();
    let outcomes: Vec<(String, String)> = c
        .prepare("SELECT path, outcome FROM processed_files ORDER BY path")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert!(
        outcomes[0].0.ends_with("bergen_2006.csv") && outcomes[0].1.starts_with("queued report"),
        "{outcomes:?}"
    );
    assert!(outcomes[1].1.contains("same content"), "{outcomes:?}");
    assert!(
        outcomes[2].1.contains("cannot tell the reporting period"),
        "{outcomes:?}"
    );
}

#[cfg(unix)]
#[test]
fn run_stops_cleanly_on_sigterm() {
    let env = setup();
    let cfg = run_config(&env, &dead_url());
    let mut child = run_with_config(&cfg)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It logs "agent running" once its signal handler is in place.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(n > 0, "run exited before it was ready");
        if line.contains("agent running") {
            break;
        }
    }
    // Keep draining its log so it never blocks on a full pipe.
    let drain = std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "run did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        status.code(),
        Some(0),
        "stopped by signal instead of shutting down: {status:?}"
    );
    let _ = drain.join();
}

/// A config file that names the helper's X25519 key (as its operator's
/// `gateway public-key --role helper` prints it).
fn helper_config(env: &Env) -> PathBuf {
    let helper = prikk_proto::share::HelperSecret::generate().unwrap();
    let key = env.dir.path().join("helper.pub");
    std::fs::write(&key, format!("{}\n", hex::encode(helper.public_key()))).unwrap();
    let cfg = env.dir.path().join("agent-helper.toml");
    std::fs::write(
        &cfg,
        format!(
            "[secure_aggregation]\nhelper_key = {:?}\n",
            key.display().to_string()
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn one_snapshot_is_never_released_both_as_tables_and_as_shares() {
    let env = setup();
    let url = dead_url();
    // Without a helper: protected tables, queued (the gateway is down).
    let out = submit(&env, &url, &env.gateway_key);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // With a helper, for 2006-12: the same people as of the same day. Refused,
    // and nothing more is queued.
    let cfg = helper_config(&env);
    let out = agent(&env, "submit", &url, &env.gateway_key)
        .arg("--config")
        .arg(&cfg)
        .arg("--input")
        .arg(&env.input)
        .args(["--period", "2006-12", "--project", PROJECT])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("as protected tables") && err.contains("as secret shares"),
        "{err}"
    );
    assert!(err.contains("Nothing was queued or sent"), "{err}");
    let outbox = Outbox::open(&env.outbox).unwrap();
    assert_eq!(outbox.list().unwrap().len(), 1);
    // Another snapshot (the first half-year) may go as shares, and carries
    // no table.
    let out = agent(&env, "submit", &url, &env.gateway_key)
        .arg("--config")
        .arg(&cfg)
        .arg("--input")
        .arg(&env.input)
        .args(["--period", "2006-H1", "--project", PROJECT])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let listed = outbox.list().unwrap();
    let h1 = listed.iter().find(|r| r.period == "2006-H1").unwrap();
    let queued = outbox.get(&h1.report_id).unwrap().unwrap();
    let report: prikk_proto::pb::Report =
        prikk_proto::decode_exact(&queued.envelope.report, "report").unwrap();
    assert!(
        report.tables.is_empty(),
        "a report with shares publishes no table"
    );
    let shares = report.shares.unwrap();
    assert_eq!(shares.min_projects, 5);
    assert_eq!(
        shares.cells as usize,
        prikk_privacy::layout::layout_len(&prikk_privacy::Definition::embedded().shapes())
    );
}

#[test]
fn what_the_officer_previews_with_a_flag_is_what_submit_sends_with_it() {
    let env = setup();
    let gw = RunningGateway::start(&env.gateway_config);
    let preview = |extra: &[&str]| -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_municipality-agent"))
            .arg("preview")
            .arg("--input")
            .arg(&env.input)
            .args(["--period", PERIOD, "--project", PROJECT, "--format", "json"])
            .args(extra)
            .env_remove("PRIKK_AGENT_CONFIG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let plain = preview(&[]);
    let strict = preview(&["--min-count", "8"]);
    assert_eq!(strict["policy"]["min_count"], 8);
    assert_ne!(plain["report_id"], strict["report_id"], "k = 8 hides more");
    let out = agent(&env, "submit", &gw.url(), &env.gateway_key)
        .arg("--input")
        .arg(&env.input)
        .args(["--period", PERIOD, "--project", PROJECT, "--min-count", "8"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let sent = only_report(&env);
    assert_eq!(
        serde_json::Value::String(sent.report_id.clone()),
        strict["report_id"],
        "submit sent the report previewed with the same flag"
    );
    assert_eq!(gateway_revisions(&env).len(), 1);
}
