//! From export to report and preview: aggregation against the generator's
//! truth, the payload that would leave (no canary value, no forbidden column
//! name, no primary/secondary distinction), stable report ids, and the
//! `preview` command's JSON, HTML and exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use municipality_agent::ingest::{IngestOptions, ingest_bytes, ingest_file};
use municipality_agent::preview;
use municipality_agent::report::{prepare, report_id};
use municipality_agent::synthetic::{
    CANARY_ID_PREFIX, CANARY_PREFIX, FORBIDDEN_COLUMNS, STATUS_DAY, SyntheticOptions, write_export,
};
use municipality_agent::tabulate::{STATUS_LEAVES, status_at, tabulate, tabulate_per_person};
use prikk_privacy::definition::Definition;
use prikk_privacy::policy::Policy;
use prikk_privacy::table::Table;
use prikk_proto::pb;
use prost::Message;
use time::macros::date;

fn def() -> Definition {
    Definition::embedded()
}

fn synthetic_export(
    dir: &Path,
    project: &str,
    rows: usize,
    opts: &SyntheticOptions,
) -> (PathBuf, municipality_agent::synthetic::SyntheticStats) {
    let path = dir.join(format!("{project}.csv"));
    let stats = write_export(&path, project, rows, 11, opts).unwrap();
    (path, stats)
}

fn cell(t: &Table, codes: &[&str]) -> i64 {
    t.values[t
        .shape
        .cell_by_codes(codes)
        .unwrap_or_else(|| panic!("{} {codes:?}", t.shape.id))]
}

#[test]
fn tables_match_the_generated_truth_and_margins_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let (path, stats) = synthetic_export(dir.path(), "bergen", 600, &SyntheticOptions::default());
    let d = def();
    let data = ingest_file(
        &path,
        &d,
        &IngestOptions {
            project: None,
            as_of: Some(STATUS_DAY),
        },
    )
    .unwrap();
    assert_eq!(data.participants.len(), 600);
    let tables = tabulate(&d, &data, STATUS_DAY).unwrap();
    assert_eq!(tables.len(), d.tables.len());
    for t in &tables {
        assert!(t.margins_add_up(), "{}", t.shape.id);
    }
    // The fast path equals one Table::add_inner per person and cell.
    assert_eq!(tables, tabulate_per_person(&d, &data, STATUS_DAY).unwrap());

    let by_id = |id: &str| tables.iter().find(|t| t.shape.id == id).unwrap();
    let status = by_id("status");
    assert_eq!(cell(status, &["total", "total"]), 600);
    assert_eq!(cell(status, &["total", "female"]), stats.women as i64);
    for (i, leaf) in STATUS_LEAVES.iter().enumerate() {
        assert_eq!(
            cell(status, &[leaf, "total"]),
            stats.status[i] as i64,
            "{leaf}"
        );
    }
    // The intake table's cells are the status table's first level.
    let intake = by_id("intake");
    for level in ["total", "admitted", "assessing", "not_admitted"] {
        for g in ["total", "female", "male"] {
            assert_eq!(
                cell(intake, &[level, g]),
                cell(status, &[level, g]),
                "{level} {g}"
            );
        }
    }
    // Tables over participants count exactly the admitted, by gender.
    for id in [
        "country",
        "residence_basis",
        "years_in_norway",
        "marital_status",
        "education_abroad",
        "contact_persons",
    ] {
        for g in ["total", "female", "male"] {
            assert_eq!(
                cell(by_id(id), &["total", g]),
                cell(status, &["admitted", g]),
                "{id} {g}"
            );
        }
    }
    // The sum table: contributors are people with children, never more than the participants.
    let children = by_id("children");
    let all = children.shape.cell_by_codes(&["total"]).unwrap();
    assert!(children.contributors[all] <= cell(status, &["admitted", "total"]));
    assert!(children.values[all] >= children.contributors[all]);
    // Multi-response: each measure counts a person at most once.
    let prior = by_id("prior_measures");
    for m in ["norwegian_training", "none"] {
        assert!(cell(prior, &[m, "total"]) <= cell(status, &["admitted", "total"]));
    }
    // Incentive flags only for exits to work.
    let inc = by_id("incentive");
    assert!(cell(inc, &["employed_12m", "total"]) <= cell(inc, &["employed_6m", "total"]));
    assert!(
        cell(inc, &["employed_6m", "total"])
            <= cell(status, &["admitted.work_or_education", "total"])
    );
}

#[test]
fn status_is_evaluated_as_of_the_periods_last_day() {
    let text = "person_ref,project,referred_on,intake,not_admitted_reason,started_on,ended_on,outcome,gender\n\
                A,moss,2006-03-01,admitted,,2006-04-01,2006-08-01,birth,f\n\
                B,moss,2006-05-01,admitted,,2006-05-02,2006-09-30,,m\n\
                C,moss,2006-01-10,not_admitted,no_show,,,,m\n";
    let d = def();
    let data = ingest_bytes(text.as_bytes(), "x.csv", &d, &IngestOptions::default()).unwrap();
    let leaf = |i: usize, day| STATUS_LEAVES[status_at(&data.participants[i], day)];
    assert_eq!(leaf(0, date!(2006 - 03 - 31)), "assessing");
    assert_eq!(leaf(0, date!(2006 - 06 - 30)), "admitted.active");
    assert_eq!(leaf(0, date!(2006 - 09 - 30)), "admitted.terminated.birth");
    assert_eq!(leaf(1, date!(2006 - 09 - 30)), "admitted.missing_data");
    assert_eq!(leaf(2, date!(2006 - 09 - 30)), "not_admitted.no_show");
    let q1 = tabulate(&d, &data, date!(2006 - 03 - 31)).unwrap();
    // B was referred after Q1: not counted.
    assert_eq!(cell(&q1[0], &["total", "total"]), 2);
    assert_eq!(cell(&q1[0], &["assessing", "female"]), 1);
    let q3 = tabulate(&d, &data, date!(2006 - 09 - 30)).unwrap();
    assert_eq!(cell(&q3[0], &["admitted.terminated", "female"]), 1);
    assert_eq!(cell(&q3[0], &["admitted", "male"]), 1);
    assert_eq!(cell(&q3[0], &["not_admitted", "male"]), 1);
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn forbidden_columns_never_reach_the_payload_or_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let d = def();
    for (project, opts) in [
        ("bergen", SyntheticOptions::default()),
        ("oslo-grunerlokka", SyntheticOptions::spreadsheet()),
    ] {
        let (path, stats) = synthetic_export(dir.path(), project, 170, &opts);
        let prepared = prepare(&d, &path, "2006", None, &Policy::default()).unwrap();
        assert_eq!(prepared.summary.rows_accepted, stats.rows);
        let mut dropped = prepared.summary.dropped_columns.clone();
        dropped.retain(|c| c != "birth_year");
        let mut forbidden: Vec<String> = FORBIDDEN_COLUMNS.iter().map(|s| s.to_string()).collect();
        forbidden.sort();
        assert_eq!(dropped, forbidden);

        let payload = prepared.payload(1_160_000_000);
        let source = std::fs::read(&path).unwrap();
        assert!(
            contains(&source, CANARY_PREFIX) && contains(&source, "99999000001"),
            "the canaries are in the export"
        );
        assert!(!contains(&payload, "CANARY"), "canary in payload");
        for n in 1..=stats.rows {
            assert!(
                !contains(&payload, &format!("{CANARY_ID_PREFIX}{n:06}")),
                "national id {n} in payload"
            );
        }
        for c in FORBIDDEN_COLUMNS
            .iter()
            .chain(&["person_ref", "ryggsmerter", "Bjørnæs"])
        {
            assert!(!contains(&payload, c), "{c} in payload");
        }

        let preview = preview::preview(&d, &prepared, 1_160_000_000);
        let json = preview::to_json(&preview);
        assert!(
            !json.contains("CANARY") && !json.contains("99999000") && !json.contains("ryggsmerter")
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let tables = serde_json::to_string(&v["tables"]).unwrap();
        for c in FORBIDDEN_COLUMNS {
            assert!(!tables.contains(c), "{c} in the preview tables");
        }
        let html = preview::to_html(&preview);
        assert!(!html.contains("CANARY") && !html.contains("<script"));
        let text = preview::to_text(&preview);
        assert!(!text.contains("CANARY"));
    }
}

#[test]
fn payload_marks_cells_only_as_suppressed_and_ids_are_content_derived() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = synthetic_export(dir.path(), "skien", 90, &SyntheticOptions::default());
    let d = def();
    let policy = Policy::default();
    let a = prepare(&d, &path, "2006-H2", None, &policy).unwrap();
    let b = prepare(&d, &path, "2006-H2", None, &policy).unwrap();
    assert_eq!(a.report, b.report);
    assert_eq!(a.report.report_id.len(), 32);
    assert_eq!(a.report.report_id, report_id(&a.report_at(42)));
    assert_ne!(a.payload_sha256(1), a.payload_sha256(2));
    let other = prepare(&d, &path, "2006-H1", None, &policy).unwrap();
    assert_ne!(other.report.report_id, a.report.report_id);

    let decoded = pb::Report::decode(a.payload(7).as_slice()).unwrap();
    assert_eq!(
        (
            decoded.project.as_str(),
            decoded.period.as_str(),
            decoded.created_unix
        ),
        ("skien", "2006-H2", 7)
    );
    assert_eq!(decoded.tables.len(), d.tables.len());
    let mut suppressed = 0;
    for (t, spec) in decoded.tables.iter().zip(&d.tables) {
        assert_eq!(t.id, spec.shape.id);
        assert_eq!(
            t.dimensions,
            spec.shape
                .dimensions
                .iter()
                .map(|d| d.id.clone())
                .collect::<Vec<_>>()
        );
        assert_eq!(t.cells.len(), spec.shape.len());
        let is_sum = matches!(spec.shape.measure, prikk_privacy::table::Measure::Sum(_));
        for (i, c) in t.cells.iter().enumerate() {
            assert_eq!(c.key, spec.shape.key_codes(i));
            match &c.value {
                Some(pb::cell::Value::Suppressed(pb::Suppressed {})) => {
                    suppressed += 1;
                    assert!(c.contributors.is_none());
                }
                Some(pb::cell::Value::Count(v)) => {
                    assert!(
                        !(1..5).contains(v) || is_sum,
                        "{} {:?} = {v} published",
                        t.id,
                        c.key
                    );
                    assert_eq!(c.contributors.is_some(), is_sum);
                    if let Some(n) = c.contributors {
                        assert!(n == 0 || n >= 5);
                    }
                }
                None => panic!("cell without a value"),
            }
        }
    }
    let expected: usize = a
        .protected
        .suppressed
        .iter()
        .map(|s| s.iter().filter(|&&x| x).count())
        .sum();
    assert_eq!(suppressed, expected);
    assert!(suppressed > 0, "a 90-person project has small cells");
    // The serialized form has no field beyond the contract's (no primary marker).
    assert_eq!(decoded.encode_to_vec(), a.payload(7));
}

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_municipality-agent"))
}

#[test]
fn preview_command_json_html_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = synthetic_export(dir.path(), "drammen", 120, &SyntheticOptions::default());
    let out = agent()
        .args(["preview", "--period", "2006", "--format", "json", "--input"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tables = v["tables"].as_array().unwrap();
    assert_eq!(tables.len(), def().tables.len());
    let mut saw_total = false;
    for t in tables {
        let dims: Vec<&str> = t["dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert!(t["id"].is_string());
        for c in t["cells"].as_array().unwrap() {
            let key = c["key"].as_object().unwrap();
            assert_eq!(key.len(), dims.len());
            for dim in &dims {
                saw_total |= key[*dim] == "total";
            }
            let published = c["value"].is_i64();
            let suppressed = c["suppressed"] == serde_json::Value::Bool(true);
            assert!(published != suppressed, "{c}");
        }
    }
    assert!(saw_total);
    // The published share is counted over exactly the cells that leave.
    let with_value = tables
        .iter()
        .flat_map(|t| t["cells"].as_array().unwrap())
        .filter(|c| c["value"].is_i64())
        .count();
    let all: usize = tables
        .iter()
        .map(|t| t["cells"].as_array().unwrap().len())
        .sum();
    assert_eq!(v["suppression"]["published_cells"], with_value);
    assert_eq!(v["suppression"]["cells"], all);
    assert!(with_value < all, "a 120-person project hides some cells");
    let nonzero = v["suppression"]["nonzero_cells"].as_u64().unwrap();
    let published_nonzero = v["suppression"]["published_nonzero_cells"]
        .as_u64()
        .unwrap();
    assert!(published_nonzero <= nonzero && nonzero <= all as u64);
    assert_eq!(
        v["suppression"]["note"].is_string(),
        3 * published_nonzero < nonzero,
        "{}",
        v["suppression"]
    );
    // A tiny project publishes little, and the preview says why.
    let (tiny, _) = synthetic_export(dir.path(), "tiny", 8, &SyntheticOptions::default());
    let out = agent()
        .args(["preview", "--period", "2006", "--input"])
        .arg(&tiny)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let note = text
        .lines()
        .find(|l| l.starts_with("note: only "))
        .unwrap_or_else(|| panic!("no note in:\n{text}"));
    assert!(note.contains("with 8 people"), "{note}");
    assert_eq!(v["policy"]["min_count"], 5);
    assert!(v["suppression"]["primary"].is_u64() && v["suppression"]["secondary"].is_u64());
    assert_eq!(v["audit"]["passed"], true);
    assert_eq!(v["report_id"].as_str().unwrap().len(), 32);
    assert_eq!(v["payload_sha256"].as_str().unwrap().len(), 64);
    assert!(
        v["dropped_columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "diagnosis")
    );

    // Text: `:` marks suppressed cells; the policy and the audit are stated.
    let out = agent()
        .args(["preview", "--period", "2006", "--min-count", "3", "--input"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("counts of 1 to 2 are never published"),
        "{text}"
    );
    assert!(text.contains("audit: PASSED"));
    assert!(text.lines().any(|l| l.trim_end().ends_with(" :")));

    // HTML escapes everything it shows, including column names from the file.
    let evil = dir.path().join("evil.csv");
    let plain = SyntheticOptions {
        forbidden_columns: false,
        ..SyntheticOptions::default()
    };
    let (clean, _) = synthetic_export(dir.path(), "moss", 60, &plain);
    let mut text = String::new();
    for (i, line) in std::fs::read_to_string(&clean).unwrap().lines().enumerate() {
        text.push_str(line);
        text.push_str(if i == 0 {
            ",<script>alert(1)</script>\n"
        } else {
            ",x\n"
        });
    }
    text.push_str(
        &text
            .lines()
            .nth(1)
            .unwrap()
            .replace("MOSS-0000001", "MOSS-X")
            .replace("female", "robot")
            .replace(",male,", ",robot,"),
    );
    text.push('\n');
    std::fs::write(&evil, text).unwrap();
    let out = agent()
        .args(["preview", "--period", "2006", "--format", "html", "--input"])
        .arg(&evil)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<style>"));
    assert!(!html.contains("<script") && html.contains("&lt;script&gt;"));
    assert!(
        html.contains("gender") && !html.contains("robot"),
        "rejected row shown by column, never value"
    );

    // Bad input: exit code 1 with the file named; bad period: usage, exit code 2.
    let bin = dir.path().join("export.xlsx");
    std::fs::write(&bin, b"PK\x03\x04\x00\x00binary").unwrap();
    let out = agent()
        .args(["preview", "--period", "2006", "--input"])
        .arg(&bin)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("export.xlsx") && err.contains("line 1"),
        "{err}"
    );
    let out = agent()
        .args(["preview", "--period", "2006-Q5", "--input"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let missing = dir.path().join("nope.csv");
    let out = agent()
        .args(["preview", "--period", "2006", "--input"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.csv"));
}

#[test]
fn synthetic_export_command_writes_the_21_projects() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent()
        .args(["synthetic-export", "--seed", "5", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut total = 0;
    for p in municipality_agent::synthetic::PROJECTS {
        let text = std::fs::read_to_string(dir.path().join(format!("{}.csv", p.id))).unwrap();
        let rows = text.lines().count() - 1;
        assert!((10..=170).contains(&rows), "{} has {rows}", p.id);
        total += rows;
    }
    assert!(total > 21 * 10);
    // Same seed, same files.
    let again = tempfile::tempdir().unwrap();
    agent()
        .args([
            "synthetic-export",
            "--seed",
            "5",
            "--projects",
            "2",
            "--out",
        ])
        .arg(again.path())
        .output()
        .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("bergen.csv")).unwrap(),
        std::fs::read(again.path().join("bergen.csv")).unwrap()
    );
    assert!(!again.path().join("drammen.csv").exists());
}

#[test]
fn preview_with_a_helper_shows_the_shares_only_report_that_submit_would_send() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = synthetic_export(dir.path(), "drammen", 120, &SyntheticOptions::default());
    let key = dir.path().join("agent.key");
    let out = agent()
        .args(["keygen", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let helper = prikk_proto::share::HelperSecret::generate().unwrap();
    let helper_key = dir.path().join("helper.pub");
    std::fs::write(
        &helper_key,
        format!("{}\n", hex::encode(helper.public_key())),
    )
    .unwrap();
    let write_config = |with_key: bool| {
        let cfg = dir.path().join(format!("agent-{with_key}.toml"));
        let key_line = if with_key {
            format!("key = {:?}\n", key.display().to_string())
        } else {
            String::new()
        };
        std::fs::write(
            &cfg,
            format!(
                "{key_line}[secure_aggregation]\nhelper_key = {:?}\nmin_projects = 7\n",
                helper_key.display().to_string()
            ),
        )
        .unwrap();
        cfg
    };
    let preview_with = |cfg: &Path, format: &str| {
        agent()
            .arg("preview")
            .arg("--config")
            .arg(cfg)
            .args(["--period", "2006", "--format", format, "--input"])
            .arg(&path)
            .env_remove("PRIKK_AGENT_CONFIG")
            .output()
            .unwrap()
    };
    let cfg = write_config(true);
    let out = preview_with(&cfg, "json");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["release"]["mode"], "secret_shares_only");
    assert_eq!(v["release"]["min_projects"], 7);
    assert!(
        v["tables"].as_array().unwrap().is_empty(),
        "no table is published"
    );
    let per_table = v["release"]["tables"].as_array().unwrap();
    assert_eq!(per_table.len(), def().tables.len());
    for t in per_table {
        assert_eq!(t["level"], "aggregate");
        assert!(
            t["leaves"]
                .as_str()
                .unwrap()
                .contains("summed over at least 7 projects"),
            "{t}"
        );
    }
    // The id shown is the id submit computes with the same key.
    let signer = municipality_agent::keys::load_signer(&key).unwrap();
    let prepared = municipality_agent::report::prepare_shared(
        &def(),
        &path,
        "2006",
        None,
        &municipality_agent::report::ProtectionPolicy::suppression(Policy::default()),
        &signer,
    )
    .unwrap();
    assert_eq!(v["report_id"], prepared.report.report_id.as_str());
    let text = preview_with(&cfg, "text");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("release: secure aggregation: no table of this project is published"),
        "{text}"
    );
    assert!(
        text.contains("status (aggregate level): leaves only as secret shares"),
        "{text}"
    );
    // Without the signing key the preview cannot show the id: a usage error.
    let out = preview_with(&write_config(false), "json");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("signing key"));
    // Without a helper the same export previews as protected tables.
    let out = agent()
        .args(["preview", "--period", "2006", "--format", "json", "--input"])
        .arg(&path)
        .env_remove("PRIKK_AGENT_CONFIG")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["release"]["mode"], "protected_tables");
    assert_eq!(v["tables"].as_array().unwrap().len(), def().tables.len());
}

#[test]
fn the_preview_shows_the_information_loss_that_never_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = synthetic_export(dir.path(), "tromso", 300, &SyntheticOptions::default());
    let d = def();
    let prepared = prepare(&d, &path, "2006", None, &Policy::default()).unwrap();
    let p = &prepared.protected;
    let expected = p.loss();
    let preview = preview::preview(&d, &prepared, 1_160_000_000);
    let loss = preview.suppression.loss.as_ref().expect("a loss view");
    // The same figures as the protection's own measure, and consistent with
    // the suppression counts the preview already shows.
    assert_eq!(loss.hidden_cells, expected.suppressed_cells);
    assert_eq!(Some(loss.secondary_cells), expected.secondary_cells);
    assert_eq!(loss.hidden_people, expected.suppressed_people.unwrap());
    assert_eq!(
        loss.hidden_cells,
        p.suppressed.iter().flatten().filter(|&&h| h).count()
    );
    assert!(loss.secondary_people <= loss.hidden_people);
    assert!(loss.largest_secondary.is_none_or(|m| m >= 5));
    let text = preview::to_text(&preview);
    assert!(text.contains("information loss: "), "{text}");
    assert!(
        text.contains(&format!(
            "{} cells hidden ({} people)",
            loss.hidden_cells, loss.hidden_people
        )),
        "{text}"
    );
    for m in &loss.hidden_margins {
        assert!(text.contains(&m.cell) && !m.reason.is_empty(), "{text}");
    }
    let html = preview::to_html(&preview);
    assert!(html.contains("Information loss"));
    // What leaves carries none of it: no loss figures in the payload.
    let payload = prepared.payload(1_160_000_000);
    assert!(!contains(&payload, "people") && !contains(&payload, "one-way"));
}
