//! `auditlog` subcommand (not yet built).

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`auditlog` is not available in this build")
}
