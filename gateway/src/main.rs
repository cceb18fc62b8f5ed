//! `gateway`: the directorate's side of prikk. A thin shell over the
//! `prikk_gateway` library: parse arguments, then call one library function.
//!
//! Exit codes: 0 success, 1 a problem with input or the environment, 2 usage.

/// Verification allocates many small vectors; mimalloc serves them faster
/// than the system allocator (see docs/BENCHMARKS-gateway.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::{Parser, Subcommand, ValueEnum};
use prikk_gateway::merge::{self, Scope};
use prikk_gateway::period::Period;
use prikk_gateway::{Clock, Config, Store, SystemClock, export, registry};

#[derive(Parser)]
#[command(
    name = "gateway",
    version,
    about = "The directorate's prikk gateway: verified intake, storage, merged reports and exports"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the ReportGateway gRPC service (TLS unless --insecure-plaintext on loopback).
    Serve {
        /// TOML configuration file (unknown keys are an error); flags win.
        #[arg(long)]
        config: Option<PathBuf>,
        /// gRPC listen address.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// SQLite database file.
        #[arg(long)]
        db: Option<PathBuf>,
        /// TLS certificate chain (PEM).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// TLS private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Serve without TLS; only allowed on a loopback address.
        #[arg(long)]
        insecure_plaintext: bool,
        /// Prometheus /metrics listen address.
        #[arg(long)]
        metrics_listen: Option<SocketAddr>,
        /// Read-only HTML dashboard listen address (no sign-in: loopback or
        /// behind an authenticating proxy).
        #[arg(long)]
        dashboard_listen: Option<SocketAddr>,
        /// `leader` (the directorate's gateway) or `helper` (the independent
        /// party of secure aggregation); overrides `role` in the config.
        #[arg(long, value_enum)]
        role: Option<Role>,
    },
    /// Print the gateway's receipt public key (hex) and key id.
    PublicKey {
        /// SQLite database file; the key is `<db>.receipt-key`.
        #[arg(long, default_value = "gateway.db")]
        db: PathBuf,
        /// Read the key from this file instead.
        #[arg(long)]
        receipt_key: Option<PathBuf>,
        /// Print base64 instead of hex.
        #[arg(long)]
        base64: bool,
        /// `helper`: print the helper's X25519 encryption key (agents seal
        /// their seeds to it), creating it next to the database if missing.
        #[arg(long, value_enum, default_value_t = Role::Leader)]
        role: Role,
    },
    /// Helper role: register the leader (the directorate's gateway) whose
    /// signed collection requests this helper answers.
    RegisterLeader {
        /// The helper's SQLite database file.
        #[arg(long, default_value = "helper.db")]
        db: PathBuf,
        /// Human name of the leader.
        #[arg(long)]
        name: String,
        /// The leader's public key file (`gateway public-key` on the leader).
        #[arg(long)]
        public_key: PathBuf,
    },
    /// Collect an exact aggregate for a period through the helper: the
    /// national one, or one region's. Each project is counted in at most one
    /// collection per period, so choose either national or per-region.
    Collect {
        /// SQLite database file.
        #[arg(long, default_value = "gateway.db")]
        db: PathBuf,
        /// Configuration file with the [helper] section.
        #[arg(long)]
        config: PathBuf,
        /// Period.
        #[arg(long)]
        period: String,
        /// Collect this region only.
        #[arg(long)]
        region: Option<String>,
    },
    /// Register a project and its agent's public key.
    Register {
        /// SQLite database file.
        #[arg(long, default_value = "gateway.db")]
        db: PathBuf,
        /// Project id, as the agent's reports name it.
        #[arg(long)]
        project: String,
        /// Human name.
        #[arg(long)]
        name: String,
        /// Region, for regional tables.
        #[arg(long)]
        region: String,
        /// The agent's public key: `KEY.pub` from `municipality-agent keygen`
        /// (hex), raw 32 bytes, or base64.
        #[arg(long)]
        public_key: PathBuf,
    },
    /// Add a new key for a project (earlier keys stay active until revoked).
    RotateKey {
        /// SQLite database file.
        #[arg(long, default_value = "gateway.db")]
        db: PathBuf,
        /// Project id.
        #[arg(long)]
        project: String,
        /// The new public key file.
        #[arg(long)]
        public_key: PathBuf,
    },
    /// Revoke a key; reports signed with it are refused from now on.
    RevokeKey {
        /// SQLite database file.
        #[arg(long, default_value = "gateway.db")]
        db: PathBuf,
        /// Key id.
        #[arg(long)]
        key_id: String,
    },
    /// Which registered projects reported for a period, when, and which revision.
    Completeness {
        /// SQLite database file.
        #[arg(long, default_value = "gateway.db")]
        db: PathBuf,
        /// Period, e.g. 2006 or 2006-H2.
        #[arg(long)]
        period: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Export project, regional or national tables for a period.
    Export {
        /// SQLite database file.
        #[arg(long, default_value = "gateway.db")]
        db: PathBuf,
        /// Period.
        #[arg(long)]
        period: String,
        /// Level.
        #[arg(long, value_enum)]
        level: Level,
        /// Project id (with --level project).
        #[arg(long)]
        project: Option<String>,
        /// Region (with --level region).
        #[arg(long)]
        region: Option<String>,
        /// Only this table, laid out wide (e.g. `status`: table 3).
        #[arg(long)]
        table: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Output file (required for xlsx; stdout otherwise).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Configuration file, for `min_count` and `definition`.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

use prikk_gateway::config::Role;

#[derive(Clone, Copy, ValueEnum)]
enum ListFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Level {
    Project,
    Region,
    National,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
    Xlsx,
    Text,
}

/// An error that is the user's to fix (exit 2) rather than the input's (exit 1).
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(m: impl Into<String>) -> anyhow::Error {
    Usage(m.into()).into()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e:#}");
            if e.downcast_ref::<Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn open_store(db: &Path) -> anyhow::Result<Store> {
    Store::open(db).with_context(|| format!("opening {}", db.display()))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let now = SystemClock.now_unix();
    match cli.command {
        Command::Serve {
            config,
            listen,
            db,
            tls_cert,
            tls_key,
            insecure_plaintext,
            metrics_listen,
            dashboard_listen,
            role,
        } => {
            let mut c = match &config {
                Some(p) => Config::load(p)?,
                None => Config::default(),
            };
            if let Some(r) = role {
                c.role = r;
            }
            if let Some(l) = listen {
                c.listen = l;
            }
            if let Some(d) = db {
                c.db = d;
            }
            if tls_cert.is_some() {
                c.tls_cert = tls_cert;
                c.tls_key = tls_key;
            }
            c.insecure_plaintext |= insecure_plaintext;
            if metrics_listen.is_some() {
                c.metrics_listen = metrics_listen;
            }
            if dashboard_listen.is_some() {
                c.dashboard_listen = dashboard_listen;
            }
            c.validate()?;
            let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(c.listen)
                    .await
                    .with_context(|| format!("binding {}", c.listen))?;
                eprintln!("gateway listening on {}", listener.local_addr()?);
                prikk_gateway::serve(listener, c, shutdown_signal()).await?;
                Ok(())
            })
        }
        Command::PublicKey {
            db,
            receipt_key,
            base64,
            role,
        } => {
            if role == Role::Helper {
                let c = Config {
                    db: db.clone(),
                    ..Config::default()
                };
                let path = c.helper_key_path();
                let key = prikk_gateway::aggregation::helper::load_or_create_helper_key(&path)
                    .with_context(|| format!("helper key {}", path.display()))?;
                println!("{}", hex::encode(key.public_key()));
                println!("key id: {}", key.key_id());
                return Ok(());
            }
            let path =
                receipt_key.unwrap_or_else(|| prikk_gateway::config::default_receipt_key_path(&db));
            let signer = registry::read_receipt_key(&path)
                .with_context(|| "the key is created by the first `gateway serve`".to_string())?;
            let key = if base64 {
                base64::engine::general_purpose::STANDARD.encode(signer.public_key())
            } else {
                hex::encode(signer.public_key())
            };
            println!("{key}");
            println!("key id: {}", signer.key_id());
            Ok(())
        }
        Command::RegisterLeader {
            db,
            name,
            public_key,
        } => {
            let key = registry::read_public_key(&public_key)?;
            let store = open_store(&db)?;
            let key_id = store.add_leader(&name, &key, SystemClock.now_unix())?;
            println!("registered leader {name} with key {key_id}");
            Ok(())
        }
        Command::Collect {
            db,
            config,
            period,
            region,
        } => {
            let mut c = Config::load(&config)?;
            c.db = db.clone();
            let definition = prikk_gateway::load_definition(&c)?;
            let store = open_store(&db)?;
            let signer = registry::read_receipt_key(&c.receipt_key_path()).with_context(|| {
                "the leader's key is created by the first `gateway serve`".to_string()
            })?;
            let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
            let summary = rt.block_on(prikk_gateway::aggregation::collect::collect(
                &store,
                &definition,
                &c,
                &signer,
                &period,
                region.as_deref(),
                SystemClock.now_unix(),
            ))?;
            print!("{}", prikk_gateway::aggregation::collect::describe(&period, &summary));
            Ok(())
        }
        Command::Register {
            db,
            project,
            name,
            region,
            public_key,
        } => {
            let key = registry::read_public_key(&public_key)?;
            let store = open_store(&db)?;
            let key_id = registry::register(&store, &project, &name, &region, &key, now)?;
            println!("registered project {project} ({name}, region {region}) with key {key_id}");
            Ok(())
        }
        Command::RotateKey {
            db,
            project,
            public_key,
        } => {
            let key = registry::read_public_key(&public_key)?;
            let store = open_store(&db)?;
            let (key_id, active) = registry::rotate_key(&store, &project, &key, now)?;
            println!("added key {key_id} for project {project}");
            for k in active {
                println!(
                    "key {k} is still active; revoke it with `gateway revoke-key --key-id {k}` once the agent has switched"
                );
            }
            Ok(())
        }
        Command::RevokeKey { db, key_id } => {
            let store = open_store(&db)?;
            let k = registry::revoke_key(&store, &key_id, now)?;
            println!("revoked key {} of project {}", k.key_id, k.project);
            Ok(())
        }
        Command::Completeness { db, period, format } => {
            let period = Period::parse(&period)
                .map_err(|e| usage(e.to_string()))?
                .to_string();
            let store = open_store(&db)?;
            let rows = store.completeness(&period)?;
            let stdout = std::io::stdout();
            match format {
                ListFormat::Text => {
                    prikk_gateway::completeness::write_text(&period, &rows, stdout.lock())?
                }
                ListFormat::Json => {
                    serde_json::to_writer_pretty(
                        stdout.lock(),
                        &prikk_gateway::completeness::to_json(&period, &rows),
                    )?;
                    println!();
                }
            }
            Ok(())
        }
        Command::Export {
            db,
            period,
            level,
            project,
            region,
            table,
            format,
            out,
            config,
        } => {
            let period = Period::parse(&period)
                .map_err(|e| usage(e.to_string()))?
                .to_string();
            let scope = match (level, project, region) {
                (Level::Project, Some(p), None) => Scope::Project(p),
                (Level::Region, None, Some(r)) => Scope::Region(r),
                (Level::National, None, None) => Scope::National,
                (Level::Project, _, _) => {
                    return Err(usage(
                        "--level project needs --project ID (and no --region)",
                    ));
                }
                (Level::Region, _, _) => {
                    return Err(usage("--level region needs --region R (and no --project)"));
                }
                (Level::National, _, _) => {
                    return Err(usage(
                        "--level national takes neither --project nor --region",
                    ));
                }
            };
            if format == Format::Xlsx && out.is_none() {
                return Err(usage("--format xlsx needs --out FILE"));
            }
            let c = match &config {
                Some(p) => Config::load(p)?,
                None => Config::default(),
            };
            let definition = prikk_gateway::load_definition(&c)?;
            if let Some(t) = &table
                && definition.table(t).is_none()
            {
                let ids: Vec<&str> = definition
                    .tables
                    .iter()
                    .map(|t| t.shape.id.as_str())
                    .collect();
                return Err(usage(format!(
                    "unknown table `{t}`; tables are: {}",
                    ids.join(", ")
                )));
            }
            let store = open_store(&db)?;
            let Some(view) = merge::view(&store, &definition, &period, &scope, c.min_count)? else {
                bail!("no report for this project and period");
            };
            let merge::View {
                mut tables,
                reports: included,
                source,
            } = view;
            if let Some(t) = &table {
                tables.retain(|x| &x.shape.id == t);
            }
            let (level_name, scope_name) = match &scope {
                Scope::Project(p) => ("project", p.clone()),
                Scope::Region(r) => ("region", r.clone()),
                Scope::National => ("national", "Norway".to_string()),
            };
            let heading = merge::heading(&source, included, &scope_name, &period);
            let mut sink: Box<dyn std::io::Write> = match &out {
                Some(p) if format != Format::Xlsx => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?,
                )),
                _ => Box::new(std::io::stdout().lock()),
            };
            match format {
                Format::Csv if table.is_some() => export::write_grid_csv(&tables[0], &mut sink)?,
                Format::Csv => export::write_csv(&tables, &mut sink)?,
                Format::Text => export::write_text(&tables, &heading, &mut sink)?,
                Format::Json => {
                    let mut meta = serde_json::Map::new();
                    meta.insert("level".into(), level_name.into());
                    meta.insert("scope".into(), scope_name.into());
                    meta.insert("period".into(), period.clone().into());
                    meta.insert("reports".into(), included.into());
                    meta.insert("source".into(), serde_json::to_value(&source)?);
                    serde_json::to_writer_pretty(&mut sink, &export::to_json(&tables, meta))?;
                    writeln!(sink)?;
                }
                Format::Xlsx => {
                    let bytes = export::to_xlsx(&tables, &heading)?;
                    let p = out
                        .as_ref()
                        .ok_or_else(|| usage("--format xlsx needs --out FILE"))?;
                    std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display()))?;
                }
            }
            sink.flush()?;
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
