//! `gateway`: the directorate's side of prikk. A thin shell over the
//! `prikk_gateway` library: parse arguments, then call one subcommand of
//! [`prikk_gateway::cli`].
//!
//! Exit codes: 0 success, 1 a problem with input or the environment, 2 usage.

/// Verification allocates many small vectors; mimalloc serves them faster
/// than the system allocator (see docs/BENCHMARKS-gateway.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use prikk_gateway::cli;

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
    Serve(cli::serve::Args),
    /// Create the signing key (and, for a helper, the encryption key)
    /// before the first start; existing keys are kept.
    Keygen(cli::registry::KeygenArgs),
    /// Print the signing public key (or, with --role helper, the encryption
    /// key) alone on stdout or into --out; the key id goes to stderr.
    PublicKey(cli::registry::PublicKeyArgs),
    /// Helper role: register the leader (the directorate's gateway) whose
    /// signed collection requests this helper answers.
    RegisterLeader(cli::registry::RegisterLeaderArgs),
    /// Collect an exact aggregate for a period through the helper: the
    /// national one, or one region's. Each project is counted in at most one
    /// collection per period, so choose either national or per-region.
    Collect(cli::collect::Args),
    /// Register a project and its agent's public key.
    Register(cli::registry::RegisterArgs),
    /// Add a new key for a project (earlier keys stay active until revoked).
    RotateKey(cli::registry::RotateKeyArgs),
    /// Revoke a key; reports signed with it are refused from now on.
    RevokeKey(cli::registry::RevokeKeyArgs),
    /// Which registered projects reported for a period, when, and which revision.
    Completeness(cli::completeness::Args),
    /// Export project, regional or national tables for a period.
    Export(cli::export::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::startup::init_tracing();
    let result = match cli.command {
        Command::Serve(a) => cli::serve::run(a),
        Command::Keygen(a) => cli::registry::keygen(a),
        Command::PublicKey(a) => cli::registry::public_key(a),
        Command::RegisterLeader(a) => cli::registry::register_leader(a),
        Command::Collect(a) => cli::collect::run(a),
        Command::Register(a) => cli::registry::register(a),
        Command::RotateKey(a) => cli::registry::rotate_key(a),
        Command::RevokeKey(a) => cli::registry::revoke_key(a),
        Command::Completeness(a) => cli::completeness::run(a),
        Command::Export(a) => cli::export::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e:#}");
            ExitCode::from(cli::code_for(&e))
        }
    }
}
