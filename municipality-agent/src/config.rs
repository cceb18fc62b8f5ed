//! The agent's TOML configuration file.
//!
//! Every key is optional in the file, because every option can also come from
//! the command line (the flag wins). Unknown keys are an error, so a typo never
//! silently falls back to a default. Relative paths are resolved against the
//! directory that holds the configuration file, so a config can travel with
//! its keys and certificates. See `agent.example.toml` for every key.

use std::path::{Path, PathBuf};

use prikk_privacy::dp::{DpPolicy, LossUnit, PrivacyLoss, ProtectionMode};
use prikk_privacy::policy::Policy;
use serde::Deserialize;

use crate::report::{DpSettings, ProtectionPolicy};

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
    /// Path of the SQLite outbox (also holds receipts and the journal).
    pub outbox: Option<PathBuf>,
    /// Where and how to deliver.
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// The projects this agent reports for.
    #[serde(default)]
    pub projects: Vec<ProjectConfig>,
    /// The `[policy]` section as written.
    #[serde(default, rename = "policy")]
    pub policy_section: PolicySection,
    /// The suppression rules of `[policy]` (the privacy crate's `Policy`;
    /// defaults apply per key).
    #[serde(skip)]
    pub policy: Policy,
    /// The whole protection policy of `[policy]`: mode, suppression rules and
    /// differential-privacy settings.
    #[serde(skip)]
    pub protection: ProtectionPolicy,
    /// Settings for the long-running `run` mode.
    #[serde(default)]
    pub run: RunConfig,
    /// Secure aggregation: when a helper key is set, every report also
    /// carries the exact tables as two additive secret shares.
    #[serde(default)]
    pub secure_aggregation: SecureAggregationConfig,
}

/// The `[secure_aggregation]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecureAggregationConfig {
    /// File with the helper's X25519 public key (64 hex digits, from
    /// `gateway public-key --role helper` run by the helper's operator).
    pub helper_key: Option<PathBuf>,
    /// The fewest distinct projects this agent's shares may be summed with,
    /// in every region group. It is part of the signed share statement, so
    /// the helper applies it even when its own minimum is lower.
    pub min_projects: Option<u32>,
}

/// The floor on projects per group when the config names none.
pub const DEFAULT_MIN_PROJECTS: u32 = 5;

impl SecureAggregationConfig {
    /// The floor on projects per group in force.
    pub fn min_projects(&self) -> u32 {
        self.min_projects.unwrap_or(DEFAULT_MIN_PROJECTS)
    }
}

/// A number as the data protection officer writes it: a string such as
/// `"0.5"` or `"1/3"` (exact), or a TOML integer or float (read back as the
/// shortest decimal that names it, so `0.1` means exactly 1/10).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum NumberText {
    /// An integer.
    Integer(i64),
    /// A float, read as its shortest decimal form.
    Float(f64),
    /// Text.
    Text(String),
}

impl Eq for NumberText {}

impl NumberText {
    fn text(&self) -> String {
        match self {
            Self::Integer(i) => i.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Text(t) => t.clone(),
        }
    }
}

/// The `[policy]` section: the protection mode, the suppression rules and the
/// differential-privacy settings. Every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// `suppression` (default), `dp` or `dp+suppression`.
    pub mode: Option<String>,
    /// k (default 5).
    pub min_count: Option<u32>,
    /// Suppress zeros too (default false).
    pub protect_zeros: Option<bool>,
    /// Narrowest attacker interval (default 1).
    pub min_interval_width: Option<u32>,
    /// Treat singletons as known to their member (default true).
    pub singletons: Option<bool>,
    /// Largest block for the integer interval attack (default 400).
    pub interval_block_limit: Option<u32>,
    /// dp modes: ε per report (discrete Laplace, pure DP).
    pub epsilon: Option<NumberText>,
    /// dp modes: ρ per report (discrete Gaussian, zero-concentrated DP).
    pub rho: Option<NumberText>,
    /// dp modes: `discrete-laplace` (with ε) or `discrete-gaussian` (with ρ);
    /// optional, as the loss unit decides it.
    pub mechanism: Option<String>,
    /// dp modes: the annual privacy-loss budget of each project, in the unit
    /// of the per-report loss.
    pub annual_budget: Option<NumberText>,
}

impl PolicySection {
    /// The suppression rules and the full protection policy, checked.
    pub fn resolve(&self) -> Result<(Policy, ProtectionPolicy), String> {
        let d = Policy::default();
        let policy = Policy {
            min_count: self.min_count.unwrap_or(d.min_count),
            protect_zeros: self.protect_zeros.unwrap_or(d.protect_zeros),
            min_interval_width: self.min_interval_width.unwrap_or(d.min_interval_width),
            singletons: self.singletons.unwrap_or(d.singletons),
            interval_block_limit: self.interval_block_limit.unwrap_or(d.interval_block_limit),
        };
        let mode: ProtectionMode = match &self.mode {
            None => ProtectionMode::Suppression,
            Some(m) => m.parse().map_err(|e| format!("policy.mode: {e}"))?,
        };
        let loss = match (&self.epsilon, &self.rho) {
            (Some(_), Some(_)) => {
                return Err("policy: set either epsilon (discrete Laplace) or rho (discrete Gaussian), not both".into());
            }
            (Some(e), None) => Some(parse_loss(LossUnit::Epsilon, e, "policy.epsilon")?),
            (None, Some(r)) => Some(parse_loss(LossUnit::Rho, r, "policy.rho")?),
            (None, None) => None,
        };
        if let (Some(m), Some(l)) = (&self.mechanism, loss) {
            let expected = match l.unit() {
                LossUnit::Epsilon => "discrete-laplace",
                LossUnit::Rho => "discrete-gaussian",
            };
            if m != expected {
                return Err(format!(
                    "policy.mechanism {m:?} does not match the loss: {} goes with {expected:?}",
                    l.unit()
                ));
            }
        } else if let Some(m) = &self.mechanism
            && m != "discrete-laplace"
            && m != "discrete-gaussian"
        {
            return Err(format!(
                "policy.mechanism {m:?}: expected discrete-laplace or discrete-gaussian"
            ));
        }
        let dp = if mode.adds_noise() {
            let loss = loss.ok_or_else(|| {
                format!("policy.mode = \"{mode}\" needs a privacy loss per report: policy.epsilon or policy.rho")
            })?;
            let budget_text = self.annual_budget.as_ref().ok_or_else(|| {
                format!("policy.mode = \"{mode}\" needs policy.annual_budget (the annual privacy budget per project)")
            })?;
            let annual_budget = parse_loss(loss.unit(), budget_text, "policy.annual_budget")?;
            if loss.amount() > annual_budget.amount() {
                return Err(format!(
                    "policy: the loss per report ({loss}) exceeds the annual budget ({})",
                    annual_budget.amount()
                ));
            }
            Some(DpSettings {
                policy: DpPolicy {
                    loss,
                    max_contributions: None,
                },
                annual_budget,
            })
        } else {
            None
        };
        Ok((
            policy.clone(),
            ProtectionPolicy {
                mode,
                suppression: policy,
                dp,
            },
        ))
    }
}

fn parse_loss(unit: LossUnit, n: &NumberText, key: &str) -> Result<PrivacyLoss, String> {
    let loss = PrivacyLoss::parse(unit, &n.text()).map_err(|e| format!("{key}: {e}"))?;
    if loss.amount().is_zero() {
        return Err(format!("{key} must be positive"));
    }
    Ok(loss)
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
        let (policy, protection) =
            cfg.policy_section
                .resolve()
                .map_err(|message| ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message,
                })?;
        cfg.policy = policy;
        cfg.protection = protection;
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
