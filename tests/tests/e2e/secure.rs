//! Secure aggregation end to end: 21 agents share their exact tables, a
//! leader gateway and an independent helper (both in-process, real TLS,
//! their own SQLite files) collect the national aggregate, which must equal
//! the truth in every cell, while the helper refuses small, overlapping,
//! tampered and replayed batches and the leader never stores a project's
//! exact suppressed cell.

use std::collections::BTreeMap;

use municipality_agent::share::HelperKey;
use municipality_agent::synthetic::PROJECTS;
use prikk_e2e::scan::{Needles, scan_dir};
use prikk_e2e::{InProcessGateway, gateway, truth};
use prikk_gateway::aggregation::collect::{self, CollectError};
use prikk_gateway::aggregation::helper::load_or_create_helper_key;
use prikk_gateway::config::{HelperEndpoint, Role};
use prikk_gateway::merge::{self, MergedCell};
use prikk_privacy::{Table, layout};
use prikk_proto::{pb, share, sign_message, sign_report, verify_receipt};
use tonic::Code;

use crate::world::{PERIOD, World, delivered};

struct Setup {
    world: World,
    helper: InProcessGateway,
    leader_config: prikk_gateway::Config,
    exact: BTreeMap<String, Vec<Table>>,
}

async fn setup() -> Setup {
    let mut world = World::new(&PROJECTS);
    let helper_dir = world.dir.path().join("helper");
    std::fs::create_dir_all(&helper_dir).unwrap();
    let mut helper_config = gateway::config(&helper_dir, &world.ca);
    helper_config.db = helper_dir.join("helper.db");
    helper_config.role = Role::Helper;
    let helper_secret = load_or_create_helper_key(&helper_config.helper_key_path()).unwrap();
    let helper = InProcessGateway::start(&helper_config).unwrap();
    // The helper keeps its own registry: the projects' keys and the leader's.
    gateway::register_all(&helper.store(), &world.agents).unwrap();
    helper
        .store()
        .add_leader("directorate", &world.gateway().receipt_key(), 0)
        .unwrap();
    let key = HelperKey {
        public: helper_secret.public_key(),
    };
    for a in &mut world.agents {
        a.helper_key = Some(key);
    }
    let results = world.submit_all(&world.access()).await;
    let ok = delivered(results, PROJECTS.len());
    assert_eq!(ok.len(), PROJECTS.len(), "every project delivers");
    let exact = truth::exact_by_project(&world.def, &world.agents, PERIOD).unwrap();
    let mut leader_config = world.gateway().config().clone();
    leader_config.helper = Some(HelperEndpoint {
        url: helper.url(),
        ca_certificate: Some(world.ca.ca_cert.clone()),
        tls_server_name: None,
        insecure_plaintext: false,
        signing_key: hex::encode(helper.receipt_key()),
        encryption_key: hex::encode(helper_secret.public_key()),
    });
    Setup {
        world,
        helper,
        leader_config,
        exact,
    }
}

fn leader_signer(s: &Setup) -> prikk_proto::Signer {
    prikk_gateway::registry::read_receipt_key(&s.leader_config.receipt_key_path()).unwrap()
}

fn true_national(s: &Setup) -> Vec<i64> {
    let mut sum: Vec<i64> = Vec::new();
    for tables in s.exact.values() {
        let flat = layout::flatten(tables);
        if sum.is_empty() {
            sum = vec![0; flat.len()];
        }
        for (a, v) in sum.iter_mut().zip(flat) {
            *a += v;
        }
    }
    sum
}

async fn ask_helper(
    s: &Setup,
    request: &pb::CollectRequest,
) -> Result<pb::SignedMessage, tonic::Status> {
    let helper = s.leader_config.helper.as_ref().unwrap();
    let mut client = collect::connect(helper).await.unwrap();
    let env = sign_message(&leader_signer(s), share::COLLECT_DOMAIN, request);
    client.aggregate(env).await.map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collected_national_table_is_exact_and_the_helper_guards_its_batches() {
    let s = setup().await;
    let store = s.world.gateway().store();
    let def = &s.world.def;
    let helper_cfg = s.leader_config.helper.clone().unwrap();

    let batch = collect::prepare_batch(&store, def, &helper_cfg, PERIOD, None, 0).unwrap();
    assert_eq!(batch.request.items.len(), PROJECTS.len());

    // Tampered seed: one flipped byte is refused, naming the report.
    let mut tampered = batch.request.clone();
    tampered.items[3].sealed_seed[20] ^= 1;
    let e = ask_helper(&s, &tampered).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains(&tampered.items[3].report_id), "{e:?}");
    // Replayed seed: project 0's sealed seed and statement moved into project 1's item.
    let mut replayed = batch.request.clone();
    replayed.items[1].sealed_seed = batch.request.items[0].sealed_seed.clone();
    replayed.items[1].statement_signature = batch.request.items[0].statement_signature.clone();
    let e = ask_helper(&s, &replayed).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // Only the seal moved (statement re-signed by nobody): the seal is bound to its report.
    let mut moved = batch.request.clone();
    moved.items[1].sealed_seed = batch.request.items[0].sealed_seed.clone();
    assert_eq!(
        ask_helper(&s, &moved).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    // Fewer than five distinct projects.
    let mut small = batch.request.clone();
    small.batch_id = "small".into();
    small.items.truncate(4);
    let e = ask_helper(&s, &small).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    // One project twice does not count as two.
    let mut twice = batch.request.clone();
    twice.batch_id = "twice".into();
    twice.items.truncate(5);
    twice.items[4] = twice.items[0].clone();
    assert_eq!(
        ask_helper(&s, &twice).await.unwrap_err().code(),
        Code::AlreadyExists
    );
    // A request signed by a key the helper does not know.
    let stranger =
        prikk_proto::Signer::from_pkcs8(&prikk_proto::Signer::generate_pkcs8().unwrap()).unwrap();
    let helper = s.leader_config.helper.as_ref().unwrap();
    let mut client = collect::connect(helper).await.unwrap();
    let e = client
        .aggregate(sign_message(
            &stranger,
            share::COLLECT_DOMAIN,
            &batch.request,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);

    // The real collection: exact in every cell.
    let answer = ask_helper(&s, &batch.request).await.unwrap();
    let rec = collect::recombine(def, &s.leader_config, &batch, &answer).unwrap();
    let truth = true_national(&s);
    assert_eq!(
        layout::flatten(&rec.exact),
        truth,
        "the exact aggregate is the truth"
    );
    assert!(
        rec.checked > 0,
        "cells every project published were checked"
    );
    // A retry of the same batch gets the same share again.
    let again = ask_helper(&s, &batch.request).await.unwrap();
    assert_eq!(again.body, answer.body);

    let summary =
        collect::protect_and_store(&store, def, &s.leader_config, batch, &answer, rec, 0).unwrap();
    assert_eq!(summary.projects.len(), PROJECTS.len());
    assert!(
        summary.secondary + summary.primary < summary.cells,
        "{summary:?}"
    );

    // A second, overlapping collection: the helper refuses it on its own,
    // even when the leader builds a new batch id (here one region).
    let regions: Vec<String> = s.world.agents.iter().map(|a| a.region.clone()).collect();
    let region = regions
        .iter()
        .max_by_key(|r| regions.iter().filter(|x| x == r).count())
        .unwrap();
    let empty = collect::prepare_batch(&store, def, &helper_cfg, "2007", None, 0);
    assert!(matches!(empty, Err(CollectError::NoReports(_))));
    let national_again = collect::prepare_batch(&store, def, &helper_cfg, PERIOD, Some(region), 0);
    assert!(matches!(
        national_again,
        Err(CollectError::AlreadyCollected { .. })
    ));
    let ids: Vec<_> = s
        .world
        .agents
        .iter()
        .filter(|a| &a.region == region)
        .map(|a| a.project.clone())
        .collect();
    let first = collect::prepare_batch(&store, def, &helper_cfg, "2006", None, 0);
    assert!(
        first.is_err(),
        "the leader refuses a second national collection"
    );
    let mut direct = answer_request_for(&s, &ids);
    direct.batch_id = "region-again".into();
    direct.scope = format!("region:{region}");
    if direct.items.len() >= 5 {
        let e = ask_helper(&s, &direct).await.unwrap_err();
        assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    }
    let mut all_again = answer_request_for(
        &s,
        &s.world
            .agents
            .iter()
            .map(|a| a.project.clone())
            .collect::<Vec<_>>(),
    );
    all_again.batch_id = "national-again".into();
    let e = ask_helper(&s, &all_again).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");

    // The export shows exact national cells where there were lower bounds.
    let reports = store.latest_reports(PERIOD).unwrap();
    let min_count = s.leader_config.min_count;
    let mut national = merge::national(def, &reports, min_count);
    let count = |t: &[merge::MergedTable]| {
        t.iter()
            .flat_map(|t| &t.cells)
            .filter(|c| matches!(c, MergedCell::Exact(_)))
            .count()
    };
    let before = count(&national);
    let collections = store.collections(PERIOD).unwrap();
    assert_eq!(collections.len(), 1);
    let view = merge::view(&store, def, PERIOD, &merge::Scope::National, min_count)
        .unwrap()
        .unwrap();
    assert_eq!(
        view.source,
        merge::Source::Collection {
            batch: collections[0].batch_id.clone(),
            projects: collections[0].projects,
            changed_since: Vec::new(),
        }
    );
    national = view.tables;
    let after = count(&national);
    assert!(after > before, "exact cells {before} -> {after}");
    // Every exact cell is the truth.
    let truth_tables = layout::unflatten(&def.shapes(), &truth).unwrap();
    assert_against_truth(&national, &truth_tables);
    // The status table's "referred in total" is now exact.
    let status = national.iter().find(|t| t.shape.id == "status").unwrap();
    assert_eq!(
        status.cells[0],
        MergedCell::Exact(truth_tables[0].values[0])
    );

    // The leader's files never hold a project's exact tables: neither the
    // exact layout of any project nor the exact aggregate appears as
    // packed values (the encoding shares travel in).
    let mut needles = Needles::new(Vec::<String>::new());
    for tables in s.exact.values() {
        let flat = layout::flatten(tables);
        let packed: Vec<u8> = flat
            .iter()
            .take(24)
            .flat_map(|v| (*v as u64).to_le_bytes())
            .collect();
        needles.add(&packed);
    }
    let packed: Vec<u8> = truth
        .iter()
        .take(24)
        .flat_map(|v| (*v as u64).to_le_bytes())
        .collect();
    needles.add(&packed);
    let found = scan_dir(&s.world.gateway_dir(), &needles).unwrap();
    assert!(found.files > 0);
    assert!(found.hits.is_empty(), "{:?}", found.hits);
    // And where the collection suppressed a cell, no stored row holds it.
    for t in &collections[0].tables {
        let spec = def.tables.iter().position(|x| x.shape.id == t.id).unwrap();
        for (c, v) in t.values.iter().enumerate() {
            if let Some(v) = v {
                assert_eq!(*v, truth_tables[spec].values[c]);
            }
        }
    }

    // A correction after the collection (one project, more people): the
    // export names it and brings the collected cells up to date from
    // published cells only, so every exact cell is still the truth of the
    // latest revisions and none is shown as exact that is not.
    let a = &s.world.agents[0];
    let head = reports.iter().find(|r| r.project == a.project).unwrap();
    let earlier: pb::SignedReport = prikk_proto::decode_exact(
        &store.envelope(&head.report_id).unwrap().unwrap(),
        "envelope",
    )
    .unwrap();
    let corrected = s.world.correction(a, &earlier);
    let receipt = s
        .world
        .client()
        .await
        .submit_report(sign_report(
            &a.signer().unwrap(),
            &corrected.report_at(prikk_e2e::now_unix()),
        ))
        .await
        .unwrap()
        .into_inner();
    let body = verify_receipt(&s.world.gateway().receipt_key(), &receipt).unwrap();
    assert_eq!(body.revision, 2);
    let view = merge::view(&store, def, PERIOD, &merge::Scope::National, min_count)
        .unwrap()
        .unwrap();
    assert_eq!(
        view.source,
        merge::Source::Collection {
            batch: collections[0].batch_id.clone(),
            projects: collections[0].projects,
            changed_since: vec![format!("{}: revision 2 (collected: 1)", a.project)],
        }
    );
    // The completeness list says which revision each collected project had.
    let rows = store.completeness(PERIOD).unwrap();
    for r in &rows {
        let c = r.collected.as_ref().expect("every project was collected");
        assert_eq!(c.scope, "national");
        let latest = r.latest.as_ref().unwrap().revision;
        if r.project.id == a.project {
            assert_eq!((c.revision, latest), (1, 2));
        } else {
            assert_eq!((c.revision, latest), (1, 1));
        }
    }
    let mut text = Vec::new();
    prikk_gateway::completeness::write_text(PERIOD, &rows, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{} ", a.project)))
        .unwrap();
    assert!(
        line.contains("national (revision 1; latest not summed)"),
        "{line}"
    );
    let mut exact = s.exact.clone();
    exact.insert(a.project.clone(), corrected.protected.tables.clone());
    let mut new_truth = vec![0i64; truth.len()];
    for tables in exact.values() {
        for (x, v) in new_truth.iter_mut().zip(layout::flatten(tables)) {
            *x += v;
        }
    }
    assert_ne!(new_truth, truth, "the correction changes the truth");
    let new_truth = layout::unflatten(&def.shapes(), &new_truth).unwrap();
    assert_against_truth(&view.tables, &new_truth);
    let status = view.tables.iter().find(|t| t.shape.id == "status").unwrap();
    assert_eq!(
        status.cells[0],
        MergedCell::Exact(new_truth[0].values[0]),
        "the corrected project published its total, so the national total stays exact"
    );
    drop(s.helper);
}

/// Every exact cell equals the truth and every lower bound is at most it.
fn assert_against_truth(tables: &[merge::MergedTable], truth: &[Table]) {
    assert_eq!(tables.len(), truth.len());
    for (t, tt) in tables.iter().zip(truth) {
        for (c, cell) in t.cells.iter().enumerate() {
            match cell {
                MergedCell::Exact(v) => assert_eq!(*v, tt.values[c], "{} cell {c}", t.shape.id),
                MergedCell::LowerBound { value, .. } => {
                    assert!(*value <= tt.values[c], "{} cell {c}", t.shape.id)
                }
                MergedCell::Suppressed => {}
            }
        }
    }
}

/// A collect request for these projects' stored shares, built like the
/// leader builds one (without the leader's own checks).
fn answer_request_for(s: &Setup, projects: &[String]) -> pb::CollectRequest {
    let store = s.world.gateway().store();
    let reports = store.latest_reports(PERIOD).unwrap();
    let mut items = Vec::new();
    for r in reports.iter().filter(|r| projects.contains(&r.project)) {
        let env: pb::SignedReport =
            prikk_proto::decode_exact(&store.envelope(&r.report_id).unwrap().unwrap(), "env")
                .unwrap();
        let report: pb::Report = prikk_proto::decode_exact(&env.report, "report").unwrap();
        let sh = report.shares.unwrap();
        items.push(pb::ShareItem {
            report_id: report.report_id.clone(),
            project: report.project.clone(),
            period: report.period.clone(),
            definition_id: report.definition_id.clone(),
            definition_version: report.definition_version,
            cells: sh.cells,
            helper_key_id: sh.helper_key_id,
            sealed_seed: sh.sealed_seed,
            statement_signature: sh.statement_signature,
            agent_key_id: env.key_id,
        });
    }
    pb::CollectRequest {
        batch_id: String::new(),
        period: PERIOD.into(),
        scope: "national".into(),
        items,
        created_unix: 0,
    }
}
