//! Protection of the regional and national tables together, and storage
//! of the protected cells only.

use std::collections::BTreeSet;

use prikk_privacy::geography::protect_geography;
use prikk_privacy::{Definition, Measure, Table};
use prikk_proto::pb;

use super::{
    Batch, CollectError, CollectSummary, Recombined, aggregate_policy, group_scope, shapes,
};
use crate::config::Config;
use crate::store::{Collection, NormalTable, Store};

fn protected_tables(exact: &[Table], hidden: &[Vec<bool>]) -> (Vec<NormalTable>, u32) {
    let mut suppressed = 0u32;
    let tables = exact
        .iter()
        .zip(hidden)
        .map(|(t, hidden)| {
            let show = |v: &[i64]| -> Vec<Option<i64>> {
                v.iter()
                    .zip(hidden)
                    .map(|(&v, &h)| (!h).then_some(v))
                    .collect()
            };
            suppressed += hidden.iter().filter(|&&h| h).count() as u32;
            NormalTable {
                id: t.shape.id.clone(),
                values: show(&t.values),
                contributors: matches!(t.shape.measure, Measure::Sum(_))
                    .then(|| show(&t.contributors)),
            }
        })
        .collect();
    (tables, suppressed)
}

/// Protects the regional and national tables together and stores only the
/// protected cells: the nation under scope `national`, each group under
/// `region:<group>` (with more than one group).
pub fn protect_and_store(
    store: &Store,
    def: &Definition,
    config: &Config,
    batch: Batch,
    answer: &pb::SignedMessage,
    rec: Recombined,
    now_unix: i64,
) -> Result<CollectSummary, CollectError> {
    let shapes = shapes(def);
    let policy = aggregate_policy(config);
    let p = protect_geography(&shapes, &rec.groups, &policy)?;
    let (tables, suppressed_cells) = protected_tables(&p.nation, &p.nation_suppressed);
    let cells = tables.iter().map(|t| t.values.len()).sum();
    let national = Collection {
        batch_id: batch.request.batch_id.clone(),
        period: batch.request.period.clone(),
        scope: batch.scope.clone(),
        report_ids: rec.answer.report_ids.clone(),
        projects: rec.answer.projects,
        collected_unix: now_unix,
        helper_key_id: answer.key_id.clone(),
        helper_signature: answer.signature.clone(),
        suppressed_cells,
        tables,
    };
    let national_suppressed = suppressed_cells as usize;
    let mut collections = vec![national];
    let (mut regional_cells, mut regional_suppressed) = (0usize, 0usize);
    if rec.groups.len() > 1 {
        for ((g, hidden), share) in rec
            .groups
            .iter()
            .zip(&p.groups_suppressed)
            .zip(&rec.answer.groups)
        {
            let (tables, suppressed_cells) = protected_tables(&g.tables, hidden);
            regional_cells += tables.iter().map(|t| t.values.len()).sum::<usize>();
            regional_suppressed += suppressed_cells as usize;
            collections.push(Collection {
                batch_id: format!("{}/{}", batch.request.batch_id, g.code),
                period: batch.request.period.clone(),
                scope: group_scope(&g.code),
                report_ids: share.report_ids.clone(),
                projects: share.projects,
                collected_unix: now_unix,
                helper_key_id: answer.key_id.clone(),
                helper_signature: answer.signature.clone(),
                suppressed_cells,
                tables,
            });
        }
    }
    store.store_collections(&collections)?;
    let projects: BTreeSet<&str> = batch.reports.iter().map(|r| r.project.as_str()).collect();
    let national_loss =
        prikk_privacy::suppress::loss::Loss::of_hidden(&p.nation, &p.nation_suppressed);
    tracing::info!(batch = %batch.request.batch_id, groups = batch.groups.len(), projects = projects.len(),
        national_suppressed, regional_suppressed, regions_withheld = p.regions_withheld,
        grand_totals_hidden = national_loss.grand_totals_hidden,
        one_way_margins_hidden = national_loss.one_way_hidden,
        "aggregate collected and stored");
    if p.audit.interval_skipped > 0 {
        tracing::info!(batch = %batch.request.batch_id, cells = p.audit.interval_skipped,
            largest_block = p.audit.interval_largest_block,
            "audit used bound propagation for blocks too large for integer programming");
    }
    Ok(CollectSummary {
        batch_id: batch.request.batch_id,
        scope: batch.scope,
        projects: projects.iter().map(|s| s.to_string()).collect(),
        groups: batch.groups,
        without_shares: batch.without_shares,
        dropped: batch.dropped,
        cells,
        checked: batch.reports.len(),
        national_suppressed,
        national_alone: p.national_alone,
        regional_cells,
        regional_suppressed,
        regions_withheld: p.regions_withheld,
        national_loss,
        engine_note: p.audit.engine_note(),
    })
}
