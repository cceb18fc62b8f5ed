//! Verification of a submitted report, cheapest check first: size, envelope,
//! key, signature over the exact bytes, decoding, definition, tables,
//! protection, project, period. Pure: the caller looks the key up.

use std::collections::HashMap;
use std::sync::Arc;

use prikk_privacy::audit::Auditor;
use prikk_privacy::dp::{DpMechanism, ProtectionMode};
use prikk_privacy::{
    Definition, Measure, Policy, PublishedTable, Relation, TableShape, unprotected_small_cells,
};
use prikk_proto::{SignError, pb};

use crate::error::Refusal;
use crate::period::{Period, PeriodKind};
pub use crate::policy::DpMinimum;
use crate::store::{NewReport, NormalTable, RegisteredKey, corrections};

/// Longest report id accepted.
const MAX_ID_LEN: usize = 128;
/// Largest cell value accepted; keeps every sum far from overflow.
pub const MAX_VALUE: i64 = 1_000_000_000_000;

/// The checks a report must pass, with the gateway's settings.
#[derive(Debug, Clone)]
pub struct Verifier {
    definition: Arc<Definition>,
    /// Per table id: its shape and additive relations, computed once.
    shapes: HashMap<String, (Arc<TableShape>, Vec<Relation>)>,
    /// The disclosure audit's verdict, with the definition's quantities and
    /// relations worked out once.
    auditor: Arc<Auditor>,
    min_count: u32,
    periods: Vec<PeriodKind>,
    max_report_bytes: usize,
    dp_minimum: DpMinimum,
    /// Now, for refusing periods that have not ended.
    clock: Arc<dyn crate::Clock>,
}

impl Verifier {
    /// A verifier for one collected definition.
    pub fn new(
        definition: Arc<Definition>,
        min_count: u32,
        periods: Vec<PeriodKind>,
        max_report_bytes: usize,
    ) -> Self {
        let shapes = definition
            .tables
            .iter()
            .map(|t| (t.shape.id.clone(), (t.shape.clone(), t.shape.relations())))
            .collect();
        let auditor = Arc::new(Auditor::new(definition.shapes()));
        Self {
            definition,
            shapes,
            auditor,
            min_count,
            periods,
            max_report_bytes,
            dp_minimum: DpMinimum::default(),
            clock: Arc::new(crate::SystemClock),
        }
    }

    /// Uses `clock` for "now" (the gateway's own clock).
    pub fn with_clock(mut self, clock: Arc<dyn crate::Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the weakest noise accepted from reports in the dp modes.
    pub fn with_dp_minimum(mut self, minimum: DpMinimum) -> Self {
        self.dp_minimum = minimum;
        self
    }

    /// The collected definition.
    pub fn definition(&self) -> &Arc<Definition> {
        &self.definition
    }

    /// Size and envelope checks, before any key lookup.
    pub fn check_envelope(&self, env: &pb::SignedReport) -> Result<(), Refusal> {
        if env.report.len() > self.max_report_bytes {
            return Err(Refusal::TooLarge {
                size: env.report.len(),
                limit: self.max_report_bytes,
            });
        }
        if env.key_id.is_empty() {
            return Err(Refusal::Envelope("key_id is missing"));
        }
        if env.key_id.len() != 16 || !env.key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Refusal::Envelope("key_id must be 16 hex digits"));
        }
        if env.signature.len() != 64 {
            return Err(Refusal::Envelope("an Ed25519 signature is 64 bytes"));
        }
        if env.report.is_empty() {
            return Err(Refusal::Envelope("report payload is empty"));
        }
        Ok(())
    }

    /// Everything after the key lookup. `key` is the registered key the
    /// envelope names, if any.
    pub fn verify(
        &self,
        env: &pb::SignedReport,
        key: Option<&RegisteredKey>,
    ) -> Result<NewReport, Refusal> {
        let (report, key) = self.verify_signed(env, key)?;
        self.check_report(env, report, key)
    }

    /// The cheap part: envelope, key known and active, signature over the
    /// exact bytes, and decoding (only after the signature holds).
    pub fn verify_signed<'k>(
        &self,
        env: &pb::SignedReport,
        key: Option<&'k RegisteredKey>,
    ) -> Result<(pb::Report, &'k RegisteredKey), Refusal> {
        self.check_envelope(env)?;
        let key = key.ok_or_else(|| Refusal::UnknownKey(env.key_id.clone()))?;
        if key.revoked_unix.is_some() {
            return Err(Refusal::RevokedKey(key.key_id.clone()));
        }
        let report = prikk_proto::verify_report(&key.public_key, env).map_err(|e| match e {
            SignError::Malformed(_) => Refusal::MalformedReport,
            _ => Refusal::BadSignature,
        })?;
        Ok((report, key))
    }

    /// The expensive part, for a report whose signature holds: definition,
    /// tables, protection (the disclosure audit), project and period.
    pub fn check_report(
        &self,
        env: &pb::SignedReport,
        report: pb::Report,
        key: &RegisteredKey,
    ) -> Result<NewReport, Refusal> {
        if report.report_id.is_empty()
            || report.report_id.len() > MAX_ID_LEN
            || report.project.is_empty()
        {
            return Err(Refusal::MalformedReport);
        }
        if report.definition_id != self.definition.id
            || report.definition_version != self.definition.version
        {
            return Err(Refusal::UnknownDefinition {
                id: report.definition_id.chars().take(MAX_ID_LEN).collect(),
                version: report.definition_version,
            });
        }
        // Cheapest first: the key's project and the period before any table
        // is read, so a key of another project never costs an audit.
        if report.project != key.project {
            return Err(Refusal::WrongProject {
                key_project: key.project.clone(),
                report_project: report.project.chars().take(MAX_ID_LEN).collect(),
            });
        }
        let period =
            Period::parse(&report.period).map_err(|e| Refusal::InvalidPeriod(e.to_string()))?;
        if !self.periods.contains(&period.kind) {
            return Err(Refusal::PeriodNotCollected(period.to_string()));
        }
        if period.ends_unix() > self.clock.now_unix() {
            return Err(Refusal::InvalidPeriod(format!(
                "{period} has not ended: its status as of the last day does not exist yet"
            )));
        }
        let mode = protection_mode(&report)?;
        // A report with secret shares publishes no table: its tables reach
        // the directorate only summed over a group of projects.
        let tables = if report.shares.is_some() {
            if !self.definition.aggregate_only() {
                return Err(Refusal::Shares(
                    "this definition releases its tables per project, not as shares".into(),
                ));
            }
            if !report.tables.is_empty() {
                return Err(Refusal::Shares(
                    "a report with secret shares must not publish tables".into(),
                ));
            }
            Vec::new()
        } else {
            let (tables, published) = self.check_tables(&report, mode)?;
            self.check_protection(&report, mode, &tables, &published)?;
            tables
        };
        if let Some(shares) = &report.shares {
            crate::aggregation::check_shares(&report, shares, &self.definition, &key.public_key)?;
        }
        Ok(NewReport {
            payload_sha256: prikk_proto::payload_sha256(&env.report),
            report_id: report.report_id,
            project: report.project,
            period: period.to_string(),
            envelope: env.clone(),
            definition_id: report.definition_id,
            definition_version: report.definition_version,
            tables,
            checked_revision: 0,
        })
    }

    /// Every table of the definition exactly once, with its dimensions, and
    /// every cell exactly once with a valid value.
    /// In the dp modes values are noisy signed integers, so the range is
    /// symmetric.
    fn check_tables(
        &self,
        report: &pb::Report,
        mode: ProtectionMode,
    ) -> Result<(Vec<NormalTable>, Vec<PublishedTable>), Refusal> {
        let lowest = if mode.adds_noise() { -MAX_VALUE } else { 0 };
        let mut seen: HashMap<&str, ()> = HashMap::new();
        let mut normal = Vec::with_capacity(report.tables.len());
        let mut published = Vec::with_capacity(report.tables.len());
        for t in &report.tables {
            let (shape, relations) = self
                .shapes
                .get(t.id.as_str())
                .ok_or_else(|| Refusal::Tables(format!("unknown table `{}`", clip(&t.id))))?;
            if seen.insert(t.id.as_str(), ()).is_some() {
                return Err(Refusal::Tables(format!("table `{}` appears twice", t.id)));
            }
            let dims: Vec<&str> = shape.dimensions.iter().map(|d| d.id.as_str()).collect();
            if t.dimensions
                .iter()
                .map(String::as_str)
                .ne(dims.iter().copied())
            {
                return Err(Refusal::Tables(format!(
                    "table `{}`: dimensions must be {:?}",
                    t.id, dims
                )));
            }
            let is_sum = matches!(shape.measure, Measure::Sum(_));
            let mut values: Vec<Option<Option<i64>>> = vec![None; shape.len()];
            let mut contributors: Vec<Option<i64>> = vec![None; shape.len()];
            for c in &t.cells {
                let unknown = || Refusal::Tables(format!("table `{}`: unknown cell key", t.id));
                let idx = shape.cell_by_codes(&c.key).ok_or_else(unknown)?;
                let (Some(value), Some(contributor)) =
                    (values.get_mut(idx), contributors.get_mut(idx))
                else {
                    return Err(unknown());
                };
                if value.is_some() {
                    return Err(Refusal::Tables(format!(
                        "table `{}`: cell {:?} appears twice",
                        t.id,
                        shape.key_codes(idx)
                    )));
                }
                let v = match &c.value {
                    Some(pb::cell::Value::Count(n)) if (lowest..=MAX_VALUE).contains(n) => Some(*n),
                    Some(pb::cell::Value::Count(_)) => {
                        return Err(Refusal::Tables(format!(
                            "table `{}`: value out of range {lowest}..={MAX_VALUE}",
                            t.id
                        )));
                    }
                    Some(pb::cell::Value::Suppressed(_)) => None,
                    None => {
                        return Err(Refusal::Tables(format!(
                            "table `{}`: cell without a value",
                            t.id
                        )));
                    }
                };
                match (c.contributors, is_sum, v) {
                    (None, false, _) | (None, true, None) => {}
                    (Some(_), false, _) => {
                        return Err(Refusal::Tables(format!(
                            "table `{}`: contributors on a count table",
                            t.id
                        )));
                    }
                    (Some(_), true, None) => {
                        return Err(Refusal::Tables(format!(
                            "table `{}`: contributors on a suppressed cell",
                            t.id
                        )));
                    }
                    (None, true, Some(_)) => {
                        return Err(Refusal::Tables(format!(
                            "table `{}`: published sum without contributors",
                            t.id
                        )));
                    }
                    (Some(n), true, Some(_)) if !(lowest..=MAX_VALUE).contains(&n) => {
                        return Err(Refusal::Tables(format!(
                            "table `{}`: contributors out of range",
                            t.id
                        )));
                    }
                    (Some(n), true, Some(_)) => *contributor = Some(n),
                }
                *value = Some(v);
            }
            let cells: Vec<Option<i64>> = match values.into_iter().collect::<Option<Vec<_>>>() {
                Some(v) => v,
                None => {
                    return Err(Refusal::Tables(format!(
                        "table `{}`: cells are missing",
                        t.id
                    )));
                }
            };
            #[allow(
                clippy::indexing_slicing,
                reason = "the relations are the shape's own, built with it: their positions are below its length, the length of `cells`"
            )]
            let cell = |p: usize| cells[p];
            for r in relations {
                let parts: Option<i64> = r.parts.iter().map(|&p| cell(p)).sum(); // bounded by MAX_VALUE
                if let (Some(total), Some(sum)) = (cell(r.total), parts)
                    && total != sum
                {
                    return Err(Refusal::Tables(format!(
                        "table `{}`: cell {:?} is not the sum of its parts",
                        t.id,
                        shape.key_codes(r.total)
                    )));
                }
            }
            normal.push(NormalTable {
                id: t.id.clone(),
                values: cells.clone(),
                contributors: is_sum.then_some(contributors),
            });
            published.push(PublishedTable {
                shape: shape.clone(),
                cells,
            });
        }
        if let Some(missing) = self
            .definition
            .tables
            .iter()
            .find(|t| !seen.contains_key(t.shape.id.as_str()))
        {
            return Err(Refusal::Tables(format!(
                "table `{}` is missing",
                missing.shape.id
            )));
        }
        Ok((normal, published))
    }

    /// The policy is at least the gateway's minimum, no published cell is
    /// small, and the disclosure audit passes. In `dp` mode every table must
    /// carry its noise mechanism and scale, at least the gateway's minimum;
    /// small published counts are then allowed (the noise protects them) and
    /// there is no derivability audit (a derived cell is still noisy). In
    /// `dp+suppression` the same, and no published count may be small.
    fn check_protection(
        &self,
        report: &pb::Report,
        mode: ProtectionMode,
        tables: &[NormalTable],
        published: &[PublishedTable],
    ) -> Result<(), Refusal> {
        let summary = report
            .policy
            .as_ref()
            .ok_or_else(|| Refusal::WeakPolicy("no policy summary".into()))?;
        if mode.adds_noise() {
            self.check_noise(report)?;
            if !mode.suppresses() {
                return Ok(());
            }
        } else if report.tables.iter().any(|t| t.dp.is_some()) {
            return Err(Refusal::Tables(
                "noise parameters in a report made by suppression".into(),
            ));
        }
        if summary.min_count < self.min_count {
            return Err(Refusal::WeakPolicy(format!(
                "min_count {} is below the required {}",
                summary.min_count, self.min_count
            )));
        }
        let policy = Policy {
            min_count: summary.min_count,
            protect_zeros: summary.protect_zeros,
            min_interval_width: summary.min_interval_width.max(1),
            singletons: true,
            ..Policy::default()
        };
        if let Some((table, key, _)) = unprotected_small_cells(published, &policy)
            .into_iter()
            .next()
        {
            return Err(Refusal::Unprotected(format!(
                "table `{table}` publishes a small count at {key:?}"
            )));
        }
        for (t, p) in tables.iter().zip(published) {
            if let Some(contributors) = &t.contributors {
                for (i, c) in contributors.iter().enumerate() {
                    if let Some(n) = *c
                        && policy.is_primary(1, n, true)
                    {
                        return Err(Refusal::Unprotected(format!(
                            "table `{}` publishes a sum of fewer than {} people at {:?}",
                            t.id,
                            policy.min_count,
                            p.shape.key_codes(i)
                        )));
                    }
                }
            }
        }
        if mode.adds_noise() {
            return Ok(());
        }
        // The same verdict as the full audit with intervals, cheaper: wide
        // intervals are proved by whole-number solutions instead of computed.
        let report = self.auditor.verdict(published, &policy);
        if !report.passed {
            let why = report
                .failures
                .first()
                .cloned()
                .unwrap_or_else(|| "the disclosure audit did not pass".into());
            return Err(Refusal::Unprotected(why));
        }
        if report.interval_skipped > 0 {
            // Sizes only: never a value or a bound.
            tracing::info!(
                cells = report.interval_skipped,
                largest_block = report.interval_largest_block,
                "audit used bound propagation for blocks too large for integer programming"
            );
        }
        Ok(())
    }
}

impl Verifier {
    /// Every table of a dp-mode report carries a known mechanism with an
    /// exact scale at least the gateway's minimum (and, for sum tables, the
    /// contributor counts' scale too).
    fn check_noise(&self, report: &pb::Report) -> Result<(), Refusal> {
        let mut first: Option<&'static str> = None;
        for t in &report.tables {
            let dp = t.dp.as_ref().ok_or_else(|| {
                Refusal::WeakPolicy(format!(
                    "table `{}` has no noise mechanism and scale in a dp report",
                    clip(&t.id)
                ))
            })?;
            let is_sum = self
                .shapes
                .get(t.id.as_str())
                .is_some_and(|(s, _)| matches!(s.measure, Measure::Sum(_)));
            let mut scales = vec![("values", dp.scale.as_str())];
            if is_sum {
                scales.push(("contributor counts", dp.contributors_scale.as_str()));
            }
            for (what, scale) in scales {
                let m = DpMechanism::parse(&dp.mechanism, scale).map_err(|e| {
                    Refusal::WeakPolicy(format!(
                        "table `{}`: noise of the {what}: {}",
                        clip(&t.id),
                        clip(&e.to_string())
                    ))
                })?;
                let min = self.dp_minimum.for_mechanism(&m);
                if m.parameter() < min {
                    return Err(Refusal::WeakPolicy(format!(
                        "table `{}`: {} {} of the {what} is below the required {min}",
                        clip(&t.id),
                        m.name(),
                        m.parameter()
                    )));
                }
                if *first.get_or_insert(m.name()) != m.name() {
                    return Err(Refusal::WeakPolicy(
                        "a report mixes noise mechanisms".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The protection mode a report names; an unknown one is refused.
fn protection_mode(report: &pb::Report) -> Result<ProtectionMode, Refusal> {
    let summary = report
        .policy
        .as_ref()
        .ok_or_else(|| Refusal::WeakPolicy("no policy summary".into()))?;
    summary.method.parse().map_err(|_| {
        Refusal::WeakPolicy(format!(
            "method `{}` is not accepted",
            clip(&summary.method)
        ))
    })
}

fn clip(s: &str) -> String {
    s.chars().take(MAX_ID_LEN).collect()
}

/// A correction keeps the earlier revision's suppression (see
/// [`corrections::check`]); the refusal names the cell by its table and key
/// codes.
pub fn check_revision(
    definition: &Definition,
    earlier_revision: u32,
    earlier: &[NormalTable],
    new: &[NormalTable],
) -> Result<(), Refusal> {
    corrections::check(earlier_revision, earlier, new).map_err(|u| {
        let key = definition
            .table(&u.table)
            .map(|spec| spec.shape.key_codes(u.cell).join(", "))
            .unwrap_or_default();
        Refusal::uncovered(&format!("{} cell [{key}]", u.table), u.earlier_revision)
    })
}

#[cfg(test)]
mod revision_tests {
    use super::*;

    fn table(values: Vec<Option<i64>>) -> Vec<NormalTable> {
        vec![NormalTable {
            id: "status".into(),
            values,
            contributors: None,
        }]
    }

    #[test]
    fn a_correction_by_one_person_keeps_the_earlier_suppression() {
        let def = Definition::embedded();
        let n = def.table("status").unwrap().shape.len();
        // Revision 1 hid births (3) and, to protect it, moved (6).
        let (births, moved) = (7, 8);
        let mut first = vec![Some(10); n];
        first[births] = None;
        first[moved] = None;
        // One more birth: 4 is still hidden, but the engine now hides another
        // partner and publishes moved = 6. Differencing with revision 1
        // (births + moved known from its margins) would give births away.
        let mut second = first.clone();
        second[moved] = Some(6);
        second[9] = None;
        let e = check_revision(&def, 1, &table(first.clone()), &table(second)).unwrap_err();
        assert!(matches!(e, Refusal::Revision(_)), "{e}");
        assert_eq!(e.label(), "revision_pattern");
        assert!(e.to_string().contains("revision 1"), "{e}");
        // Keeping the pattern (and hiding more) is accepted.
        let mut kept = first.clone();
        kept[9] = None;
        check_revision(&def, 1, &table(first.clone()), &table(kept)).unwrap();
        check_revision(&def, 1, &table(first.clone()), &table(first.clone())).unwrap();
        // Births is now empty: its zero may show.
        let mut emptied = first.clone();
        emptied[births] = Some(0);
        check_revision(&def, 1, &table(first), &table(emptied)).unwrap();
    }
}
