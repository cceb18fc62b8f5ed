//! `keygen`: create the municipality's Ed25519 signing key.

use std::path::PathBuf;

use anyhow::Context;

use crate::exit;

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the private key (PKCS#8, mode 0600); the public key goes to PATH.pub.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let k = crate::keys::generate(&args.out)
        .with_context(|| format!("keygen --out {}", args.out.display()))?;
    println!(
        "private key: {} (owner-only; keep it secret, back it up)",
        k.key_path.display()
    );
    println!("public key:  {}", k.public_path.display());
    println!("public key hex: {}", k.public_hex);
    println!("key id: {}", k.key_id);
    println!(
        "Send the public key file (or its hex) to the directorate to register it for your project."
    );
    Ok(exit::OK)
}
