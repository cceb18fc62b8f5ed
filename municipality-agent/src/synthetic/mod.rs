//! Synthetic participant exports shaped like the Ny sjanse projects of
//! 2005-2006 (IMDi report 4-2007): project sizes 10-170, about 55 % women,
//! countries as in table 1 and statuses as in table 3, every allowlisted
//! column filled plausibly, and the columns a real case system also exports
//! (`name`, `national_id`, `health_notes`, ...) filled with distinctive
//! canary values, so tests can prove none of them ever leaves.
//!
//! Everything is drawn from a ChaCha generator seeded by the caller: the same
//! seed and project always give the same file.

use std::io::{self, Write};
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use time::{Date, Duration, Month};

use crate::tabulate::STATUS_LEAVES;

mod frequencies;
mod projects;

pub use frequencies::TABLE_3;
use frequencies::{
    COUNTRIES_F, COUNTRIES_M, EDU_NO, FOLLOW_UP, MARITAL, OUTCOMES, PRIOR, PROGRAMME, REASONS,
    REFERRAL, RESIDENCE,
};
pub use projects::{PROJECTS, Project, project};

/// Columns a real export carries that must never leave; filled with canaries.
pub const FORBIDDEN_COLUMNS: [&str; 8] = [
    "name",
    "address",
    "phone",
    "national_id",
    "health_notes",
    "diagnosis",
    "sick_leave_days",
    "caseworker_notes",
];

/// Every canary value starts with this, except national ids, which start with [`CANARY_ID_PREFIX`].
pub const CANARY_PREFIX: &str = "CANARY-";
/// National ids are eleven digits starting with this.
pub const CANARY_ID_PREFIX: &str = "99999";

/// Character encoding of a written export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyntheticEncoding {
    /// UTF-8, no byte-order mark.
    #[default]
    Utf8,
    /// UTF-8 with a byte-order mark.
    Utf8Bom,
    /// Windows-1252, as Norwegian spreadsheet tools write it.
    Windows1252,
}

/// How an export is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticOptions {
    /// Field delimiter, `,` or `;`.
    pub delimiter: u8,
    /// Character encoding.
    pub encoding: SyntheticEncoding,
    /// Write Norwegian aliases (kvinne, under kartlegging, overføringsflyktning)
    /// and dates as DD.MM.YYYY, as a Norwegian case system would.
    pub norwegian: bool,
    /// Include the forbidden columns with canary values.
    pub forbidden_columns: bool,
    /// Include the `project` column.
    pub project_column: bool,
}

impl Default for SyntheticOptions {
    fn default() -> Self {
        Self {
            delimiter: b',',
            encoding: SyntheticEncoding::Utf8,
            norwegian: false,
            forbidden_columns: true,
            project_column: true,
        }
    }
}

impl SyntheticOptions {
    /// `;`-delimited Windows-1252 with Norwegian aliases: a typical spreadsheet export.
    pub fn spreadsheet() -> Self {
        Self {
            delimiter: b';',
            encoding: SyntheticEncoding::Windows1252,
            norwegian: true,
            ..Self::default()
        }
    }
}

/// What was written: the truth the tables must reproduce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticStats {
    /// Rows written.
    pub rows: usize,
    /// Women among them.
    pub women: usize,
    /// People per status leaf ([`STATUS_LEAVES`]) as of [`STATUS_DAY`].
    pub status: [usize; STATUS_LEAVES.len()],
}

/// The day the generated statuses hold as of (end of 2006).
pub const STATUS_DAY: Date = match Date::from_calendar_date(2006, Month::December, 31) {
    Ok(d) => d,
    Err(_) => panic!("valid date"),
};

#[allow(
    clippy::indexing_slicing,
    reason = "every caller passes a constant, non-empty list; the last item is only reached when all weights are 0"
)]
fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|i| i.1).sum();
    let mut r = rng.random_range(0..total.max(1));
    for (item, w) in items {
        if r < *w {
            return item;
        }
        r -= w;
    }
    &items[items.len() - 1].0
}

fn date_text(d: Date, norwegian: bool) -> String {
    if norwegian {
        format!("{:02}.{:02}.{:04}", d.day(), u8::from(d.month()), d.year())
    } else {
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    }
}

fn day(y: i32, m: Month, d: u8) -> Date {
    Date::from_calendar_date(y, m, d).unwrap_or(STATUS_DAY)
}

/// The header of a generated export.
pub fn header(opts: &SyntheticOptions) -> Vec<&'static str> {
    let mut h = vec!["person_ref"];
    if opts.forbidden_columns {
        h.extend(["name", "national_id"]);
    }
    if opts.project_column {
        h.push("project");
    }
    h.extend([
        "referred_on",
        "referral_source",
        "intake",
        "not_admitted_reason",
        "started_on",
        "ended_on",
        "outcome",
    ]);
    if opts.forbidden_columns {
        h.extend(["address", "phone"]);
    }
    h.extend([
        "gender",
        "birth_year",
        "country_of_birth",
        "residence_basis",
        "arrival_year",
        "marital_status",
        "children_under_18",
        "education_years_abroad",
        "education_norway",
        "work_years_abroad",
        "work_years_norway",
        "years_without_work",
        "assistance_months",
    ]);
    if opts.forbidden_columns {
        h.extend(["health_notes", "diagnosis", "sick_leave_days"]);
    }
    h.extend([
        "prior_measures",
        "programme_measures",
        "contact_persons",
        "employed_6m",
        "employed_12m",
        "follow_up",
    ]);
    if opts.forbidden_columns {
        h.push("caseworker_notes");
    }
    h
}

fn seed_for(project: &str, seed: u64) -> u64 {
    // FNV-1a over the project id, mixed with the seed: each project gets its own stream.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in project.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A project's size (10-170 participants) for a seed, when none is given.
pub fn project_size(project: &str, seed: u64) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(seed_for(project, seed) ^ 0x5151);
    // Skewed towards small projects: the 21 projects referred 938 people.
    let u: f64 = rng.random();
    10 + (160.0 * u * u) as usize
}

/// Writes a generated export for `project` with `rows` rows to `path`.
pub fn write_export(
    path: &Path,
    project: &str,
    rows: usize,
    seed: u64,
    opts: &SyntheticOptions,
) -> io::Result<SyntheticStats> {
    let file = std::fs::File::create(path)?;
    let mut w = io::BufWriter::with_capacity(1 << 20, file);
    let stats = write_export_to(&mut w, project, rows, seed, opts)?;
    w.flush()?;
    Ok(stats)
}

/// Writes a generated export to any writer.
pub fn write_export_to<W: Write>(
    out: &mut W,
    project: &str,
    rows: usize,
    seed: u64,
    opts: &SyntheticOptions,
) -> io::Result<SyntheticStats> {
    match opts.encoding {
        SyntheticEncoding::Windows1252 => {
            // Encode row by row so large files never sit in memory twice.
            let mut buf = Vec::with_capacity(4096);
            generate(project, rows, seed, opts, |row| {
                buf.clear();
                buf.extend_from_slice(row);
                let text = String::from_utf8_lossy(&buf);
                let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
                out.write_all(&bytes)
            })
        }
        SyntheticEncoding::Utf8Bom => {
            out.write_all(&[0xEF, 0xBB, 0xBF])?;
            generate(project, rows, seed, opts, |row| out.write_all(row))
        }
        SyntheticEncoding::Utf8 => generate(project, rows, seed, opts, |row| out.write_all(row)),
    }
}

#[allow(
    clippy::indexing_slicing,
    reason = "every caller passes a constant list with positive weights (`random_range` refuses an empty range before)"
)]
fn code3<'a>(
    rng: &mut ChaCha8Rng,
    items: &'a [(&'a str, &'a str, u32)],
    norwegian: bool,
) -> &'a str {
    let total: u32 = items.iter().map(|i| i.2).sum();
    let mut r = rng.random_range(0..total);
    for (en, no, w) in items {
        if r < *w {
            return if norwegian { no } else { en };
        }
        r -= w;
    }
    items[0].0
}

/// Appends one CSV row, quoting fields that hold the delimiter, quotes or line breaks.
fn push_row<'a>(line: &mut String, fields: impl Iterator<Item = &'a str>, delimiter: u8) {
    let d = char::from(delimiter);
    for (i, f) in fields.enumerate() {
        if i > 0 {
            line.push(d);
        }
        if f.contains([d, '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&f.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(f);
        }
    }
    line.push_str("\r\n");
}

fn generate(
    project: &str,
    rows: usize,
    seed: u64,
    opts: &SyntheticOptions,
    mut emit: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<SyntheticStats> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed_for(project, seed));
    let header = header(opts);
    let mut line = String::with_capacity(1024);
    push_row(&mut line, header.iter().copied(), opts.delimiter);
    emit(line.as_bytes())?;
    let mut stats = SyntheticStats {
        rows,
        women: 0,
        status: [0; STATUS_LEAVES.len()],
    };
    let status_weights: Vec<(usize, u32)> = TABLE_3.iter().copied().enumerate().collect();
    let start = day(2005, Month::January, 3);
    let nor = opts.norwegian;
    let mut fields: Vec<String> = Vec::with_capacity(header.len());
    for n in 1..=rows {
        fields.clear();
        let leaf = *pick(&mut rng, &status_weights);
        #[allow(
            clippy::indexing_slicing,
            reason = "`leaf` is a position in `TABLE_3`, which has one weight per status leaf"
        )]
        {
            stats.status[leaf] += 1;
        }
        let female = rng.random_bool(0.55);
        stats.women += usize::from(female);
        let referred = start + Duration::days(rng.random_range(0..630));
        let admitted = leaf < 10;
        let mut started = None;
        let mut ended = None;
        let mut outcome = "";
        if admitted {
            let s = (referred + Duration::days(rng.random_range(7..60))).min(STATUS_DAY);
            started = Some(s);
            if leaf != 0 {
                let span = (STATUS_DAY - s).whole_days().max(1);
                ended = Some(s + Duration::days(rng.random_range(0..span)));
                #[allow(
                    clippy::indexing_slicing,
                    reason = "admitted leaves other than active (0) and missing data (9) are 1..=8, the 8 `OUTCOMES` in order"
                )]
                if leaf != 9 {
                    outcome = OUTCOMES[leaf - 1];
                }
            }
        }
        let missing = |rng: &mut ChaCha8Rng| rng.random_bool(0.02);

        let mut push = |s: String| fields.push(s);
        push(format!("{}-{n:07}", project.to_uppercase()));
        if opts.forbidden_columns {
            push(if nor {
                format!("{CANARY_PREFIX}NAME-Åse Bjørnæs-{n}")
            } else {
                format!("{CANARY_PREFIX}NAME-{n}")
            });
            push(format!("{CANARY_ID_PREFIX}{n:06}"));
        }
        if opts.project_column {
            push(project.to_string());
        }
        push(date_text(referred, nor));
        push(if missing(&mut rng) {
            String::new()
        } else {
            code3(&mut rng, REFERRAL, nor).to_string()
        });
        push(
            match (leaf, nor) {
                (0..=9, false) => "admitted",
                (0..=9, true) => "inntatt",
                (10, false) => "assessing",
                (10, true) => "under kartlegging",
                (_, false) => "not_admitted",
                (_, true) => "ikke inntatt",
            }
            .to_string(),
        );
        #[allow(
            clippy::indexing_slicing,
            reason = "the not-admitted leaves are 11..=21, the 11 `REASONS` in order"
        )]
        let reason = if leaf >= 11 {
            REASONS[leaf - 11].to_string()
        } else {
            String::new()
        };
        push(reason);
        push(started.map(|d| date_text(d, nor)).unwrap_or_default());
        push(ended.map(|d| date_text(d, nor)).unwrap_or_default());
        push(outcome.to_string());
        if opts.forbidden_columns {
            push(format!("{CANARY_PREFIX}ADDR-{n}, Storgata {}", n % 200));
            push(format!("{CANARY_PREFIX}PHONE-{n}"));
        }
        push(
            match (female, nor) {
                (true, false) => "female",
                (true, true) => "kvinne",
                (false, false) => "male",
                (false, true) => "mann",
            }
            .to_string(),
        );
        push(rng.random_range(1950..=1985).to_string());
        let countries = if female { COUNTRIES_F } else { COUNTRIES_M };
        push(if missing(&mut rng) {
            String::new()
        } else {
            (*pick(&mut rng, countries)).to_string()
        });
        push(if missing(&mut rng) {
            String::new()
        } else {
            code3(&mut rng, RESIDENCE, nor).to_string()
        });
        let years_range = pick(
            &mut rng,
            &[(0..5, 18), (5..10, 47), (10..20, 32), (20..30, 3)],
        )
        .clone();
        let years_here: i32 = rng.random_range(years_range);
        push(if missing(&mut rng) {
            String::new()
        } else {
            (2006 - years_here).to_string()
        });
        push(if missing(&mut rng) {
            String::new()
        } else {
            code3(&mut rng, MARITAL, nor).to_string()
        });
        let children = if rng.random_bool(0.32) {
            0
        } else {
            *pick(
                &mut rng,
                &[
                    (1, 18),
                    (2, 30),
                    (3, 25),
                    (4, 14),
                    (5, 8),
                    (6, 3),
                    (7, 1),
                    (8, 1),
                ],
            )
        };
        push(children.to_string());
        let edu: i32 = *pick(&mut rng, &[(0, 25), (2, 15), (6, 25), (10, 35)]);
        push(if missing(&mut rng) {
            String::new()
        } else {
            (edu + rng.random_range(0..3)).min(30).to_string()
        });
        push(if missing(&mut rng) {
            String::new()
        } else {
            code3(&mut rng, EDU_NO, nor).to_string()
        });
        let wa = if rng.random_bool(0.45) {
            0
        } else {
            rng.random_range(1..16)
        };
        push(wa.to_string());
        let wn = if rng.random_bool(0.30) {
            0
        } else {
            rng.random_range(1..11)
        };
        push(wn.to_string());
        let without: i32 = *pick(&mut rng, &[(1, 40), (5, 30), (10, 22), (20, 8)]);
        push((without + rng.random_range(0..4)).to_string());
        let assist_years: i32 = *pick(&mut rng, &[(0, 3), (1, 32), (5, 51), (10, 13), (20, 1)]);
        push(if missing(&mut rng) {
            String::new()
        } else {
            (assist_years * 12 + rng.random_range(6..12)).to_string()
        });
        if opts.forbidden_columns {
            push(format!(
                "{CANARY_PREFIX}HEALTH-{n}; ryggsmerter, søvnproblemer"
            ));
            push(format!("{CANARY_PREFIX}DIAG-{n}"));
            push(format!("{CANARY_PREFIX}SICK-{n}"));
        }
        let prior = if rng.random_bool(0.15) {
            if nor {
                "ingen".to_string()
            } else {
                "none".to_string()
            }
        } else {
            let mut items: Vec<&str> = PRIOR
                .iter()
                .copied()
                .filter(|_| rng.random_bool(0.35))
                .collect();
            if items.is_empty() {
                items.extend(PRIOR.first());
            }
            items.join("|")
        };
        push(prior);
        if admitted {
            let mut items: Vec<&str> = PROGRAMME
                .iter()
                .copied()
                .filter(|_| rng.random_bool(0.2))
                .collect();
            if items.is_empty() {
                items.extend(PROGRAMME.first());
            }
            push(items.join("|"));
            let cp: i32 = *pick(&mut rng, &[(1, 60), (2, 25), (3, 10), (4, 4), (5, 1)]);
            push(cp.to_string());
        } else {
            push(String::new());
            push(String::new());
        }
        if leaf == 1 {
            let e6 = rng.random_bool(0.6);
            let e12 = e6 && rng.random_bool(0.7);
            let yes_no = |b: bool| {
                if nor {
                    if b { "ja" } else { "nei" }
                } else if b {
                    "yes"
                } else {
                    "no"
                }
            };
            push(yes_no(e6).to_string());
            push(yes_no(e12).to_string());
            push(code3(&mut rng, FOLLOW_UP, nor).to_string());
        } else {
            push(String::new());
            push(String::new());
            push(String::new());
        }
        if opts.forbidden_columns {
            push(format!(
                "{CANARY_PREFIX}NOTE-{n}: samtale om \"plan\", oppfølging; neste møte"
            ));
        }
        line.clear();
        push_row(&mut line, fields.iter().map(String::as_str), opts.delimiter);
        emit(line.as_bytes())?;
    }
    Ok(stats)
}
