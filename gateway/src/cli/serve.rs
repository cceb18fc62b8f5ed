//! `serve`: run the ReportGateway gRPC service (leader) or the helper.
//!
//! The raw flags here are turned into the validated [`Config`] in one
//! place, [`Args::config`]: the file first (its errors carry file, line and
//! column), then the flags, then the checks over the result.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::Config;
use crate::config::Role;

/// Arguments, as given.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// TOML configuration file (unknown keys are an error); flags win.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// gRPC listen address.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// SQLite database file.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// TLS certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve without TLS; only allowed on a loopback address.
    #[arg(long)]
    pub insecure_plaintext: bool,
    /// Prometheus /metrics listen address.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Read-only HTML dashboard listen address (no sign-in: loopback or
    /// behind an authenticating proxy).
    #[arg(long)]
    pub dashboard_listen: Option<SocketAddr>,
    /// `leader` (the directorate's gateway) or `helper` (the independent
    /// party of secure aggregation); overrides `role` in the config.
    #[arg(long, value_enum)]
    pub role: Option<Role>,
}

impl Args {
    /// The configuration these flags describe: the file (or the defaults)
    /// with each given flag laid over it, validated as a whole.
    pub fn config(self) -> anyhow::Result<Config> {
        let mut c = match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        if let Some(r) = self.role {
            c.role = r;
        }
        if let Some(l) = self.listen {
            c.listen = l;
        }
        if let Some(d) = self.db {
            c.db = d;
        }
        // clap makes the two TLS flags come together.
        if self.tls_cert.is_some() {
            c.tls_cert = self.tls_cert;
            c.tls_key = self.tls_key;
        }
        c.insecure_plaintext |= self.insecure_plaintext;
        if self.metrics_listen.is_some() {
            c.metrics_listen = self.metrics_listen;
        }
        if self.dashboard_listen.is_some() {
            c.dashboard_listen = self.dashboard_listen;
        }
        c.validate()?;
        Ok(c)
    }
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    super::startup::serve(args.config()?)
}
