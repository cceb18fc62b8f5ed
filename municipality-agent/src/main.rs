//! `municipality-agent`: the command line over the agent library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use municipality_agent::{cli, exit};

#[derive(Parser)]
#[command(
    name = "municipality-agent",
    version,
    about = "Turns a case-system export into a protected, signed report for the directorate"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show exactly what would leave the municipality, for the data protection officer.
    Preview(cli::preview::Args),
    /// Write synthetic participant exports (with canary values in forbidden columns).
    #[cfg(feature = "synthetic")]
    #[command(alias = "sample-export")]
    SyntheticExport(cli::synthetic::Args),
    /// Create the municipality's Ed25519 signing key.
    Keygen(cli::keys::Args),
    /// Build, protect, sign, queue and deliver a report.
    Submit(cli::submit::Args),
    /// Run as a service: deliver the outbox with back-off, pick up new exports.
    Run(cli::run::Args),
    /// List queued and delivered reports.
    Outbox(cli::outbox::Args),
    /// List or verify the journal: the hash-chained log of everything that left.
    #[command(alias = "audit")]
    Journal(cli::journal::Args),
    /// Print samples of the differential-privacy noise, one integer per line,
    /// so anyone can test the sampler with their own statistics tools.
    DpSample(cli::dp_sample::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    municipality_agent::logging::init();
    let result = match cli.command {
        Command::Preview(a) => cli::preview::run(a),
        #[cfg(feature = "synthetic")]
        Command::SyntheticExport(a) => cli::synthetic::run(a),
        Command::Keygen(a) => cli::keys::run(a),
        Command::Submit(a) => cli::submit::run(a),
        Command::Run(a) => cli::run::run(a),
        Command::Outbox(a) => cli::outbox::run(a),
        Command::Journal(a) => cli::journal::run(a),
        Command::DpSample(a) => cli::dp_sample::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::code_for(&e))
        }
    }
}
