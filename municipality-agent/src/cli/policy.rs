//! The protection flags `preview`, `submit` and `run` share, applied over
//! the config file in one place, so the data protection officer previews
//! exactly the policy that is sent.

use std::path::PathBuf;

use anyhow::Context;

use prikk_privacy::definition::Definition;

use crate::config::AgentConfig;
use crate::exit::{self, CodedError};
use crate::report::ProtectionPolicy;

/// Flags over the config's `[policy]` and `definition`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PolicyFlags {
    /// Report definition file (default: the config's, else the embedded one).
    #[arg(long, value_name = "FILE")]
    pub definition: Option<PathBuf>,
    /// Smallest count published (k); counts of 1..k-1 are suppressed.
    #[arg(long, value_name = "K")]
    pub min_count: Option<u32>,
    /// Suppress zero counts too.
    #[arg(long)]
    pub protect_zeros: bool,
}

impl PolicyFlags {
    /// The protection policy: the config's, with these flags over it.
    pub fn protection(&self, config: &AgentConfig) -> anyhow::Result<ProtectionPolicy> {
        let mut protection = config.protection.clone();
        let mut policy = config.policy.clone();
        if let Some(k) = self.min_count {
            if k == 0 {
                return Err(CodedError {
                    code: exit::USAGE,
                    message: "--min-count must be at least 1".into(),
                }
                .into());
            }
            policy.min_count = k;
        }
        policy.protect_zeros |= self.protect_zeros;
        protection.suppression = policy;
        Ok(protection)
    }

    /// The report definition: the flag's file, the config's, or the embedded one.
    pub fn definition(&self, config: &AgentConfig) -> anyhow::Result<Definition> {
        load_definition(self.definition.as_deref().or(config.definition.as_deref()))
    }
}

/// Loads a definition file, or the embedded one.
pub fn load_definition(path: Option<&std::path::Path>) -> anyhow::Result<Definition> {
    match path {
        None => Ok(Definition::embedded()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Ok(Definition::parse(&text, &p.display().to_string())?)
        }
    }
}
