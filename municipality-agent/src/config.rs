//! The agent's TOML configuration file.
//!
//! Every key is optional in the file, because every option can also come from
//! the command line (the flag wins). Unknown keys are an error, so a typo never
//! silently falls back to a default. Relative paths are resolved against the
//! directory that holds the configuration file, so a config can travel with
//! its keys and certificates. See `agent.example.toml` for every key.

use std::path::{Path, PathBuf};

use prikk_privacy::protect::Policy;
use serde::Deserialize;

/// Errors reading the configuration file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has an unknown key or a wrong type.
    #[error("config file {path}, line {line}, column {column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What was expected.
        message: String,
    },
    /// The file parses but a value is not acceptable.
    #[error("config file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Path of the municipality's PKCS#8 Ed25519 signing key (from `keygen`).
    pub key: Option<PathBuf>,
    /// Path of the report definition TOML; the embedded definition when absent.
    pub definition: Option<PathBuf>,
    /// Path of the SQLite outbox (also holds receipts and the audit log).
    pub outbox: Option<PathBuf>,
    /// Where and how to deliver.
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// The projects this agent reports for.
    #[serde(default)]
    pub projects: Vec<ProjectConfig>,
    /// The protection policy (the privacy crate's `Policy`; defaults apply per key).
    #[serde(default)]
    pub policy: Policy,
    /// Settings for the long-running `run` mode.
    #[serde(default)]
    pub run: RunConfig,
}

/// The directorate's gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// `https://host:port` (or `http://127.0.0.1:port` with `insecure_plaintext`).
    pub url: Option<String>,
    /// PEM file with the CA certificate(s) that sign the gateway's TLS certificate.
    pub ca_certificate: Option<PathBuf>,
    /// Name to check in the gateway's certificate, when it differs from the URL's host.
    pub tls_server_name: Option<String>,
    /// File with the gateway's receipt-signing public key (64 hex characters).
    pub receipt_key: Option<PathBuf>,
    /// Allow plaintext gRPC to a loopback address (development only).
    #[serde(default)]
    pub insecure_plaintext: bool,
    /// Seconds to wait for a connection (default 10).
    pub connect_timeout_secs: Option<u64>,
    /// Seconds to wait for a receipt (default 60).
    pub request_timeout_secs: Option<u64>,
}

/// One project the agent reports for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// The project code the directorate registered.
    pub id: String,
    /// A readable name, for logs and listings.
    pub name: Option<String>,
}

/// The `run` mode: retry schedule and the folder watched for new exports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Folder where the case system drops exports; not watched when absent.
    pub watch_folder: Option<PathBuf>,
    /// Seconds between scans of the folder and of the outbox (default 60).
    pub poll_secs: Option<u64>,
    /// A file is picked up only when it has not changed for this many seconds (default 30).
    pub settle_secs: Option<u64>,
    /// Reporting period for files whose name does not carry one.
    pub period: Option<String>,
    /// First retry delay in seconds (default 30); doubles per failed attempt.
    pub retry_base_secs: Option<u64>,
    /// Longest retry delay in seconds (default 3600).
    pub retry_cap_secs: Option<u64>,
}

impl AgentConfig {
    /// Parses configuration text. `path` names the file in errors and is the
    /// base for relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut cfg: AgentConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        cfg.validate(path)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        cfg.resolve_paths(&base);
        Ok(cfg)
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.projects {
            if p.id.trim().is_empty() {
                return Err(invalid("a [[projects]] entry has an empty id".into()));
            }
            if !seen.insert(p.id.as_str()) {
                return Err(invalid(format!(
                    "project {:?} is listed twice in [[projects]]",
                    p.id
                )));
            }
        }
        if self.policy.min_count < 1 {
            return Err(invalid("policy.min_count must be at least 1".into()));
        }
        for (name, v) in [
            (
                "gateway.connect_timeout_secs",
                self.gateway.connect_timeout_secs,
            ),
            (
                "gateway.request_timeout_secs",
                self.gateway.request_timeout_secs,
            ),
            ("run.poll_secs", self.run.poll_secs),
            ("run.retry_base_secs", self.run.retry_base_secs),
            ("run.retry_cap_secs", self.run.retry_cap_secs),
        ] {
            if v == Some(0) {
                return Err(invalid(format!("{name} must be at least 1")));
            }
        }
        if let (Some(b), Some(c)) = (self.run.retry_base_secs, self.run.retry_cap_secs)
            && b > c
        {
            return Err(invalid(
                "run.retry_base_secs must not exceed run.retry_cap_secs".into(),
            ));
        }
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut Option<PathBuf>| {
            if let Some(p) = p
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.key);
        fix(&mut self.definition);
        fix(&mut self.outbox);
        fix(&mut self.gateway.ca_certificate);
        fix(&mut self.gateway.receipt_key);
        fix(&mut self.run.watch_folder);
    }

    /// The only configured project, when exactly one is configured.
    pub fn single_project(&self) -> Option<&str> {
        match self.projects.as_slice() {
            [one] => Some(one.id.as_str()),
            _ => None,
        }
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_all_defaults() {
        let c = AgentConfig::parse("", Path::new("/etc/prikk/agent.toml")).unwrap();
        assert_eq!(c.policy, Policy::default());
        assert!(c.projects.is_empty() && c.gateway.url.is_none());
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let c = AgentConfig::parse(
            "key = \"agent.key\"\noutbox = \"/var/x.sqlite\"",
            Path::new("/etc/prikk/a.toml"),
        )
        .unwrap();
        assert_eq!(c.key.unwrap(), PathBuf::from("/etc/prikk/agent.key"));
        assert_eq!(c.outbox.unwrap(), PathBuf::from("/var/x.sqlite"));
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = AgentConfig::parse(
            "[gateway]\nurl = \"https://x\"\nurll = 1\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        match e {
            ConfigError::Parse {
                line,
                column,
                message,
                ..
            } => {
                assert_eq!((line, column), (3, 1));
                assert!(message.contains("urll"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn shipped_example_loads() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/agent.example.toml"));
        let c = AgentConfig::load(path).unwrap();
        assert_eq!(
            c.gateway.url.as_deref(),
            Some("https://gateway.example.no:7443")
        );
        assert_eq!(c.single_project(), Some("bergen"));
        assert_eq!(c.policy, Policy::default());
        assert_eq!(c.run.poll_secs, Some(60));
        assert!(!c.gateway.insecure_plaintext);
        // Relative paths are taken from the example's folder.
        assert_eq!(
            c.key.unwrap(),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("agent.key")
        );
    }

    #[test]
    fn example_with_a_typo_is_refused() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/agent.example.toml"));
        let text = std::fs::read_to_string(path)
            .unwrap()
            .replace("min_count = 5", "min_cuont = 5");
        let e = AgentConfig::parse(&text, path).unwrap_err().to_string();
        assert!(
            e.contains("min_cuont") && e.contains("agent.example.toml"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_project_refused() {
        let e = AgentConfig::parse(
            "[[projects]]\nid = \"a\"\n[[projects]]\nid = \"a\"\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("listed twice"), "{e}");
    }
}
