//! Reporting periods: `YYYY`, `YYYY-H1`/`YYYY-H2`, `YYYY-Q1`..`YYYY-Q4` and
//! `YYYY-MM`. Periods of one kind never overlap; status is evaluated as of a
//! period's last day.

use std::fmt;
use std::str::FromStr;

use time::{Date, Month};

/// The kind of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeriodKind {
    /// A calendar year.
    Year,
    /// A half year.
    Half,
    /// A quarter.
    Quarter,
    /// A month.
    Month,
}

/// A parsed reporting period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// The period as written, normalised (`2006-q1` becomes `2006-Q1`).
    pub text: String,
    /// Its kind.
    pub kind: PeriodKind,
    /// First day.
    pub first: Date,
    /// Last day: the day status is evaluated as of.
    pub last: Date,
}

/// A period that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a reporting period: {problem} (expected YYYY, YYYY-H1, YYYY-H2, YYYY-Q1..YYYY-Q4 or YYYY-MM)"
)]
pub struct PeriodError {
    /// The text given (periods are not personal data).
    pub input: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// Years a period may fall in.
pub const YEARS: std::ops::RangeInclusive<i32> = 1990..=2100;

impl Period {
    /// Parses a period.
    pub fn parse(input: &str) -> Result<Self, PeriodError> {
        let err = |problem| PeriodError {
            input: input.chars().take(40).collect(),
            problem,
        };
        let s = input.trim();
        let (year_text, rest) = match s.split_once('-') {
            Some((y, r)) => (y, Some(r)),
            None => (s, None),
        };
        if year_text.len() != 4 || !year_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("the year must be four digits"));
        }
        let year: i32 = year_text
            .parse()
            .map_err(|_| err("the year must be four digits"))?;
        if !YEARS.contains(&year) {
            return Err(err("the year must be between 1990 and 2100"));
        }
        let (kind, first_month, months, text) = match rest {
            None => (PeriodKind::Year, 1u8, 12u8, format!("{year:04}")),
            Some(r) => {
                let upper = r.to_ascii_uppercase();
                let b = upper.as_bytes();
                match b {
                    [b'H', d @ (b'1' | b'2')] => {
                        let h = d - b'0';
                        (
                            PeriodKind::Half,
                            (h - 1) * 6 + 1,
                            6,
                            format!("{year:04}-H{h}"),
                        )
                    }
                    [b'Q', d @ b'1'..=b'4'] => {
                        let q = d - b'0';
                        (
                            PeriodKind::Quarter,
                            (q - 1) * 3 + 1,
                            3,
                            format!("{year:04}-Q{q}"),
                        )
                    }
                    [a @ b'0'..=b'9', c @ b'0'..=b'9'] => {
                        let m = (a - b'0') * 10 + (c - b'0');
                        if !(1..=12).contains(&m) {
                            return Err(err("the month must be 01 to 12"));
                        }
                        (PeriodKind::Month, m, 1, format!("{year:04}-{m:02}"))
                    }
                    [b'H', ..] => return Err(err("a half year is H1 or H2")),
                    [b'Q', ..] => return Err(err("a quarter is Q1 to Q4")),
                    _ => {
                        return Err(err(
                            "after the year comes H1/H2, Q1..Q4 or a two-digit month",
                        ));
                    }
                }
            }
        };
        let first_m = Month::try_from(first_month).map_err(|_| err("invalid month"))?;
        let last_m = Month::try_from(first_month + months - 1).map_err(|_| err("invalid month"))?;
        let first = Date::from_calendar_date(year, first_m, 1).map_err(|_| err("invalid date"))?;
        let last = Date::from_calendar_date(year, last_m, last_m.length(year))
            .map_err(|_| err("invalid date"))?;
        Ok(Self {
            text,
            kind,
            first,
            last,
        })
    }

    /// The calendar year of the period's last day.
    pub fn year(&self) -> i32 {
        self.last.year()
    }
}

impl FromStr for Period {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn every_kind_has_its_first_and_last_day() {
        let p = Period::parse("2006").unwrap();
        assert_eq!(
            (p.kind, p.first, p.last),
            (
                PeriodKind::Year,
                date!(2006 - 01 - 01),
                date!(2006 - 12 - 31)
            )
        );
        let p = Period::parse("2006-H2").unwrap();
        assert_eq!(
            (p.first, p.last),
            (date!(2006 - 07 - 01), date!(2006 - 12 - 31))
        );
        let p = Period::parse("2006-h1").unwrap();
        assert_eq!(
            (p.text.as_str(), p.last),
            ("2006-H1", date!(2006 - 06 - 30))
        );
        let p = Period::parse("2005-Q3").unwrap();
        assert_eq!(
            (p.first, p.last),
            (date!(2005 - 07 - 01), date!(2005 - 09 - 30))
        );
        let p = Period::parse("2004-02").unwrap();
        assert_eq!((p.kind, p.last), (PeriodKind::Month, date!(2004 - 02 - 29)));
        let p = Period::parse("2006-Q4").unwrap();
        assert_eq!(p.last, date!(2006 - 12 - 31));
    }

    #[test]
    fn bad_periods_say_what_is_wrong() {
        for (bad, needle) in [
            ("06", "four digits"),
            ("2006-13", "01 to 12"),
            ("2006-00", "01 to 12"),
            ("2006-H3", "H1 or H2"),
            ("2006-Q5", "Q1 to Q4"),
            ("2006-W1", "after the year"),
            ("1800", "between"),
            ("", "four digits"),
            ("2006-", "after the year"),
        ] {
            let e = Period::parse(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
