//! `prikk-demo`: the whole system on one machine in one command.
//!
//! Generates keys and participant exports for the 21 Ny sjanse projects of
//! 2005-2006, starts a gateway on loopback (SQLite file, TLS from a local
//! CA made on the spot), registers the projects, runs one agent per project
//! concurrently, and prints the completeness list and the national
//! participant status table shaped like table 3 of IMDi report 4-2007.
//! Every file it makes stays in one folder, named at the end.
//!
//! Exit codes: 0 every project reported, 1 a project failed, 2 usage
//! (including a non-empty output folder without `--force`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use municipality_agent::share::HelperKey;
use municipality_agent::synthetic::PROJECTS;
use prikk_e2e::agent::{self, AgentState, Submission};
use prikk_e2e::{InProcessGateway, LocalCa, gateway, truth};
use prikk_gateway::aggregation::collect;
use prikk_gateway::aggregation::helper::load_or_create_helper_key;
use prikk_gateway::config::HelperEndpoint;
use prikk_gateway::export;
use prikk_gateway::merge::{self, MergedTable};
use prikk_privacy::{Definition, Policy};

#[derive(Parser)]
#[command(
    name = "prikk-demo",
    about = "Runs prikk end to end on this machine: 21 generated projects, one gateway on loopback, a national report"
)]
struct Args {
    /// Folder for every file the demo makes (an earlier demo's folder is reused;
    /// a folder with other files is refused unless --force).
    #[arg(long, default_value = "prikk-demo")]
    out: PathBuf,
    /// Seed for the generated exports (same seed, same data).
    #[arg(long, default_value_t = 6)]
    seed: u64,
    /// Reporting period: YYYY, YYYY-H1, YYYY-Q3 or YYYY-MM.
    #[arg(long, default_value = "2006")]
    period: String,
    /// Reuse a non-empty folder: the demo's own files in it are replaced.
    #[arg(long)]
    force: bool,
}

/// What the demo creates inside the output folder (removed again with --force).
const OWN: [&str; 4] = ["pki", "gateway", "agents", "helper"];
const OWN_PREFIX: &str = "national-";

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) if e.downcast_ref::<Usage>().is_some() => {
            eprintln!("prikk-demo: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("prikk-demo: {e:#}");
            ExitCode::from(1)
        }
    }
}

#[derive(Debug)]
struct Usage(String);
impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Usage {}

fn prepare_folder(out: &Path, force: bool) -> anyhow::Result<()> {
    match std::fs::read_dir(out) {
        Ok(entries) => {
            let mut names = Vec::new();
            for e in entries {
                names.push(
                    e.with_context(|| format!("reading {}", out.display()))?
                        .file_name(),
                );
            }
            // A folder holding only an earlier demo's files is simply reused,
            // so running the demo twice works; anything else needs --force.
            let ours = |n: &std::ffi::OsString| {
                let n = n.to_string_lossy();
                OWN.contains(&n.as_ref()) || n.starts_with(OWN_PREFIX)
            };
            if !names.is_empty() {
                if !force && !names.iter().all(ours) {
                    return Err(Usage(format!(
                        "{} is not empty; choose another --out folder, or pass --force to replace the demo's files in it",
                        out.display()
                    ))
                    .into());
                }
                for name in OWN {
                    let p = out.join(name);
                    if p.exists() {
                        std::fs::remove_dir_all(&p)
                            .with_context(|| format!("removing {}", p.display()))?;
                    }
                }
                for e in std::fs::read_dir(out)? {
                    let e = e?;
                    if e.file_name().to_string_lossy().starts_with(OWN_PREFIX)
                        && e.file_type()?.is_file()
                    {
                        std::fs::remove_file(e.path())?;
                    }
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", out.display())),
    }
    Ok(())
}

fn run(args: &Args) -> anyhow::Result<bool> {
    let started = Instant::now();
    municipality_agent::period::Period::parse(&args.period).map_err(|e| Usage(e.to_string()))?;
    prepare_folder(&args.out, args.force)?;
    let out = args
        .out
        .canonicalize()
        .with_context(|| format!("resolving {}", args.out.display()))?;
    let def = Arc::new(Definition::embedded());
    let policy = Policy::default();

    println!(
        "prikk demo — Ny sjanse, period {}, seed {}",
        args.period, args.seed
    );
    println!("{}", "=".repeat(72));

    // The municipalities: a key pair and a case-system export each.
    let agents_dir = out.join("agents");
    let mut agents: Vec<AgentState> = PROJECTS
        .iter()
        .map(|p| AgentState::create(&agents_dir, p, args.seed))
        .collect::<Result<_, _>>()
        .context("creating the agents")?;
    let people: usize = agents.iter().map(|a| a.rows).sum();
    println!(
        "generated {} project exports ({people} referred people; name, national_id, health_notes, ... \
         filled with canary values that must never leave)",
        agents.len()
    );

    // The directorate: a local CA, a TLS gateway on loopback with a SQLite file.
    let ca = LocalCa::create(&out.join("pki")).context("creating the local CA")?;
    let gateway_dir = out.join("gateway");
    std::fs::create_dir_all(&gateway_dir)?;
    let config = gateway::config(&gateway_dir, &ca);
    let gw = InProcessGateway::start(&config).context("starting the gateway")?;
    gateway::register_all(&gw.store(), &agents).context("registering the projects")?;
    println!(
        "gateway listening on {} (TLS, local CA {}), {} projects registered",
        gw.url(),
        ca.ca_cert.display(),
        agents.len()
    );

    // The independent helper of secure aggregation: its own folder, keys,
    // SQLite file and registry (projects and the one leader it serves).
    let helper_dir = out.join("helper");
    std::fs::create_dir_all(&helper_dir)?;
    let mut helper_config = gateway::config(&helper_dir, &ca);
    helper_config.db = helper_dir.join("helper.db");
    helper_config.role = prikk_gateway::config::Role::Helper;
    let helper_secret = load_or_create_helper_key(&helper_config.helper_key_path())
        .context("creating the helper's key")?;
    let helper = InProcessGateway::start(&helper_config).context("starting the helper")?;
    gateway::register_all(&helper.store(), &agents).context("registering at the helper")?;
    helper
        .store()
        .add_leader("directorate", &gw.receipt_key(), prikk_e2e::now_unix())?;
    for a in &mut agents {
        a.helper_key = Some(HelperKey {
            public: helper_secret.public_key(),
        });
    }
    println!(
        "helper (independent party) listening on {}; agents seal their seeds to its key {}",
        helper.url(),
        helper_secret.key_id()
    );

    // One agent per project, concurrently.
    let access = gw.access(&ca);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let results: Vec<(String, Result<Submission, prikk_e2e::HarnessError>)> = rt.block_on(async {
        let tasks: Vec<_> = agents
            .iter()
            .map(|a| {
                let (a, def, policy, access, period) = (
                    a.clone(),
                    def.clone(),
                    policy.clone(),
                    access.clone(),
                    args.period.clone(),
                );
                tokio::spawn(async move {
                    let r = agent::submit(&a, def, &period, &policy, &access).await;
                    (a.project, r)
                })
            })
            .collect();
        let mut results = Vec::with_capacity(tasks.len());
        for t in tasks {
            results.push(t.await.unwrap_or_else(|e| {
                (
                    "?".into(),
                    Err(prikk_e2e::HarnessError::Process(e.to_string())),
                )
            }));
        }
        results
    });
    let mut failed = Vec::new();
    let (mut primary, mut secondary) = (0usize, 0usize);
    for (project, r) in &results {
        match r {
            Ok(s) => {
                primary += s.prepared.protected.primary_count;
                secondary += s.prepared.protected.secondary_count;
            }
            Err(e) => failed.push(format!("{project}: {e}")),
        }
    }
    println!(
        "agents done: {} delivered with verified receipts, {} failed",
        results.len() - failed.len(),
        failed.len()
    );
    for f in &failed {
        println!("  FAILED {f}");
    }

    // What the directorate sees.
    let store = gw.store();
    let period = prikk_gateway::period::Period::parse(&args.period)
        .map_err(|e| Usage(e.to_string()))?
        .to_string();
    let rows = store.completeness(&period)?;
    println!();
    let mut stdout = std::io::stdout().lock();
    prikk_gateway::completeness::write_text(&period, &rows, &mut stdout)?;
    let reports = store.latest_reports(&period)?;
    let published: usize = reports.iter().map(|r| r.tables.len()).sum();
    writeln!(
        stdout,
        "\nthe directorate holds {published} project tables: every table of the definition is released at \
         aggregate level, so it left each municipality only as secret shares"
    )?;
    drop(stdout);

    // Secure aggregation: the exact national aggregate through the helper,
    // protected jointly with the projects' published tables.
    let mut leader_config = config.clone();
    leader_config.helper = Some(HelperEndpoint {
        url: helper.url(),
        ca_certificate: Some(ca.ca_cert.clone()),
        tls_server_name: None,
        insecure_plaintext: false,
        signing_key: hex::encode(helper.receipt_key()),
        encryption_key: hex::encode(helper_secret.public_key()),
    });
    let signer = prikk_gateway::registry::read_receipt_key(&leader_config.receipt_key_path())?;
    let summary = rt
        .block_on(collect::collect(
            &store,
            &def,
            &leader_config,
            &signer,
            &period,
            None,
            prikk_e2e::now_unix(),
        ))
        .context("collecting the national aggregate")?;
    println!(
        "\nsecure aggregation (the helper saw only sealed seeds, the gateway only random shares):\n{}",
        collect::describe(&period, &summary)
    );
    let view = merge::view(
        &store,
        &def,
        &period,
        &merge::Scope::National,
        config.min_count,
    )?
    .context("no national tables")?;
    anyhow::ensure!(
        matches!(view.source, merge::Source::Collection { .. }),
        "the collection was not stored"
    );
    let collected = view.tables;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout)?;
    print_table_3(&mut stdout, &collected, &period, reports.len())?;
    drop(stdout);
    let national = collected;

    // The national tables as the directorate's staff get them.
    let heading = format!(
        "Norway, {period} ({} project reports, latest revisions; exact cells from secure aggregation)",
        reports.len()
    );
    let base = out.join(format!("{OWN_PREFIX}{period}"));
    let mut text = Vec::new();
    export::write_text(&national, &heading, &mut text)?;
    std::fs::write(base.with_extension("txt"), text)?;
    let mut csv = Vec::new();
    export::write_csv(&national, &mut csv)?;
    std::fs::write(base.with_extension("csv"), csv)?;
    std::fs::write(
        base.with_extension("xlsx"),
        export::to_xlsx(&national, &heading)?,
    )?;
    let mut meta = serde_json::Map::new();
    meta.insert("level".into(), "national".into());
    meta.insert("period".into(), period.clone().into());
    meta.insert("reports".into(), reports.len().into());
    std::fs::write(
        base.with_extension("json"),
        serde_json::to_vec_pretty(&export::to_json(&national, meta))?,
    )?;

    // The demo made the data, so it can check the national figures against the truth.
    let exact: BTreeMap<_, _> = truth::exact_by_project(&def, &agents, &period)?;
    let lower_bounds_only = merge::national(&def, &reports, config.min_count);
    let check =
        truth::compare_national(&def, &exact, &reports, &lower_bounds_only, config.min_count);
    let (collected_exact, collected_wrong) = check_collected(&def, &exact, &national);
    println!(
        "secure aggregation: {collected_exact} national cells exact (was {} without it), {collected_wrong} differ from the truth",
        check.exact
    );
    println!(
        "\nchecked against the exact (never transmitted) data, without the collection: {} national cells exact and equal to the true sums, \
         {} lower bounds none above the truth, {} suppressed nationally; {} problems",
        check.exact,
        check.lower_bounds,
        check.suppressed,
        check.problems.len()
    );
    for p in check.problems.iter().take(10) {
        println!("  PROBLEM {p}");
    }
    drop(store);
    gw.stop().context("stopping the gateway")?;
    helper.stop().context("stopping the helper")?;

    let stored = prikk_gateway::Store::open(&config.db)?.report_count()?;
    println!(
        "\nsummary: {} of {} projects reported, {stored} reports stored, {}, {:.1} s",
        rows.iter().filter(|r| r.latest.is_some()).count(),
        agents.len(),
        if primary + secondary == 0 {
            "no project table published (secret shares only)".to_string()
        } else {
            format!(
                "{secondary} secondary suppressions ({primary} primary) in the projects' tables"
            )
        },
        started.elapsed().as_secs_f64()
    );
    println!(
        "national tables: {} (.csv .xlsx .json .txt)\nall files are in {}",
        base.display(),
        out.display()
    );
    if !check.problems.is_empty() || collected_wrong > 0 {
        bail!("the national tables disagree with the exact data");
    }
    Ok(failed.is_empty())
}

/// Table 3's rows with the report's Norwegian wording.
/// Every exact cell of the collected national tables against the true
/// national sums: (exact cells, cells that differ).
fn check_collected(
    def: &Definition,
    exact: &BTreeMap<String, Vec<prikk_privacy::Table>>,
    national: &[merge::MergedTable],
) -> (usize, usize) {
    let (mut ok, mut wrong) = (0, 0);
    for (ti, spec) in def.tables.iter().enumerate() {
        let Some(t) = national.iter().find(|t| t.shape.id == spec.shape.id) else {
            continue;
        };
        for (c, cell) in t.cells.iter().enumerate() {
            let truth: i64 = exact.values().map(|tables| tables[ti].values[c]).sum();
            match cell {
                merge::MergedCell::Exact(v) if *v == truth => ok += 1,
                merge::MergedCell::Exact(_) => wrong += 1,
                merge::MergedCell::LowerBound { value, .. } if *value > truth => wrong += 1,
                _ => {}
            }
        }
    }
    (ok, wrong)
}

fn label(code: &str) -> &'static str {
    match code {
        "total" => "Henviste i alt",
        "admitted" => "Programdeltakere",
        "admitted.active" => "Fortsatt aktive i program",
        "admitted.work_or_education" => "Utskrevet – kom i arbeid/utdanning",
        "admitted.other_discharge" => "Utskrevet til «annet»",
        "admitted.terminated" => "Avbrutt før 2-årssyklusen var omme",
        "admitted.terminated.birth" => "Fødsel",
        "admitted.terminated.invalid_absence" => "For høyt ugyldig fravær",
        "admitted.terminated.moved" => "Flyttet",
        "admitted.terminated.referred_elsewhere" => "Henvist til andre tiltak",
        "admitted.terminated.full_time_not_feasible" => "Ikke mulig – heldags/helårsprogram",
        "admitted.terminated.other" => "Annet",
        "admitted.missing_data" => "Mangler rapporteringsdata",
        "assessing" => "Ikke aktive – under kartlegging",
        "not_admitted" => "Henviste som ikke ble gitt program",
        "not_admitted.other_measure" => "Henvist til andre tiltak",
        "not_admitted.work_or_education" => "Kommet i jobb/utdanning",
        "not_admitted.self_supporting" => "Selvforsørget",
        "not_admitted.no_show" => "Ikke møtt",
        "not_admitted.moved" => "Flyttet/«forsvunnet»",
        "not_admitted.no_childcare" => "Mangler barnetilsyn",
        "not_admitted.disability_pension" => "Uføretrygdet",
        "not_admitted.residence_under_2y" => "Botid under 2 år",
        "not_admitted.assistance_under_6m" => "Sosialhjelp under 6 md.",
        "not_admitted.no_need" => "Ikke behov for kvalifisering",
        "not_admitted.other" => "Annet",
        _ => "",
    }
}

/// The national status table laid out like table 3: status rows (indented
/// by hierarchy level), women, men and total, with Statistics Norway's symbols.
fn print_table_3(
    out: &mut impl std::io::Write,
    national: &[MergedTable],
    period: &str,
    reports: usize,
) -> anyhow::Result<()> {
    let Some(t) = national.iter().find(|t| t.shape.id == "status") else {
        bail!("no status table")
    };
    let status = &t.shape.dimensions[0];
    let gender = &t.shape.dimensions[1];
    let col = |code: &str| gender.categories.iter().position(|c| c.code == code);
    let (Some(f), Some(m), Some(tot)) = (col("female"), col("male"), col("total")) else {
        bail!("the status table has no female/male/total columns")
    };
    writeln!(
        out,
        "Deltakerstatus / participant status, Norway, {period} — {reports} projects (cf. table 3, IMDi-rapport 4-2007)"
    )?;
    let w = 44;
    writeln!(
        out,
        "{:<w$} {:>12} {:>12} {:>12}   code",
        "", "Kvinner", "Menn", "I alt"
    )?;
    writeln!(out, "{}", "-".repeat(w + 3 * 13 + 30))?;
    for (ci, c) in status.categories.iter().enumerate() {
        let mut depth = 0;
        let mut p = c.parent;
        while let Some(q) = p {
            depth += 1;
            p = status.categories[q].parent;
        }
        let name = format!("{}{}", "  ".repeat(depth), label(&c.code));
        let cell = |g: usize| export::display(&t.cells[t.shape.index(&[ci, g])]);
        let pad = w.saturating_sub(name.chars().count());
        writeln!(
            out,
            "{name}{} {:>12} {:>12} {:>12}   {}",
            " ".repeat(pad),
            cell(f),
            cell(m),
            cell(tot),
            c.code
        )?;
    }
    writeln!(out)?;
    for (sym, meaning) in export::LEGEND {
        writeln!(out, "  {sym:<9} {meaning}")?;
    }
    Ok(())
}
