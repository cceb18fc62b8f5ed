//! Corrections: a new revision keeps what the earlier one hid.

use prikk_privacy::definition::Definition;
use prikk_privacy::suppress::protect_keeping;
use prikk_proto::pb;

use super::{Prepared, ReportError, report_from_protected};

/// Keeps an earlier revision's suppression for a correction: every cell the
/// earlier report suppressed stays suppressed (a correction may hide more,
/// never less), so the two revisions cannot be differenced. When the fresh
/// pattern does not already hide them, the tables are protected again with
/// those cells kept hidden and the report is rebuilt. A cell that is now 0
/// is published as zero when zeros are published (hiding it would read as
/// "at least 1"). Returns the number of cells hidden because of the earlier
/// revision. Suppression mode only; a dp-mode report is left as it is.
pub fn keep_earlier_suppression(
    def: &Definition,
    prepared: &mut Prepared,
    earlier: &pb::Report,
) -> Result<usize, ReportError> {
    if prepared.mode.adds_noise() || prepared.shared {
        return Ok(0);
    }
    let mut keep: Vec<Vec<bool>> = def
        .tables
        .iter()
        .map(|t| vec![false; t.shape.len()])
        .collect();
    let mut extra = 0;
    for (t, spec) in def.tables.iter().enumerate() {
        let Some(e) = earlier.tables.iter().find(|x| x.id == spec.shape.id) else {
            continue;
        };
        let (Some(keep), Some(table), Some(suppressed)) = (
            keep.get_mut(t),
            prepared.protected.tables.get(t),
            prepared.protected.suppressed.get(t),
        ) else {
            return Err(ReportError::Shape);
        };
        for cell in &e.cells {
            if !matches!(cell.value, Some(pb::cell::Value::Suppressed(_))) {
                continue;
            }
            let Some(c) = spec.shape.cell_by_codes(&cell.key) else {
                continue;
            };
            let (Some(kept), Some(&value), Some(&hidden)) =
                (keep.get_mut(c), table.values.get(c), suppressed.get(c))
            else {
                return Err(ReportError::Shape);
            };
            if !prepared.policy.protect_zeros && value == 0 {
                // Now empty: a zero is published (zeros are never small
                // counts); the earlier value stays unknown.
                continue;
            }
            *kept = true;
            if !hidden {
                extra += 1;
            }
        }
    }
    if extra == 0 {
        return Ok(0);
    }
    let protected = protect_keeping(&prepared.protected.tables, &prepared.policy, &keep)?;
    if !protected.audit.passed {
        let mut failures = vec![format!(
            "this correction cannot keep the earlier revision's suppressed cells hidden without revealing others"
        )];
        failures.extend(protected.audit.failures.iter().cloned());
        return Err(ReportError::AuditFailed(failures));
    }
    let kept_missing = keep
        .iter()
        .zip(&protected.suppressed)
        .any(|(k, s)| k.iter().zip(s).any(|(&k, &s)| k && !s));
    if kept_missing {
        return Err(ReportError::AuditFailed(vec![
            "this correction's protection did not keep the earlier revision's suppressed cells hidden"
                .into(),
        ]));
    }
    prepared.protected = protected;
    prepared.report = report_from_protected(
        def,
        &prepared.project,
        &prepared.period.text,
        &prepared.policy,
        &prepared.protected,
    )?;
    Ok(extra)
}

#[cfg(test)]
mod correction_tests {
    use super::*;
    use crate::report::prepare;
    use crate::synthetic::{self, SyntheticOptions};
    use prikk_privacy::policy::Policy;

    #[test]
    fn a_correction_keeps_what_the_earlier_revision_hid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.csv");
        synthetic::write_export(&path, "bergen", 140, 3, &SyntheticOptions::default()).unwrap();
        let def = Definition::embedded();
        let prepared = prepare(&def, &path, "2006", Some("bergen"), &Policy::default()).unwrap();

        // The same pattern: nothing changes.
        let mut same = prepared.clone();
        assert_eq!(
            keep_earlier_suppression(&def, &mut same, &prepared.report).unwrap(),
            0
        );
        assert_eq!(same.report, prepared.report);

        // An earlier revision that hid one more cell: the correction hides it
        // too when the audit allows, and is refused when it does not.
        let status = def.table("status").unwrap().shape.clone();
        let t = def
            .tables
            .iter()
            .position(|x| x.shape.id == "status")
            .unwrap();
        let mut kept = false;
        for c in 0..status.len() {
            if prepared.protected.suppressed[t][c] || kept {
                continue;
            }
            let mut earlier = prepared.report.clone();
            let cell = earlier.tables[t]
                .cells
                .iter_mut()
                .find(|x| status.cell_by_codes(&x.key) == Some(c))
                .unwrap();
            cell.value = Some(pb::cell::Value::Suppressed(pb::Suppressed {}));
            let mut correction = prepared.clone();
            let zero = prepared.protected.tables[t].values[c] == 0;
            match keep_earlier_suppression(&def, &mut correction, &earlier) {
                Ok(n) if zero => {
                    // An emptied cell shows its zero.
                    assert_eq!(n, 0);
                    assert!(!correction.protected.suppressed[t][c]);
                }
                Ok(n) => {
                    assert_eq!(n, 1);
                    assert!(correction.protected.suppressed[t][c]);
                    assert!(correction.protected.audit.passed);
                    assert_ne!(correction.report.report_id, prepared.report.report_id);
                    // Every cell hidden before is still hidden (or shows its zero).
                    let still = earlier.tables[t].cells.iter().all(|x| {
                        !matches!(x.value, Some(pb::cell::Value::Suppressed(_)))
                            || status.cell_by_codes(&x.key).is_some_and(|i| {
                                correction.protected.suppressed[t][i]
                                    || correction.protected.tables[t].values[i] == 0
                            })
                    });
                    assert!(still);
                    kept = true;
                }
                Err(ReportError::AuditFailed(f)) => {
                    assert!(f[0].contains("earlier revision"), "{f:?}");
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(kept, "keeping one more hidden cell must be possible");
    }
}
