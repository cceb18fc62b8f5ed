//! The gateway's configuration: a TOML file read with unknown keys refused,
//! then overridden by command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::period::PeriodKind;
use crate::policy::DpMinimum;

/// The settings `gateway serve` runs with. Every field has a default, so an
/// empty file is a valid configuration for loopback development.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// SQLite database file.
    pub db: PathBuf,
    /// Receipt signing key (PKCS#8); defaults to `<db>.receipt-key`.
    pub receipt_key: Option<PathBuf>,
    /// TLS certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Serve gRPC without TLS; only allowed on a loopback address.
    pub insecure_plaintext: bool,
    /// Address of the Prometheus `/metrics` endpoint; none when absent.
    pub metrics_listen: Option<SocketAddr>,
    /// Address of the read-only HTML dashboard (completeness and tables);
    /// none when absent. It has no sign-in: bind it to loopback or serve it
    /// behind an authenticating proxy.
    pub dashboard_listen: Option<SocketAddr>,
    /// Report definition file; the embedded definition when absent.
    pub definition: Option<PathBuf>,
    /// k: the smallest count a report may publish (and the national tables'
    /// threshold). A report whose policy is weaker is refused.
    pub min_count: u32,
    /// Period kinds the directorate collects.
    pub periods: Vec<PeriodKind>,
    /// Largest signed report payload accepted, in bytes.
    pub max_report_bytes: usize,
    /// Concurrent requests per connection.
    pub concurrency_per_connection: usize,
    /// Per-request timeout, in seconds.
    pub request_timeout_secs: u64,
    /// `leader` (the directorate's gateway, default) or `helper` (the
    /// independent party holding the second share of exact counts).
    pub role: Role,
    /// Helper: the fewest distinct projects a batch may sum (default 5).
    pub min_projects: u32,
    /// Helper: its X25519 secret key file (default `<db>.helper-key`,
    /// created on first start).
    pub helper_key: Option<PathBuf>,
    /// Leader: the helper it collects from.
    pub helper: Option<HelperEndpoint>,
    /// Differential-privacy reports: the smallest accepted discrete Laplace
    /// scale per table (exact decimal or fraction; default "1").
    pub dp_min_laplace_scale: String,
    /// Differential-privacy reports: the smallest accepted discrete
    /// Gaussian σ² per table (default "1").
    pub dp_min_gaussian_sigma2: String,
}

/// Which side of secure aggregation this gateway plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The directorate's gateway: intake, storage, merge, export, collection.
    #[default]
    Leader,
    /// The independent helper: answers aggregate-share requests only.
    Helper,
}

/// How the leader reaches the helper and recognises it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelperEndpoint {
    /// `https://host:port` (or `http://127.0.0.1:port` with `insecure_plaintext`).
    pub url: String,
    /// PEM file with the CA certificate(s) that sign the helper's TLS certificate.
    pub ca_certificate: Option<PathBuf>,
    /// Name to check in the helper's certificate, when it differs from the URL's host.
    pub tls_server_name: Option<String>,
    /// Plaintext to a loopback helper (development only).
    #[serde(default)]
    pub insecure_plaintext: bool,
    /// The helper's Ed25519 public key that signs its answers (64 hex digits).
    pub signing_key: String,
    /// The helper's X25519 public key that agents seal seeds to (64 hex digits).
    pub encryption_key: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            db: PathBuf::from("gateway.db"),
            receipt_key: None,
            tls_cert: None,
            tls_key: None,
            insecure_plaintext: false,
            metrics_listen: None,
            dashboard_listen: None,
            definition: None,
            min_count: 5,
            periods: PeriodKind::ALL.to_vec(),
            max_report_bytes: 1 << 20,
            concurrency_per_connection: 64,
            request_timeout_secs: 30,
            role: Role::Leader,
            min_projects: 5,
            helper_key: None,
            helper: None,
            dp_min_laplace_scale: "1".into(),
            dp_min_gaussian_sigma2: "1".into(),
        }
    }
}

/// A configuration that could not be loaded or is inconsistent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has unknown or mistyped keys, or a value
    /// out of range (then the position is that of its key).
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// File.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was expected.
        message: String,
    },
    /// A value is out of range or contradicts another.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Parses configuration text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start).min(text.len());
            let before = &text[..offset];
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line: before.matches('\n').count() + 1,
                column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
                message: e.message().to_string(),
            }
        })?;
        config.validate().map_err(|e| match e {
            ConfigError::Invalid(message) => match locate(text, &message) {
                Some((line, column)) => ConfigError::Syntax {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message,
                },
                None => ConfigError::Invalid(format!("{}: {message}", path.display())),
            },
            e => e,
        })?;
        Ok(config)
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Checks values that TOML types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.min_count < 2 {
            return bad("min_count must be at least 2");
        }
        if self.periods.is_empty() {
            return bad("periods must list at least one period kind");
        }
        if self.max_report_bytes < 1024 || self.max_report_bytes > 64 << 20 {
            return bad("max_report_bytes must lie between 1 KiB and 64 MiB");
        }
        if self.concurrency_per_connection == 0 {
            return bad("concurrency_per_connection must be at least 1");
        }
        if self.request_timeout_secs == 0 {
            return bad("request_timeout_secs must be at least 1");
        }
        for (key, text) in [
            ("dp_min_laplace_scale", &self.dp_min_laplace_scale),
            ("dp_min_gaussian_sigma2", &self.dp_min_gaussian_sigma2),
        ] {
            match text.parse::<prikk_privacy::dp::Rational>() {
                Ok(r) if r > prikk_privacy::dp::Rational::ZERO => {}
                Ok(_) => return Err(ConfigError::Invalid(format!("{key} must be above 0"))),
                Err(e) => return Err(ConfigError::Invalid(format!("{key}: {e}"))),
            }
        }
        if self.min_projects < 2 {
            return bad("min_projects must be at least 2");
        }
        if let Some(h) = &self.helper {
            if prikk_proto::share::parse_public_key(&h.signing_key).is_err() {
                return bad(
                    "helper.signing_key must be 64 hex digits (the helper's `gateway public-key`)",
                );
            }
            if prikk_proto::share::parse_public_key(&h.encryption_key).is_err() {
                return bad(
                    "helper.encryption_key must be 64 hex digits (the helper's `gateway public-key --role helper`)",
                );
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return bad("tls_cert and tls_key must be given together");
        }
        Ok(())
    }

    /// Where the receipt key lives.
    pub fn receipt_key_path(&self) -> PathBuf {
        self.receipt_key
            .clone()
            .unwrap_or_else(|| default_receipt_key_path(&self.db))
    }

    /// The differential-privacy minimum noise this gateway accepts.
    pub fn dp_minimum(&self) -> DpMinimum {
        let parse = |t: &str| t.parse().unwrap_or(prikk_privacy::dp::Rational::ONE);
        DpMinimum {
            laplace_scale: parse(&self.dp_min_laplace_scale),
            gaussian_sigma2: parse(&self.dp_min_gaussian_sigma2),
        }
    }

    /// The helper's X25519 key file.
    pub fn helper_key_path(&self) -> PathBuf {
        self.helper_key.clone().unwrap_or_else(|| {
            let mut name = self.db.as_os_str().to_owned();
            name.push(".helper-key");
            PathBuf::from(name)
        })
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// `<db>.receipt-key`, next to the database.
pub fn default_receipt_key_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".receipt-key");
    PathBuf::from(name)
}

/// The line and column of the key a validation finding names (its first
/// word; the last part of a dotted name), if the file sets it.
fn locate(text: &str, message: &str) -> Option<(usize, usize)> {
    let key = message.split([' ', ':']).next()?.rsplit('.').next()?;
    text.lines().enumerate().find_map(|(i, l)| {
        let t = l.trim_start();
        let rest = t.strip_prefix(key)?;
        rest.trim_start()
            .starts_with('=')
            .then(|| (i + 1, l.chars().count() - t.chars().count() + 1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dp_minimum_comes_from_the_file_as_exact_numbers() {
        let c = Config::parse(
            "dp_min_laplace_scale = \"5/2\"\ndp_min_gaussian_sigma2 = \"4\"\n",
            Path::new("g.toml"),
        )
        .unwrap();
        let m = c.dp_minimum();
        assert_eq!(m.laplace_scale, "2.5".parse().unwrap());
        assert_eq!(m.gaussian_sigma2, "4".parse().unwrap());
        assert_eq!(
            Config::default().dp_minimum().laplace_scale,
            prikk_privacy::dp::Rational::ONE
        );
        for bad in ["\"0\"", "\"-1\"", "\"abc\""] {
            let e = Config::parse(
                &format!("dp_min_laplace_scale = {bad}\n"),
                Path::new("g.toml"),
            )
            .unwrap_err();
            assert!(e.to_string().contains("dp_min_laplace_scale"), "{e}");
        }
    }

    #[test]
    fn out_of_range_values_are_refused_at_their_key() {
        let e = Config::parse(
            "listen = \"127.0.0.1:1\"\n  min_count = 1\n",
            Path::new("g.toml"),
        )
        .unwrap_err();
        let ConfigError::Syntax { line, column, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!((*line, *column), (2, 3), "{e}");
        assert!(
            e.to_string()
                .starts_with("g.toml:2:3: min_count must be at least 2"),
            "{e}"
        );
        // A rule over two keys points at the first; one the file does not
        // set still names the file.
        let e = Config::parse("tls_key = \"k.pem\"\n", Path::new("g.toml")).unwrap_err();
        assert!(
            e.to_string().contains("g.toml: tls_cert and tls_key"),
            "{e}"
        );
        let e = Config::parse("\ntls_cert = \"c.pem\"\n", Path::new("g.toml")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("g.toml:2:1: tls_cert and tls_key"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_is_refused_with_position() {
        let e =
            Config::parse("min_count = 5\nlisten_addr = \"x\"\n", Path::new("g.toml")).unwrap_err();
        let ConfigError::Syntax { line, path, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(*line, 2);
        assert_eq!(path, Path::new("g.toml"));
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(
            Config::parse("", Path::new("g.toml")).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn inconsistent_values_are_refused() {
        assert!(Config::parse("min_count = 1", Path::new("g.toml")).is_err());
        assert!(Config::parse("tls_cert = \"a.pem\"", Path::new("g.toml")).is_err());
        assert!(Config::parse("periods = []", Path::new("g.toml")).is_err());
        assert!(Config::parse("periods = [\"decade\"]", Path::new("g.toml")).is_err());
    }
}
