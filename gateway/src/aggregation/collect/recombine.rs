//! The helper's answer verified and added to the leader's shares: the
//! exact group sums, in memory only, checked whole, in range and adding up.

use std::collections::BTreeMap;

use prikk_privacy::geography::RegionGroup;
use prikk_privacy::layout::{self};
use prikk_privacy::{Definition, Measure, TableShape};
use prikk_proto::share::{self};
use prikk_proto::{pb, verify_message};

use super::{Batch, CollectError, PLAUSIBLE_PEOPLE_PER_PROJECT, helper_key, shapes};
use crate::config::Config;

/// The exact group sums, in memory only.
#[derive(Debug)]
pub struct Recombined {
    /// Per group, its exact tables (never stored or logged).
    pub groups: Vec<RegionGroup>,
    /// The helper's verified answer.
    pub answer: pb::AggregateShare,
}

/// The largest plausible value of a table's cells for `projects` projects.
fn plausible_max(shape: &TableShape, projects: usize) -> i64 {
    let per_person = match &shape.measure {
        Measure::Count => 1,
        Measure::Sum(col) => prikk_privacy::definition::integer_range(col).map_or(1, |(_, hi)| hi),
    };
    PLAUSIBLE_PEOPLE_PER_PROJECT
        .saturating_mul(per_person)
        .saturating_mul(i64::try_from(projects).unwrap_or(i64::MAX))
}

/// Verifies the helper's answer, adds the shares per group and checks that
/// every group's tables are whole, in range and add up.
pub fn recombine(
    def: &Definition,
    config: &Config,
    batch: &Batch,
    answer: &pb::SignedMessage,
) -> Result<Recombined, CollectError> {
    let agg: pb::AggregateShare = verify_message(
        &helper_key(config)?,
        share::AGGREGATE_DOMAIN,
        answer,
        "aggregate share",
    )
    .map_err(|e| CollectError::Answer(e.to_string()))?;
    if agg.batch_id != batch.request.batch_id
        || agg.period != batch.request.period
        || agg.scope != batch.request.scope
    {
        return Err(CollectError::Answer("it answers another batch".into()));
    }
    let shapes = shapes(def);
    let cells = layout::layout_len(&shapes);
    let mut sent: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, item) in batch.request.items.iter().enumerate() {
        sent.entry(item.group.as_str()).or_default().push(i);
    }
    if agg.groups.len() != sent.len() {
        return Err(CollectError::Answer(
            "it summed other groups than the ones sent".into(),
        ));
    }
    let mut groups = Vec::with_capacity(agg.groups.len());
    for (g, (code, members)) in agg.groups.iter().zip(&sent) {
        let mut ids: Vec<&str> = members
            .iter()
            .filter_map(|&i| batch.request.items.get(i))
            .map(|it| it.report_id.as_str())
            .collect();
        ids.sort_unstable();
        if g.group != *code || g.report_ids != ids {
            return Err(CollectError::Answer(format!(
                "it summed other reports than the ones sent in group {code}"
            )));
        }
        if g.share.len() != cells {
            return Err(CollectError::Answer("a share has the wrong length".into()));
        }
        let mut leader = vec![0u64; cells];
        for &i in members {
            if let Some(s) = batch.shares.get(i) {
                share::add_share(&mut leader, s);
            }
        }
        let inconsistent = |problem: &str| CollectError::Inconsistent {
            group: code.to_string(),
            problem: problem.to_string(),
        };
        let exact = share::recombine(&leader, &g.share)
            .and_then(|v| layout::unflatten(&shapes, &v))
            .ok_or_else(|| inconsistent("a value is out of range"))?;
        for t in &exact {
            let max = plausible_max(&t.shape, members.len());
            let in_range = |v: &i64| (0..=max).contains(v);
            if !t.values.iter().all(in_range) || !t.contributors.iter().all(in_range) {
                return Err(inconsistent(&format!(
                    "table {} has a negative or implausibly large cell",
                    t.shape.id
                )));
            }
            if !t.margins_add_up() {
                return Err(inconsistent(&format!(
                    "table {} does not add up",
                    t.shape.id
                )));
            }
        }
        groups.push(RegionGroup {
            code: code.to_string(),
            tables: exact,
        });
    }
    Ok(Recombined {
        groups,
        answer: agg,
    })
}
