//! Secure-aggregation collection time for many projects with the full
//! definition: `cargo bench -p prikk-e2e --bench collect` (`PRIKK_PROJECTS`
//! sets the number of projects, default 400).
//!
//! Set-up (not timed): a leader and a helper gateway in-process over TLS
//! with their own SQLite files, and one agent per project that prepares,
//! shares, signs and delivers its report. Timed: each phase of
//! `gateway collect` — building the batch from the leader's store, the
//! residual check over TLS (every report's shares add up), the helper's
//! group sums over TLS (statement checks, seed opening, expansion, durable
//! batch record), recombination with its checks, and the protection of the
//! regional and national tables with storage.

use std::sync::Arc;
use std::time::Instant;

use municipality_agent::share::HelperKey;
use municipality_agent::synthetic::{self, SyntheticOptions};
use prikk_e2e::agent::{self, AgentState};
use prikk_e2e::{InProcessGateway, LocalCa, gateway};
use prikk_gateway::aggregation::collect;
use prikk_gateway::aggregation::helper::load_or_create_helper_key;
use prikk_gateway::config::{HelperEndpoint, Role};
use prikk_privacy::{Definition, Policy};

use prikk_proto::{share, sign_message};

const REGIONS: [&str; 11] = [
    "oslo",
    "vestland",
    "viken",
    "rogaland",
    "trondelag",
    "agder",
    "innlandet",
    "nordland",
    "troms",
    "vestfold",
    "more",
];
const PERIOD: &str = "2006";

fn main() {
    let n: usize = std::env::var("PRIKK_PROJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(n));
}

async fn run(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let ca = LocalCa::create(&dir.path().join("pki")).unwrap();
    let leader_dir = dir.path().join("leader");
    let helper_dir = dir.path().join("helper");
    std::fs::create_dir_all(&leader_dir).unwrap();
    std::fs::create_dir_all(&helper_dir).unwrap();
    let leader = InProcessGateway::start(&gateway::config(&leader_dir, &ca)).unwrap();
    let mut hc = gateway::config(&helper_dir, &ca);
    hc.role = Role::Helper;
    let helper_secret = load_or_create_helper_key(&hc.helper_key_path()).unwrap();
    let helper = InProcessGateway::start(&hc).unwrap();
    helper
        .store()
        .add_leader("directorate", &leader.receipt_key(), 0)
        .unwrap();
    let key = HelperKey {
        public: helper_secret.public_key(),
    };
    let started = Instant::now();
    let agents: Vec<AgentState> = (0..n)
        .map(|i| {
            let id = format!("p{i:03}");
            let rows = synthetic::project_size(&id, 7);
            let mut a = AgentState::create_with(
                &dir.path().join("agents"),
                &id,
                &id,
                REGIONS[i % REGIONS.len()],
                rows,
                7,
                &SyntheticOptions::default(),
            )
            .unwrap();
            a.helper_key = Some(key);
            a
        })
        .collect();
    gateway::register_all(&leader.store(), &agents).unwrap();
    gateway::register_all(&helper.store(), &agents).unwrap();
    let def = Arc::new(Definition::embedded());
    let access = leader.access(&ca);
    let sem = Arc::new(tokio::sync::Semaphore::new(8));
    let tasks: Vec<_> = agents
        .iter()
        .map(|a| {
            let (a, def, access, sem) = (a.clone(), def.clone(), access.clone(), sem.clone());
            tokio::spawn(async move {
                let _permit = sem.acquire_owned().await.unwrap();
                agent::submit(&a, def, PERIOD, &Policy::default(), &access).await
            })
        })
        .collect();
    let mut delivered = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            delivered += 1;
        }
    }
    eprintln!(
        "set-up: {delivered} of {n} projects delivered shared reports in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut config = leader.config().clone();
    config.helper = Some(HelperEndpoint {
        url: helper.url(),
        ca_certificate: Some(ca.ca_cert.clone()),
        tls_server_name: None,
        insecure_plaintext: false,
        signing_key: hex::encode(helper.receipt_key()),
        encryption_key: hex::encode(helper_secret.public_key()),
    });
    let store = leader.store();
    let signer = prikk_gateway::registry::read_receipt_key(&config.receipt_key_path()).unwrap();
    let hep = config.helper.clone().unwrap();

    let total = Instant::now();
    let t = Instant::now();
    let mut batch =
        collect::prepare_batch(&store, &def, &hep, config.min_projects, PERIOD, None, 0).unwrap();
    let t_batch = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut client = collect::connect(&hep).await.unwrap();
    let checked = client
        .check(sign_message(&signer, share::CHECK_DOMAIN, &batch.request))
        .await
        .unwrap()
        .into_inner();
    let bad = collect::offenders(&def, &config, &batch, &checked).unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    let t_check = t.elapsed().as_secs_f64();
    collect::drop_reports(&mut batch, bad, config.min_projects).unwrap();
    let t = Instant::now();
    let answer = client
        .aggregate(sign_message(&signer, share::COLLECT_DOMAIN, &batch.request))
        .await
        .unwrap()
        .into_inner();
    let t_helper = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let rec = collect::recombine(&def, &config, &batch, &answer).unwrap();
    let t_recombine = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let summary =
        collect::protect_and_store(&store, &def, &config, batch, &answer, rec, 0).unwrap();
    let t_protect = t.elapsed().as_secs_f64();
    let t_total = total.elapsed().as_secs_f64();
    println!(
        "projects collected: {} in {} region groups",
        summary.projects.len(),
        summary.groups.len()
    );
    println!("batch from the leader's store: {:.0} ms", t_batch * 1e3);
    println!("residual check over TLS:       {:.0} ms", t_check * 1e3);
    println!("helper's group sums over TLS:  {:.0} ms", t_helper * 1e3);
    println!("recombine and check:           {:.0} ms", t_recombine * 1e3);
    println!(
        "protection (regions and nation) and storage: {:.0} ms ({} of {} national cells suppressed, {} + {} when the nation is protected alone; {} of {} regional cells suppressed; regions withheld: {})",
        t_protect * 1e3,
        summary.national_suppressed,
        summary.cells,
        summary.national_alone.primary,
        summary.national_alone.secondary,
        summary.regional_suppressed,
        summary.regional_cells,
        summary.regions_withheld
    );
    println!("collection total:              {:.0} ms", t_total * 1e3);
}
