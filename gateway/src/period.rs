//! Reporting periods: `YYYY`, `YYYY-H1`/`H2`, `YYYY-Q1`..`Q4` and `YYYY-MM`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kind of a reporting period; periods of one kind never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    /// `YYYY`.
    Year,
    /// `YYYY-H1`, `YYYY-H2`.
    Half,
    /// `YYYY-Q1`..`YYYY-Q4`.
    Quarter,
    /// `YYYY-MM`.
    Month,
}

impl PeriodKind {
    /// Every kind, the default set a directorate collects.
    pub const ALL: [PeriodKind; 4] = [
        PeriodKind::Year,
        PeriodKind::Half,
        PeriodKind::Quarter,
        PeriodKind::Month,
    ];
}

/// A parsed, valid period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    /// Calendar year.
    pub year: u16,
    /// Kind.
    pub kind: PeriodKind,
    /// Half (1-2), quarter (1-4) or month (1-12); 0 for a year.
    pub index: u8,
}

/// A period string that is not one of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a period: expected YYYY, YYYY-H1/H2, YYYY-Q1..Q4 or YYYY-MM")]
pub struct PeriodError(pub String);

impl Period {
    /// Parses a period string; the year must lie in 1900..=2100.
    pub fn parse(s: &str) -> Result<Self, PeriodError> {
        let err = || PeriodError(s.chars().take(40).collect());
        let (Some(digits), Some(rest)) = (s.get(..4), s.get(4..)) else {
            return Err(err());
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let year: u16 = digits.parse().map_err(|_| err())?;
        if !(1900..=2100).contains(&year) {
            return Err(err());
        }
        let (kind, index) = match rest.as_bytes() {
            [] => (PeriodKind::Year, 0),
            [b'-', b'H', d @ (b'1' | b'2')] => (PeriodKind::Half, d - b'0'),
            [b'-', b'Q', d @ b'1'..=b'4'] => (PeriodKind::Quarter, d - b'0'),
            [b'-', a @ b'0'..=b'1', c @ b'0'..=b'9'] => {
                let m = (a - b'0') * 10 + (c - b'0');
                if !(1..=12).contains(&m) {
                    return Err(err());
                }
                (PeriodKind::Month, m)
            }
            _ => return Err(err()),
        };
        Ok(Self { year, kind, index })
    }
}

impl Period {
    /// The last month of the period (1-12). Status is counted as of the
    /// period's last day, so periods that end in the same month of the same
    /// year are one snapshot of the same people: 2006, 2006-H2, 2006-Q4 and
    /// 2006-12.
    pub fn last_month(&self) -> u8 {
        match self.kind {
            PeriodKind::Year => 12,
            PeriodKind::Half => self.index * 6,
            PeriodKind::Quarter => self.index * 3,
            PeriodKind::Month => self.index,
        }
    }

    /// The first moment after the period, 00:00 UTC of the day after its
    /// last day, as Unix seconds: before it, the as-of status does not exist yet.
    pub fn ends_unix(&self) -> i64 {
        let (year, month) = match self.last_month() {
            12 => (i32::from(self.year) + 1, 1u8),
            m => (i32::from(self.year), m + 1),
        };
        time::Month::try_from(month)
            .ok()
            .and_then(|m| time::Date::from_calendar_date(year, m, 1).ok())
            .map_or(i64::MAX, |d| d.midnight().assume_utc().unix_timestamp())
    }

    /// The as-of date's month as `YYYY-MM`: the snapshot this period counts.
    pub fn as_of(&self) -> String {
        format!("{}-{:02}", self.year, self.last_month())
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PeriodKind::Year => write!(f, "{}", self.year),
            PeriodKind::Half => write!(f, "{}-H{}", self.year, self.index),
            PeriodKind::Quarter => write!(f, "{}-Q{}", self.year, self.index),
            PeriodKind::Month => write!(f, "{}-{:02}", self.year, self.index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_ending_on_the_same_day_are_one_snapshot() {
        let as_of = |s: &str| Period::parse(s).unwrap().as_of();
        for s in ["2006", "2006-H2", "2006-Q4", "2006-12"] {
            assert_eq!(as_of(s), "2006-12", "{s}");
        }
        assert_eq!(as_of("2006-H1"), as_of("2006-Q2"));
        assert_eq!(as_of("2006-H1"), "2006-06");
        assert_ne!(as_of("2006-Q3"), as_of("2006-H2"));
        assert_ne!(as_of("2005"), as_of("2006"));
    }

    #[test]
    fn valid_periods_round_trip() {
        for s in [
            "2006", "2006-H1", "2006-H2", "2006-Q1", "2006-Q4", "2006-01", "2006-12",
        ] {
            assert_eq!(Period::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Period::parse("2006-Q3").unwrap().kind, PeriodKind::Quarter);
    }

    #[test]
    fn invalid_periods_are_refused() {
        for s in [
            "",
            "06",
            "2006-",
            "2006-H3",
            "2006-Q0",
            "2006-Q5",
            "2006-00",
            "2006-13",
            "2006-1",
            "1800",
            "2006-q1",
            "２００６",
            "2006-H1x",
        ] {
            assert!(Period::parse(s).is_err(), "{s}");
        }
    }
}

#[cfg(test)]
mod end_tests {
    use super::*;

    #[test]
    fn a_period_ends_at_midnight_after_its_last_day() {
        let end = |s: &str| Period::parse(s).unwrap().ends_unix();
        assert_eq!(end("2006"), 1_167_609_600); // 2007-01-01
        assert_eq!(end("2006-H2"), end("2006"));
        assert_eq!(end("2006-Q4"), end("2006"));
        assert_eq!(end("2006-12"), end("2006"));
        assert_eq!(end("2006-H1"), 1_151_712_000); // 2006-07-01
        assert_eq!(end("2006-02"), 1_141_171_200); // 2006-03-01
    }
}
