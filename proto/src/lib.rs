//! The wire contract between municipality agents and the directorate's
//! gateway: generated protobuf/gRPC types plus the one implementation of
//! signing and verifying report envelopes and receipts that both sides use.
//!
//! Signatures are Ed25519 over a domain-separation prefix followed by the
//! exact serialized bytes, so a signature made for a report can never be
//! replayed as a receipt or the other way round, and nothing is re-encoded
//! between signing and verifying.
#![forbid(unsafe_code)]

/// Generated protobuf messages and the `ReportGateway` service.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod pb {
    tonic::include_proto!("prikk.v1");
}

pub mod share;
mod sign;

pub use sign::{
    KeyId, RECEIPT_DOMAIN, REPORT_DOMAIN, SignError, Signer, decode_exact, key_id_of,
    payload_sha256, sign_message, sign_receipt, sign_report, verify_domain, verify_message,
    verify_receipt, verify_report,
};
