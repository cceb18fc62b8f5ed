//! Delivering the outbox to the gateway over gRPC and storing verified receipts.
//!
//! A report leaves the `queued` state only two ways: the gateway's receipt
//! verifies against the configured receipt key and names exactly the report
//! id and payload hash that were sent (then it is `delivered`), or the
//! gateway says the report itself is unacceptable (then it is `rejected`,
//! with the reason). Everything else — a gateway that cannot be reached, a
//! timeout, an internal error, a receipt that does not verify — leaves it
//! queued for another attempt after back-off.

use std::sync::Arc;

use prikk_proto::pb;
use prikk_proto::pb::report_gateway_client::ReportGatewayClient;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use crate::outbox::{Outbox, OutboxError, QueuedReport, ReceiptError, VerifiedReceipt};

/// Largest receipt accepted from the gateway.
const MAX_RECEIPT_BYTES: usize = 64 * 1024;

/// Why one attempt did not produce a stored receipt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttemptError {
    /// No connection could be made (down, refused, TLS handshake failed, timeout).
    #[error("gateway unreachable: {0}")]
    Unreachable(String),
    /// The gateway answered with an error worth retrying.
    #[error("gateway error ({code:?}): {message}")]
    Transient {
        /// gRPC status code.
        code: Code,
        /// The gateway's message.
        message: String,
    },
    /// The gateway refused the report itself; retrying the same bytes cannot help.
    #[error("gateway rejected the report ({code:?}): {message}")]
    Rejected {
        /// gRPC status code.
        code: Code,
        /// The gateway's message.
        message: String,
    },
    /// The gateway answered with a receipt that does not check out.
    #[error("receipt refused: {0}")]
    BadReceipt(#[from] ReceiptError),
}

/// Whether a gRPC status means "this report is bad" rather than "try later".
/// `OutOfRange` is the gateway's answer for a period it does not collect.
/// `NotFound` (key not registered yet) is retried: registration may follow.
pub fn is_rejection(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::FailedPrecondition
            | Code::AlreadyExists
            | Code::OutOfRange
    )
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

fn classify(status: tonic::Status) -> AttemptError {
    let code = status.code();
    let message = status.message().to_string();
    if is_rejection(code) {
        return AttemptError::Rejected { code, message };
    }
    if code == Code::Unavailable {
        return AttemptError::Unreachable(error_chain(&status));
    }
    AttemptError::Transient { code, message }
}

/// A connection to the gateway plus the key its receipts must verify against.
#[derive(Debug)]
pub struct Gateway {
    endpoint: Endpoint,
    receipt_key: [u8; 32],
    client: Option<ReportGatewayClient<Channel>>,
}

impl Gateway {
    /// A gateway client; nothing is connected until the first attempt.
    pub fn new(endpoint: Endpoint, receipt_key: [u8; 32]) -> Self {
        Self {
            endpoint,
            receipt_key,
            client: None,
        }
    }

    async fn client(&mut self) -> Result<ReportGatewayClient<Channel>, AttemptError> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let channel = self
            .endpoint
            .connect()
            .await
            .map_err(|e| AttemptError::Unreachable(error_chain(&e)))?;
        let c = ReportGatewayClient::new(channel).max_decoding_message_size(MAX_RECEIPT_BYTES);
        self.client = Some(c.clone());
        Ok(c)
    }

    /// Sends one report and verifies the receipt (does not touch the outbox).
    pub async fn send(&mut self, report: &QueuedReport) -> Result<VerifiedReceipt, AttemptError> {
        let mut client = self.client().await?;
        let result = client.submit_report(report.envelope.clone()).await;
        let receipt: pb::Receipt = match result {
            Ok(r) => r.into_inner(),
            Err(status) => {
                if matches!(
                    status.code(),
                    Code::Unavailable | Code::Unknown | Code::Cancelled
                ) {
                    // Reconnect next time; the channel may be broken.
                    self.client = None;
                }
                return Err(classify(status));
            }
        };
        Ok(VerifiedReceipt::verify(
            &self.receipt_key,
            report,
            &receipt,
        )?)
    }
}

/// What happened to one report in one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receipt verified and is stored.
    Delivered {
        /// Report id.
        report_id: String,
        /// Revision the gateway assigned.
        revision: u32,
        /// When the gateway accepted it.
        accepted_unix: i64,
    },
    /// Still queued; retried at `next_attempt_unix`.
    Queued {
        /// Report id.
        report_id: String,
        /// Why this attempt failed.
        error: String,
        /// Whether the gateway could not be reached at all.
        unreachable: bool,
        /// When the next attempt is due.
        next_attempt_unix: i64,
    },
    /// Refused for good by the gateway.
    Rejected {
        /// Report id.
        report_id: String,
        /// The gateway's reason.
        reason: String,
    },
}

async fn blocking<T: Send + 'static>(
    outbox: &Arc<Outbox>,
    f: impl FnOnce(&Outbox) -> Result<T, OutboxError> + Send + 'static,
) -> Result<T, OutboxError> {
    let o = Arc::clone(outbox);
    match tokio::task::spawn_blocking(move || f(&o)).await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// One attempt for one report, with the outcome recorded in the outbox.
pub async fn deliver_one(
    outbox: &Arc<Outbox>,
    gateway: &mut Gateway,
    report: QueuedReport,
) -> Result<Outcome, OutboxError> {
    let id = report.report_id.clone();
    let span = tracing::info_span!("deliver", report_id = %id, project = %report.project, period = %report.period);
    let _guard = span.enter();
    match gateway.send(&report).await {
        Ok(receipt) => {
            let revision = receipt.body().revision;
            let accepted_unix = receipt.body().accepted_unix;
            blocking(outbox, move |o| o.store_receipt(&receipt)).await?;
            tracing::info!(revision, "delivered; receipt verified and stored");
            Ok(Outcome::Delivered {
                report_id: id,
                revision,
                accepted_unix,
            })
        }
        Err(AttemptError::Rejected { code, message }) => {
            let reason = format!("{code:?}: {message}");
            let (rid, r) = (id.clone(), reason.clone());
            blocking(outbox, move |o| o.mark_rejected(&rid, &r)).await?;
            tracing::error!(%reason, "gateway rejected the report");
            Ok(Outcome::Rejected {
                report_id: id,
                reason,
            })
        }
        Err(e) => {
            let unreachable = matches!(e, AttemptError::Unreachable(_));
            let error = e.to_string();
            let (rid, err) = (id.clone(), error.clone());
            let next_attempt_unix =
                blocking(outbox, move |o| o.mark_attempt_failed(&rid, &err)).await?;
            tracing::warn!(%error, next_attempt_unix, "delivery failed; report stays queued");
            Ok(Outcome::Queued {
                report_id: id,
                error,
                unreachable,
                next_attempt_unix,
            })
        }
    }
}

/// Which queued reports a pass tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Only those whose back-off has expired.
    Due,
    /// Every queued report, now.
    AllQueued,
}

/// Tries the selected queued reports once each. When the gateway cannot be
/// reached, the remaining reports of the pass are marked as failed attempts
/// too (each gets its own back-off) instead of each waiting for its own
/// connection timeout.
pub async fn deliver_pass(
    outbox: &Arc<Outbox>,
    gateway: &mut Gateway,
    which: Selection,
) -> Result<Vec<Outcome>, OutboxError> {
    let reports = blocking(outbox, move |o| match which {
        Selection::Due => o.due(),
        Selection::AllQueued => o.queued(),
    })
    .await?;
    let mut outcomes = Vec::with_capacity(reports.len());
    let mut down: Option<String> = None;
    for r in reports {
        if let Some(error) = &down {
            let (rid, err) = (r.report_id.clone(), error.clone());
            let next_attempt_unix =
                blocking(outbox, move |o| o.mark_attempt_failed(&rid, &err)).await?;
            outcomes.push(Outcome::Queued {
                report_id: r.report_id,
                error: error.clone(),
                unreachable: true,
                next_attempt_unix,
            });
            continue;
        }
        let o = deliver_one(outbox, gateway, r).await?;
        if let Outcome::Queued {
            error,
            unreachable: true,
            ..
        } = &o
        {
            down = Some(error.clone());
        }
        outcomes.push(o);
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_codes() {
        for c in [
            Code::InvalidArgument,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::FailedPrecondition,
            Code::AlreadyExists,
        ] {
            assert!(is_rejection(c), "{c:?}");
        }
        for c in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::Internal,
            Code::ResourceExhausted,
            Code::Cancelled,
        ] {
            assert!(!is_rejection(c), "{c:?}");
        }
    }

    #[test]
    fn unavailable_is_unreachable() {
        assert!(matches!(
            classify(tonic::Status::unavailable("down")),
            AttemptError::Unreachable(_)
        ));
        assert!(matches!(
            classify(tonic::Status::internal("x")),
            AttemptError::Transient {
                code: Code::Internal,
                ..
            }
        ));
        assert!(matches!(
            classify(tonic::Status::permission_denied("x")),
            AttemptError::Rejected { .. }
        ));
    }
}
