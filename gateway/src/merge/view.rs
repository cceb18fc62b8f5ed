//! The view: what exports and the dashboard show for one scope and period,
//! and the heading that says where its exact cells come from.

use serde::Serialize;

use prikk_privacy::Definition;

use super::{
    Change, MergedTable, Scope, apply_collection, attach_noise, changes, for_scope, matching,
    sum_regions,
};
use crate::store::{Collection, Store, StoreError, StoredReport};

/// Where an export's exact cells come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The published project cells alone.
    Published,
    /// A secure-aggregation collection over the scope.
    Collection {
        /// Batch id.
        batch: String,
        /// Projects summed.
        projects: u32,
        /// Projects whose latest report is not the one summed, described.
        changed_since: Vec<String>,
        /// For a region shown through its group: every region of the group
        /// (small regions are merged so that each group has enough projects).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        merged_regions: Vec<String>,
    },
    /// Disjoint regional collections, summed (national scope only).
    Regions {
        /// Regions with a collection.
        collected: Vec<String>,
        /// Regions without one (their published project cells are summed).
        not_collected: Vec<String>,
        /// Projects whose latest report is not the one summed, described.
        changed_since: Vec<String>,
    },
}

/// What an export shows for one scope and period.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// Tables in definition order.
    pub tables: Vec<MergedTable>,
    /// Latest project reports in the scope.
    pub reports: usize,
    /// Where the exact cells come from.
    pub source: Source,
}

/// The tables a reader gets for a scope and period: the latest revisions
/// merged, the policy applied, noise parameters attached, then the
/// collection over the scope (or, nationally, the regional collections)
/// laid over them and brought up to date with later reports. `None` when a
/// project scope has no report.
pub fn view(
    store: &Store,
    definition: &Definition,
    period: &str,
    scope: &Scope,
    min_count: u32,
) -> Result<Option<View>, StoreError> {
    let reports = store.latest_reports(period)?;
    let Some(mut tables) = for_scope(definition, &reports, scope, min_count) else {
        return Ok(None);
    };
    attach_noise(store, &reports, scope, &mut tables)?;
    let in_region = |r: &&StoredReport, region: &str| r.region == region;
    let matching = matching(definition, &reports);
    let in_scope: Vec<&StoredReport> = matching
        .iter()
        .copied()
        .filter(|r| match scope {
            Scope::Project(p) => &r.project == p,
            Scope::Region(g) => in_region(r, g),
            Scope::National => true,
        })
        .collect();
    let collections = store.collections(period)?;
    let label = match scope {
        Scope::National => "national".to_string(),
        Scope::Region(r) => format!("region:{r}"),
        Scope::Project(_) => {
            return Ok(Some(View {
                tables,
                reports: in_scope.len(),
                source: Source::Published,
            }));
        }
    };
    // A region's collection may be its group with other small regions
    // (`region:agder+rogaland`): the view is then the group's.
    let group_of = |c: &&Collection| match (scope, c.scope.strip_prefix("region:")) {
        (Scope::Region(r), Some(g)) => g.split('+').any(|x| x == r),
        _ => false,
    };
    if let Some(col) = collections
        .iter()
        .find(|c| c.scope == label)
        .or_else(|| collections.iter().find(group_of))
    {
        let collected = store.reports_by_id(&col.report_ids)?;
        let group: Vec<&str> = col
            .scope
            .strip_prefix("region:")
            .map(|g| g.split('+').collect())
            .unwrap_or_default();
        let in_scope: Vec<&StoredReport> = match scope {
            Scope::Region(_) => matching
                .iter()
                .copied()
                .filter(|r| group.contains(&r.region.as_str()))
                .collect(),
            _ => in_scope,
        };
        if group.len() > 1 {
            tables = super::for_group(definition, &reports, &group, min_count);
            attach_noise(store, &reports, scope, &mut tables)?;
        }
        let changed = changes(&collected, &in_scope);
        apply_collection(&mut tables, col, &changed);
        return Ok(Some(View {
            tables,
            reports: in_scope.len(),
            source: Source::Collection {
                batch: col.batch_id.clone(),
                projects: col.projects,
                changed_since: changed.iter().map(Change::describe).collect(),
                merged_regions: if group.len() > 1 {
                    group.iter().map(|g| g.to_string()).collect()
                } else {
                    Vec::new()
                },
            },
        }));
    }
    let regional: Vec<&Collection> = collections
        .iter()
        .filter(|c| c.scope.starts_with("region:"))
        .collect();
    if *scope != Scope::National || regional.is_empty() {
        return Ok(Some(View {
            tables,
            reports: in_scope.len(),
            source: Source::Published,
        }));
    }
    // National from the regions: each collected region brought up to date,
    // the others as merged from their published project cells.
    let mut regions: Vec<String> = in_scope.iter().map(|r| r.region.clone()).collect();
    regions.extend(
        regional
            .iter()
            .map(|c| c.scope["region:".len()..].to_string()),
    );
    regions.sort();
    regions.dedup();
    let (mut collected_regions, mut not_collected, mut changed_since) = (vec![], vec![], vec![]);
    let mut per_region = Vec::with_capacity(regions.len());
    for region in &regions {
        let mut t = super::regional(definition, &reports, region, min_count);
        match regional
            .iter()
            .find(|c| c.scope == format!("region:{region}"))
        {
            Some(col) => {
                let collected = store.reports_by_id(&col.report_ids)?;
                let here: Vec<&StoredReport> = in_scope
                    .iter()
                    .copied()
                    .filter(|r| in_region(r, region))
                    .collect();
                let changed = changes(&collected, &here);
                apply_collection(&mut t, col, &changed);
                changed_since.extend(changed.iter().map(Change::describe));
                collected_regions.push(region.clone());
            }
            None => not_collected.push(region.clone()),
        }
        per_region.push(t);
    }
    let mut tables = sum_regions(definition, &per_region);
    attach_noise(store, &reports, scope, &mut tables)?;
    Ok(Some(View {
        tables,
        reports: in_scope.len(),
        source: Source::Regions {
            collected: collected_regions,
            not_collected,
            changed_since,
        },
    }))
}

/// The heading of a view of `included` project reports for `scope_name`
/// and `period`: where its exact cells come from and what changed since
/// they were collected. Exports and the dashboard show the same words.
pub fn heading(source: &Source, included: usize, scope_name: &str, period: &str) -> String {
    let since = |changed: &[String]| {
        if changed.is_empty() {
            String::new()
        } else {
            format!(
                "; since collected: {} (applied where published)",
                changed.join(", ")
            )
        }
    };
    match source {
        Source::Published => {
            format!("{scope_name}, {period} ({included} project report(s), latest revisions)")
        }
        Source::Collection {
            batch,
            projects,
            changed_since,
            merged_regions,
        } => format!(
            "{scope_name}, {period} ({included} project report(s), latest revisions; exact cells from secure aggregation over {projects} projects, batch {batch}{}{})",
            if merged_regions.is_empty() {
                String::new()
            } else {
                format!(
                    "; figures for the region group {} (each of these regions has too few projects on its own)",
                    merged_regions.join(" + ")
                )
            },
            since(changed_since)
        ),
        Source::Regions {
            collected,
            not_collected,
            changed_since,
        } => format!(
            "{scope_name}, {period} ({included} project report(s), latest revisions; exact cells from {} regional secure-aggregation collections{}{})",
            collected.len(),
            if not_collected.is_empty() {
                String::new()
            } else {
                format!("; not collected: {}", not_collected.join(", "))
            },
            since(changed_since)
        ),
    }
}
