//! The check round: reports whose shares do not add up are named and
//! dropped before anything is recorded.

use std::collections::BTreeSet;

use prikk_privacy::Definition;
use prikk_privacy::layout::{self, RelationRow};
use prikk_proto::share::{self};
use prikk_proto::{pb, verify_message};

use super::{Batch, CollectError, Dropped, helper_key, regroup, shapes};
use crate::config::Config;

/// Reads the helper's signed residual shares and returns the reports whose
/// residuals (the helper's plus the leader's) are not all zero, or whose
/// seal the helper could not open.
pub fn offenders(
    def: &Definition,
    config: &Config,
    batch: &Batch,
    answer: &pb::SignedMessage,
) -> Result<Vec<Dropped>, CollectError> {
    let checked: pb::ShareCheck = verify_message(
        &helper_key(config)?,
        share::CHECKED_DOMAIN,
        answer,
        "residual shares",
    )
    .map_err(|e| CollectError::Answer(e.to_string()))?;
    if checked.batch_id != batch.request.batch_id
        || checked.items.len() != batch.request.items.len()
    {
        return Err(CollectError::Answer("it answers another check".into()));
    }
    let rows: Vec<RelationRow> = layout::relation_rows(&shapes(def));
    let mut out = Vec::new();
    for ((item, mine), theirs) in batch
        .request
        .items
        .iter()
        .zip(&batch.shares)
        .zip(&checked.items)
    {
        if theirs.report_id != item.report_id {
            return Err(CollectError::Answer(
                "its residuals are out of order".into(),
            ));
        }
        let reason = if !theirs.problem.is_empty() {
            Some(format!(
                "the helper cannot use its share: {}",
                theirs.problem
            ))
        } else if theirs.residual.len() != rows.len() {
            return Err(CollectError::Answer(
                "a residual list has the wrong length".into(),
            ));
        } else {
            let consistent = layout::residuals(&rows, mine)
                .iter()
                .zip(&theirs.residual)
                .all(|(a, b)| a.wrapping_add(*b) == 0);
            (!consistent).then(|| "its shares do not add up to tables whose margins hold".into())
        };
        if let Some(reason) = reason {
            out.push(Dropped {
                project: item.project.clone(),
                report_id: item.report_id.clone(),
                reason,
            });
        }
    }
    Ok(out)
}

/// Removes the dropped reports from the batch and forms its groups again.
pub fn drop_reports(
    batch: &mut Batch,
    dropped: Vec<Dropped>,
    config_min_projects: u32,
) -> Result<(), CollectError> {
    let ids: BTreeSet<&str> = dropped.iter().map(|d| d.report_id.as_str()).collect();
    let keep: Vec<bool> = batch
        .request
        .items
        .iter()
        .map(|i| !ids.contains(i.report_id.as_str()))
        .collect();
    let mut k = keep.iter();
    batch
        .request
        .items
        .retain(|_| k.next().copied().unwrap_or(false));
    let mut k = keep.iter();
    batch.reports.retain(|_| k.next().copied().unwrap_or(false));
    let mut k = keep.iter();
    batch.shares.retain(|_| k.next().copied().unwrap_or(false));
    for d in &dropped {
        tracing::warn!(project = %d.project, report = %d.report_id, reason = %d.reason,
            "report dropped from the batch");
    }
    batch.dropped.extend(dropped);
    regroup(batch, config_min_projects)
}
