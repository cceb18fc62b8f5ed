//! Additive secret sharing of a report's exact cells between the leader (the
//! directorate's gateway) and an independent helper.
//!
//! The agent draws a random 32-byte seed and expands it with ChaCha20 into
//! the helper's share, one `u64` per cell; the leader's share is the exact
//! value minus the helper's, modulo 2^64. Each share alone is uniformly
//! random; only their sum over a batch of projects is ever revealed.
//!
//! The seed travels sealed to the helper's X25519 key: an ephemeral X25519
//! agreement, HKDF-SHA256 over the shared secret (salted with both public
//! keys, the context as info) and ChaCha20-Poly1305 with the context as
//! associated data. The context names the report id, project, period,
//! definition and layout size, so a sealed seed cannot be moved into another
//! report. The agent also signs a statement over the context and the sealed
//! seed's digest, so the helper can check with its own copy of the project's
//! key that a share really comes from that project.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::digest::{SHA256, digest};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::sign::{SignError, Signer, key_id_of, verify_domain};

/// Domain prefix for the agent's share statement.
pub const SHARE_DOMAIN: &[u8] = b"prikk.share.v1\0";
/// Domain prefix for the leader's signed collect request.
pub const COLLECT_DOMAIN: &[u8] = b"prikk.collect.v1\0";
/// Domain prefix for the helper's signed aggregate share.
pub const AGGREGATE_DOMAIN: &[u8] = b"prikk.aggregate.v1\0";
/// Domain prefix for the leader's signed check request.
pub const CHECK_DOMAIN: &[u8] = b"prikk.check.v1\0";
/// Domain prefix for the helper's signed residual shares.
pub const CHECKED_DOMAIN: &[u8] = b"prikk.checked.v1\0";

const SEAL_VERSION: u8 = 1;
const TAG_LEN: usize = 16;
/// Length of a sealed seed: version, ephemeral public key, ciphertext, tag.
pub const SEALED_SEED_LEN: usize = 1 + 32 + 32 + TAG_LEN;

/// Errors from sealing, opening and checking shares.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShareError {
    /// The operating system's random generator failed.
    #[error("no randomness available from the operating system")]
    Random,
    /// A key is not 32 bytes or not hex.
    #[error("an X25519 key is 32 bytes (64 hex digits)")]
    BadKey,
    /// The helper's public key is a low-order point.
    #[error("the helper's public key is not usable for key agreement")]
    WeakKey,
    /// The sealed seed has the wrong length or version.
    #[error("sealed seed is malformed")]
    Malformed,
    /// The seal does not open: tampered, or bound to another context or key.
    #[error(
        "sealed seed does not open in this context (tampered, replayed, or for another helper)"
    )]
    Open,
    /// The share statement's signature does not verify.
    #[error("share statement: {0}")]
    Statement(#[from] SignError),
    /// A value lies outside what a share layout can carry.
    #[error("value {0} cannot be shared (negative)")]
    Negative(i64),
}

/// What a sealed seed is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareContext<'a> {
    /// The report's content-derived id.
    pub report_id: &'a str,
    /// Project id.
    pub project: &'a str,
    /// Period.
    pub period: &'a str,
    /// Definition id.
    pub definition_id: &'a str,
    /// Definition version.
    pub definition_version: u32,
    /// Number of cells in the share layout.
    pub cells: u32,
    /// Key id of the helper's encryption key.
    pub helper_key_id: &'a str,
    /// The agent's floor on distinct projects per group.
    pub min_projects: u32,
}

impl<'a> ShareContext<'a> {
    /// The context of a report's shares, as the agent signed it.
    pub fn of_report(report: &'a crate::pb::Report, shares: &'a crate::pb::SecretShares) -> Self {
        Self {
            report_id: &report.report_id,
            project: &report.project,
            period: &report.period,
            definition_id: &report.definition_id,
            definition_version: report.definition_version,
            cells: shares.cells,
            helper_key_id: &shares.helper_key_id,
            min_projects: shares.min_projects,
        }
    }

    /// The context of one item of a collect request.
    pub fn of_item(item: &'a crate::pb::ShareItem) -> Self {
        Self {
            report_id: &item.report_id,
            project: &item.project,
            period: &item.period,
            definition_id: &item.definition_id,
            definition_version: item.definition_version,
            cells: item.cells,
            helper_key_id: &item.helper_key_id,
            min_projects: item.min_projects,
        }
    }

    /// Canonical bytes: a label, then each field length-prefixed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = b"prikk.share-context.v2".to_vec();
        for field in [
            self.report_id.as_bytes(),
            self.project.as_bytes(),
            self.period.as_bytes(),
            self.definition_id.as_bytes(),
            &self.definition_version.to_be_bytes(),
            &self.cells.to_be_bytes(),
            self.helper_key_id.as_bytes(),
            &self.min_projects.to_be_bytes(),
        ] {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field);
        }
        out
    }
}

/// The helper's encryption key pair (X25519).
pub struct HelperSecret {
    secret: StaticSecret,
    public: PublicKey,
}

impl std::fmt::Debug for HelperSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelperSecret")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl HelperSecret {
    /// A fresh key from the operating system's generator.
    pub fn generate() -> Result<Self, ShareError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| ShareError::Random)?;
        Ok(Self::from_bytes(bytes))
    }

    /// From the 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let secret = StaticSecret::from(bytes);
        let public = PublicKey::from(&secret);
        Self { secret, public }
    }

    /// The 32 secret bytes, for storing.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.secret.to_bytes()
    }

    /// The public key agents seal seeds to.
    pub fn public_key(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    /// Key id of the public key.
    pub fn key_id(&self) -> String {
        key_id_of(self.public.as_bytes())
    }
}

/// Parses a public key given as 64 hex digits.
pub fn parse_public_key(text: &str) -> Result<[u8; 32], ShareError> {
    let bytes = hex::decode(text.trim()).map_err(|_| ShareError::BadKey)?;
    bytes.try_into().map_err(|_| ShareError::BadKey)
}

/// A fresh 32-byte seed from the operating system's generator.
pub fn random_seed() -> Result<[u8; 32], ShareError> {
    let mut seed = [0u8; 32];
    SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| ShareError::Random)?;
    Ok(seed)
}

struct KeyLen;

impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        32
    }
}

fn aead_key(
    shared: &[u8; 32],
    eph: &[u8; 32],
    helper: &[u8; 32],
    info: &[u8],
) -> Result<LessSafeKey, ShareError> {
    let mut salt = Vec::with_capacity(64);
    salt.extend_from_slice(eph);
    salt.extend_from_slice(helper);
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(shared);
    let mut key = [0u8; 32];
    let info = [info];
    prk.expand(&info, KeyLen)
        .and_then(|okm| okm.fill(&mut key))
        .map_err(|_| ShareError::Malformed)?;
    let key = UnboundKey::new(&CHACHA20_POLY1305, &key).map_err(|_| ShareError::Malformed)?;
    Ok(LessSafeKey::new(key))
}

/// Seals `seed` to the helper's public key, bound to `ctx`.
pub fn seal_seed(
    helper_public: &[u8; 32],
    seed: &[u8; 32],
    ctx: &ShareContext<'_>,
) -> Result<Vec<u8>, ShareError> {
    let mut eph_bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut eph_bytes)
        .map_err(|_| ShareError::Random)?;
    let eph = StaticSecret::from(eph_bytes);
    let eph_public = PublicKey::from(&eph).to_bytes();
    let shared = eph.diffie_hellman(&PublicKey::from(*helper_public));
    if !shared.was_contributory() {
        return Err(ShareError::WeakKey);
    }
    let info = ctx.to_bytes();
    let key = aead_key(shared.as_bytes(), &eph_public, helper_public, &info)?;
    let mut body = seed.to_vec();
    // The key is fresh for every seal (a new ephemeral key), so a fixed nonce is safe.
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key([0; 12]),
        Aad::from(&info),
        &mut body,
    )
    .map_err(|_| ShareError::Malformed)?;
    let mut out = Vec::with_capacity(SEALED_SEED_LEN);
    out.push(SEAL_VERSION);
    out.extend_from_slice(&eph_public);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Opens a sealed seed with the helper's key, in the context it must be bound to.
pub fn open_seed(
    helper: &HelperSecret,
    sealed: &[u8],
    ctx: &ShareContext<'_>,
) -> Result<[u8; 32], ShareError> {
    if sealed.len() != SEALED_SEED_LEN || sealed[0] != SEAL_VERSION {
        return Err(ShareError::Malformed);
    }
    let mut eph_public = [0u8; 32];
    eph_public.copy_from_slice(&sealed[1..33]);
    let shared = helper.secret.diffie_hellman(&PublicKey::from(eph_public));
    if !shared.was_contributory() {
        return Err(ShareError::Open);
    }
    let info = ctx.to_bytes();
    let key = aead_key(shared.as_bytes(), &eph_public, &helper.public_key(), &info)?;
    let mut body = sealed[33..].to_vec();
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(&info),
            &mut body,
        )
        .map_err(|_| ShareError::Open)?;
    let mut seed = [0u8; 32];
    seed.copy_from_slice(plain);
    Ok(seed)
}

/// The helper's share: the seed expanded with ChaCha20 into `cells` values.
pub fn expand_seed(seed: &[u8; 32], cells: usize) -> Vec<u64> {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    (0..cells).map(|_| rng.next_u64()).collect()
}

/// Adds the expansion of `seed` into `acc` (modulo 2^64), without allocating.
pub fn add_expanded(acc: &mut [u64], seed: &[u8; 32]) {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    for a in acc {
        *a = a.wrapping_add(rng.next_u64());
    }
}

/// The leader's share of `exact`: `exact - expand(seed)` modulo 2^64.
pub fn leader_share(exact: &[i64], seed: &[u8; 32]) -> Result<Vec<u64>, ShareError> {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    exact
        .iter()
        .map(|&v| {
            if v < 0 {
                return Err(ShareError::Negative(v));
            }
            Ok((v as u64).wrapping_sub(rng.next_u64()))
        })
        .collect()
}

/// Adds `share` into `acc`, modulo 2^64.
pub fn add_share(acc: &mut [u64], share: &[u64]) {
    for (a, s) in acc.iter_mut().zip(share) {
        *a = a.wrapping_add(*s);
    }
}

/// Reads a recombined sum as counts. Any value at or above 2^63 means the
/// shares did not come from non-negative counts (a wrong or dishonest
/// share): `None`.
pub fn recombine(leader: &[u64], helper: &[u64]) -> Option<Vec<i64>> {
    leader
        .iter()
        .zip(helper)
        .map(|(a, b)| i64::try_from(a.wrapping_add(*b)).ok())
        .collect()
}

/// The statement the agent signs: the context and the sealed seed's digest.
pub fn share_statement(ctx: &ShareContext<'_>, sealed: &[u8]) -> Vec<u8> {
    let mut out = ctx.to_bytes();
    out.extend_from_slice(digest(&SHA256, sealed).as_ref());
    out
}

/// Signs the share statement with the agent's key.
pub fn sign_statement(signer: &Signer, ctx: &ShareContext<'_>, sealed: &[u8]) -> Vec<u8> {
    signer.sign_domain(SHARE_DOMAIN, &share_statement(ctx, sealed))
}

/// Checks the share statement against the project's registered key.
pub fn verify_statement(
    agent_public_key: &[u8],
    ctx: &ShareContext<'_>,
    sealed: &[u8],
    signature: &[u8],
) -> Result<(), ShareError> {
    Ok(verify_domain(
        SHARE_DOMAIN,
        agent_public_key,
        &share_statement(ctx, sealed),
        signature,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(report_id: &'a str, helper: &'a str) -> ShareContext<'a> {
        ShareContext {
            report_id,
            project: "p1",
            period: "2026",
            definition_id: "ny-sjanse",
            definition_version: 1,
            cells: 4,
            helper_key_id: helper,
            min_projects: 5,
        }
    }

    #[test]
    fn shares_add_up_to_the_exact_values_and_hide_them() {
        let exact = [0i64, 3, 17, 4242];
        let seed = random_seed().unwrap();
        let leader = leader_share(&exact, &seed).unwrap();
        let helper = expand_seed(&seed, exact.len());
        assert_eq!(recombine(&leader, &helper).unwrap(), exact);
        // The leader's share alone is not the exact values.
        assert!(leader.iter().zip(&exact).any(|(l, e)| *l != *e as u64));
        let mut acc = vec![0u64; 4];
        add_expanded(&mut acc, &seed);
        assert_eq!(acc, helper);
    }

    #[test]
    fn negative_values_are_refused() {
        assert_eq!(
            leader_share(&[1, -2], &[7; 32]),
            Err(ShareError::Negative(-2))
        );
    }

    #[test]
    fn seal_opens_only_in_its_own_context_and_for_its_own_key() {
        let helper = HelperSecret::generate().unwrap();
        let kid = helper.key_id();
        let seed = random_seed().unwrap();
        let sealed = seal_seed(&helper.public_key(), &seed, &ctx("r1", &kid)).unwrap();
        assert_eq!(sealed.len(), SEALED_SEED_LEN);
        assert_eq!(open_seed(&helper, &sealed, &ctx("r1", &kid)).unwrap(), seed);
        // Replayed into another report.
        assert_eq!(
            open_seed(&helper, &sealed, &ctx("r2", &kid)),
            Err(ShareError::Open)
        );
        // Another project.
        let mut other = ctx("r1", &kid);
        other.project = "p2";
        assert_eq!(open_seed(&helper, &sealed, &other), Err(ShareError::Open));
        // Tampered ciphertext, every byte position.
        for i in 1..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x40;
            assert!(
                open_seed(&helper, &t, &ctx("r1", &kid)).is_err(),
                "byte {i}"
            );
        }
        // Another helper.
        let stranger = HelperSecret::generate().unwrap();
        assert_eq!(
            open_seed(&stranger, &sealed, &ctx("r1", &kid)),
            Err(ShareError::Open)
        );
        assert_eq!(
            open_seed(&helper, &sealed[..40], &ctx("r1", &kid)),
            Err(ShareError::Malformed)
        );
    }

    #[test]
    fn low_order_helper_key_is_refused() {
        assert_eq!(
            seal_seed(&[0; 32], &[1; 32], &ctx("r", "k")),
            Err(ShareError::WeakKey)
        );
    }

    #[test]
    fn statement_binds_the_sealed_seed() {
        let signer = Signer::from_pkcs8(&Signer::generate_pkcs8().unwrap()).unwrap();
        let c = ctx("r1", "k");
        let sig = sign_statement(&signer, &c, b"sealed");
        verify_statement(signer.public_key(), &c, b"sealed", &sig).unwrap();
        assert!(verify_statement(signer.public_key(), &c, b"sealeD", &sig).is_err());
        assert!(verify_statement(signer.public_key(), &ctx("r2", "k"), b"sealed", &sig).is_err());
    }

    #[test]
    fn helper_key_round_trips() {
        let k = HelperSecret::generate().unwrap();
        let again = HelperSecret::from_bytes(k.to_bytes());
        assert_eq!(again.public_key(), k.public_key());
        assert_eq!(
            parse_public_key(&hex::encode(k.public_key())).unwrap(),
            k.public_key()
        );
        assert_eq!(parse_public_key("abcd"), Err(ShareError::BadKey));
    }
}
