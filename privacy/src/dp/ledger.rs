//! The privacy-loss ledger: an annual budget per project and a record of
//! every release that spent from it. Pure bookkeeping; the agent persists
//! the records.
//!
//! Every release spends: a first report, a correction, a re-submission with
//! fresh noise. (Re-sending the very same signed report is not a release; it
//! carries the same report id, and the ledger refuses to record an id twice.)
//! Losses add up over a year by sequential composition, in ε for pure DP and
//! in ρ for zCDP. An ε release may be charged to a ρ budget as ρ = ε²/2, since
//! ε-DP implies (ε²/2)-zCDP; a ρ release cannot be charged to an ε budget.

use std::collections::BTreeMap;

use super::{DpError, LossUnit, PrivacyLoss, Rational};

/// Why the ledger refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LedgerError {
    /// No budget is set for the project.
    #[error(
        "project {project} has no privacy budget; set an annual budget before releasing with noise"
    )]
    NoBudget {
        /// Project id.
        project: String,
    },
    /// The release's loss cannot be charged in the budget's unit.
    #[error(
        "project {project} has a budget in {budget}, which cannot pay for a release measured in {release}"
    )]
    UnitMismatch {
        /// Project id.
        project: String,
        /// The budget's unit.
        budget: LossUnit,
        /// The release's unit.
        release: LossUnit,
    },
    /// The release would take the year over budget.
    #[error(
        "refused: this report would spend {unit} {requested} of project {project}'s {year} privacy budget, \
         but only {remaining} of {budget} remains ({spent} already spent)"
    )]
    Exceeded {
        /// Project id.
        project: String,
        /// Budget year.
        year: i32,
        /// Unit of the amounts.
        unit: LossUnit,
        /// What the release would cost.
        requested: Rational,
        /// Already spent this year.
        spent: Rational,
        /// What is left.
        remaining: Rational,
        /// The annual budget.
        budget: Rational,
    },
    /// The report id has already been charged.
    #[error("report {report_id} of project {project} has already been charged")]
    AlreadyRecorded {
        /// Project id.
        project: String,
        /// Report id.
        report_id: String,
    },
    /// The budget's unit cannot change once releases have been charged.
    #[error("project {project} has releases charged in {unit}; its budget unit cannot change")]
    UnitChange {
        /// Project id.
        project: String,
        /// The unit in use.
        unit: LossUnit,
    },
    /// An amount did not fit exact arithmetic.
    #[error(transparent)]
    Arithmetic(#[from] DpError),
}

/// One release charged to a project's budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spend {
    /// Project id.
    pub project: String,
    /// Budget year charged.
    pub year: i32,
    /// Reporting period of the release, for people reading the ledger.
    pub period: String,
    /// Report id.
    pub report_id: String,
    /// The release's own loss.
    pub loss: PrivacyLoss,
    /// What it cost in the budget's unit.
    pub charged: Rational,
}

/// Annual budgets and the releases charged to them.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    budgets: BTreeMap<String, PrivacyLoss>,
    spends: Vec<Spend>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a project's annual budget. Changing the amount is allowed (it
    /// applies to the year's remaining releases); changing the unit is not
    /// once releases have been charged.
    pub fn set_budget(&mut self, project: &str, annual: PrivacyLoss) -> Result<(), LedgerError> {
        if let Some(old) = self.budgets.get(project)
            && old.unit() != annual.unit()
            && self.spends.iter().any(|s| s.project == project)
        {
            return Err(LedgerError::UnitChange {
                project: project.to_string(),
                unit: old.unit(),
            });
        }
        self.budgets.insert(project.to_string(), annual);
        Ok(())
    }

    /// A project's annual budget.
    pub fn budget(&self, project: &str) -> Option<PrivacyLoss> {
        self.budgets.get(project).copied()
    }

    /// Every charged release, in the order charged.
    pub fn spends(&self) -> &[Spend] {
        &self.spends
    }

    fn annual(&self, project: &str) -> Result<PrivacyLoss, LedgerError> {
        self.budget(project).ok_or_else(|| LedgerError::NoBudget {
            project: project.to_string(),
        })
    }

    /// What a release costs in the project's budget unit.
    pub fn charge(&self, project: &str, loss: PrivacyLoss) -> Result<Rational, LedgerError> {
        let budget = self.annual(project)?;
        match (budget, loss) {
            (PrivacyLoss::Epsilon(_), PrivacyLoss::Epsilon(e))
            | (PrivacyLoss::Rho(_), PrivacyLoss::Rho(e)) => Ok(e),
            (PrivacyLoss::Rho(_), PrivacyLoss::Epsilon(e)) => {
                Ok(e.checked_mul(e)?.checked_div(Rational::integer(2))?)
            }
            (PrivacyLoss::Epsilon(_), PrivacyLoss::Rho(_)) => Err(LedgerError::UnitMismatch {
                project: project.to_string(),
                budget: LossUnit::Epsilon,
                release: LossUnit::Rho,
            }),
        }
    }

    /// Spent by a project in a year, in the budget's unit.
    pub fn spent(&self, project: &str, year: i32) -> Result<Rational, LedgerError> {
        self.spends
            .iter()
            .filter(|s| s.project == project && s.year == year)
            .try_fold(Rational::ZERO, |acc, s| acc.checked_add(s.charged))
            .map_err(LedgerError::from)
    }

    /// Left of a project's budget in a year (zero when overspent).
    pub fn remaining(&self, project: &str, year: i32) -> Result<Rational, LedgerError> {
        let budget = self.annual(project)?.amount();
        let spent = self.spent(project, year)?;
        Ok(if spent >= budget {
            Rational::ZERO
        } else {
            budget.checked_sub(spent)?
        })
    }

    /// Checks that a release fits the year's budget; returns what would be
    /// left after it.
    pub fn can_spend(
        &self,
        project: &str,
        year: i32,
        loss: PrivacyLoss,
    ) -> Result<Rational, LedgerError> {
        let budget = self.annual(project)?;
        let requested = self.charge(project, loss)?;
        let spent = self.spent(project, year)?;
        let remaining = self.remaining(project, year)?;
        if requested > remaining {
            return Err(LedgerError::Exceeded {
                project: project.to_string(),
                year,
                unit: budget.unit(),
                requested,
                spent,
                remaining,
                budget: budget.amount(),
            });
        }
        Ok(remaining.checked_sub(requested)?)
    }

    /// Charges a release, or refuses it without recording anything when it
    /// would exceed the year's budget or its report id is already charged.
    #[allow(
        clippy::indexing_slicing,
        reason = "the spend read back was pushed just before"
    )]
    pub fn spend(
        &mut self,
        project: &str,
        year: i32,
        period: &str,
        report_id: &str,
        loss: PrivacyLoss,
    ) -> Result<&Spend, LedgerError> {
        if self
            .spends
            .iter()
            .any(|s| s.project == project && s.report_id == report_id)
        {
            return Err(LedgerError::AlreadyRecorded {
                project: project.to_string(),
                report_id: report_id.to_string(),
            });
        }
        self.can_spend(project, year, loss)?;
        let charged = self.charge(project, loss)?;
        self.spends.push(Spend {
            project: project.to_string(),
            year,
            period: period.to_string(),
            report_id: report_id.to_string(),
            loss,
            charged,
        });
        Ok(&self.spends[self.spends.len() - 1])
    }

    /// Puts back a release read from storage. It is not checked against the
    /// budget (the budget may have been lowered since), only for duplicates.
    pub fn restore(&mut self, spend: Spend) -> Result<(), LedgerError> {
        if self
            .spends
            .iter()
            .any(|s| s.project == spend.project && s.report_id == spend.report_id)
        {
            return Err(LedgerError::AlreadyRecorded {
                project: spend.project,
                report_id: spend.report_id,
            });
        }
        self.spends.push(spend);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eps(s: &str) -> PrivacyLoss {
        PrivacyLoss::parse(LossUnit::Epsilon, s).unwrap()
    }

    fn rho(s: &str) -> PrivacyLoss {
        PrivacyLoss::parse(LossUnit::Rho, s).unwrap()
    }

    #[test]
    fn refuses_a_release_over_the_annual_budget() {
        let mut l = Ledger::new();
        l.set_budget("p1", eps("2")).unwrap();
        l.spend("p1", 2025, "2025-Q1", "r1", eps("0.75")).unwrap();
        l.spend("p1", 2025, "2025-Q2", "r2", eps("0.75")).unwrap();
        assert_eq!(
            l.remaining("p1", 2025).unwrap(),
            Rational::parse_decimal("0.5").unwrap()
        );
        // A correction costs as much as a release.
        let e = l
            .spend("p1", 2025, "2025-Q2", "r2-correction", eps("0.75"))
            .unwrap_err();
        match &e {
            LedgerError::Exceeded {
                requested,
                spent,
                remaining,
                budget,
                ..
            } => {
                assert_eq!(requested.to_string(), "0.75");
                assert_eq!(spent.to_string(), "1.5");
                assert_eq!(remaining.to_string(), "0.5");
                assert_eq!(budget.to_string(), "2");
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = e.to_string();
        assert!(
            msg.contains("p1") && msg.contains("2025") && msg.contains("only 0.5 of 2 remains"),
            "{msg}"
        );
        // Nothing was recorded by the refusal; exactly the remainder still fits.
        assert_eq!(l.spends().len(), 2);
        assert_eq!(l.can_spend("p1", 2025, eps("0.5")).unwrap(), Rational::ZERO);
        l.spend("p1", 2025, "2025-Q3", "r3", eps("0.5")).unwrap();
        assert!(l.can_spend("p1", 2025, eps("0.0000001")).is_err());
        // Another year and another project are separate.
        assert_eq!(l.can_spend("p1", 2026, eps("2")).unwrap(), Rational::ZERO);
        assert!(matches!(
            l.can_spend("p2", 2025, eps("0.1")),
            Err(LedgerError::NoBudget { .. })
        ));
    }

    #[test]
    fn the_same_report_is_charged_once() {
        let mut l = Ledger::new();
        l.set_budget("p", eps("10")).unwrap();
        l.spend("p", 2025, "2025", "r", eps("1")).unwrap();
        assert!(matches!(
            l.spend("p", 2025, "2025", "r", eps("1")),
            Err(LedgerError::AlreadyRecorded { .. })
        ));
        assert_eq!(l.spent("p", 2025).unwrap(), Rational::ONE);
        let copy = l.spends()[0].clone();
        assert!(l.restore(copy).is_err());
    }

    #[test]
    fn epsilon_releases_are_charged_to_rho_budgets_as_half_their_square() {
        let mut l = Ledger::new();
        l.set_budget("p", rho("1")).unwrap();
        let s = l.spend("p", 2025, "2025", "a", eps("0.5")).unwrap();
        assert_eq!(s.charged, Rational::new(1, 8).unwrap());
        l.spend("p", 2025, "2025", "b", rho("0.375")).unwrap();
        assert_eq!(
            l.remaining("p", 2025).unwrap(),
            Rational::new(1, 2).unwrap()
        );
        assert!(l.set_budget("p", eps("1")).is_err());
        let mut l2 = Ledger::new();
        l2.set_budget("q", eps("1")).unwrap();
        assert!(matches!(
            l2.can_spend("q", 2025, rho("0.1")),
            Err(LedgerError::UnitMismatch { .. })
        ));
        // Without releases the unit may change.
        l2.set_budget("q", rho("1")).unwrap();
    }

    #[test]
    fn restored_records_count_even_over_a_lowered_budget() {
        let mut l = Ledger::new();
        l.set_budget("p", eps("1")).unwrap();
        l.restore(Spend {
            project: "p".into(),
            year: 2025,
            period: "2025".into(),
            report_id: "old".into(),
            loss: eps("3"),
            charged: Rational::integer(3),
        })
        .unwrap();
        assert_eq!(l.remaining("p", 2025).unwrap(), Rational::ZERO);
        assert!(matches!(
            l.can_spend("p", 2025, eps("0.1")),
            Err(LedgerError::Exceeded { .. })
        ));
    }
}
