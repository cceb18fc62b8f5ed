//! A report whose tables leave only as secret shares: no table published,
//! and an id keyed to the exact values.

use std::path::Path;

use prikk_privacy::audit::AuditReport;
use prikk_privacy::definition::Definition;
use prikk_privacy::suppress::Protected;
use prikk_privacy::table::Table;
use prikk_proto::pb;
use prost::Message;
use ring::digest::{SHA256, digest};

use super::{
    Prepared, ProtectionPolicy, ReportError, policy_summary, read_tables, unsigned_report,
};

/// Like [`prepare_with`], for an agent with a secure-aggregation helper and
/// a definition released at aggregate level: no table is published. The
/// exact tables stay in [`Prepared::protected`] (`tables`) for the secret
/// shares, every cell marked as not published. The report id binds the
/// exact tables through a digest keyed with the agent's signing key, so a
/// correction that changes any count gets a new id, while the gateway,
/// which never holds that key, cannot test guesses of the counts against it.
pub fn prepare_shared(
    def: &Definition,
    input: &Path,
    period: &str,
    project: Option<&str>,
    policy: &ProtectionPolicy,
    signer: &prikk_proto::Signer,
) -> Result<Prepared, ReportError> {
    if !def.aggregate_only() {
        return Err(ReportError::NotAggregate(format!(
            "{} v{}",
            def.id, def.version
        )));
    }
    if policy.mode.adds_noise() {
        return Err(ReportError::SharesWithNoise(policy.mode));
    }
    let (period, data, tables) = read_tables(def, input, period, project)?;
    let hidden: Vec<Vec<bool>> = tables.iter().map(|t| vec![true; t.shape.len()]).collect();
    let none: Vec<Vec<bool>> = tables.iter().map(|t| vec![false; t.shape.len()]).collect();
    let protected = Protected {
        tables,
        suppressed: hidden,
        primary: none,
        primary_count: 0,
        secondary_count: 0,
        audit: AuditReport {
            passed: true,
            ..AuditReport::default()
        },
        hidden_margins: Vec::new(),
    };
    let mut report = unsigned_report(
        def,
        &data.project,
        &period.text,
        policy_summary(&policy.suppression),
        Vec::new(),
    );
    report.report_id = shared_report_id(&report, &protected.tables, signer);
    Ok(Prepared {
        project: data.project,
        period,
        policy: policy.suppression.clone(),
        summary: data.summary,
        protected,
        report,
        mode: policy.mode,
        dp: None,
        shared: true,
    })
}

/// The id of a report whose tables leave only as shares: the public
/// content's digest together with a keyed digest of the exact values.
pub(super) fn shared_report_id(
    report: &pb::Report,
    exact: &[Table],
    signer: &prikk_proto::Signer,
) -> String {
    let mut r = report.clone();
    r.report_id.clear();
    r.created_unix = 0;
    r.shares = None;
    let mut bytes = Vec::new();
    for v in prikk_privacy::layout::flatten(exact) {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    let keyed = signer.keyed_digest("prikk.report-id.v1", &bytes);
    let mut message = r.encode_to_vec();
    message.extend_from_slice(&keyed);
    // Hex of the digest's first 16 bytes.
    let mut id = hex::encode(digest(&SHA256, &message));
    id.truncate(32);
    id
}
