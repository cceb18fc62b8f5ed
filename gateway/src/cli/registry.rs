//! The registry subcommands: `public-key`, `register`, `rotate-key`,
//! `revoke-key` and, on a helper, `register-leader`.

use std::path::PathBuf;

use anyhow::Context;
use base64::Engine as _;

use super::open_store;
use crate::config::Role;
use crate::{Clock, Config, SystemClock, registry};

/// Arguments of `public-key`.
#[derive(Debug, clap::Args)]
pub struct PublicKeyArgs {
    /// SQLite database file; the key is `<db>.receipt-key`.
    #[arg(long, default_value = "gateway.db")]
    pub db: PathBuf,
    /// Read the key from this file instead.
    #[arg(long)]
    pub receipt_key: Option<PathBuf>,
    /// Print base64 instead of hex.
    #[arg(long)]
    pub base64: bool,
    /// `helper`: print the helper's X25519 encryption key (agents seal
    /// their seeds to it), creating it next to the database if missing.
    #[arg(long, value_enum, default_value_t = Role::Leader)]
    pub role: Role,
}

/// Prints the receipt public key (or the helper's encryption key) and its id.
pub fn public_key(args: PublicKeyArgs) -> anyhow::Result<()> {
    if args.role == Role::Helper {
        let c = Config {
            db: args.db.clone(),
            ..Config::default()
        };
        let path = c.helper_key_path();
        let key = crate::aggregation::helper::load_or_create_helper_key(&path)
            .with_context(|| format!("helper key {}", path.display()))?;
        println!("{}", hex::encode(key.public_key()));
        println!("key id: {}", key.key_id());
        return Ok(());
    }
    let path = args
        .receipt_key
        .unwrap_or_else(|| crate::config::default_receipt_key_path(&args.db));
    let signer = registry::read_receipt_key(&path)
        .with_context(|| "the key is created by the first `gateway serve`".to_string())?;
    let key = if args.base64 {
        base64::engine::general_purpose::STANDARD.encode(signer.public_key())
    } else {
        hex::encode(signer.public_key())
    };
    println!("{key}");
    println!("key id: {}", signer.key_id());
    Ok(())
}

/// Arguments of `register-leader`.
#[derive(Debug, clap::Args)]
pub struct RegisterLeaderArgs {
    /// The helper's SQLite database file.
    #[arg(long, default_value = "helper.db")]
    pub db: PathBuf,
    /// Human name of the leader.
    #[arg(long)]
    pub name: String,
    /// The leader's public key file (`gateway public-key` on the leader).
    #[arg(long)]
    pub public_key: PathBuf,
}

/// Registers the leader whose collection requests this helper answers.
pub fn register_leader(args: RegisterLeaderArgs) -> anyhow::Result<()> {
    let key = registry::read_public_key(&args.public_key)?;
    let store = open_store(&args.db)?;
    let key_id = store.add_leader(&args.name, &key, SystemClock.now_unix())?;
    println!("registered leader {} with key {key_id}", args.name);
    Ok(())
}

/// Arguments of `register`.
#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    /// SQLite database file.
    #[arg(long, default_value = "gateway.db")]
    pub db: PathBuf,
    /// Project id, as the agent's reports name it.
    #[arg(long)]
    pub project: String,
    /// Human name.
    #[arg(long)]
    pub name: String,
    /// Region, for regional tables.
    #[arg(long)]
    pub region: String,
    /// The agent's public key: `KEY.pub` from `municipality-agent keygen`
    /// (hex), raw 32 bytes, or base64.
    #[arg(long)]
    pub public_key: PathBuf,
}

/// Registers a project and its agent's first key.
pub fn register(args: RegisterArgs) -> anyhow::Result<()> {
    let RegisterArgs {
        db,
        project,
        name,
        region,
        public_key,
    } = args;
    let key = registry::read_public_key(&public_key)?;
    let store = open_store(&db)?;
    let key_id = registry::register(
        &store,
        &project,
        &name,
        &region,
        &key,
        SystemClock.now_unix(),
    )?;
    println!("registered project {project} ({name}, region {region}) with key {key_id}");
    Ok(())
}

/// Arguments of `rotate-key`.
#[derive(Debug, clap::Args)]
pub struct RotateKeyArgs {
    /// SQLite database file.
    #[arg(long, default_value = "gateway.db")]
    pub db: PathBuf,
    /// Project id.
    #[arg(long)]
    pub project: String,
    /// The new public key file.
    #[arg(long)]
    pub public_key: PathBuf,
}

/// Adds a key to a project and names the keys still active.
pub fn rotate_key(args: RotateKeyArgs) -> anyhow::Result<()> {
    let key = registry::read_public_key(&args.public_key)?;
    let store = open_store(&args.db)?;
    let (key_id, active) =
        registry::rotate_key(&store, &args.project, &key, SystemClock.now_unix())?;
    println!("added key {key_id} for project {}", args.project);
    for k in active {
        println!(
            "key {k} is still active; revoke it with `gateway revoke-key --key-id {k}` once the agent has switched"
        );
    }
    Ok(())
}

/// Arguments of `revoke-key`.
#[derive(Debug, clap::Args)]
pub struct RevokeKeyArgs {
    /// SQLite database file.
    #[arg(long, default_value = "gateway.db")]
    pub db: PathBuf,
    /// Key id.
    #[arg(long)]
    pub key_id: String,
}

/// Revokes a key.
pub fn revoke_key(args: RevokeKeyArgs) -> anyhow::Result<()> {
    let store = open_store(&args.db)?;
    let k = registry::revoke_key(&store, &args.key_id, SystemClock.now_unix())?;
    println!("revoked key {} of project {}", k.key_id, k.project);
    Ok(())
}
