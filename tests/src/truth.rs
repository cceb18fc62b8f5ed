//! The exact truth behind the protected reports, computed the way the
//! agent computes it before protection (its own ingest and aggregate
//! functions), and a check of merged national tables against it.

use std::collections::BTreeMap;

use municipality_agent::ingest::{IngestOptions, ingest_file};
use municipality_agent::period::Period;
use municipality_agent::tabulate::tabulate;
use prikk_gateway::merge::{MergedCell, MergedTable};
use prikk_gateway::store::StoredReport;
use prikk_privacy::{Definition, Measure, Table};

use crate::agent::AgentState;
use crate::error::HarnessError;

/// One project's exact, unprotected tables for a period, in the
/// definition's table order.
pub fn exact_tables(
    def: &Definition,
    agent: &AgentState,
    period: &str,
) -> Result<Vec<Table>, HarnessError> {
    let period = Period::parse(period)?;
    let opts = IngestOptions {
        project: Some(agent.project.clone()),
        as_of: Some(period.last),
    };
    let data = ingest_file(&agent.export, def, &opts)?;
    Ok(tabulate(def, &data, period.last)?)
}

/// Every project's exact tables for a period, by project id.
pub fn exact_by_project(
    def: &Definition,
    agents: &[AgentState],
    period: &str,
) -> Result<BTreeMap<String, Vec<Table>>, HarnessError> {
    agents
        .iter()
        .map(|a| Ok((a.project.clone(), exact_tables(def, a, period)?)))
        .collect()
}

/// What [`compare_national`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// National cells shown exactly (all equal to the truth, unless listed in `problems`).
    pub exact: usize,
    /// National cells shown as lower bounds.
    pub lower_bounds: usize,
    /// National cells suppressed by the national policy.
    pub suppressed: usize,
    /// Project cells checked against the project's truth.
    pub project_cells: usize,
    /// Every disagreement, in words.
    pub problems: Vec<String>,
}

/// Checks merged national tables against the truth:
/// - every published project cell equals that project's exact value;
/// - an exact national cell had every contribution published and equals
///   the sum of the true counts;
/// - a lower bound is never above the truth, counts the suppressed
///   contributions correctly, and is exactly the truth minus the suppressed
///   parts;
/// - a cell the national policy suppressed is truly small (1 to k-1 people).
///
/// The truth is summed over the projects that have a report in `reports`.
pub fn compare_national(
    def: &Definition,
    exact: &BTreeMap<String, Vec<Table>>,
    reports: &[StoredReport],
    national: &[MergedTable],
    min_count: u32,
) -> Comparison {
    let mut out = Comparison::default();
    let k = i64::from(min_count);
    for (ti, spec) in def.tables.iter().enumerate() {
        let id = &spec.shape.id;
        let Some(merged) = national.iter().find(|t| &t.shape.id == id) else {
            out.problems.push(format!("national table {id} is missing"));
            continue;
        };
        let is_sum = matches!(spec.shape.measure, Measure::Sum(_));
        for cell in 0..spec.shape.len() {
            let key = || spec.shape.key_codes(cell).join(",");
            let (mut truth, mut truth_people, mut hidden, mut hidden_sum) =
                (0i64, 0i64, 0u32, 0i64);
            for r in reports {
                let Some(project_exact) = exact.get(&r.project).and_then(|t| t.get(ti)) else {
                    out.problems
                        .push(format!("no exact tables for project {}", r.project));
                    continue;
                };
                let (v, c) = (project_exact.values[cell], project_exact.contributors[cell]);
                truth += v;
                truth_people += c;
                match r
                    .tables
                    .iter()
                    .find(|t| &t.id == id)
                    .and_then(|t| t.values.get(cell))
                {
                    Some(Some(published)) => {
                        out.project_cells += 1;
                        if *published != v {
                            out.problems.push(format!(
                                "{id}[{}]: project {} published {published}, its true value is {v}",
                                key(),
                                r.project
                            ));
                        }
                    }
                    Some(None) => {
                        hidden += 1;
                        hidden_sum += v;
                    }
                    // A report that sent this table only as secret
                    // shares publishes none of it: an unknown contribution.
                    None if !r.tables.iter().any(|t| &t.id == id) => {
                        hidden += 1;
                        hidden_sum += v;
                    }
                    None => out.problems.push(format!(
                        "{id}[{}]: project {} has no such cell",
                        key(),
                        r.project
                    )),
                }
            }
            match merged.cells.get(cell) {
                Some(MergedCell::Exact(v)) => {
                    out.exact += 1;
                    if hidden > 0 || *v != truth {
                        out.problems.push(format!(
                            "{id}[{}]: national {v} shown exact, truth {truth}, {hidden} contributions suppressed",
                            key()
                        ));
                    }
                }
                Some(MergedCell::LowerBound { value, suppressed }) => {
                    out.lower_bounds += 1;
                    if *value > truth || *suppressed != hidden || value + hidden_sum != truth {
                        out.problems.push(format!(
                            "{id}[{}]: lower bound {value} ({suppressed} suppressed), truth {truth} \
                             with {hidden} suppressed contributions worth {hidden_sum}",
                            key()
                        ));
                    }
                }
                Some(MergedCell::Suppressed) => {
                    out.suppressed += 1;
                    let people = if is_sum { truth_people } else { truth };
                    if hidden > 0 || !(1..k).contains(&people) {
                        out.problems.push(format!(
                            "{id}[{}]: national cell suppressed, but {people} people (k = {k}), {hidden} hidden parts",
                            key()
                        ));
                    }
                }
                None => out
                    .problems
                    .push(format!("{id}[{}]: national cell missing", key())),
            }
        }
    }
    out
}
