//! Ed25519 signing and verification of report envelopes and receipts.

use prost::Message;
use ring::digest::{SHA256, digest};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::pb;

/// Domain prefix for report signatures.
pub const REPORT_DOMAIN: &[u8] = b"prikk.report.v1\0";
/// Domain prefix for receipt signatures.
pub const RECEIPT_DOMAIN: &[u8] = b"prikk.receipt.v1\0";

/// Hex of the first 8 bytes of SHA-256 of a raw 32-byte Ed25519 public key.
pub type KeyId = String;

/// Errors from signing and verification.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    /// The private key file is not a valid Ed25519 PKCS#8 document.
    #[error("not an Ed25519 PKCS#8 private key")]
    BadPrivateKey,
    /// The public key is not 32 bytes.
    #[error("an Ed25519 public key is 32 bytes, got {0}")]
    BadPublicKey(usize),
    /// The signature does not match the bytes and key.
    #[error("signature does not verify")]
    BadSignature,
    /// The envelope names a different key than the one it was checked with.
    #[error("signed by key {actual}, expected {expected}")]
    WrongKey {
        /// Key id the verifier expected.
        expected: String,
        /// Key id the envelope carries.
        actual: String,
    },
    /// The signed bytes are not a valid message, or carry trailing bytes.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// The key id of a raw Ed25519 public key.
pub fn key_id_of(public_key: &[u8]) -> KeyId {
    hex::encode(&digest(&SHA256, public_key).as_ref()[..8])
}

/// SHA-256 of the exact signed report bytes.
pub fn payload_sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// An Ed25519 signing key. Its `Debug` output never shows key material.
pub struct Signer {
    pair: Ed25519KeyPair,
    key_id: KeyId,
    /// A secret derived from the private key, for keyed digests that only
    /// this key's holder can compute (never the private key itself).
    derived: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads a key from a PKCS#8 v2 document (as written by `generate_pkcs8`).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, SignError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| SignError::BadPrivateKey)?;
        let key_id = key_id_of(pair.public_key().as_ref());
        let mut label = b"prikk.derived-secret.v1\0".to_vec();
        label.extend_from_slice(pkcs8);
        let mut derived = [0u8; 32];
        derived.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, &label).as_ref());
        Ok(Self {
            pair,
            key_id,
            derived,
        })
    }

    /// HMAC-SHA256 of `message` under a key derived from this signing key
    /// and `purpose`. Nobody without the private key can compute or check
    /// it, so it may bind secret content (an agent's exact counts) into a
    /// public identifier without letting a holder of the public key test
    /// guesses, as a signature or a plain hash would.
    pub fn keyed_digest(&self, purpose: &str, message: &[u8]) -> [u8; 32] {
        let outer = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.derived);
        let key = ring::hmac::sign(&outer, purpose.as_bytes());
        let inner = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_ref());
        let mut out = [0u8; 32];
        out.copy_from_slice(ring::hmac::sign(&inner, message).as_ref());
        out
    }

    /// A fresh key as a PKCS#8 document, from the operating system's CSPRNG.
    pub fn generate_pkcs8() -> Result<Vec<u8>, SignError> {
        let rng = ring::rand::SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&rng)
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| SignError::BadPrivateKey)
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// This key's id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Signs `domain || bytes`.
    pub fn sign_domain(&self, domain: &[u8], bytes: &[u8]) -> Vec<u8> {
        self.sign(domain, bytes)
    }

    fn sign(&self, domain: &[u8], bytes: &[u8]) -> Vec<u8> {
        let mut msg = Vec::with_capacity(domain.len() + bytes.len());
        msg.extend_from_slice(domain);
        msg.extend_from_slice(bytes);
        self.pair.sign(&msg).as_ref().to_vec()
    }
}

/// Verifies a signature over `domain || bytes`.
pub fn verify_domain(
    domain: &[u8],
    public_key: &[u8],
    bytes: &[u8],
    sig: &[u8],
) -> Result<(), SignError> {
    verify(domain, public_key, bytes, sig)
}

/// Serializes and signs a message under a domain prefix.
pub fn sign_message<M: Message>(signer: &Signer, domain: &[u8], message: &M) -> pb::SignedMessage {
    let body = message.encode_to_vec();
    pb::SignedMessage {
        signature: signer.sign(domain, &body),
        body,
        key_id: signer.key_id.clone(),
    }
}

/// Verifies a signed message against a public key and decodes its body
/// (only after the signature checks out; trailing bytes refused).
pub fn verify_message<M: Message + Default>(
    public_key: &[u8],
    domain: &[u8],
    envelope: &pb::SignedMessage,
    what: &'static str,
) -> Result<M, SignError> {
    let expected = key_id_of(public_key);
    if envelope.key_id != expected {
        return Err(SignError::WrongKey {
            expected,
            actual: envelope.key_id.clone(),
        });
    }
    verify(domain, public_key, &envelope.body, &envelope.signature)?;
    decode_exact::<M>(&envelope.body, what)
}

fn verify(domain: &[u8], public_key: &[u8], bytes: &[u8], sig: &[u8]) -> Result<(), SignError> {
    if public_key.len() != 32 {
        return Err(SignError::BadPublicKey(public_key.len()));
    }
    let mut msg = Vec::with_capacity(domain.len() + bytes.len());
    msg.extend_from_slice(domain);
    msg.extend_from_slice(bytes);
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&msg, sig)
        .map_err(|_| SignError::BadSignature)
}

/// Serializes and signs a report. The returned envelope carries the exact bytes signed.
pub fn sign_report(signer: &Signer, report: &pb::Report) -> pb::SignedReport {
    let bytes = report.encode_to_vec();
    pb::SignedReport {
        signature: signer.sign(REPORT_DOMAIN, &bytes),
        report: bytes,
        key_id: signer.key_id.clone(),
    }
}

/// Verifies an envelope against a registered public key, then decodes the
/// report. Decoding happens only after the signature checks out.
pub fn verify_report(
    public_key: &[u8],
    envelope: &pb::SignedReport,
) -> Result<pb::Report, SignError> {
    let expected = key_id_of(public_key);
    if envelope.key_id != expected {
        return Err(SignError::WrongKey {
            expected,
            actual: envelope.key_id.clone(),
        });
    }
    verify(
        REPORT_DOMAIN,
        public_key,
        &envelope.report,
        &envelope.signature,
    )?;
    decode_exact::<pb::Report>(&envelope.report, "report")
}

/// Serializes and signs a receipt body.
pub fn sign_receipt(signer: &Signer, body: &pb::ReceiptBody) -> pb::Receipt {
    let bytes = body.encode_to_vec();
    pb::Receipt {
        signature: signer.sign(RECEIPT_DOMAIN, &bytes),
        body: bytes,
        key_id: signer.key_id.clone(),
    }
}

/// Verifies a receipt against the gateway's public key and decodes its body.
pub fn verify_receipt(
    gateway_public_key: &[u8],
    receipt: &pb::Receipt,
) -> Result<pb::ReceiptBody, SignError> {
    let expected = key_id_of(gateway_public_key);
    if receipt.key_id != expected {
        return Err(SignError::WrongKey {
            expected,
            actual: receipt.key_id.clone(),
        });
    }
    verify(
        RECEIPT_DOMAIN,
        gateway_public_key,
        &receipt.body,
        &receipt.signature,
    )?;
    decode_exact::<pb::ReceiptBody>(&receipt.body, "receipt")
}

/// Decodes a message and refuses bytes that do not re-encode to the same
/// length, which catches trailing garbage and duplicated fields.
pub fn decode_exact<M: Message + Default>(
    bytes: &[u8],
    what: &'static str,
) -> Result<M, SignError> {
    let m = M::decode(bytes).map_err(|_| SignError::Malformed(what))?;
    if m.encoded_len() != bytes.len() {
        return Err(SignError::Malformed(what));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::from_pkcs8(&Signer::generate_pkcs8().unwrap()).unwrap()
    }

    fn report() -> pb::Report {
        pb::Report {
            report_id: "r1".into(),
            project: "bergen".into(),
            period: "2006".into(),
            ..Default::default()
        }
    }

    #[test]
    fn report_roundtrip_and_tamper() {
        let s = signer();
        let env = sign_report(&s, &report());
        assert_eq!(verify_report(s.public_key(), &env).unwrap(), report());
        let mut bad = env.clone();
        let last = bad.report.len() - 1;
        bad.report[last] ^= 1;
        assert_eq!(
            verify_report(s.public_key(), &bad),
            Err(SignError::BadSignature)
        );
        let other = signer();
        assert!(matches!(
            verify_report(other.public_key(), &env),
            Err(SignError::WrongKey { .. })
        ));
    }

    #[test]
    fn report_signature_is_not_a_receipt_signature() {
        let s = signer();
        let env = sign_report(&s, &report());
        let forged = pb::Receipt {
            body: env.report.clone(),
            signature: env.signature.clone(),
            key_id: env.key_id.clone(),
        };
        assert_eq!(
            verify_receipt(s.public_key(), &forged),
            Err(SignError::BadSignature)
        );
    }

    #[test]
    fn trailing_bytes_refused() {
        let mut bytes = report().encode_to_vec();
        bytes.extend_from_slice(&[0x08, 0x01]);
        assert!(decode_exact::<pb::Report>(&bytes, "report").is_err());
    }

    #[test]
    fn debug_hides_key() {
        let s = signer();
        let d = format!("{s:?}");
        assert!(d.contains(s.key_id()) && !d.contains("pair"));
    }
}
