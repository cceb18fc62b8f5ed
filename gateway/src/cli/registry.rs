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
    /// their seeds to it) instead of the signing key.
    #[arg(long, value_enum, default_value_t = Role::Leader)]
    pub role: Role,
    /// Write the key (one line) to this file instead of stdout. Either way
    /// the key id goes to stderr, so the output is the key alone, as the
    /// reading side (`receipt_key`, `register-leader --public-key`) takes it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Prints the public signing key (or the helper's encryption key) alone,
/// or writes it to `--out`; the key id goes to stderr.
pub fn public_key(args: PublicKeyArgs) -> anyhow::Result<()> {
    let (key, key_id) = if args.role == Role::Helper {
        let path = helper_key_path(&args.db);
        let key = crate::aggregation::helper::read_helper_key(&path).with_context(|| {
            format!(
                "no helper key at {}: create it with `gateway keygen --role helper --db {}`",
                path.display(),
                args.db.display()
            )
        })?;
        (key.public_key().to_vec(), key.key_id())
    } else {
        let path = args
            .receipt_key
            .clone()
            .unwrap_or_else(|| crate::config::default_receipt_key_path(&args.db));
        let signer = registry::read_receipt_key(&path).with_context(|| {
            format!(
                "no signing key at {}: create it with `gateway keygen --db {}` (or a first `gateway serve`)",
                path.display(),
                args.db.display()
            )
        })?;
        (signer.public_key().to_vec(), signer.key_id().to_string())
    };
    let text = if args.base64 {
        base64::engine::general_purpose::STANDARD.encode(&key)
    } else {
        hex::encode(&key)
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, format!("{text}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}: key id {key_id}", path.display());
        }
        None => {
            println!("{text}");
            eprintln!("key id: {key_id}");
        }
    }
    Ok(())
}

fn helper_key_path(db: &std::path::Path) -> PathBuf {
    Config {
        db: db.to_path_buf(),
        ..Config::default()
    }
    .helper_key_path()
}

/// Arguments of `keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// SQLite database file; the keys live next to it.
    #[arg(long, default_value = "gateway.db")]
    pub db: PathBuf,
    /// The signing key file, if not `<db>.receipt-key`.
    #[arg(long)]
    pub receipt_key: Option<PathBuf>,
    /// `leader`: the signing key (receipts and collection requests).
    /// `helper`: the signing key (receipts and answers) and the X25519
    /// encryption key agents seal their seeds to.
    #[arg(long, value_enum, default_value_t = Role::Leader)]
    pub role: Role,
}

/// Creates the keys a gateway or helper needs before its first start;
/// keeps any that exist (never overwrites one).
pub fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let path = args
        .receipt_key
        .clone()
        .unwrap_or_else(|| crate::config::default_receipt_key_path(&args.db));
    let existed = path.exists();
    let signer = registry::load_or_create_receipt_key(&path)
        .with_context(|| format!("signing key {}", path.display()))?;
    println!(
        "signing key (Ed25519) {} {}: key id {}",
        path.display(),
        if existed { "kept" } else { "created" },
        signer.key_id()
    );
    if args.role == Role::Helper {
        let path = helper_key_path(&args.db);
        let existed = path.exists();
        let key = crate::aggregation::helper::load_or_create_helper_key(&path)
            .with_context(|| format!("helper key {}", path.display()))?;
        println!(
            "encryption key (X25519) {} {}: key id {}",
            path.display(),
            if existed { "kept" } else { "created" },
            key.key_id()
        );
    }
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
