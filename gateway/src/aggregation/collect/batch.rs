//! The batch: the latest revisions with shares for the helper, grouped
//! into region groups of at least the minimum of projects.

use std::collections::BTreeMap;

use prikk_privacy::Definition;
use prikk_privacy::layout::{self};
use prikk_proto::share::{self, ShareContext};
use prikk_proto::{decode_exact, pb};
use ring::digest::{SHA256, digest};

use super::{Batch, CollectError, plan_groups, scope_label, shapes};
use crate::config::HelperEndpoint;
use crate::store::Store;

/// The fewest projects a group may have: the larger of the leader's
/// minimum and every report's signed floor.
fn required(config_min: u32, items: &[&pb::ShareItem]) -> u32 {
    items
        .iter()
        .map(|i| i.min_projects)
        .fold(config_min, u32::max)
}

/// Builds the batch from the latest revisions that carry shares for the
/// configured helper. `region` must be `None`: a collection is national.
pub fn prepare_batch(
    store: &Store,
    def: &Definition,
    helper: &HelperEndpoint,
    config_min_projects: u32,
    period: &str,
    region: Option<&str>,
    now_unix: i64,
) -> Result<Batch, CollectError> {
    if region.is_some() {
        return Err(CollectError::Regional);
    }
    let scope = scope_label(None);
    if let Some(c) = store.collections(period)?.into_iter().next() {
        return Err(CollectError::AlreadyCollected {
            period: period.into(),
            scope: c.scope,
            batch: c.batch_id,
        });
    }
    let helper_key_id = prikk_proto::key_id_of(
        &share::parse_public_key(&helper.encryption_key)
            .map_err(|e| CollectError::Answer(e.to_string()))?,
    );
    let cells = layout::layout_len(&shapes(def));
    let mut reports = Vec::new();
    let mut items = Vec::new();
    let mut shares = Vec::new();
    let mut without_shares = Vec::new();
    for r in store
        .latest_reports(period)?
        .into_iter()
        .filter(|r| r.definition_id == def.id && r.definition_version == def.version)
    {
        let bad = |problem: String| CollectError::BadShare {
            report_id: r.report_id.clone(),
            project: r.project.clone(),
            problem,
        };
        let env_bytes = store
            .envelope(&r.report_id)?
            .ok_or_else(|| bad("stored envelope is missing".into()))?;
        let env: pb::SignedReport =
            decode_exact(&env_bytes, "envelope").map_err(|e| bad(e.to_string()))?;
        let report: pb::Report =
            decode_exact(&env.report, "report").map_err(|e| bad(e.to_string()))?;
        let Some(s) = report
            .shares
            .as_ref()
            .filter(|s| s.helper_key_id == helper_key_id)
        else {
            without_shares.push(r.project.clone());
            continue;
        };
        // The leader must hold nothing per project it could subtract from
        // an exact sum.
        if !report.tables.is_empty() || !r.tables.is_empty() {
            return Err(bad(
                "it carries secret shares and published tables; it cannot be summed".into(),
            ));
        }
        if s.cells as usize != cells || s.leader_share.len() != cells {
            return Err(bad(format!(
                "the share layout has {} cells ({} shared), the definition {cells}",
                s.cells,
                s.leader_share.len()
            )));
        }
        let key = store
            .key(&env.key_id)?
            .ok_or_else(|| bad(format!("signing key {} is not registered", env.key_id)))?;
        share::verify_statement(
            &key.public_key,
            &ShareContext::of_report(&report, s),
            &s.sealed_seed,
            &s.statement_signature,
        )
        .map_err(|e| bad(e.to_string()))?;
        shares.push(s.leader_share.clone());
        items.push(pb::ShareItem {
            report_id: report.report_id.clone(),
            project: report.project.clone(),
            period: report.period.clone(),
            definition_id: report.definition_id.clone(),
            definition_version: report.definition_version,
            cells: s.cells,
            helper_key_id: s.helper_key_id.clone(),
            sealed_seed: s.sealed_seed.clone(),
            statement_signature: s.statement_signature.clone(),
            agent_key_id: env.key_id.clone(),
            min_projects: s.min_projects,
            group: String::new(),
        });
        reports.push(r);
    }
    if items.is_empty() {
        return Err(CollectError::NoReports {
            period: period.into(),
            helper: helper_key_id,
        });
    }
    let mut batch = Batch {
        scope,
        request: pb::CollectRequest {
            batch_id: String::new(),
            period: period.into(),
            scope: scope_label(None),
            items,
            created_unix: now_unix,
        },
        reports,
        shares,
        groups: Vec::new(),
        without_shares,
        dropped: Vec::new(),
    };
    regroup(&mut batch, config_min_projects)?;
    Ok(batch)
}

/// (Re)forms the groups and the batch id after the items changed.
pub(super) fn regroup(batch: &mut Batch, config_min_projects: u32) -> Result<(), CollectError> {
    let min = required(
        config_min_projects,
        &batch.request.items.iter().collect::<Vec<_>>(),
    );
    let mut per_region: BTreeMap<String, usize> = BTreeMap::new();
    for r in &batch.reports {
        *per_region.entry(r.region.clone()).or_default() += 1;
    }
    let groups =
        plan_groups(&per_region, min as usize).ok_or_else(|| CollectError::TooFewProjects {
            period: batch.request.period.clone(),
            found: batch.reports.len(),
            required: min,
        })?;
    let group_of: BTreeMap<&str, &str> = groups
        .iter()
        .flat_map(|g| g.regions.iter().map(move |r| (r.as_str(), g.code.as_str())))
        .collect();
    for (item, r) in batch.request.items.iter_mut().zip(&batch.reports) {
        item.group = group_of
            .get(r.region.as_str())
            .copied()
            .unwrap_or_default()
            .to_string();
    }
    let mut lines: Vec<String> = batch
        .request
        .items
        .iter()
        .map(|i| format!("{}\t{}", i.group, i.report_id))
        .collect();
    lines.sort_unstable();
    let seed = format!(
        "{}\n{}\n{}",
        batch.request.period,
        batch.scope,
        lines.join("\n")
    );
    // Hex of the digest's first 16 bytes.
    let mut id = hex::encode(digest(&SHA256, seed.as_bytes()));
    id.truncate(32);
    batch.request.batch_id = id;
    batch.groups = groups;
    Ok(())
}
