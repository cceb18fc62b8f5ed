//! The typed columns of the participant export (DOMAIN.md, "Participant
//! export"): code lists with their Norwegian aliases, and the parsers that
//! turn a field into a typed value or a reason it is invalid. A reason never
//! carries the value it rejects.

use std::borrow::Cow;

use time::{Date, Month};

/// A code list: canonical codes, each with its accepted aliases. Aliases are
/// written normalised (lower case, `_` for spaces and hyphens).
#[derive(Debug, PartialEq, Eq)]
pub struct Codes {
    /// `(canonical code, aliases)` in canonical order.
    pub entries: &'static [(&'static str, &'static [&'static str])],
}

impl Codes {
    /// The canonical code at an index.
    pub fn name(&self, index: u16) -> &'static str {
        self.entries.get(usize::from(index)).map_or("", |e| e.0)
    }

    /// Index of a canonical code.
    pub fn index_of(&self, code: &str) -> Option<u16> {
        self.entries
            .iter()
            .position(|e| e.0 == code)
            .and_then(|i| u16::try_from(i).ok())
    }

    fn lookup(&self, normalised: &[u8]) -> Option<u16> {
        for (i, (code, aliases)) in self.entries.iter().enumerate() {
            if code.as_bytes() == normalised || aliases.iter().any(|a| a.as_bytes() == normalised) {
                return u16::try_from(i).ok();
            }
        }
        None
    }

    /// The canonical codes, comma-separated, for error messages.
    pub fn expected(&self) -> String {
        let names: Vec<&str> = self.entries.iter().map(|e| e.0).collect();
        names.join(", ")
    }
}

/// `intake`.
pub static INTAKE: Codes = Codes {
    entries: &[
        ("admitted", &["inntatt", "tatt_inn", "deltaker"]),
        ("not_admitted", &["ikke_inntatt", "ikke_tatt_inn"]),
        ("assessing", &["under_kartlegging", "kartlegging"]),
    ],
};

/// `not_admitted_reason`, in the order of the status hierarchy.
pub static NOT_ADMITTED_REASON: Codes = Codes {
    entries: &[
        ("other_measure", &["annet_tiltak"]),
        (
            "work_or_education",
            &["arbeid_eller_utdanning", "arbeid", "utdanning"],
        ),
        ("self_supporting", &["selvforsørget", "selvforsorget"]),
        ("no_show", &["møtte_ikke", "motte_ikke"]),
        ("moved", &["flyttet"]),
        ("no_childcare", &["mangler_barnepass", "ikke_barnepass"]),
        (
            "disability_pension",
            &["uføretrygd", "uforetrygd", "uførepensjon"],
        ),
        (
            "residence_under_2y",
            &["botid_under_2_år", "botid_under_2_ar"],
        ),
        (
            "assistance_under_6m",
            &["sosialhjelp_under_6_mnd", "sosialhjelp_under_6_måneder"],
        ),
        ("no_need", &["ikke_behov"]),
        ("other", &["annet", "annen"]),
    ],
};

/// `outcome`, in the order of the status hierarchy.
pub static OUTCOME: Codes = Codes {
    entries: &[
        (
            "work_or_education",
            &["arbeid_eller_utdanning", "arbeid", "utdanning"],
        ),
        ("other_discharge", &["annen_utskrivning", "utskrevet_annet"]),
        ("birth", &["fødsel", "fodsel"]),
        ("invalid_absence", &["ugyldig_fravær", "ugyldig_fravaer"]),
        ("moved", &["flyttet"]),
        (
            "referred_elsewhere",
            &["henvist_videre", "henvist_annet_sted"],
        ),
        (
            "full_time_not_feasible",
            &["fulltid_ikke_mulig", "heltid_ikke_mulig"],
        ),
        ("other_termination", &["annet_avbrudd", "avbrutt_annet"]),
    ],
};

/// `gender`.
pub static GENDER: Codes = Codes {
    entries: &[
        ("female", &["kvinne", "k", "f", "kvinnelig"]),
        ("male", &["mann", "m", "mannlig"]),
    ],
};

/// `referral_source`.
pub static REFERRAL_SOURCE: Codes = Codes {
    entries: &[
        ("social_services", &["sosialtjenesten", "sosialkontoret"]),
        ("nav", &[]),
        ("self", &["selv", "selvhenvist"]),
        ("adult_education", &["voksenopplæringen", "voksenopplæring"]),
        ("other", &["annet", "annen"]),
    ],
};

/// `residence_basis`.
pub static RESIDENCE_BASIS: Codes = Codes {
    entries: &[
        ("asylum", &["asyl"]),
        (
            "humanitarian",
            &["humanitært", "humanitaert", "humanitært_grunnlag"],
        ),
        (
            "resettlement",
            &[
                "overføringsflyktning",
                "overforingsflyktning",
                "kvoteflyktning",
            ],
        ),
        (
            "family_refugee",
            &["familiegjenforent_med_flyktning", "familie_flyktning"],
        ),
        (
            "family_other",
            &["familiegjenforent_annet", "familie_annet"],
        ),
        ("work", &["arbeid"]),
        ("other", &["annet", "annen"]),
    ],
};

/// `marital_status`.
pub static MARITAL_STATUS: Codes = Codes {
    entries: &[
        ("married", &["gift"]),
        ("divorced", &["skilt", "separert"]),
        ("single", &["enslig", "ugift"]),
        ("widowed", &["enke", "enkemann"]),
        ("cohabiting", &["samboer"]),
    ],
};

/// `education_norway`.
pub static EDUCATION_NORWAY: Codes = Codes {
    entries: &[
        ("none", &["ingen"]),
        ("primary", &["grunnskole"]),
        (
            "upper_secondary_courses",
            &["videregående_kurs", "videregaende_kurs"],
        ),
        ("upper_secondary", &["videregående", "videregaende"]),
        ("higher", &["høyere", "hoyere", "høyere_utdanning"]),
    ],
};

/// `prior_measures` (a `|`-separated list).
pub static PRIOR_MEASURES: Codes = Codes {
    entries: &[
        ("norwegian_training", &["norskopplæring", "norskopplaering"]),
        ("vocational_course", &["yrkeskurs", "amo_kurs"]),
        ("nav_measure", &["nav_tiltak"]),
        ("job_seeking_course", &["jobbsøkerkurs", "jobbsokerkurs"]),
        ("work_practice", &["arbeidspraksis"]),
        ("education", &["utdanning"]),
        ("none", &["ingen"]),
    ],
};

/// `programme_measures` (a `|`-separated list).
pub static PROGRAMME_MEASURES: Codes = Codes {
    entries: &[
        ("norwegian_ordinary", &["norsk_ordinær", "norsk_ordinaer"]),
        ("norwegian_vocational", &["yrkesrettet_norsk"]),
        ("norwegian_ict", &["norsk_ikt"]),
        (
            "ambulant_teacher",
            &["ambulerende_lærer", "ambulerende_laerer"],
        ),
        ("language_practice", &["språkpraksis", "sprakpraksis"]),
        ("dialogue_group", &["dialoggruppe"]),
        ("job_seeking_cv", &["jobbsøking_cv", "jobbsoking_cv"]),
        (
            "work_practice_municipal",
            &["arbeidspraksis_kommune", "kommunal_arbeidspraksis"],
        ),
        ("work_practice_nav", &["arbeidspraksis_nav"]),
        ("vocational_course", &["yrkeskurs"]),
        ("wage_subsidy", &["lønnstilskudd", "lonnstilskudd"]),
        ("motivation_course", &["motivasjonskurs"]),
        ("theme_meetings", &["temamøter", "temamoter"]),
        ("competence_assessment", &["kompetansekartlegging"]),
        ("physical_training", &["fysisk_trening"]),
        ("other", &["annet", "annen"]),
    ],
};

/// `follow_up`.
pub static FOLLOW_UP: Codes = Codes {
    entries: &[
        ("yes", &["ja", "true", "1"]),
        ("no", &["nei", "false", "0"]),
        ("declined", &["avslått", "avslatt", "takket_nei"]),
    ],
};

/// Boolean columns of the contract.
pub const BOOL_COLUMNS: &[&str] = &["employed_6m", "employed_12m"];

/// The fixed code list of a contract column, if it has one.
pub fn codes_of(column: &str) -> Option<&'static Codes> {
    Some(match column {
        "intake" => &INTAKE,
        "not_admitted_reason" => &NOT_ADMITTED_REASON,
        "outcome" => &OUTCOME,
        "gender" => &GENDER,
        "referral_source" => &REFERRAL_SOURCE,
        "residence_basis" => &RESIDENCE_BASIS,
        "marital_status" => &MARITAL_STATUS,
        "education_norway" => &EDUCATION_NORWAY,
        "follow_up" => &FOLLOW_UP,
        _ => return None,
    })
}

/// The code list of a contract list column.
pub fn list_codes_of(column: &str) -> Option<&'static Codes> {
    match column {
        "prior_measures" => Some(&PRIOR_MEASURES),
        "programme_measures" => Some(&PROGRAMME_MEASURES),
        _ => None,
    }
}

/// Why a field is invalid. Never holds the field's content.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// A required value is empty.
    Missing,
    /// Not one of the codes.
    NotACode(String),
    /// Not a date in either accepted form.
    NotADate,
    /// Not an integer.
    NotAnInteger,
    /// An integer outside its range.
    OutOfRange {
        /// Smallest valid value.
        lo: i64,
        /// Largest valid value.
        hi: i64,
    },
    /// Not a yes/no value.
    NotABool,
    /// Not a two-letter country code.
    NotACountry,
    /// A list item is not one of the codes.
    NotACodeList(String),
    /// Below the smallest value a bucketed quantity may have.
    BelowMinimum {
        /// What is measured.
        what: &'static str,
        /// Minimum.
        minimum: i64,
    },
    /// `ended_on` is before `started_on`.
    EndedBeforeStarted,
    /// `outcome` given while `ended_on` is empty.
    OutcomeWithoutEnd,
    /// Required because of another column.
    RequiredWhen(&'static str),
    /// The same `person_ref` was seen on an earlier line.
    Duplicate {
        /// Line of the first row with that reference.
        first_line: u64,
    },
    /// The row has fewer fields than the header.
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// Not a valid project code.
    NotAProject,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Missing => write!(f, "required value is empty"),
            Reason::NotACode(exp) => write!(f, "not a valid code; expected one of: {exp}"),
            Reason::NotADate => write!(
                f,
                "not a date; expected YYYY-MM-DD or DD.MM.YYYY (years 1900-2100)"
            ),
            Reason::NotAnInteger => write!(f, "not a whole number"),
            Reason::OutOfRange { lo, hi } => {
                write!(f, "out of range; expected a whole number from {lo} to {hi}")
            }
            Reason::NotABool => write!(
                f,
                "not a yes/no value; expected yes, no, true, false, 1, 0, ja or nei"
            ),
            Reason::NotACountry => write!(
                f,
                "not a country code; expected two letters (ISO 3166-1 alpha-2)"
            ),
            Reason::NotACodeList(exp) => write!(
                f,
                "not a `|`-separated list of codes; expected codes from: {exp}"
            ),
            Reason::BelowMinimum { what, minimum } => {
                write!(f, "{what} is below the smallest valid value {minimum}")
            }
            Reason::EndedBeforeStarted => write!(f, "ended_on is before started_on"),
            Reason::OutcomeWithoutEnd => write!(f, "outcome is given but ended_on is empty"),
            Reason::RequiredWhen(why) => write!(f, "required value is empty ({why})"),
            Reason::Duplicate { first_line } => {
                write!(f, "duplicate person_ref (first seen on line {first_line})")
            }
            Reason::FieldCount { expected, found } => {
                write!(f, "the row has {found} fields, the header has {expected}")
            }
            Reason::NotAProject => write!(
                f,
                "not a project code; expected 1-64 letters a-z, digits, `-` or `_`"
            ),
        }
    }
}

/// Trims ASCII whitespace.
pub fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// Lower-cases a code and writes spaces and hyphens as `_`.
fn normalise<'b>(raw: &[u8], buf: &'b mut [u8; 64]) -> Option<Cow<'b, [u8]>> {
    if raw.is_ascii()
        && let Some(out) = buf.get_mut(..raw.len())
    {
        for (o, &c) in out.iter_mut().zip(raw) {
            *o = match c {
                b' ' | b'-' => b'_',
                c => c.to_ascii_lowercase(),
            };
        }
        return Some(Cow::Borrowed(out));
    }
    let s = std::str::from_utf8(raw).ok()?;
    if s.len() > 256 {
        return None;
    }
    Some(Cow::Owned(
        s.to_lowercase().replace([' ', '-'], "_").into_bytes(),
    ))
}

/// Parses a code (case-insensitive, aliases accepted). `raw` is trimmed and non-empty.
pub fn parse_code(raw: &[u8], codes: &Codes) -> Result<u16, Reason> {
    let mut buf = [0u8; 64];
    normalise(raw, &mut buf)
        .and_then(|n| codes.lookup(&n))
        .ok_or_else(|| Reason::NotACode(codes.expected()))
}

/// Parses a code from a list given by a definition (case-insensitive).
pub fn parse_def_code(raw: &[u8], codes: &[String]) -> Result<u16, Reason> {
    let mut buf = [0u8; 64];
    normalise(raw, &mut buf)
        .and_then(|n| codes.iter().position(|c| c.as_bytes() == &*n))
        .and_then(|i| u16::try_from(i).ok())
        .ok_or_else(|| Reason::NotACode(codes.join(", ")))
}

/// Parses a `|`-separated code list into a bit set.
pub fn parse_list(
    raw: &[u8],
    lookup: impl Fn(&[u8]) -> Option<u16>,
    expected: impl Fn() -> String,
) -> Result<u32, Reason> {
    let mut mask = 0u32;
    for item in raw.split(|&b| b == b'|') {
        let item = trim(item);
        let i = if item.is_empty() { None } else { lookup(item) };
        match i {
            Some(i) if i < 31 => mask |= 1 << i,
            _ => return Err(Reason::NotACodeList(expected())),
        }
    }
    Ok(mask)
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 4 {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parses `YYYY-MM-DD` or `DD.MM.YYYY` (years 1900-2100).
pub fn parse_date(raw: &[u8]) -> Result<Date, Reason> {
    let (y, m, d) = match raw {
        [y @ .., b'-', m1, m2, b'-', d1, d2] if y.len() == 4 => {
            (digits(y), digits(&[*m1, *m2]), digits(&[*d1, *d2]))
        }
        [d1, d2, b'.', m1, m2, b'.', y @ ..] if y.len() == 4 => {
            (digits(y), digits(&[*m1, *m2]), digits(&[*d1, *d2]))
        }
        _ => return Err(Reason::NotADate),
    };
    let (Some(y), Some(m), Some(d)) = (y, m, d) else {
        return Err(Reason::NotADate);
    };
    if !(1900..=2100).contains(&y) {
        return Err(Reason::NotADate);
    }
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or(Reason::NotADate)?;
    let day = u8::try_from(d).map_err(|_| Reason::NotADate)?;
    let year = i32::try_from(y).map_err(|_| Reason::NotADate)?;
    Date::from_calendar_date(year, month, day).map_err(|_| Reason::NotADate)
}

/// Parses a whole number in `lo..=hi`.
pub fn parse_int(raw: &[u8], lo: i64, hi: i64) -> Result<i64, Reason> {
    let (neg, body) = match raw {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, raw),
    };
    if body.is_empty() || body.len() > 12 || !body.iter().all(u8::is_ascii_digit) {
        return Err(Reason::NotAnInteger);
    }
    let mut v: i64 = 0;
    for &c in body {
        v = v * 10 + i64::from(c - b'0');
    }
    let v = if neg { -v } else { v };
    if v < lo || v > hi {
        return Err(Reason::OutOfRange { lo, hi });
    }
    Ok(v)
}

/// Parses a yes/no value.
pub fn parse_bool(raw: &[u8]) -> Result<bool, Reason> {
    let mut buf = [0u8; 64];
    let n = normalise(raw, &mut buf).ok_or(Reason::NotABool)?;
    match &*n {
        b"yes" | b"y" | b"true" | b"1" | b"ja" | b"j" => Ok(true),
        b"no" | b"n" | b"false" | b"0" | b"nei" => Ok(false),
        _ => Err(Reason::NotABool),
    }
}

/// Parses a two-letter country code into upper case.
pub fn parse_country(raw: &[u8]) -> Result<[u8; 2], Reason> {
    match raw {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Ok([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
        }
        _ => Err(Reason::NotACountry),
    }
}

/// Parses a project code: 1-64 of `a-z`, `0-9`, `-`, `_` (upper case accepted).
pub fn parse_project(raw: &[u8]) -> Result<String, Reason> {
    if raw.is_empty()
        || raw.len() > 64
        || !raw
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
    {
        return Err(Reason::NotAProject);
    }
    Ok(String::from_utf8_lossy(raw).to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn codes_accept_case_and_norwegian_aliases() {
        assert_eq!(parse_code(b"Sosialtjenesten", &REFERRAL_SOURCE), Ok(0));
        assert_eq!(parse_code(b"K", &GENDER), Ok(0));
        assert_eq!(parse_code(b"kvinne", &GENDER), Ok(0));
        assert_eq!(parse_code(b"Mann", &GENDER), Ok(1));
        assert_eq!(parse_code(b"Under kartlegging", &INTAKE), Ok(2));
        assert_eq!(parse_code(b"not-admitted", &INTAKE), Ok(1));
        assert_eq!(
            parse_code("OVERFØRINGSFLYKTNING".as_bytes(), &RESIDENCE_BASIS),
            Ok(2)
        );
        let e = parse_code(b"Ola Nordmann", &GENDER).unwrap_err();
        assert!(!e.to_string().contains("Ola"), "{e}");
        assert!(e.to_string().contains("female, male"), "{e}");
    }

    #[test]
    fn dates_in_both_forms() {
        assert_eq!(parse_date(b"2006-03-01"), Ok(date!(2006 - 03 - 01)));
        assert_eq!(parse_date(b"01.03.2006"), Ok(date!(2006 - 03 - 01)));
        assert_eq!(parse_date(b"2006-02-30"), Err(Reason::NotADate));
        assert_eq!(parse_date(b"1.3.2006"), Err(Reason::NotADate));
        assert_eq!(parse_date(b"20060301"), Err(Reason::NotADate));
        assert_eq!(parse_date(b"1800-01-01"), Err(Reason::NotADate));
    }

    #[test]
    fn integers_bools_countries_lists() {
        assert_eq!(parse_int(b"20", 0, 20), Ok(20));
        assert_eq!(
            parse_int(b"21", 0, 20),
            Err(Reason::OutOfRange { lo: 0, hi: 20 })
        );
        assert_eq!(
            parse_int(b"-1", 0, 20),
            Err(Reason::OutOfRange { lo: 0, hi: 20 })
        );
        assert_eq!(parse_int(b"2.5", 0, 20), Err(Reason::NotAnInteger));
        assert_eq!(
            parse_int(b"99999999999999999999", 0, 20),
            Err(Reason::NotAnInteger)
        );
        assert_eq!(parse_bool(b"Ja"), Ok(true));
        assert_eq!(parse_bool(b"NEI"), Ok(false));
        assert_eq!(parse_bool(b"maybe"), Err(Reason::NotABool));
        assert_eq!(parse_country(b"iq"), Ok(*b"IQ"));
        assert_eq!(parse_country(b"IRQ"), Err(Reason::NotACountry));
        let lookup = |b: &[u8]| parse_code(b, &PRIOR_MEASURES).ok();
        assert_eq!(
            parse_list(b"norwegian_training | NAV-tiltak", lookup, || {
                PRIOR_MEASURES.expected()
            }),
            Ok(0b101)
        );
        assert!(parse_list(b"norwegian_training||none", lookup, String::new).is_err());
        assert_eq!(parse_project(b"Oslo-Alna"), Ok("oslo-alna".into()));
        assert_eq!(parse_project(b"oslo alna"), Err(Reason::NotAProject));
    }
}
