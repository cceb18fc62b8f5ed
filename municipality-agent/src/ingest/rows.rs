//! Typing and checking one row: each allowlisted field parsed, the required
//! fields and cross-field rules checked, duplicates found; the row is then
//! accepted or rejected with every problem found.

use prikk_privacy::definition::Derive;
use time::Date;

use super::collect::Collected;
use super::columns::{GENDER, INTAKE, NOT_ADMITTED_REASON, OUTCOME, parse_code, parse_date, trim};
use super::header::{Core, Header};
use super::plan::parse_value;
use super::refs::RefSet;
use super::{
    ColumnKind, Gender, Intake, MISSING, NotAdmittedReason, Outcome, Participant, Reason,
    Rejection, ValueColumn, derive_value,
};

/// A problem with a row: the column (`None` for the row as a whole) and why.
type Problem<'a> = (Option<&'a str>, Reason);

/// The core fields of a row, as far as they parsed.
#[derive(Default)]
struct CoreFields {
    referred_on: Option<Date>,
    intake: Option<Intake>,
    reason: Option<NotAdmittedReason>,
    started_on: Option<Date>,
    ended_on: Option<Date>,
    outcome: Option<Outcome>,
    gender: Option<Gender>,
}

/// Reads rows one by one into a [`Collected`]. The buffers for one row's
/// problems and values are reused, so a row costs no allocation unless it is
/// rejected.
pub(super) struct RowReader<'a> {
    header: &'a Header<'a>,
    columns: &'a [ValueColumn],
    /// Value columns with a minimum on a derived quantity.
    minimums: &'a [(usize, Derive, i64)],
    as_of_year: Option<i32>,
    selected: Option<&'a str>,
    refs: RefSet,
    problems: Vec<Problem<'a>>,
    row_values: Vec<u32>,
    /// What has been read so far.
    collected: Collected,
}

impl<'a> RowReader<'a> {
    /// A reader of the rows under `header`, into `collected`.
    pub(super) fn new(
        header: &'a Header<'a>,
        columns: &'a [ValueColumn],
        minimums: &'a [(usize, Derive, i64)],
        as_of: Option<Date>,
        selected: Option<&'a str>,
        collected: Collected,
    ) -> Self {
        Self {
            header,
            columns,
            minimums,
            as_of_year: as_of.map(Date::year),
            selected,
            refs: RefSet::default(),
            problems: Vec::new(),
            row_values: vec![MISSING; columns.len()],
            collected,
        }
    }

    /// What was read; the `person_ref`s seen are dropped here, since they
    /// never leave ingest.
    pub(super) fn into_collected(self) -> Collected {
        self.collected
    }

    /// Reads one record: skips it (another project), accepts it or rejects it.
    pub(super) fn read(&mut self, rec: &csv::ByteRecord) {
        let summary = &mut self.collected.summary;
        summary.rows_read += 1;
        let line = rec.position().map_or(0, csv::Position::line);
        self.problems.clear();
        self.row_values.fill(MISSING);
        let header_len = self.header.len();
        if rec.len() < header_len || rec.iter().skip(header_len).any(|f| !trim(f).is_empty()) {
            summary.rows_rejected += 1;
            summary.rejections.push(Rejection {
                line,
                column: None,
                reason: Reason::FieldCount {
                    expected: header_len,
                    found: rec.len(),
                },
            });
            return;
        }
        // Project first: rows of other projects are none of this report's business.
        if let Some(slot) = self.header.project_slot {
            let raw = rec.get(slot).map_or(&[][..], trim);
            if raw.is_empty() {
                self.problems.push((Some("project"), Reason::Missing));
            } else if self
                .collected
                .skip_other_project(raw, self.selected, &mut self.problems)
            {
                return;
            }
        }
        let (core, person_ref) = self.parse_fields(rec);
        self.check_rules(&core);
        if !person_ref.is_empty()
            && let Some(first_line) = self.refs.first_line_or_insert(person_ref, line)
        {
            self.problems
                .push((Some("person_ref"), Reason::Duplicate { first_line }));
        }
        self.finish_row(line, core);
    }

    /// Parses every field of the row, noting the ones that do not parse.
    /// Returns the core fields and the row's `person_ref`.
    fn parse_fields<'r>(&mut self, rec: &'r csv::ByteRecord) -> (CoreFields, &'r [u8]) {
        let mut person_ref: &[u8] = &[];
        let mut f = CoreFields::default();
        for (slot, field) in self.header.slots.iter().zip(rec.iter()) {
            let raw = trim(field);
            if slot.person_ref {
                person_ref = raw;
                if raw.is_empty() {
                    self.problems.push((Some("person_ref"), Reason::Missing));
                }
                continue;
            }
            if let Some(core) = slot.core
                && !raw.is_empty()
            {
                let parsed = match core {
                    Core::ReferredOn => parse_date(raw).map(|d| f.referred_on = Some(d)),
                    Core::StartedOn => parse_date(raw).map(|d| f.started_on = Some(d)),
                    Core::EndedOn => parse_date(raw).map(|d| f.ended_on = Some(d)),
                    Core::Intake => {
                        parse_code(raw, &INTAKE).map(|c| f.intake = Intake::from_index(c))
                    }
                    Core::NotAdmittedReason => parse_code(raw, &NOT_ADMITTED_REASON)
                        .map(|c| f.reason = NotAdmittedReason::from_index(c)),
                    Core::Outcome => {
                        parse_code(raw, &OUTCOME).map(|c| f.outcome = Outcome::from_index(c))
                    }
                    Core::Gender => {
                        parse_code(raw, &GENDER).map(|c| f.gender = Gender::from_index(c))
                    }
                };
                if let Err(r) = parsed {
                    self.problems.push((Some(slot.name), r));
                    continue;
                }
            }
            if let Some(ci) = slot.value
                && let Some(column) = self.columns.get(ci)
            {
                if raw.is_empty() {
                    if column.required && slot.core.is_none() {
                        self.problems.push((Some(slot.name), Reason::Missing));
                    }
                    continue;
                }
                match parse_value(raw, &column.kind) {
                    Ok(v) => {
                        if let Some(out) = self.row_values.get_mut(ci) {
                            *out = v;
                        }
                    }
                    Err(r) => {
                        if slot.core.is_none() {
                            self.problems.push((Some(slot.name), r));
                        }
                    }
                }
            }
        }
        (f, person_ref)
    }

    /// Required fields and cross-field rules, reported only for fields that
    /// parsed; then the minimums of derived quantities.
    fn check_rules(&mut self, f: &CoreFields) {
        let problems = &mut self.problems;
        let bad = |col: &str, p: &[Problem<'_>]| p.iter().any(|(c, _)| *c == Some(col));
        if f.referred_on.is_none() && !bad("referred_on", problems) {
            problems.push((Some("referred_on"), Reason::Missing));
        }
        if f.intake.is_none() && !bad("intake", problems) {
            problems.push((Some("intake"), Reason::Missing));
        }
        if f.gender.is_none() && !bad("gender", problems) {
            problems.push((Some("gender"), Reason::Missing));
        }
        match f.intake {
            Some(Intake::Admitted) if f.started_on.is_none() && !bad("started_on", problems) => {
                problems.push((
                    Some("started_on"),
                    Reason::RequiredWhen("intake is admitted"),
                ));
            }
            Some(Intake::NotAdmitted)
                if f.reason.is_none() && !bad("not_admitted_reason", problems) =>
            {
                problems.push((
                    Some("not_admitted_reason"),
                    Reason::RequiredWhen("intake is not_admitted"),
                ));
            }
            _ => {}
        }
        if let (Some(s), Some(e)) = (f.started_on, f.ended_on)
            && e < s
        {
            problems.push((Some("ended_on"), Reason::EndedBeforeStarted));
        }
        if f.outcome.is_some() && f.ended_on.is_none() && !bad("ended_on", problems) {
            problems.push((Some("outcome"), Reason::OutcomeWithoutEnd));
        }
        if let Some(year) = self.as_of_year {
            for &(ci, derive, minimum) in self.minimums {
                let (Some(&raw), Some(column)) = (self.row_values.get(ci), self.columns.get(ci))
                else {
                    continue;
                };
                if raw == MISSING {
                    continue;
                }
                if let ColumnKind::Int { lo, .. } = column.kind
                    && derive_value(derive, lo + i64::from(raw), year) < minimum
                {
                    let what = match derive {
                        Derive::YearsSince => "the number of years up to the period",
                        Derive::MonthsAsYears => "the number of years",
                        _ => "the value",
                    };
                    problems.push((
                        Some(column.name.as_str()),
                        Reason::BelowMinimum { what, minimum },
                    ));
                }
            }
        }
    }

    /// Accepts the row if it has no problem, else rejects it with all of them.
    fn finish_row(&mut self, line: u64, f: CoreFields) {
        let c = &mut self.collected;
        match (self.problems.is_empty(), f.referred_on, f.intake, f.gender) {
            (true, Some(referred_on), Some(intake), Some(gender)) => {
                c.participants.push(Participant {
                    referred_on,
                    intake,
                    not_admitted_reason: f.reason,
                    started_on: f.started_on,
                    ended_on: f.ended_on,
                    outcome: f.outcome,
                    gender,
                });
                c.values.extend_from_slice(&self.row_values);
            }
            _ => {
                c.summary.rows_rejected += 1;
                for (col, reason) in self.problems.drain(..) {
                    c.summary.rejections.push(Rejection {
                        line,
                        column: col.map(str::to_string),
                        reason,
                    });
                }
            }
        }
    }
}
