//! Reading participant exports: encodings, delimiters, the allowlist,
//! rejected rows, projects, and a parser that never panics.

use std::io::Write as _;

use municipality_agent::ingest::{
    Decoding, IngestError, IngestOptions, Ingested, Reason, ingest_bytes,
};
use municipality_agent::synthetic::{SyntheticOptions, write_export_to};
use prikk_privacy::definition::Definition;
use proptest::prelude::*;
use time::macros::date;

const HEADER: &str = "person_ref,project,referred_on,referral_source,intake,not_admitted_reason,started_on,ended_on,outcome,gender,country_of_birth,residence_basis,children_under_18,prior_measures";

fn def() -> Definition {
    Definition::embedded()
}

fn read(text: &str) -> Result<Ingested, IngestError> {
    ingest_bytes(
        text.as_bytes(),
        "export.csv",
        &def(),
        &IngestOptions {
            as_of: Some(date!(2006 - 12 - 31)),
            ..Default::default()
        },
    )
}

#[test]
fn windows_1252_export_keeps_norwegian_letters() {
    let mut buf = Vec::new();
    let stats =
        write_export_to(&mut buf, "bergen", 80, 7, &SyntheticOptions::spreadsheet()).unwrap();
    assert!(
        std::str::from_utf8(&buf).is_err(),
        "the export must really be Windows-1252"
    );
    assert!(
        buf.windows(2).any(|w| w == [b'j', 0xF8]),
        "ø as the single byte 0xF8"
    );
    let data = ingest_bytes(&buf, "bergen.csv", &def(), &IngestOptions::default()).unwrap();
    assert_eq!(data.summary.decoding, Decoding::Windows1252);
    assert_eq!(data.summary.delimiter, ';');
    // Norwegian aliases such as `overføringsflyktning` and `voksenopplæringen` only parse if decoded right.
    assert_eq!(
        data.summary.rows_rejected, 0,
        "{:?}",
        data.summary.rejections
    );
    assert_eq!(data.participants.len(), stats.rows);

    // A dropped column name with æøå is recorded as written.
    let text = format!(
        "{HEADER},fødselsnummer_æå\r\nA1,bergen,01.02.2006,sosialtjenesten,inntatt,,01.03.2006,,,Kvinne,IQ,Overføringsflyktning,2,ingen,12345678901\r\n"
    );
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
    assert!(!unmappable);
    let data = ingest_bytes(&bytes, "x.csv", &def(), &IngestOptions::default()).unwrap();
    assert_eq!(data.summary.decoding, Decoding::Windows1252);
    assert!(
        data.summary
            .dropped_columns
            .contains(&"fødselsnummer_æå".to_string()),
        "{:?}",
        data.summary.dropped_columns
    );
    assert_eq!(data.participants.len(), 1, "{:?}", data.summary.rejections);
    let col = data.column_index("residence_basis").unwrap();
    match data.value(0, col) {
        Some(municipality_agent::ingest::Value::Code(i)) => {
            assert_eq!(data.columns[col].kind.code_name(i), "resettlement")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn utf8_with_bom_and_semicolons() {
    let text = format!(
        "\u{feff}{}\nA1;bergen;2006-01-02;nav;assessing;;;;;m;SO;asylum;0;\n",
        HEADER.replace(',', ";")
    );
    let data = read(&text).unwrap();
    assert_eq!(data.summary.decoding, Decoding::Utf8Bom);
    assert_eq!(data.summary.delimiter, ';');
    assert_eq!(data.participants.len(), 1, "{:?}", data.summary.rejections);
    assert_eq!(data.project, "bergen");
}

#[test]
fn mixed_encodings_are_refused_not_garbled() {
    let mut bytes =
        format!("{HEADER},merknad\nA1,bergen,2006-01-02,nav,assessing,,,,,m,SO,asylum,0,,blåbær\n")
            .into_bytes();
    bytes.extend_from_slice(b"A2,bergen,2006-01-02,nav,assessing,,,,,m,SO,asylum,0,,bl\xE5\n");
    let e = ingest_bytes(&bytes, "mixed.csv", &def(), &IngestOptions::default()).unwrap_err();
    assert!(
        matches!(e, IngestError::MixedEncoding { line: 3, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("mixed.csv, line 3"), "{e}");
}

#[test]
fn not_an_export_fails_clearly() {
    let e = read("").unwrap_err();
    assert!(matches!(e, IngestError::Empty { .. }), "{e}");
    let e = ingest_bytes(
        b"PK\x03\x04\x14\x00\x00\x00binary",
        "book.xlsx",
        &def(),
        &IngestOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("book.xlsx, line 1") && e.to_string().contains("NUL"),
        "{e}"
    );
    let e = ingest_bytes(
        b"\xFF\xFEp\x00",
        "u16.csv",
        &def(),
        &IngestOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, IngestError::Utf16 { .. }), "{e}");
    // A file without a header: the first data row is taken as one and lacks the required columns.
    let e = read("A1,bergen,2006-01-02,nav,assessing\n").unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, IngestError::MissingColumns { line: 1, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("person_ref") && msg.contains("export.csv, line 1"),
        "{msg}"
    );
    // ... and never echoes the row it took for a header.
    assert!(!msg.contains("A1"), "{msg}");
    let e = read("person_ref,referred_on,intake,not_admitted_reason,started_on,ended_on,outcome,gender,intake\n")
        .unwrap_err();
    assert!(
        matches!(
            e,
            IngestError::DuplicateColumn {
                first: 3,
                second: 9,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn rejected_rows_name_line_and_column_never_the_value() {
    let text = format!(
        "{HEADER}\n\
         A1,bergen,2006-01-02,nav,admitted,,2006-02-01,,,female,IQ,asylum,2,none\n\
         A2,bergen,2006-01-02,nav,admitted,,2006-02-01,,,SECRET-GENDER-VALUE,IQ,asylum,2,none\n\
         A3,bergen,2006-01-02,nav,admitted,,,,,male,IQ,asylum,2,none\n\
         A1,bergen,2006-01-03,nav,assessing,,,,,male,IQ,asylum,2,none\n\
         A5,bergen,2006-01-02,nav,admitted,,2006-05-01,2006-04-01,moved,male,IQ,asylum,2,none\n\
         A6,bergen,2006-01-02,nav,admitted,,2006-05-01,,birth,female,IQ,asylum,2,none\n\
         A7,bergen,2006-01-02,nav,not_admitted,,,,,female,IRAQ,asylum,99,none|SECRET-LIST\n\
         A8,bergen,2006-01-02,nav,assessing,,,,,female\n\
         \"A9\nstill A9\",bergen,32.01.2006,nav,assessing,,,,,male,IQ,asylum,2,none\n\
         A10,bergen,2006-01-02,nav,assessing,,,,,female,,,,\n"
    );
    let data = read(&text).unwrap();
    let s = &data.summary;
    assert_eq!(s.rows_read, 10);
    assert_eq!(s.rows_accepted, 2, "{:?}", s.rejections);
    assert_eq!(s.rows_rejected, 8);
    let got: Vec<(u64, Option<&str>, &Reason)> = s
        .rejections
        .iter()
        .map(|r| (r.line, r.column.as_deref(), &r.reason))
        .collect();
    let expect_has = |line: u64, col: Option<&str>, pred: &dyn Fn(&Reason) -> bool| {
        assert!(
            got.iter()
                .any(|(l, c, r)| *l == line && *c == col && pred(r)),
            "line {line} {col:?} in {got:?}"
        );
    };
    expect_has(3, Some("gender"), &|r| matches!(r, Reason::NotACode(_)));
    expect_has(4, Some("started_on"), &|r| {
        matches!(r, Reason::RequiredWhen(_))
    });
    expect_has(5, Some("person_ref"), &|r| {
        *r == Reason::Duplicate { first_line: 2 }
    });
    expect_has(6, Some("ended_on"), &|r| *r == Reason::EndedBeforeStarted);
    expect_has(7, Some("outcome"), &|r| *r == Reason::OutcomeWithoutEnd);
    expect_has(8, Some("not_admitted_reason"), &|r| {
        matches!(r, Reason::RequiredWhen(_))
    });
    expect_has(8, Some("country_of_birth"), &|r| *r == Reason::NotACountry);
    expect_has(8, Some("children_under_18"), &|r| {
        *r == Reason::OutOfRange { lo: 0, hi: 20 }
    });
    expect_has(8, Some("prior_measures"), &|r| {
        matches!(r, Reason::NotACodeList(_))
    });
    expect_has(9, None, &|r| {
        matches!(
            r,
            Reason::FieldCount {
                expected: 14,
                found: 10
            }
        )
    });
    // A quoted line break: the row starts on physical line 10.
    expect_has(10, Some("referred_on"), &|r| *r == Reason::NotADate);
    for r in &s.rejections {
        let shown = format!("{} {:?} {}", r.line, r.column, r.reason);
        for secret in ["SECRET", "IRAQ", "99", "32.01"] {
            assert!(!shown.contains(secret), "{shown} shows the value {secret}");
        }
    }
    // The row with empty background fields is accepted: they count as unknown.
    let col = data.column_index("country_of_birth").unwrap();
    assert_eq!(
        data.value(1, col),
        Some(municipality_agent::ingest::Value::Missing)
    );
}

#[test]
fn only_allowlisted_columns_are_read_and_the_rest_named() {
    let text = format!(
        "{HEADER},Name,diagnosis,,health_notes\nA1,bergen,2006-01-02,nav,assessing,,,,,f,IQ,asylum,1,none,Kari,F32,,x\n"
    );
    let data = read(&text).unwrap();
    assert_eq!(
        data.summary.dropped_columns,
        vec![
            "(column 17 has no name)",
            "Name",
            "diagnosis",
            "health_notes"
        ]
    );
    let names: Vec<&str> = data.columns.iter().map(|c| c.name.as_str()).collect();
    for forbidden in ["name", "diagnosis", "health_notes"] {
        assert!(!names.contains(&forbidden));
    }
    assert!(
        data.summary
            .absent_columns
            .contains(&"marital_status".to_string())
    );
}

#[test]
fn projects_are_selected_or_asked_for() {
    let text = format!(
        "{HEADER}\nA1,oslo-alna,2006-01-02,nav,assessing,,,,,f,IQ,asylum,1,none\n\
         A1,OSLO-BJERKE,2006-01-02,nav,assessing,,,,,f,IQ,asylum,1,none\n\
         A2,oslo bjerke,2006-01-02,nav,assessing,,,,,f,IQ,asylum,1,none\n"
    );
    let e = read(&text).unwrap_err();
    assert!(
        matches!(&e, IngestError::SeveralProjects { projects, .. } if projects == &["oslo-alna", "oslo-bjerke"]),
        "{e}"
    );
    let opts = |p: &str| IngestOptions {
        project: Some(p.into()),
        as_of: None,
    };
    let data = ingest_bytes(text.as_bytes(), "x.csv", &def(), &opts("oslo-bjerke")).unwrap();
    // Same person_ref in another project is not a duplicate; the invalid project value is reported.
    assert_eq!(
        (
            data.participants.len(),
            data.summary.rows_other_projects,
            data.summary.rows_rejected
        ),
        (1, 1, 1)
    );
    assert_eq!(
        data.summary.rejections[0].column.as_deref(),
        Some("project")
    );
    let e = ingest_bytes(text.as_bytes(), "x.csv", &def(), &opts("bergen")).unwrap_err();
    assert!(matches!(e, IngestError::ProjectNotInFile { .. }), "{e}");
    // No project column: the option names the project; without it, a clear error.
    let text = "person_ref,referred_on,intake,not_admitted_reason,started_on,ended_on,outcome,gender\nA,2006-01-01,assessing,,,,,m\n";
    let e = read(text).unwrap_err();
    assert!(e.to_string().contains("--project"), "{e}");
    let data = ingest_bytes(text.as_bytes(), "x.csv", &def(), &opts("Moss")).unwrap();
    assert_eq!(
        (data.project.as_str(), data.participants.len()),
        ("moss", 1)
    );
    assert_eq!(data.participants[0].referred_on, date!(2006 - 01 - 01));
}

#[test]
fn arrival_after_the_period_is_rejected() {
    let text = "person_ref,project,referred_on,intake,not_admitted_reason,started_on,ended_on,outcome,gender,arrival_year\n\
                A,moss,2005-01-01,assessing,,,,,m,2006\nB,moss,2005-01-01,assessing,,,,,m,2005\n";
    let opts = IngestOptions {
        project: None,
        as_of: Some(date!(2005 - 12 - 31)),
    };
    let data = ingest_bytes(text.as_bytes(), "x.csv", &def(), &opts).unwrap();
    assert_eq!(data.participants.len(), 1);
    assert_eq!(data.summary.rejections[0].line, 2);
    assert!(matches!(
        data.summary.rejections[0].reason,
        Reason::BelowMinimum { minimum: 0, .. }
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = ingest_bytes(&bytes, "fuzz.csv", &def(), &IngestOptions::default());
    }

    #[test]
    fn never_panics_and_accounts_for_every_row(
        rows in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![
                    Just(String::new()),
                    "[a-zA-Z_ |]{0,12}",
                    "[0-9.-]{0,10}",
                    Just("admitted".to_string()),
                    Just("not_admitted".to_string()),
                    Just("2006-01-02".to_string()),
                    Just("f".to_string()),
                    Just("\"q;,\n\"".to_string()),
                    any::<String>(),
                ],
                0..16,
            ),
            0..24,
        ),
        semicolons in any::<bool>(),
    ) {
        let d = if semicolons { ";" } else { "," };
        let mut text = HEADER.replace(',', d);
        text.push('\n');
        for r in &rows {
            text.push_str(&r.join(d));
            text.push('\n');
        }
        let opts = IngestOptions { project: Some("p".into()), as_of: Some(date!(2006 - 06 - 30)) };
        if let Ok(data) = ingest_bytes(text.as_bytes(), "fuzz.csv", &def(), &opts) {
            let s = &data.summary;
            prop_assert_eq!(s.rows_accepted + s.rows_rejected + s.rows_other_projects, s.rows_read);
            prop_assert_eq!(s.rows_accepted, data.participants.len());
            prop_assert!(s.rejections.len() >= s.rows_rejected);
        }
    }
}

#[test]
fn sample_files_round_trip_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moss.csv");
    let stats = municipality_agent::synthetic::write_export(
        &path,
        "moss",
        150,
        3,
        &SyntheticOptions::default(),
    )
    .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"\n\n").unwrap();
    let data =
        municipality_agent::ingest::ingest_file(&path, &def(), &IngestOptions::default()).unwrap();
    assert_eq!(data.summary.rows_read, stats.rows);
    assert_eq!(
        data.participants.len(),
        stats.rows,
        "{:?}",
        data.summary.rejections
    );
    assert_eq!(
        data.participants
            .iter()
            .filter(|p| p.gender == municipality_agent::ingest::Gender::Female)
            .count(),
        stats.women
    );
}
