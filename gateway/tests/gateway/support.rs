//! Test support: synthetic reports built from the embedded definition, TLS
//! material from rcgen, and a gateway served on 127.0.0.1:0.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prikk_gateway::store::{NewReport, NormalTable};
use prikk_gateway::{Config, FixedClock, Gateway, Transport};
use prikk_privacy::{Definition, Measure, Table};
use prikk_proto::pb::report_gateway_client::ReportGatewayClient;
use prikk_proto::{Signer, pb};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

pub(crate) const T0: i64 = 1_167_609_600; // 2007-01-01

pub(crate) fn signer() -> Signer {
    Signer::from_pkcs8(&Signer::generate_pkcs8().unwrap()).unwrap()
}

fn mix(a: u64, b: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 32)
}

/// Exact tables for groups of identical people; group `g` has
/// `multiplicity(g)` members, so every cell is a sum of multiplicities.
pub(crate) fn exact_tables(
    def: &Definition,
    seed: u64,
    groups: usize,
    multiplicity: impl Fn(usize) -> i64,
) -> Vec<Table> {
    let status = def.table("status").unwrap().shape.dimensions[0].clone();
    let leaves: Vec<usize> = (1..status.categories.len())
        .filter(|&c| status.is_leaf(c))
        .collect();
    let mut tables: Vec<Table> = def
        .tables
        .iter()
        .map(|t| Table::zeros(t.shape.clone()))
        .collect();
    for g in 0..groups {
        let h = |salt: u64| mix(seed.wrapping_add(g as u64), salt);
        let leaf = leaves[(h(1) % leaves.len() as u64) as usize];
        let status_code = status.categories[leaf].code.clone();
        let m = multiplicity(g);
        for (ti, spec) in def.tables.iter().enumerate() {
            let shape = &spec.shape;
            let pop = &shape.population;
            if pop != "total"
                && !(status_code == *pop || status_code.starts_with(&format!("{pop}.")))
            {
                continue;
            }
            // One list of candidate categories per dimension.
            let mut choices: Vec<Vec<usize>> = Vec::new();
            for (di, d) in shape.dimensions.iter().enumerate() {
                let salt = 100 + di as u64 * 7 + d.id.len() as u64;
                if d.id == "status" {
                    choices.push(vec![leaf]);
                } else if d.variable == "status" {
                    let top = status_code.split('.').next().unwrap();
                    choices.push(vec![d.index_of(top).unwrap()]);
                } else if d.additive {
                    let ls: Vec<usize> =
                        (1..d.categories.len()).filter(|&c| d.is_leaf(c)).collect();
                    choices.push(vec![
                        ls[(h(salt + d.categories.len() as u64) % ls.len() as u64) as usize],
                    ]);
                } else {
                    let picked: Vec<usize> = (0..d.categories.len())
                        .filter(|&c| h(salt * 31 + c as u64) % 3 == 0)
                        .collect();
                    choices.push(picked);
                }
            }
            let gender = (h(2) % 2) as usize + 1;
            if let Some(gi) = shape.dimensions.iter().position(|d| d.id == "gender") {
                choices[gi] = vec![gender];
            }
            // Every combination of the choices (multi-response dims give several).
            let mut keys: Vec<Vec<usize>> = vec![vec![]];
            for c in &choices {
                keys = keys
                    .iter()
                    .flat_map(|k| c.iter().map(move |&x| [k.clone(), vec![x]].concat()))
                    .collect();
            }
            let value = match &shape.measure {
                Measure::Count => 1,
                Measure::Sum(_) => (h(3) % 3) as i64,
            };
            for k in keys {
                for _ in 0..m {
                    tables[ti].add_inner(&k, value);
                }
            }
        }
    }
    tables
}

/// Publishes every cell of exact tables.
pub(crate) fn pb_tables(
    tables: &[Table],
    suppress: impl Fn(&str, &[&str]) -> bool,
) -> Vec<pb::Table> {
    tables
        .iter()
        .map(|t| {
            let is_sum = matches!(t.shape.measure, Measure::Sum(_));
            pb::Table {
                id: t.shape.id.clone(),
                dimensions: t.shape.dimensions.iter().map(|d| d.id.clone()).collect(),
                cells: (0..t.shape.len())
                    .map(|i| {
                        let key = t.shape.key_codes(i);
                        let hide = suppress(&t.shape.id, &key);
                        pb::Cell {
                            key: key.iter().map(|s| s.to_string()).collect(),
                            value: Some(if hide {
                                pb::cell::Value::Suppressed(pb::Suppressed {})
                            } else {
                                pb::cell::Value::Count(t.values[i])
                            }),
                            contributors: (is_sum && !hide).then_some(t.contributors[i]),
                        }
                    })
                    .collect(),
                dp: None,
            }
        })
        .collect()
}

pub(crate) fn report(project: &str, period: &str, id: &str, tables: Vec<pb::Table>) -> pb::Report {
    let def = Definition::embedded();
    pb::Report {
        report_id: id.into(),
        project: project.into(),
        period: period.into(),
        definition_id: def.id.clone(),
        definition_version: def.version,
        created_unix: T0,
        agent_version: "test".into(),
        shares: None,
        policy: Some(pb::PolicySummary {
            min_count: 5,
            protect_zeros: false,
            method: "suppression".into(),
            min_interval_width: 1,
        }),
        tables,
    }
}

/// A valid report: groups of five identical people, every cell published.
pub(crate) fn valid_report(project: &str, period: &str, id: &str, seed: u64) -> pb::Report {
    let def = Definition::embedded();
    let exact = exact_tables(&def, seed, 24, |_| 5);
    report(project, period, id, pb_tables(&exact, |_, _| false))
}

pub(crate) struct Tls {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) ca_pem: String,
}

pub(crate) fn tls_material(dir: &Path) -> Tls {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join("gateway.crt");
    let key = dir.join("gateway.key");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    Tls {
        cert,
        key,
        ca_pem: ck.cert.pem(),
    }
}

pub(crate) struct Running {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) receipt_key: Vec<u8>,
    pub(crate) store: Arc<prikk_gateway::Store>,
    pub(crate) metrics: Arc<prikk_gateway::metrics::Metrics>,
    pub(crate) tls: Option<Tls>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<Result<(), prikk_gateway::GatewayError>>>,
}

impl Running {
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.handle.take().unwrap().await.unwrap().unwrap();
    }

    pub(crate) async fn client(&self) -> ReportGatewayClient<Channel> {
        ReportGatewayClient::new(self.channel().await).max_encoding_message_size(64 << 20)
    }

    pub(crate) async fn channel(&self) -> Channel {
        match &self.tls {
            Some(t) => Channel::from_shared(format!("https://127.0.0.1:{}", self.addr.port()))
                .unwrap()
                .tls_config(
                    ClientTlsConfig::new()
                        .ca_certificate(Certificate::from_pem(&t.ca_pem))
                        .domain_name("localhost"),
                )
                .unwrap()
                .connect()
                .await
                .unwrap(),
            None => Channel::from_shared(format!("http://{}", self.addr))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        }
    }
}

pub(crate) fn config(dir: &Path) -> Config {
    Config {
        db: dir.join("gateway.db"),
        ..Config::default()
    }
}

/// Starts a gateway over real TLS (rcgen certificate) on 127.0.0.1:0.
pub(crate) async fn start(dir: &Path, config: Config, clock: Arc<FixedClock>) -> Running {
    let tls = tls_material(dir);
    let transport = Transport::Tls(Identity::from_pem(
        std::fs::read(&tls.cert).unwrap(),
        std::fs::read(&tls.key).unwrap(),
    ));
    start_with(config, clock, transport, Some(tls), None).await
}

pub(crate) async fn start_with(
    config: Config,
    clock: Arc<FixedClock>,
    transport: Transport,
    tls: Option<Tls>,
    metrics_listener: Option<TcpListener>,
) -> Running {
    let gw = Gateway::open(&config, clock).unwrap();
    let receipt_key = gw.receipt_public_key();
    let store = gw.store();
    let metrics = gw.metrics();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(gw.run(listener, transport, metrics_listener, async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        receipt_key,
        store,
        metrics,
        tls,
        stop: Some(tx),
        handle: Some(handle),
    }
}

/// Registers `project` in region `region` with a fresh key.
pub(crate) fn enrol(store: &prikk_gateway::Store, project: &str, region: &str) -> Signer {
    let s = signer();
    prikk_gateway::registry::register(
        store,
        project,
        &format!("Project {project}"),
        region,
        s.public_key(),
        T0,
    )
    .unwrap();
    s
}

/// A stored report with these tables, bypassing verification (for merge tests).
pub(crate) fn new_report(
    project: &str,
    period: &str,
    id: &str,
    signer: &Signer,
    tables: Vec<NormalTable>,
) -> NewReport {
    let r = report(project, period, id, vec![]);
    let env = prikk_proto::sign_report(signer, &r);
    let def = Definition::embedded();
    NewReport {
        report_id: id.into(),
        project: project.into(),
        period: period.into(),
        payload_sha256: prikk_proto::payload_sha256(&env.report),
        envelope: env,
        definition_id: def.id.clone(),
        definition_version: def.version,
        tables,
        checked_revision: 0,
    }
}

/// Normalised tables from exact tables, with cells hidden by `suppress`.
pub(crate) fn normal_tables(
    tables: &[Table],
    suppress: impl Fn(&str, &[&str]) -> bool,
) -> Vec<NormalTable> {
    tables
        .iter()
        .map(|t| {
            let hide: Vec<bool> = (0..t.shape.len())
                .map(|i| suppress(&t.shape.id, &t.shape.key_codes(i)))
                .collect();
            NormalTable {
                id: t.shape.id.clone(),
                values: t
                    .values
                    .iter()
                    .zip(&hide)
                    .map(|(&v, &h)| (!h).then_some(v))
                    .collect(),
                contributors: matches!(t.shape.measure, Measure::Sum(_)).then(|| {
                    t.contributors
                        .iter()
                        .zip(&hide)
                        .map(|(&v, &h)| (!h).then_some(v))
                        .collect()
                }),
            }
        })
        .collect()
}

/// A store in `dir` and an intake writer on it, for tests that store
/// reports without the gRPC service.
pub(crate) fn store_and_intake(
    dir: &Path,
) -> (
    Arc<prikk_gateway::Store>,
    prikk_gateway::store::Intake,
    std::thread::JoinHandle<()>,
) {
    let db = dir.join("g.db");
    let store = Arc::new(prikk_gateway::Store::open(&db).unwrap());
    let (intake, writer) =
        prikk_gateway::store::Intake::start(&db, Arc::new(signer()), Arc::new(FixedClock::new(T0)))
            .unwrap();
    (store, intake, writer)
}
