//! Secure aggregation end to end with release levels: 21 agents send their
//! exact tables only as secret shares (the definition releases every table
//! at aggregate level), a leader gateway and an independent helper (both
//! in-process, real TLS, their own SQLite files) collect the nation by
//! region groups in one batch. The national and regional tables must equal
//! the truth in every published cell, be as exact as national-only
//! protection allows, and no single party may be able to take them apart:
//! the leader holds nothing per project, the helper refuses small,
//! overlapping, regrouped, same-snapshot, tampered and replayed batches, and
//! one bad agent is dropped, named, without blocking the period.

use std::collections::BTreeMap;

use municipality_agent::report::{self, ProtectionPolicy};
use municipality_agent::share::HelperKey;
use municipality_agent::synthetic::{PROJECTS, SyntheticOptions, write_export};
use prikk_e2e::agent::AgentState;
use prikk_e2e::scan::{Needles, scan_dir};
use prikk_e2e::{InProcessGateway, agent, gateway, truth};
use prikk_gateway::aggregation::collect::{self, CollectError, CollectSummary};
use prikk_gateway::aggregation::helper::load_or_create_helper_key;
use prikk_gateway::config::{HelperEndpoint, Role};
use prikk_gateway::merge::{self, MergedCell};
use prikk_privacy::geography::leader_knowledge_audit;
use prikk_privacy::{Table, layout, protect};
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

/// The cell-by-cell sum of these projects' exact tables.
fn sum_of<'a>(
    def: &prikk_privacy::Definition,
    tables: impl Iterator<Item = &'a Vec<Table>>,
) -> Vec<Table> {
    let mut sum = vec![0i64; layout::layout_len(&def.shapes())];
    for t in tables {
        for (a, v) in sum.iter_mut().zip(layout::flatten(t)) {
            *a += v;
        }
    }
    layout::unflatten(&def.shapes(), &sum).unwrap()
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

async fn run_collect(s: &Setup, period: &str) -> Result<CollectSummary, CollectError> {
    collect::collect(
        &s.world.gateway().store(),
        &s.world.def,
        &s.leader_config,
        &leader_signer(s),
        period,
        None,
        0,
    )
    .await
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn national_and_regional_tables_are_exact_and_no_single_party_can_take_them_apart() {
    let s = setup().await;
    let store = s.world.gateway().store();
    let def = &s.world.def;
    let helper_cfg = s.leader_config.helper.clone().unwrap();
    let min_projects = s.leader_config.min_projects;

    // The leader holds no project table: every report carries shares only.
    let reports = store.latest_reports(PERIOD).unwrap();
    assert_eq!(reports.len(), PROJECTS.len());
    assert!(
        reports.iter().all(|r| r.tables.is_empty()),
        "no project table is stored"
    );
    // Before any collection the national tables show nothing as exact.
    let before = merge::national(def, &reports, s.leader_config.min_count);
    assert!(
        before
            .iter()
            .flat_map(|t| &t.cells)
            .all(|c| !matches!(c, MergedCell::Exact(_))),
        "without a collection no national cell is known"
    );

    let batch =
        collect::prepare_batch(&store, def, &helper_cfg, min_projects, PERIOD, None, 0).unwrap();
    assert_eq!(batch.request.items.len(), PROJECTS.len());
    assert!(batch.groups.len() > 1, "{:?}", batch.groups);
    assert!(
        batch
            .groups
            .iter()
            .all(|g| g.projects >= min_projects as usize)
    );

    // The helper on its own refuses what would isolate a project.
    let mut tampered = batch.request.clone();
    tampered.items[3].sealed_seed[20] ^= 1;
    let e = ask_helper(&s, &tampered).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains(&tampered.items[3].report_id), "{e:?}");
    let mut replayed = batch.request.clone();
    replayed.items[1].sealed_seed = batch.request.items[0].sealed_seed.clone();
    replayed.items[1].statement_signature = batch.request.items[0].statement_signature.clone();
    assert_eq!(
        ask_helper(&s, &replayed).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    // A group below the minimum: one project moved into a group of its own.
    let mut lonely = batch.request.clone();
    lonely.batch_id = "lonely".into();
    lonely.items[0].group = "alone".into();
    let e = ask_helper(&s, &lonely).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("alone"), "{e:?}");
    // An agent's own floor is higher than the helper's: its signed
    // statement says 5, the request claims 2 — the statement no longer verifies.
    let mut lowered = batch.request.clone();
    lowered.items[0].min_projects = 2;
    assert_eq!(
        ask_helper(&s, &lowered).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let mut twice = batch.request.clone();
    twice.batch_id = "twice".into();
    twice.items[4] = twice.items[0].clone();
    assert_eq!(
        ask_helper(&s, &twice).await.unwrap_err().code(),
        Code::AlreadyExists
    );
    let stranger =
        prikk_proto::Signer::from_pkcs8(&prikk_proto::Signer::generate_pkcs8().unwrap()).unwrap();
    let mut client = collect::connect(&helper_cfg).await.unwrap();
    let e = client
        .aggregate(sign_message(
            &stranger,
            share::COLLECT_DOMAIN,
            &batch.request,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    // A check request is not an aggregate request: the domains differ.
    let e = client
        .aggregate(sign_message(
            &leader_signer(&s),
            share::CHECK_DOMAIN,
            &batch.request,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);

    // The real collection.
    let summary = run_collect(&s, PERIOD).await.unwrap();
    assert_eq!(summary.projects.len(), PROJECTS.len());
    assert!(summary.dropped.is_empty(), "{:?}", summary.dropped);
    assert_eq!(summary.checked, PROJECTS.len());
    assert_eq!(
        summary.national_suppressed, summary.national_alone.suppressed_cells,
        "the nation keeps the pattern it has alone"
    );
    let text = collect::describe(PERIOD, &summary);
    for g in &summary.groups {
        assert!(text.contains(&format!("group {}", g.code)), "{text}");
    }
    // The information loss the leader may see: which margins are hidden,
    // in cells; never the people in hidden cells, never which of them are
    // complementary (a complementary suppression is not small).
    let loss = &summary.national_loss;
    assert_eq!(loss.suppressed_cells, summary.national_suppressed);
    assert_eq!(loss.suppressed_people, None);
    assert_eq!(loss.secondary_cells, None);
    assert!(loss.levels.iter().all(|l| l.secondary.is_none()));
    assert!(
        text.contains(&format!(
            "{} grand totals and {} of {} one-way margins hidden",
            loss.grand_totals_hidden, loss.one_way_hidden, loss.one_way_cells
        )),
        "{text}"
    );
    // How many hidden cells are small is not said either.
    assert!(
        !text.contains("people")
            && !text.contains("complementary")
            && !text.contains("for the policy"),
        "{text}"
    );

    // A retry of the same batch gets the same answer, byte for byte; any
    // other batch over these projects for this snapshot is refused, be it
    // regrouped under the same id, a new id, or a subset.
    let collections = store.collections(PERIOD).unwrap();
    let national_col = collections.iter().find(|c| c.scope == "national").unwrap();
    let mut same = batch.request.clone();
    same.batch_id = national_col.batch_id.clone();
    let first = ask_helper(&s, &same).await.unwrap();
    let again = ask_helper(&s, &same).await.unwrap();
    assert_eq!(first.body, again.body);
    let mut regrouped = same.clone();
    regrouped
        .items
        .iter_mut()
        .for_each(|i| i.group = "everyone".into());
    assert_eq!(
        ask_helper(&s, &regrouped).await.unwrap_err().code(),
        Code::AlreadyExists
    );
    let mut subset = batch.request.clone();
    subset.batch_id = "subset".into();
    subset.items.truncate(8);
    subset
        .items
        .iter_mut()
        .for_each(|i| i.group = "some".into());
    assert_eq!(
        ask_helper(&s, &subset).await.unwrap_err().code(),
        Code::AlreadyExists
    );
    assert!(matches!(
        collect::prepare_batch(&store, def, &helper_cfg, min_projects, PERIOD, None, 0),
        Err(CollectError::AlreadyCollected { .. })
    ));

    // The national tables: every published cell is the truth, and every
    // cell that national-only protection publishes is published exactly.
    let truth_national = sum_of(def, s.exact.values());
    let view = merge::view(
        &store,
        def,
        PERIOD,
        &merge::Scope::National,
        s.leader_config.min_count,
    )
    .unwrap()
    .unwrap();
    assert_against_truth(&view.tables, &truth_national);
    let alone = protect(
        &truth_national,
        &collect::aggregate_policy(&s.leader_config),
    )
    .unwrap();
    let mut exact_cells = 0;
    for ((t, hidden), truth) in view
        .tables
        .iter()
        .zip(&alone.suppressed)
        .zip(&truth_national)
    {
        for (c, cell) in t.cells.iter().enumerate() {
            if hidden[c] {
                assert_eq!(*cell, MergedCell::Suppressed, "{} cell {c}", t.shape.id);
            } else {
                assert_eq!(
                    *cell,
                    MergedCell::Exact(truth.values[c]),
                    "{} cell {c}",
                    t.shape.id
                );
                exact_cells += 1;
            }
        }
    }
    let status = view.tables.iter().find(|t| t.shape.id == "status").unwrap();
    let status_exact = status
        .cells
        .iter()
        .filter(|c| matches!(c, MergedCell::Exact(_)))
        .count();
    assert!(
        status_exact * 2 > status.cells.len(),
        "table 3 is mostly exact: {status_exact} of {}",
        status.cells.len()
    );
    assert!(exact_cells > 0);
    // No published national cell is a small count.
    let k = i64::from(s.leader_config.min_count);
    for t in &view.tables {
        for cell in &t.cells {
            if let MergedCell::Exact(v) = cell {
                assert!(*v == 0 || *v >= k, "{} publishes a small count", t.shape.id);
            }
        }
    }

    // Each region's view is its group's: exact where published, the truth.
    for g in &summary.groups {
        let members: Vec<&AgentState> = s
            .world
            .agents
            .iter()
            .filter(|a| g.regions.contains(&a.region))
            .collect();
        assert_eq!(members.len(), g.projects);
        let truth_group = sum_of(def, members.iter().map(|a| &s.exact[&a.project]));
        let view = merge::view(
            &store,
            def,
            PERIOD,
            &merge::Scope::Region(g.regions[0].clone()),
            s.leader_config.min_count,
        )
        .unwrap()
        .unwrap();
        assert_against_truth(&view.tables, &truth_group);
        match &view.source {
            merge::Source::Collection { merged_regions, .. } if g.regions.len() > 1 => {
                assert_eq!(
                    merged_regions, &g.regions,
                    "a merged region shows its group"
                );
                let heading = merge::heading(&view.source, view.reports, &g.regions[0], PERIOD);
                assert!(heading.contains(&g.regions.join(" + ")), "{heading}");
            }
            merge::Source::Collection { merged_regions, .. } => assert!(merged_regions.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    // The leader alone: what it stores per project (nothing) plus the exact
    // group sums it computed. An integer attack over them derives no
    // project's non-zero cell.
    let tables: Vec<usize> = ["status", "intake"]
        .iter()
        .map(|id| def.tables.iter().position(|t| t.shape.id == *id).unwrap())
        .collect();
    let shapes: Vec<_> = tables
        .iter()
        .map(|&i| def.tables[i].shape.clone())
        .collect();
    let knowledge: Vec<(String, Vec<Table>)> = s
        .world
        .agents
        .iter()
        .map(|a| {
            let group = summary
                .groups
                .iter()
                .find(|g| g.regions.contains(&a.region))
                .unwrap();
            (
                group.code.clone(),
                tables
                    .iter()
                    .map(|&i| s.exact[&a.project][i].clone())
                    .collect(),
            )
        })
        .collect();
    let attack = leader_knowledge_audit(
        &shapes,
        &knowledge,
        &collect::aggregate_policy(&s.leader_config),
    )
    .unwrap();
    assert!(attack.hidden_cells > 0);
    assert!(
        attack.derived_nonzero.is_empty(),
        "{:?}",
        attack.derived_nonzero
    );

    // Every byte the leader and the helper keep: no project's exact layout,
    // no exact group sum and no exact national sum appears packed as shares
    // travel.
    let mut needles = Needles::new(Vec::<String>::new());
    let pack = |flat: &[i64]| -> Vec<u8> {
        flat.iter()
            .take(24)
            .flat_map(|v| (*v as u64).to_le_bytes())
            .collect()
    };
    for tables in s.exact.values() {
        needles.add(&pack(&layout::flatten(tables)));
    }
    needles.add(&pack(&layout::flatten(&truth_national)));
    for dir in [s.world.gateway_dir(), s.world.dir.path().join("helper")] {
        let found = scan_dir(&dir, &needles).unwrap();
        assert!(found.files > 0);
        assert!(found.hits.is_empty(), "{:?}", found.hits);
    }

    // The same snapshot under another period string: 2006-12 counts the
    // same people as 2006. Every project reports it; the helper refuses to
    // count any project twice for the as-of date 2006-12.
    let access = s.world.access();
    for a in &s.world.agents {
        agent::submit(a, s.world.def.clone(), "2006-12", &s.world.policy, &access)
            .await
            .unwrap();
    }
    match run_collect(&s, "2006-12").await {
        Err(CollectError::Refused { code, message }) => {
            assert_eq!(code, Code::AlreadyExists, "{message}");
            assert!(message.contains("2006-12"), "{message}");
        }
        other => panic!("a second batch of one snapshot must be refused: {other:?}"),
    }

    // A correction after the collection: a changed count gives a new report
    // id (the id binds the exact tables through a digest keyed with the
    // agent's own key), the same data gives the same id, and the national
    // view stops calling any cell exact that the collection no longer sums.
    let a = &s.world.agents[0];
    let corrected_export = s.world.dir.path().join("corrected.csv");
    write_export(
        &corrected_export,
        &a.project,
        a.rows + 9,
        1_000_003,
        &SyntheticOptions::default(),
    )
    .unwrap();
    let signer = a.signer().unwrap();
    let policy = ProtectionPolicy::suppression(s.world.policy.clone());
    let prepare = |path: &std::path::Path, signer: &prikk_proto::Signer| {
        report::prepare_shared(def, path, PERIOD, Some(&a.project), &policy, signer).unwrap()
    };
    let corrected = prepare(&corrected_export, &signer);
    let original = prepare(&a.export, &signer);
    let head = reports.iter().find(|r| r.project == a.project).unwrap();
    assert_eq!(
        original.report.report_id, head.report_id,
        "same data, same id"
    );
    assert_ne!(
        corrected.report.report_id, head.report_id,
        "changed counts, new id"
    );
    assert!(corrected.report.tables.is_empty());
    let other_key =
        prikk_proto::Signer::from_pkcs8(&prikk_proto::Signer::generate_pkcs8().unwrap()).unwrap();
    assert_ne!(
        prepare(&a.export, &other_key).report.report_id,
        head.report_id,
        "the id is keyed: without the agent's key it cannot be recomputed from guessed counts"
    );
    let mut wire = corrected.report_at(prikk_e2e::now_unix());
    municipality_agent::share::attach_shares(
        &mut wire,
        &corrected.protected.tables,
        a.helper_key.as_ref().unwrap(),
        &signer,
        municipality_agent::config::DEFAULT_MIN_PROJECTS,
    )
    .unwrap();
    let receipt = s
        .world
        .client()
        .await
        .submit_report(sign_report(&signer, &wire))
        .await
        .unwrap()
        .into_inner();
    let body = verify_receipt(&s.world.gateway().receipt_key(), &receipt).unwrap();
    assert_eq!(body.revision, 2);
    let view = merge::view(
        &store,
        def,
        PERIOD,
        &merge::Scope::National,
        s.leader_config.min_count,
    )
    .unwrap()
    .unwrap();
    match &view.source {
        merge::Source::Collection { changed_since, .. } => {
            assert_eq!(
                changed_since,
                &vec![format!("{}: revision 2 (collected: 1)", a.project)]
            );
        }
        other => panic!("{other:?}"),
    }
    let mut exact = s.exact.clone();
    exact.insert(a.project.clone(), corrected.protected.tables.clone());
    let new_truth = sum_of(def, exact.values());
    assert_ne!(
        layout::flatten(&new_truth),
        layout::flatten(&truth_national)
    );
    assert_against_truth(&view.tables, &new_truth);
    drop(s.helper);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agent_whose_shares_do_not_add_up_is_dropped_and_named() {
    let s = setup().await;
    let def = &s.world.def;
    // Project 2 sends a correction whose shares split tables that do not add
    // up (one more person in an inner cell than in its margins), and
    // project 5 one whose seed is sealed to a key the helper does not hold.
    // Both are signed by their own agents, so the gateway takes them: it
    // cannot see inside shares.
    let policy = ProtectionPolicy::suppression(s.world.policy.clone());
    let mut send = Vec::new();
    for (i, tamper) in [(2usize, "margins"), (5, "seal")] {
        let a = &s.world.agents[i];
        let signer = a.signer().unwrap();
        let mut p =
            report::prepare_shared(def, &a.export, PERIOD, Some(&a.project), &policy, &signer)
                .unwrap();
        let mut wire = p.report_at(prikk_e2e::now_unix());
        wire.report_id = format!("{tamper}-{}", a.project);
        let real = *a.helper_key.as_ref().unwrap();
        if tamper == "margins" {
            let t = &mut p.protected.tables[0];
            let inner = (0..t.shape.len()).find(|&c| t.shape.is_inner(c)).unwrap();
            t.values[inner] += 1;
            t.contributors[inner] += 1;
            municipality_agent::share::attach_shares(
                &mut wire,
                &p.protected.tables,
                &real,
                &signer,
                5,
            )
            .unwrap();
        } else {
            // Sealed to a stray key, then relabelled with the real helper's
            // key id and signed again: the statement holds, the seal does not open.
            let stray = HelperKey {
                public: prikk_proto::share::HelperSecret::generate()
                    .unwrap()
                    .public_key(),
            };
            municipality_agent::share::attach_shares(
                &mut wire,
                &p.protected.tables,
                &stray,
                &signer,
                5,
            )
            .unwrap();
            let mut shares = wire.shares.take().unwrap();
            shares.helper_key_id = real.key_id();
            let ctx = share::ShareContext::of_report(&wire, &shares);
            shares.statement_signature = share::sign_statement(&signer, &ctx, &shares.sealed_seed);
            wire.shares = Some(shares);
        }
        send.push((a.project.clone(), wire));
    }
    let mut client = s.world.client().await;
    for (project, wire) in &send {
        let a = s
            .world
            .agents
            .iter()
            .find(|a| &a.project == project)
            .unwrap();
        client
            .submit_report(sign_report(&a.signer().unwrap(), wire))
            .await
            .unwrap();
    }
    let summary = run_collect(&s, PERIOD).await.unwrap();
    let reason = |i: usize| {
        let p = &s.world.agents[i].project;
        summary
            .dropped
            .iter()
            .find(|d| &d.project == p)
            .map(|d| d.reason.clone())
    };
    assert_eq!(summary.dropped.len(), 2, "{:?}", summary.dropped);
    assert!(
        reason(2).unwrap().contains("do not add up"),
        "{:?}",
        summary.dropped
    );
    assert!(
        reason(5).unwrap().contains("cannot use"),
        "{:?}",
        summary.dropped
    );
    let dropped: Vec<&str> = summary.dropped.iter().map(|d| d.project.as_str()).collect();
    assert_eq!(summary.projects.len(), PROJECTS.len() - 2);
    let text = collect::describe(PERIOD, &summary);
    assert!(
        text.contains(&format!("dropped {}", s.world.agents[2].project)),
        "{text}"
    );
    // The nation is the exact sum of the other 19.
    let store = s.world.gateway().store();
    let others = s
        .exact
        .iter()
        .filter(|(p, _)| !dropped.contains(&p.as_str()))
        .map(|(_, t)| t);
    let truth = sum_of(def, others);
    let col = store.collections(PERIOD).unwrap();
    let national = col.iter().find(|c| c.scope == "national").unwrap();
    let mut published = 0;
    for t in &national.tables {
        let tt = truth.iter().find(|x| x.shape.id == t.id).unwrap();
        for (c, v) in t.values.iter().enumerate() {
            if let Some(v) = v {
                assert_eq!(*v, tt.values[c], "{} cell {c}", t.id);
                published += 1;
            }
        }
    }
    assert!(published > 0);
    drop(s.helper);
}
