//! The privacy budget: the append-only ledger of differentially private
//! releases, charged when a report is queued and read back for each project.

use std::path::Path;

use rusqlite::{Connection, params};

use prikk_privacy::dp::{Ledger, LossUnit, PrivacyLoss, Rational, Spend};
use prikk_proto::pb;

use super::{Failure, Outbox, OutboxError};

/// A release of a differentially private report to charge to its project's
/// annual budget when it is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// Budget year (the year of the reporting period).
    pub year: i32,
    /// The release's loss.
    pub loss: PrivacyLoss,
    /// The project's annual budget.
    pub annual_budget: PrivacyLoss,
}

/// A project's budget for a year, as the ledger stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetStatus {
    /// Budget year.
    pub year: i32,
    /// The annual budget.
    pub budget: PrivacyLoss,
    /// Spent this year, in the budget's unit.
    pub spent: Rational,
    /// Left this year.
    pub remaining: Rational,
    /// Releases charged this year.
    pub releases: usize,
}

impl Outbox {
    /// A project's ledger under an annual budget: every release recorded for it.
    pub fn ledger(&self, project: &str, annual_budget: PrivacyLoss) -> Result<Ledger, OutboxError> {
        self.read(|conn| load_ledger(conn, &self.path, project, annual_budget))
    }

    /// Spent and remaining budget of a project in a year.
    pub fn budget_status(
        &self,
        project: &str,
        year: i32,
        annual_budget: PrivacyLoss,
    ) -> Result<BudgetStatus, OutboxError> {
        let ledger = self.ledger(project, annual_budget)?;
        Ok(BudgetStatus {
            year,
            budget: annual_budget,
            spent: ledger.spent(project, year)?,
            remaining: ledger.remaining(project, year)?,
            releases: ledger.spends().iter().filter(|s| s.year == year).count(),
        })
    }

    /// Checks, without writing, that a release fits the project's budget.
    pub fn check_budget(&self, project: &str, charge: &Charge) -> Result<(), OutboxError> {
        let ledger = self.ledger(project, charge.annual_budget)?;
        ledger.can_spend(project, charge.year, charge.loss)?;
        Ok(())
    }
}

/// Charges the release of `report` inside the transaction that queues it and
/// returns the journal's description of the spend. A release over budget, or
/// one charged before, is refused by the ledger before anything is written.
pub(super) fn charge_release(
    tx: &Connection,
    path: &Path,
    report: &pb::Report,
    c: &Charge,
    now: i64,
) -> Result<String, Failure> {
    let mut ledger = load_ledger(tx, path, &report.project, c.annual_budget)?;
    let spend = ledger
        .spend(
            &report.project,
            c.year,
            &report.period,
            &report.report_id,
            c.loss,
        )?
        .clone();
    tx.execute(
        "INSERT INTO privacy_ledger (report_id, project, year, period, loss_unit, loss, charged, recorded_unix)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            spend.report_id,
            spend.project,
            spend.year,
            spend.period,
            spend.loss.unit().to_string(),
            spend.loss.amount().to_string(),
            spend.charged.to_string(),
            now
        ],
    )?;
    let remaining = ledger.remaining(&report.project, c.year)?;
    Ok(format!(
        "privacy loss {} spent; {} {} of {} of the {} budget remains",
        spend.loss,
        c.annual_budget.unit(),
        remaining,
        c.annual_budget.amount(),
        c.year
    ))
}

/// Reads a project's ledger rows into a [`Ledger`] with the given budget.
fn load_ledger(
    conn: &Connection,
    path: &Path,
    project: &str,
    annual_budget: PrivacyLoss,
) -> Result<Ledger, Failure> {
    let mut st = conn.prepare(
        "SELECT report_id, year, period, loss_unit, loss, charged FROM privacy_ledger
         WHERE project = ?1 ORDER BY recorded_unix, rowid",
    )?;
    let rows = st
        .query_map([project], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i32>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut ledger = Ledger::new();
    ledger.set_budget(project, annual_budget)?;
    for (report_id, year, period, unit, loss, charged) in rows {
        let corrupt = |problem: String| OutboxError::CorruptLedger {
            path: path.to_path_buf(),
            report_id: report_id.clone(),
            problem,
        };
        let unit: LossUnit = unit
            .parse()
            .map_err(|e: prikk_privacy::dp::DpError| corrupt(e.to_string()))?;
        let loss = PrivacyLoss::parse(unit, &loss).map_err(|e| corrupt(e.to_string()))?;
        let charged = Rational::parse_decimal(&charged).map_err(|e| corrupt(e.to_string()))?;
        // A release charged under another budget unit is re-priced in this one
        // (ε→ρ as ε²/2); one that cannot be is refused rather than ignored.
        let charged = if unit == annual_budget.unit() {
            charged
        } else {
            ledger.charge(project, loss)?
        };
        ledger.restore(Spend {
            project: project.to_string(),
            year,
            period,
            report_id: report_id.clone(),
            loss,
            charged,
        })?;
    }
    Ok(ledger)
}
