//! The preview document: what would leave, in the shape of its JSON form,
//! built from the wire report itself so that what is shown is what would be
//! signed.

use std::collections::BTreeMap;

use prikk_privacy::definition::Definition;
use prikk_proto::pb;
use serde::Serialize;

use crate::outbox::BudgetStatus;
use crate::report::Prepared;

/// The preview document, in the shape of its JSON form.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// Content-derived report id.
    pub report_id: String,
    /// SHA-256 (hex) of the payload that would be signed at `created_unix`.
    pub payload_sha256: String,
    /// The creation time the payload hash is for.
    pub created_unix: i64,
    /// Project.
    pub project: String,
    /// Period.
    pub period: String,
    /// Definition id and version.
    pub definition: DefinitionRef,
    /// How the tables leave: protected per project, or only as secret shares.
    pub release: ReleaseView,
    /// The protection policy.
    pub policy: PolicyView,
    /// The input file and how it was read.
    pub input: InputView,
    /// Names of the columns dropped on read.
    pub dropped_columns: Vec<String>,
    /// Problems of rejected rows, by line and column; never values.
    pub rejected_rows: Vec<RejectedView>,
    /// Suppressed quantities.
    pub suppression: SuppressionView,
    /// The disclosure audit.
    pub audit: AuditView,
    /// Every table, as it would leave.
    pub tables: Vec<TableView>,
    /// The dp modes: loss, noise parameters and budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dp: Option<DpView>,
}

/// How the report's tables leave the municipality, in words a data
/// protection officer reads, per table.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseView {
    /// `protected_tables` or `secret_shares_only`.
    pub mode: String,
    /// The mode in one sentence.
    pub statement: String,
    /// The fewest projects a share may be summed with (secret shares only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_projects: Option<u32>,
    /// Per table of the definition: its level and what that means here.
    pub tables: Vec<TableRelease>,
}

/// One table's release.
#[derive(Debug, Clone, Serialize)]
pub struct TableRelease {
    /// Table id.
    pub id: String,
    /// `project` or `aggregate`, as the definition declares it.
    pub level: String,
    /// What leaves of it, in words.
    pub leaves: String,
}

impl ReleaseView {
    fn new(def: &Definition, shared: bool, min_projects: Option<u32>) -> Self {
        let n = min_projects.map_or_else(
            || "the helper's minimum number of".to_string(),
            |n| n.to_string(),
        );
        let leaves = |level: prikk_privacy::definition::Release| match (shared, level) {
            (true, _) => format!(
                "leaves only as secret shares; the directorate sees it summed over at least {n} projects"
            ),
            (false, prikk_privacy::definition::Release::Aggregate) => {
                "released at aggregate level, but no secure-aggregation helper is configured: \
                 leaves protected (suppressed cells shown as `:`), per project"
                    .to_string()
            }
            (false, _) => {
                "leaves protected (suppressed cells shown as `:`), per project".to_string()
            }
        };
        Self {
            mode: if shared {
                "secret_shares_only"
            } else {
                "protected_tables"
            }
            .to_string(),
            statement: if shared {
                format!(
                    "secure aggregation: no table of this project is published; its exact tables \
                     leave only as two secret shares (one sealed to the independent helper), and \
                     the directorate sees them only summed over region groups of at least {n} projects"
                )
            } else {
                "every table leaves protected, per project (no secure-aggregation helper configured)"
                    .to_string()
            },
            min_projects,
            tables: def
                .tables
                .iter()
                .map(|t| TableRelease {
                    id: t.shape.id.clone(),
                    level: t.release.as_str().to_string(),
                    leaves: leaves(t.release),
                })
                .collect(),
        }
    }
}

/// What a dp-mode report spends and how it is noised.
#[derive(Debug, Clone, Serialize)]
pub struct DpView {
    /// The loss, e.g. `ε = 0.5`.
    pub loss: String,
    /// `epsilon` or `rho`.
    pub unit: String,
    /// The amount, exact.
    pub amount: String,
    /// Per table: public noise parameters.
    pub tables: Vec<DpTableView>,
    /// The project's budget as the ledger stands (when known).
    pub budget: Option<BudgetView>,
}

/// A table's public noise parameters.
#[derive(Debug, Clone, Serialize)]
pub struct DpTableView {
    /// Table id.
    pub id: String,
    /// Mechanism name.
    pub mechanism: String,
    /// Scale (Laplace) or σ² (Gaussian) of the values' noise.
    pub scale: String,
    /// The same for the contributor counts of a sum table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contributors_scale: Option<String>,
    /// Share of the report's loss.
    pub loss: String,
}

/// Spent and remaining budget of the project in the period's year.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetView {
    /// Budget year.
    pub year: i32,
    /// The annual budget.
    pub annual: String,
    /// Spent so far this year.
    pub spent: String,
    /// Left before this report.
    pub remaining: String,
    /// Left after sending this report, or null when it would not fit.
    pub remaining_after: Option<String>,
    /// Releases charged this year.
    pub releases: usize,
}

impl Preview {
    /// States the agent's floor on projects per group (secret shares only).
    pub fn with_min_projects(mut self, def: &Definition, min_projects: u32) -> Self {
        if self.release.mode == "secret_shares_only" {
            self.release = ReleaseView::new(def, true, Some(min_projects));
        }
        self
    }

    /// Adds the ledger's budget status (dp modes only).
    pub fn with_budget(mut self, status: &BudgetStatus) -> Self {
        if let Some(d) = self.dp.as_mut() {
            let after = d
                .amount
                .parse::<prikk_privacy::dp::Rational>()
                .ok()
                .filter(|a| *a <= status.remaining)
                .and_then(|a| status.remaining.checked_sub(a).ok());
            d.budget = Some(BudgetView {
                year: status.year,
                annual: status.budget.amount().to_string(),
                spent: status.spent.to_string(),
                remaining: status.remaining.to_string(),
                remaining_after: after.map(|a| a.to_string()),
                releases: status.releases,
            });
        }
        self
    }
}

/// Definition id and version.
#[derive(Debug, Clone, Serialize)]
pub struct DefinitionRef {
    /// Id.
    pub id: String,
    /// Version.
    pub version: u32,
}

/// The policy in force.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyView {
    /// Protection method.
    pub method: String,
    /// Smallest count published (k).
    pub min_count: u32,
    /// Zeros suppressed too.
    pub protect_zeros: bool,
    /// Narrowest interval an attacker may compute.
    pub min_interval_width: u32,
    /// Singletons treated as known to their member.
    pub singletons: bool,
}

/// How the input was read.
#[derive(Debug, Clone, Serialize)]
pub struct InputView {
    /// File.
    pub file: String,
    /// Decoding used.
    pub decoding: String,
    /// Delimiter.
    pub delimiter: String,
    /// Data rows.
    pub rows_read: usize,
    /// Rows accepted.
    pub rows_accepted: usize,
    /// Rows rejected.
    pub rows_rejected: usize,
    /// Rows of other projects, skipped.
    pub rows_other_projects: usize,
    /// Allowlisted optional columns missing from the file.
    pub absent_columns: Vec<String>,
}

/// One problem of a rejected row.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedView {
    /// Physical line (header = 1).
    pub line: u64,
    /// Column, or null for the whole row.
    pub column: Option<String>,
    /// Why.
    pub reason: String,
}

/// Suppression counts (distinct quantities) and what is left to publish.
#[derive(Debug, Clone, Serialize)]
pub struct SuppressionView {
    /// By the minimum-count rule.
    pub primary: usize,
    /// To protect those.
    pub secondary: usize,
    /// Table cells that would leave with a value (margins included).
    pub published_cells: usize,
    /// All table cells of the report.
    pub cells: usize,
    /// Table cells that count somebody (local knowledge: never sent).
    pub nonzero_cells: usize,
    /// Of those, the ones that would leave with a value.
    pub published_nonzero_cells: usize,
    /// Said when most cells that count somebody are hidden, so the officer
    /// knows why.
    pub note: Option<String>,
    /// The information loss, judged as statisticians judge a pattern
    /// (local knowledge: never sent). Absent when no table is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossView>,
}

/// What the suppression pattern costs a reader (local knowledge: the
/// people counts of hidden cells never leave the municipality).
#[derive(Debug, Clone, Serialize)]
pub struct LossView {
    /// Hidden table cells.
    pub hidden_cells: usize,
    /// People counted in hidden cells.
    pub hidden_people: i64,
    /// Complementary (secondary) suppressions, in table cells.
    pub secondary_cells: usize,
    /// People counted in complementary suppressions.
    pub secondary_people: i64,
    /// The largest complementary suppression.
    pub largest_secondary: Option<i64>,
    /// Tables whose grand total is hidden.
    pub grand_totals_hidden: usize,
    /// One-way margins hidden, of all one-way margins.
    pub one_way_margins_hidden: usize,
    /// One-way margins in all.
    pub one_way_margins: usize,
    /// Per table, dimension and level of its hierarchy with hidden cells:
    /// `table dimension at level: n of m hidden (k complementary)`.
    pub hidden_levels: Vec<String>,
    /// Grand totals and one-way margins hidden to protect another cell,
    /// each with the reason.
    pub hidden_margins: Vec<HiddenMarginView>,
}

/// A margin hidden to protect another cell.
#[derive(Debug, Clone, Serialize)]
pub struct HiddenMarginView {
    /// `table[codes]`.
    pub cell: String,
    /// Why it could not be published.
    pub reason: String,
}

impl LossView {
    fn new(p: &prikk_privacy::Protected) -> Self {
        let l = p.loss();
        Self {
            hidden_cells: l.suppressed_cells,
            hidden_people: l.suppressed_people.unwrap_or(0),
            secondary_cells: l.secondary_cells.unwrap_or(0),
            secondary_people: l.secondary_people.unwrap_or(0),
            largest_secondary: l.largest_secondary,
            grand_totals_hidden: l.grand_totals_hidden,
            one_way_margins_hidden: l.one_way_hidden,
            one_way_margins: l.one_way_cells,
            hidden_levels: l.hidden_levels().map(ToString::to_string).collect(),
            hidden_margins: p
                .hidden_margins
                .iter()
                .filter_map(|m| {
                    let shape = &p.tables.get(m.table)?.shape;
                    Some(HiddenMarginView {
                        cell: format!("{}[{}]", shape.id, shape.key_codes(m.cell).join(", ")),
                        reason: m.reason.clone(),
                    })
                })
                .collect(),
        }
    }

    /// One line: cells and people hidden, the largest complement, margins.
    pub(super) fn summary(&self) -> String {
        format!(
            "{} cells hidden ({} people), {} complementary ({} people{}); grand totals hidden: {}; one-way margins hidden: {} of {}",
            self.hidden_cells,
            self.hidden_people,
            self.secondary_cells,
            self.secondary_people,
            self.largest_secondary
                .map(|m| format!(", the largest {m}"))
                .unwrap_or_default(),
            self.grand_totals_hidden,
            self.one_way_margins_hidden,
            self.one_way_margins
        )
    }
}

/// Below this share of published non-zero cells the preview says why so
/// much is hidden.
const FEW_PUBLISHED: f64 = 1.0 / 3.0;

impl SuppressionView {
    fn new(p: &prikk_privacy::Protected, people: usize, min_count: u32, shared: bool) -> Self {
        let (mut cells, mut published_cells, mut nonzero, mut published_nonzero) = (0, 0, 0, 0);
        for (t, hidden) in p.tables.iter().zip(&p.suppressed) {
            for (&v, &h) in t.values.iter().zip(hidden) {
                cells += 1;
                published_cells += usize::from(!h);
                nonzero += usize::from(v != 0);
                published_nonzero += usize::from(v != 0 && !h);
            }
        }
        let few = nonzero > 0 && (published_nonzero as f64) < FEW_PUBLISHED * nonzero as f64;
        let note = few.then(|| {
            format!(
                "only {published_nonzero} of the {nonzero} cells that count somebody can be \
                 published: with {people} people in the export most cells count fewer than \
                 {min_count}, and their neighbours must be hidden with them; a longer period or \
                 a coarser table publishes more"
            )
        });
        Self {
            primary: p.primary_count,
            secondary: p.secondary_count,
            published_cells,
            cells,
            nonzero_cells: nonzero,
            published_nonzero_cells: published_nonzero,
            note,
            loss: (!shared).then(|| LossView::new(p)),
        }
    }

    /// `n of m cells published, k of l that count somebody (p %)`.
    pub(super) fn share(&self) -> String {
        let pct = if self.nonzero_cells == 0 {
            100.0
        } else {
            100.0 * self.published_nonzero_cells as f64 / self.nonzero_cells as f64
        };
        format!(
            "{} of {} cells published; {} of the {} that count somebody ({pct:.0} %)",
            self.published_cells, self.cells, self.published_nonzero_cells, self.nonzero_cells
        )
    }
}

/// The audit's result.
#[derive(Debug, Clone, Serialize)]
pub struct AuditView {
    /// No suppressed cell can be derived.
    pub passed: bool,
    /// Narrowest interval width over suppressed cells.
    pub narrowest_interval: Option<i64>,
    /// Suppressed quantities examined.
    pub suppressed_quantities: usize,
    /// Whether integer intervals were computed.
    pub intervals_computed: bool,
    /// Findings.
    pub failures: Vec<String>,
    /// Where the audit used bound propagation instead of exact integer
    /// programming, with the block size, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_note: Option<String>,
}

/// One table as it would leave.
#[derive(Debug, Clone, Serialize)]
pub struct TableView {
    /// Table id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Dimension ids, in order.
    pub dimensions: Vec<String>,
    /// `count`, or `sum:<column>`.
    pub measure: String,
    /// Every cell, margins included.
    pub cells: Vec<CellView>,
}

/// One cell.
#[derive(Debug, Clone, Serialize)]
pub struct CellView {
    /// Dimension id → category code (`total` for margins).
    pub key: BTreeMap<String, String>,
    /// Published value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    /// Present (and true) when the cell is suppressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<bool>,
    /// For sum tables: people contributing to a published sum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contributors: Option<i64>,
}

/// Builds the preview of a prepared report for a creation time.
pub fn preview(def: &Definition, prepared: &Prepared, created_unix: i64) -> Preview {
    let report = prepared.report_at(created_unix);
    let payload_sha256 = hex::encode(prepared.payload_sha256(created_unix));
    let s = &prepared.summary;
    let p = &prepared.policy;
    let a = &prepared.protected.audit;
    let tables = report
        .tables
        .iter()
        .map(|t| {
            let spec = def.table(&t.id);
            TableView {
                id: t.id.clone(),
                title: spec.map(|s| s.title.clone()).unwrap_or_default(),
                dimensions: t.dimensions.clone(),
                measure: match spec.map(|s| &s.shape.measure) {
                    Some(prikk_privacy::table::Measure::Sum(c)) => format!("sum:{c}"),
                    _ => "count".into(),
                },
                cells: t
                    .cells
                    .iter()
                    .map(|c| cell_view(&t.dimensions, c))
                    .collect(),
            }
        })
        .collect();
    Preview {
        report_id: report.report_id.clone(),
        payload_sha256,
        created_unix,
        project: report.project.clone(),
        period: report.period.clone(),
        definition: DefinitionRef {
            id: report.definition_id.clone(),
            version: report.definition_version,
        },
        release: ReleaseView::new(def, prepared.shared, None),
        policy: PolicyView {
            method: prepared.mode.to_string(),
            min_count: p.min_count,
            protect_zeros: p.protect_zeros,
            min_interval_width: p.min_interval_width,
            singletons: p.singletons,
        },
        input: InputView {
            file: s.origin.clone(),
            decoding: s.decoding.to_string(),
            delimiter: s.delimiter.to_string(),
            rows_read: s.rows_read,
            rows_accepted: s.rows_accepted,
            rows_rejected: s.rows_rejected,
            rows_other_projects: s.rows_other_projects,
            absent_columns: s.absent_columns.clone(),
        },
        dropped_columns: s.dropped_columns.clone(),
        rejected_rows: s
            .rejections
            .iter()
            .map(|r| RejectedView {
                line: r.line,
                column: r.column.clone(),
                reason: r.reason.to_string(),
            })
            .collect(),
        suppression: SuppressionView::new(
            &prepared.protected,
            s.rows_accepted,
            prepared.policy.min_count,
            prepared.shared,
        ),
        audit: AuditView {
            passed: a.passed,
            narrowest_interval: a.narrowest_width,
            suppressed_quantities: a.suppressed_quantities,
            intervals_computed: a.intervals_computed,
            failures: a.failures.clone(),
            engine_note: a.engine_note(),
        },
        tables,
        dp: prepared.dp.as_ref().map(|d| DpView {
            loss: d.loss.to_string(),
            unit: d.loss.unit().to_string(),
            amount: d.loss.amount().to_string(),
            tables: d
                .noise
                .iter()
                .map(|n| DpTableView {
                    id: n.table.clone(),
                    mechanism: n.values.name().to_string(),
                    scale: n.values.parameter().to_string(),
                    contributors_scale: n.contributors.map(|m| m.parameter().to_string()),
                    loss: n.loss.to_string(),
                })
                .collect(),
            budget: None,
        }),
    }
}

fn cell_view(dims: &[String], c: &pb::Cell) -> CellView {
    let key = dims.iter().cloned().zip(c.key.iter().cloned()).collect();
    match &c.value {
        Some(pb::cell::Value::Count(v)) => CellView {
            key,
            value: Some(*v),
            suppressed: None,
            contributors: c.contributors,
        },
        _ => CellView {
            key,
            value: None,
            suppressed: Some(true),
            contributors: None,
        },
    }
}
