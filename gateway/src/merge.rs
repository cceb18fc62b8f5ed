//! Merging project reports into regional and national tables.
//!
//! A merged cell whose contributions were all published is exact. One with
//! suppressed contributions is only a lower bound: the sum of the published
//! parts, with the number of suppressed contributions beside it. The
//! national (or regional) policy is then applied to exact merged cells.
//!
//! Cells of reports made in a differential-privacy mode are noisy signed
//! counts; they are summed as they are (never clamped). Each merged cell with
//! noisy contributions gets a standard deviation from the public noise
//! parameters the reports carry ([`attach_noise`]): the noise of different
//! reports and cells is independent, so the variance is the sum of the
//! contributions' variances, and a margin (the sum of `n` noisy inner cells
//! of one report) contributes `n` times its mechanism's variance.
//!
//! Exact regional and national cells come only from secure-aggregation
//! collections, which the leader protected jointly with the published
//! project cells (`prikk_privacy::levels`) before storing them; [`view`]
//! lays them over the merged tables and brings them up to date with
//! reports that arrived or were corrected after the collection, using only
//! published cells.

use std::collections::HashMap;
use std::sync::Arc;

use prikk_privacy::dp::DpMechanism;
use prikk_privacy::{Definition, Measure, TableShape};
use prikk_proto::pb;
use serde::Serialize;

use crate::store::{Collection, Store, StoreError, StoredReport};

/// One cell of a merged (or project) table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MergedCell {
    /// Every contribution was published: the exact value.
    Exact(i64),
    /// At least `value`: the sum of the published parts; `suppressed`
    /// contributions were not published.
    LowerBound {
        /// Sum of the published contributions.
        value: i64,
        /// Number of suppressed contributions.
        suppressed: u32,
    },
    /// Not shown for confidentiality.
    Suppressed,
}

/// A merged table in the definition's cell order.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedTable {
    /// Shape.
    pub shape: Arc<TableShape>,
    /// Human title.
    pub title: String,
    /// Cells.
    pub cells: Vec<MergedCell>,
    /// Contributors per cell for sum tables (exact cells only).
    pub contributors: Option<Vec<Option<i64>>>,
    /// Standard deviation of the noise per cell, for cells with contributions
    /// from differentially private reports (`None` when no report was noisy).
    pub sd: Option<Vec<Option<f64>>>,
}

/// z of the two-sided 90 % normal interval.
pub const Z90: f64 = 1.644_853_626_951_472_2;

impl MergedTable {
    /// The 90 % interval `value ± 1.645 sd` of a noisy published cell
    /// (normal approximation of the summed noise), unclamped.
    pub fn ci90(&self, cell: usize) -> Option<(f64, f64)> {
        let sd = self.sd.as_ref()?.get(cell).copied().flatten()?;
        let v = match self.cells.get(cell)? {
            MergedCell::Exact(v) => *v,
            MergedCell::LowerBound { value, .. } => *value,
            MergedCell::Suppressed => return None,
        };
        let v = v as f64;
        Some((v - Z90 * sd, v + Z90 * sd))
    }
}

/// The public noise parameters of one report: per table, the mechanism of
/// its values. Empty for a report made by suppression only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportNoise {
    /// Table id → mechanism of its values.
    pub tables: HashMap<String, DpMechanism>,
}

impl ReportNoise {
    /// Reads the parameters from a decoded report (verified at intake).
    pub fn of(report: &pb::Report) -> Result<Self, String> {
        let mut tables = HashMap::new();
        let method = report.policy.as_ref().map_or("", |p| p.method.as_str());
        if method == "suppression" {
            return Ok(Self { tables });
        }
        for t in &report.tables {
            if let Some(dp) = &t.dp {
                let m = DpMechanism::parse(&dp.mechanism, &dp.scale)
                    .map_err(|e| format!("table {}: {e}", t.id))?;
                tables.insert(t.id.clone(), m);
            }
        }
        Ok(Self { tables })
    }
}

/// Sets each merged cell's standard deviation from the noise of the reports
/// that contributed a published value to it. `reports` pairs each merged
/// report with its noise; reports without noise add nothing. Suppressed
/// merged cells get none.
pub fn add_sd(tables: &mut [MergedTable], reports: &[(&StoredReport, &ReportNoise)]) {
    for t in tables {
        let n = t.cells.len();
        let mut var = vec![0f64; n];
        let mut noisy = vec![false; n];
        for (r, noise) in reports {
            let Some(m) = noise.tables.get(&t.shape.id) else {
                continue;
            };
            let Some(rt) = r.tables.iter().find(|x| x.id == t.shape.id) else {
                continue;
            };
            if rt.values.len() != n {
                continue;
            }
            let v = m.variance();
            for (i, value) in rt.values.iter().enumerate() {
                if value.is_some() {
                    let inner = if t.shape.is_inner(i) {
                        1
                    } else {
                        t.shape.inner_cells_under(i).len()
                    };
                    var[i] += v * inner as f64;
                    noisy[i] = true;
                }
            }
        }
        if noisy.iter().any(|&b| b) {
            t.sd = Some(
                (0..n)
                    .map(|i| {
                        (noisy[i] && !matches!(t.cells[i], MergedCell::Suppressed))
                            .then(|| var[i].sqrt())
                    })
                    .collect(),
            );
        }
    }
}

/// Reads the public noise parameters of the scope's reports from their
/// stored envelopes and sets the merged cells' standard deviations.
pub fn attach_noise(
    store: &Store,
    reports: &[StoredReport],
    scope: &Scope,
    tables: &mut [MergedTable],
) -> Result<(), StoreError> {
    let in_scope = reports.iter().filter(|r| match scope {
        Scope::Project(p) => &r.project == p,
        Scope::Region(g) => &r.region == g,
        Scope::National => true,
    });
    let mut noises = Vec::new();
    for r in in_scope {
        let Some(bytes) = store.envelope(&r.report_id)? else {
            continue;
        };
        let corrupt = |e: String| StoreError::Corrupt(format!("report {}: {e}", r.report_id));
        let env: pb::SignedReport =
            prikk_proto::decode_exact(&bytes, "envelope").map_err(|e| corrupt(e.to_string()))?;
        let report: pb::Report =
            prikk_proto::decode_exact(&env.report, "report").map_err(|e| corrupt(e.to_string()))?;
        let noise = ReportNoise::of(&report).map_err(corrupt)?;
        if !noise.tables.is_empty() {
            noises.push((r, noise));
        }
    }
    let pairs: Vec<(&StoredReport, &ReportNoise)> = noises.iter().map(|(r, n)| (*r, n)).collect();
    add_sd(tables, &pairs);
    Ok(())
}

/// Which reports a merge covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One project's latest report, as it published it.
    Project(String),
    /// Every project in a region.
    Region(String),
    /// Every project.
    National,
}

/// Reports whose definition is not `definition` are left out; the caller
/// can compare counts to tell the user.
fn matching<'a>(definition: &Definition, reports: &'a [StoredReport]) -> Vec<&'a StoredReport> {
    reports
        .iter()
        .filter(|r| r.definition_id == definition.id && r.definition_version == definition.version)
        .collect()
}

/// Sums the latest reports cell by cell, without any policy.
pub fn merge(definition: &Definition, reports: &[&StoredReport]) -> Vec<MergedTable> {
    definition
        .tables
        .iter()
        .map(|spec| {
            let shape = spec.shape.clone();
            let n = shape.len();
            let mut sum = vec![0i64; n];
            let mut suppressed = vec![0u32; n];
            let is_sum = matches!(shape.measure, Measure::Sum(_));
            let mut contributors = vec![0i64; n];
            for r in reports {
                // A table the report does not publish (one sent only as
                // secret shares) is an unknown contribution to every cell.
                let Some(t) = r.tables.iter().find(|t| t.id == shape.id) else {
                    suppressed.iter_mut().for_each(|s| *s += 1);
                    continue;
                };
                if t.values.len() != n {
                    suppressed.iter_mut().for_each(|s| *s += 1);
                    continue;
                }
                for (i, v) in t.values.iter().enumerate() {
                    match v {
                        Some(v) => sum[i] += v,
                        None => suppressed[i] += 1,
                    }
                }
                if let Some(c) = &t.contributors {
                    for (i, c) in c.iter().enumerate().take(n) {
                        contributors[i] += c.unwrap_or(0);
                    }
                }
            }
            let cells = sum
                .iter()
                .zip(&suppressed)
                .map(|(&value, &s)| {
                    if s == 0 {
                        MergedCell::Exact(value)
                    } else {
                        MergedCell::LowerBound {
                            value,
                            suppressed: s,
                        }
                    }
                })
                .collect::<Vec<_>>();
            let contributors = is_sum.then(|| {
                cells
                    .iter()
                    .zip(&contributors)
                    .map(|(c, &n)| matches!(c, MergedCell::Exact(_)).then_some(n))
                    .collect()
            });
            MergedTable {
                shape,
                title: spec.title.clone(),
                cells,
                contributors,
                sd: None,
            }
        })
        .collect()
}

/// Applies the primary rule to exact merged cells: a count of 1..k-1, or a
/// sum with fewer than k contributors, becomes `:`.
pub fn apply_policy(tables: &mut [MergedTable], min_count: u32) {
    let k = i64::from(min_count);
    for t in tables {
        let is_sum = matches!(t.shape.measure, Measure::Sum(_));
        for i in 0..t.cells.len() {
            if let MergedCell::Exact(v) = t.cells[i] {
                let n = if is_sum {
                    t.contributors.as_ref().and_then(|c| c[i]).unwrap_or(0)
                } else {
                    v
                };
                if n >= 1 && n < k {
                    t.cells[i] = MergedCell::Suppressed;
                    if let Some(c) = t.contributors.as_mut() {
                        c[i] = None;
                    }
                }
            }
        }
    }
}

/// The national tables for a period: every project's latest report merged,
/// then the national policy applied.
pub fn national(
    definition: &Definition,
    reports: &[StoredReport],
    min_count: u32,
) -> Vec<MergedTable> {
    let mut t = merge(definition, &matching(definition, reports));
    apply_policy(&mut t, min_count);
    t
}

/// The tables of one region, merged like the national ones.
pub fn regional(
    definition: &Definition,
    reports: &[StoredReport],
    region: &str,
    min_count: u32,
) -> Vec<MergedTable> {
    for_group(definition, reports, &[region], min_count)
}

/// The latest reports of several regions merged (a region group), with the
/// policy applied.
pub fn for_group(
    definition: &Definition,
    reports: &[StoredReport],
    regions: &[&str],
    min_count: u32,
) -> Vec<MergedTable> {
    let rs: Vec<&StoredReport> = matching(definition, reports)
        .into_iter()
        .filter(|r| regions.contains(&r.region.as_str()))
        .collect();
    let mut t = merge(definition, &rs);
    apply_policy(&mut t, min_count);
    t
}

/// One project's latest report as it was published (`:` where it suppressed).
pub fn project(definition: &Definition, report: &StoredReport) -> Vec<MergedTable> {
    let by_id: HashMap<&str, _> = report.tables.iter().map(|t| (t.id.as_str(), t)).collect();
    definition
        .tables
        .iter()
        .filter_map(|spec| {
            let t = by_id.get(spec.shape.id.as_str())?;
            let cells = t
                .values
                .iter()
                .map(|v| v.map_or(MergedCell::Suppressed, MergedCell::Exact))
                .collect();
            Some(MergedTable {
                shape: spec.shape.clone(),
                title: spec.title.clone(),
                cells,
                contributors: t.contributors.clone(),
                sd: None,
            })
        })
        .collect()
}

/// A project whose latest report in a scope is not the report a collection
/// summed: corrected since, reported after it, or moved out of the scope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change<'a> {
    /// The report the collection summed, `None` when it had none.
    pub collected: Option<&'a StoredReport>,
    /// The project's latest report in the scope, `None` when it has left it.
    pub latest: Option<&'a StoredReport>,
}

impl Change<'_> {
    /// The project.
    pub fn project(&self) -> &str {
        self.latest
            .or(self.collected)
            .map_or("", |r| r.project.as_str())
    }

    /// What changed, for a reader: `bergen: revision 2 (collected: 1)`.
    pub fn describe(&self) -> String {
        match (self.collected, self.latest) {
            (Some(c), Some(l)) => format!(
                "{}: revision {} (collected: {})",
                l.project, l.revision, c.revision
            ),
            (None, Some(l)) => format!("{}: reported after the collection", l.project),
            (Some(c), None) => format!("{}: no longer in this scope", c.project),
            (None, None) => String::new(),
        }
    }
}

/// The changes between the reports a collection summed (`collected`) and
/// the scope's latest reports, by project.
pub fn changes<'a>(collected: &'a [StoredReport], latest: &[&'a StoredReport]) -> Vec<Change<'a>> {
    let mut by_project: std::collections::BTreeMap<&str, Change<'a>> = Default::default();
    for r in collected {
        by_project
            .entry(&r.project)
            .or_insert(Change {
                collected: None,
                latest: None,
            })
            .collected = Some(r);
    }
    for &r in latest {
        by_project
            .entry(&r.project)
            .or_insert(Change {
                collected: None,
                latest: None,
            })
            .latest = Some(r);
    }
    by_project
        .into_values()
        .filter(|c| match (c.collected, c.latest) {
            (Some(a), Some(b)) => a.report_id != b.report_id,
            _ => true,
        })
        .collect()
}

/// One table's cell `i` in a report: `None` when the report is absent
/// (contributes nothing), `Some(None)` when suppressed or unreadable.
fn report_cell(r: Option<&StoredReport>, id: &str, i: usize) -> Option<Option<(i64, Option<i64>)>> {
    let r = r?;
    let t = r.tables.iter().find(|t| t.id == id);
    Some(t.and_then(|t| {
        let v = (*t.values.get(i)?)?;
        let c = t
            .contributors
            .as_ref()
            .and_then(|c| c.get(i).copied().flatten());
        Some((v, c))
    }))
}

/// Puts a collected (secure-aggregation) aggregate over the merged tables of
/// the same scope.
///
/// Where the collection published a cell, the cell is the collected value
/// brought up to date with `changes` (the projects whose latest report is
/// not the one summed): a change both of whose sides are published is
/// applied exactly; a latest report that suppressed the cell leaves a lower
/// bound with one more suppressed contribution; a collected report that
/// suppressed it leaves the difference unknown, and the cell keeps the lower
/// bound from the published project cells. Where the joint protection
/// suppressed a cell, the lower bound from the published project cells
/// stays, and an exact sum of published cells becomes `:` (it would tell
/// the suppressed aggregate cell). Nothing shown is more than the
/// collection and the published project cells already tell.
pub fn apply_collection(
    tables: &mut [MergedTable],
    collection: &Collection,
    changes: &[Change<'_>],
) {
    for t in tables {
        let Some(c) = collection.tables.iter().find(|c| c.id == t.shape.id) else {
            continue;
        };
        if c.values.len() != t.cells.len() {
            continue;
        }
        let id = t.shape.id.clone();
        for (i, v) in c.values.iter().enumerate() {
            let Some(a) = *v else {
                // Hidden by the collection's protection: shown as `:`,
                // unless published project cells give a bound above 0.
                if matches!(
                    t.cells[i],
                    MergedCell::Exact(_) | MergedCell::LowerBound { value: 0, .. }
                ) {
                    t.cells[i] = MergedCell::Suppressed;
                    if let Some(out) = t.contributors.as_mut() {
                        out[i] = None;
                    }
                }
                continue;
            };
            let mut value = a;
            let mut contributors = c
                .contributors
                .as_ref()
                .and_then(|cc| cc.get(i).copied().flatten());
            let mut hidden = 0u32;
            let mut known = true;
            for ch in changes {
                match report_cell(ch.collected, &id, i) {
                    None => {}
                    Some(Some((o, oc))) => {
                        value -= o;
                        contributors = contributors.zip(oc).map(|(a, b)| a - b);
                    }
                    Some(None) => known = false,
                }
                match report_cell(ch.latest, &id, i) {
                    None => {}
                    Some(Some((n, nc))) => {
                        value += n;
                        contributors = contributors.zip(nc).map(|(a, b)| a + b);
                    }
                    Some(None) => hidden += 1,
                }
            }
            if !known {
                continue;
            }
            t.cells[i] = if hidden == 0 {
                MergedCell::Exact(value)
            } else {
                MergedCell::LowerBound {
                    value,
                    suppressed: hidden,
                }
            };
            if let Some(out) = t.contributors.as_mut() {
                out[i] = if hidden == 0 { contributors } else { None };
            }
        }
    }
}

/// Sums regional tables into national ones: a cell is exact where every
/// region's cell is exact, otherwise the sum of the known parts is a lower
/// bound, with the regions' suppressed contributions added up (a region's
/// `:` counts as one). Nothing here is more than the regional tables
/// already tell.
pub fn sum_regions(definition: &Definition, regions: &[Vec<MergedTable>]) -> Vec<MergedTable> {
    definition
        .tables
        .iter()
        .map(|spec| {
            let shape = spec.shape.clone();
            let n = shape.len();
            let mut sum = vec![0i64; n];
            let mut hidden = vec![0u32; n];
            for region in regions {
                match region.iter().find(|t| t.shape.id == shape.id) {
                    Some(t) if t.cells.len() == n => {
                        for (i, cell) in t.cells.iter().enumerate() {
                            match *cell {
                                MergedCell::Exact(v) => sum[i] += v,
                                MergedCell::LowerBound { value, suppressed } => {
                                    sum[i] += value;
                                    hidden[i] += suppressed;
                                }
                                MergedCell::Suppressed => hidden[i] += 1,
                            }
                        }
                    }
                    _ => hidden.iter_mut().for_each(|h| *h += 1),
                }
            }
            let cells = sum
                .iter()
                .zip(&hidden)
                .map(|(&value, &h)| {
                    if h == 0 {
                        MergedCell::Exact(value)
                    } else {
                        MergedCell::LowerBound {
                            value,
                            suppressed: h,
                        }
                    }
                })
                .collect();
            MergedTable {
                shape,
                title: spec.title.clone(),
                cells,
                contributors: None,
                sd: None,
            }
        })
        .collect()
}

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
            tables = for_group(definition, &reports, &group, min_count);
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
        let mut t = self::regional(definition, &reports, region, min_count);
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
        } => format!(
            "{scope_name}, {period} ({included} project report(s), latest revisions; exact cells from secure aggregation over {projects} projects, batch {batch}{})",
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

/// The tables for a scope, or `None` when a project has no report.
pub fn for_scope(
    definition: &Definition,
    reports: &[StoredReport],
    scope: &Scope,
    min_count: u32,
) -> Option<Vec<MergedTable>> {
    match scope {
        Scope::National => Some(national(definition, reports, min_count)),
        Scope::Region(r) => Some(regional(definition, reports, r, min_count)),
        Scope::Project(p) => reports
            .iter()
            .find(|r| &r.project == p)
            .map(|r| project(definition, r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NormalTable;

    fn report(
        project: &str,
        region: &str,
        def: &Definition,
        f: impl Fn(&str, usize) -> Option<i64>,
    ) -> StoredReport {
        StoredReport {
            report_id: format!("r-{project}"),
            project: project.into(),
            region: region.into(),
            period: "2006".into(),
            revision: 1,
            accepted_unix: 0,
            definition_id: def.id.clone(),
            definition_version: def.version,
            tables: def
                .tables
                .iter()
                .map(|t| NormalTable {
                    id: t.shape.id.clone(),
                    values: (0..t.shape.len()).map(|i| f(&t.shape.id, i)).collect(),
                    contributors: matches!(t.shape.measure, Measure::Sum(_))
                        .then(|| (0..t.shape.len()).map(|i| f(&t.shape.id, i)).collect()),
                })
                .collect(),
        }
    }

    fn collection(
        def: &Definition,
        scope: &str,
        reports: &[&StoredReport],
        hide: &[usize],
    ) -> Collection {
        let status = def.table("status").unwrap().shape.clone();
        let summed = merge(def, reports);
        let st = summed.iter().find(|t| t.shape.id == "status").unwrap();
        Collection {
            batch_id: scope.into(),
            period: "2006".into(),
            scope: scope.into(),
            report_ids: reports.iter().map(|r| r.report_id.clone()).collect(),
            projects: reports.len() as u32,
            collected_unix: 0,
            helper_key_id: String::new(),
            helper_signature: Vec::new(),
            suppressed_cells: hide.len() as u32,
            tables: vec![NormalTable {
                id: "status".into(),
                // The collection's exact values stand in for the true sums.
                values: (0..status.len())
                    .map(|i| match st.cells[i] {
                        _ if hide.contains(&i) => None,
                        MergedCell::Exact(v) | MergedCell::LowerBound { value: v, .. } => {
                            Some(v + 100)
                        }
                        MergedCell::Suppressed => None,
                    })
                    .collect(),
                contributors: None,
            }],
        }
    }

    #[test]
    fn national_from_disjoint_regional_collections() {
        let def = Definition::embedded();
        let a = report("a", "vest", &def, |_, _| Some(1));
        let b = report("b", "ost", &def, |_, _| Some(2));
        let region = |r: &StoredReport, col: &Collection| {
            let mut t = regional(&def, std::slice::from_ref(r), &r.region, 1);
            apply_collection(&mut t, col, &[]);
            t
        };
        let ca = collection(&def, "region:vest", &[&a], &[]);
        let cb = collection(&def, "region:ost", &[&b], &[0]);
        let cb_all = collection(&def, "region:ost", &[&b], &[]);
        let both = sum_regions(&def, &[region(&a, &ca), region(&b, &cb_all)]);
        let st = both.iter().find(|t| t.shape.id == "status").unwrap();
        assert_eq!(st.cells[0], MergedCell::Exact(101 + 102));
        let one_hidden = sum_regions(&def, &[region(&a, &ca), region(&b, &cb)]);
        let st = one_hidden.iter().find(|t| t.shape.id == "status").unwrap();
        // Region ost's total is hidden by its collection; its published
        // project cell would tell it, so it counts as one suppressed part.
        assert_eq!(
            st.cells[0],
            MergedCell::LowerBound {
                value: 101,
                suppressed: 1
            }
        );
        assert_eq!(st.cells[1], MergedCell::Exact(203));
        // A table no collection carries sums the published project cells.
        let other = one_hidden.iter().find(|t| t.shape.id != "status").unwrap();
        assert_eq!(other.cells[0], MergedCell::Exact(3));
    }

    /// The status table's cells of women who left for a birth and who moved.
    fn births_and_moves(def: &Definition) -> (usize, usize) {
        let status = &def.table("status").unwrap().shape;
        let cell = |code: &str| status.cell_by_codes(&[code, "female"]).unwrap();
        (
            cell("admitted.terminated.birth"),
            cell("admitted.terminated.moved"),
        )
    }

    #[test]
    fn a_collection_is_brought_up_to_date_with_later_reports() {
        let def = Definition::embedded();
        let (births, moved) = births_and_moves(&def);
        let total = 0;
        let cell = |b: Option<i64>, m: Option<i64>, t: i64| {
            move |id: &str, i: usize| match (id, i) {
                ("status", i) if i == births => b,
                ("status", i) if i == moved => m,
                ("status", 0) => Some(t),
                _ => Some(0),
            }
        };
        let a1 = report("a", "vest", &def, cell(None, Some(7), 50));
        let b1 = report("b", "vest", &def, cell(Some(6), Some(5), 40));
        let col = collection(&def, "national", &[&a1, &b1], &[]);
        // a corrects (one more move, births still hidden), c reports late.
        let mut a2 = report("a", "vest", &def, cell(None, Some(8), 51));
        a2.report_id = "r-a-2".into();
        a2.revision = 2;
        let c = report("c", "ost", &def, cell(Some(9), None, 30));
        let latest = vec![a2, b1.clone(), c];
        let refs: Vec<&StoredReport> = latest.iter().collect();
        let collected = vec![a1.clone(), b1.clone()];
        let ch = changes(&collected, &refs);
        assert_eq!(
            ch.iter().map(Change::describe).collect::<Vec<_>>(),
            [
                "a: revision 2 (collected: 1)",
                "c: reported after the collection"
            ]
        );
        let mut t = national(&def, &latest, 5);
        apply_collection(&mut t, &col, &ch);
        let st = t.iter().find(|t| t.shape.id == "status").unwrap();
        // Total: collected 90 (+100 in this fake), a +1, c +30: exact.
        assert_eq!(st.cells[total], MergedCell::Exact(190 + 1 + 30));
        // Moves: collected 12 (+100), a +1, c suppressed: a lower bound.
        assert_eq!(
            st.cells[moved],
            MergedCell::LowerBound {
                value: 112 + 1,
                suppressed: 1
            }
        );
        // Births: a suppressed them in the collected revision, so the change
        // is unknown: the lower bound from the published cells stays.
        assert_eq!(
            st.cells[births],
            MergedCell::LowerBound {
                value: 6 + 9,
                suppressed: 1
            }
        );
        // Nothing changed: the collection as it is.
        let mut t = national(&def, &[a1.clone(), b1.clone()], 5);
        let none = changes(&collected, &[&a1, &b1]);
        assert!(none.is_empty());
        apply_collection(&mut t, &col, &none);
        let st = t.iter().find(|t| t.shape.id == "status").unwrap();
        assert_eq!(st.cells[total], MergedCell::Exact(190));
        assert_eq!(st.cells[moved], MergedCell::Exact(112));
        // A cell the collection hid stays hidden although both projects
        // published it: their sum would tell it.
        let hid = collection(&def, "national", &[&a1, &b1], &[moved]);
        let mut t = national(&def, &[a1.clone(), b1.clone()], 5);
        apply_collection(&mut t, &hid, &none);
        let st = t.iter().find(|t| t.shape.id == "status").unwrap();
        assert_eq!(st.cells[moved], MergedCell::Suppressed);
    }

    #[test]
    fn exact_lower_bound_and_national_policy() {
        let def = Definition::embedded();
        let (births, moved) = births_and_moves(&def);
        // Project a suppresses births and publishes 5 moved; b publishes 6 births.
        let a = report("a", "vest", &def, |t, i| {
            if t == "status" && i == births {
                None
            } else if t == "status" && i == moved {
                Some(5)
            } else {
                Some(0)
            }
        });
        let b = report("b", "ost", &def, |t, i| {
            if t == "status" && i == births {
                Some(6)
            } else {
                Some(0)
            }
        });
        let reports = vec![a, b];
        let nat = national(&def, &reports, 5);
        let st = nat.iter().find(|t| t.shape.id == "status").unwrap();
        assert_eq!(
            st.cells[births],
            MergedCell::LowerBound {
                value: 6,
                suppressed: 1
            }
        );
        assert_eq!(st.cells[moved], MergedCell::Exact(5));
        let west = regional(&def, &reports, "vest", 5);
        let st = west.iter().find(|t| t.shape.id == "status").unwrap();
        assert_eq!(
            st.cells[births],
            MergedCell::LowerBound {
                value: 0,
                suppressed: 1
            }
        );
        let mut small = merge(&def, &reports.iter().collect::<Vec<_>>());
        // A merged exact 3 (which no project published alone) is suppressed nationally.
        small[0].cells[moved] = MergedCell::Exact(3);
        apply_policy(&mut small, 5);
        assert_eq!(small[0].cells[moved], MergedCell::Suppressed);
        let proj = for_scope(&def, &reports, &Scope::Project("a".into()), 5).unwrap();
        assert_eq!(proj[0].cells[births], MergedCell::Suppressed);
        assert!(for_scope(&def, &reports, &Scope::Project("zz".into()), 5).is_none());
    }

    #[test]
    fn sums_are_judged_by_contributors() {
        let def = Definition::embedded();
        let a = report("a", "vest", &def, |t, _| {
            if t == "children" { Some(3) } else { Some(0) }
        });
        let nat = national(&def, &[a], 5);
        let ch = nat.iter().find(|t| t.shape.id == "children").unwrap();
        assert!(
            ch.cells.iter().all(|c| *c == MergedCell::Suppressed),
            "3 contributors < k"
        );
    }
}
