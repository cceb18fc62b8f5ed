//! Prometheus counters and a latency histogram, and the HTTP endpoint
//! serving them as text at `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;

use crate::error::Refusal;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The gateway's counters. Lock-free; shared by every request.
#[derive(Debug, Default)]
pub struct Metrics {
    accepted: AtomicU64,
    replayed: AtomicU64,
    internal: AtomicU64,
    rejected: [AtomicU64; Refusal::LABELS.len()],
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

/// What became of one submission, for the counters.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// Stored as a new report.
    Accepted,
    /// The same report again; the stored receipt was returned.
    Replayed,
    /// Refused.
    Rejected(&'a Refusal),
    /// Failed inside the gateway.
    Internal,
}

impl Metrics {
    /// Records one submission and its latency.
    #[allow(
        clippy::indexing_slicing,
        reason = "`rejected` has one counter per entry of `Refusal::LABELS`, and `label_index` is a position in it"
    )]
    pub fn record(&self, outcome: Outcome<'_>, latency: Duration) {
        match outcome {
            Outcome::Accepted => self.accepted.fetch_add(1, Ordering::Relaxed),
            Outcome::Replayed => self.replayed.fetch_add(1, Ordering::Relaxed),
            Outcome::Internal => self.internal.fetch_add(1, Ordering::Relaxed),
            Outcome::Rejected(r) => self.rejected[r.label_index()].fetch_add(1, Ordering::Relaxed),
        };
        let secs = latency.as_secs_f64();
        if let Some((_, count)) = BUCKETS.iter().zip(&self.buckets).find(|(b, _)| secs <= **b) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Reports accepted so far (new reports only).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Reports refused with this label so far.
    pub fn rejected(&self, label: &str) -> u64 {
        Refusal::LABELS
            .iter()
            .zip(&self.rejected)
            .find(|(l, _)| **l == label)
            .map_or(0, |(_, c)| c.load(Ordering::Relaxed))
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        s.push_str("# HELP prikk_reports_accepted_total Reports verified and durably stored.\n");
        s.push_str("# TYPE prikk_reports_accepted_total counter\n");
        let _ = writeln!(s, "prikk_reports_accepted_total {}", get(&self.accepted));
        s.push_str(
            "# HELP prikk_reports_replayed_total Resubmissions answered with the stored receipt.\n",
        );
        s.push_str("# TYPE prikk_reports_replayed_total counter\n");
        let _ = writeln!(s, "prikk_reports_replayed_total {}", get(&self.replayed));
        s.push_str("# HELP prikk_reports_rejected_total Reports refused, by reason.\n");
        s.push_str("# TYPE prikk_reports_rejected_total counter\n");
        for (label, c) in Refusal::LABELS.iter().zip(&self.rejected) {
            let _ = writeln!(
                s,
                "prikk_reports_rejected_total{{reason=\"{label}\"}} {}",
                get(c)
            );
        }
        let _ = writeln!(
            s,
            "prikk_reports_rejected_total{{reason=\"internal\"}} {}",
            get(&self.internal)
        );
        s.push_str(
            "# HELP prikk_submit_latency_seconds Time to verify, store and sign one submission.\n",
        );
        s.push_str("# TYPE prikk_submit_latency_seconds histogram\n");
        let mut cumulative = 0;
        for (b, c) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += get(c);
            let _ = writeln!(
                s,
                "prikk_submit_latency_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        let count = get(&self.latency_count);
        let _ = writeln!(
            s,
            "prikk_submit_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            s,
            "prikk_submit_latency_seconds_sum {}",
            get(&self.latency_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(s, "prikk_submit_latency_seconds_count {count}");
        s
    }
}

/// Serves `GET /metrics` over plain HTTP/1.1 until `shutdown` completes;
/// every other request gets 404.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: std::sync::Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    crate::http::serve(
        listener,
        move |req: hyper::Request<hyper::body::Incoming>| {
            let answer = if req.method() == hyper::Method::GET && req.uri().path() == "/metrics" {
                (hyper::StatusCode::OK, metrics.render())
            } else {
                (hyper::StatusCode::NOT_FOUND, "not found\n".to_string())
            };
            std::future::ready(crate::http::response(
                answer.0,
                "text/plain; version=0.0.4",
                answer.1,
            ))
        },
        shutdown,
    )
    .await;
}
