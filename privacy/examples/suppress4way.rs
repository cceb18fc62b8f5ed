//! The suppression benchmark of `shared/bench/suppression-4way`: builds the
//! four-way table (region -> county, gender, status, age -> age group) from
//! microdata, protects it with k = 5 and zeros published, audits the result
//! independently, and reports the information loss. When the directory has
//! GaussSuppression's result, that pattern is audited and measured too.
//!
//! ```text
//! cargo run --release -p prikk-privacy --example suppress4way -- [DIR]
//! cargo run --release -p prikk-privacy --example suppress4way -- linked [DIR]
//! cargo run --release -p prikk-privacy --example suppress4way -- \
//!     generate REGIONS COUNTIES RECORDS [SEED] > microdata.csv
//! cargo run --release -p prikk-privacy --example suppress4way -- scale [DIR]
//! ```
//!
//! `linked` protects two tables that share their region x gender margins
//! (region x gender x status and region x gender x age) as one system.
//! `generate` writes microdata of the benchmark's shape at another size:
//! `REGIONS` regions in `COUNTIES` counties, `RECORDS` people. `scale`
//! generates the sizes 12,558 / 29,484 / 58,968 / 120,120 cells into `DIR`
//! (default `target/suppress-scale`) and runs each.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use prikk_privacy::suppress::loss::Loss;
use prikk_privacy::{Dimension, Measure, Policy, PublishedTable, Table, TableShape, audit, protect};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = "../shared/bench/suppression-4way".to_string();
    match args.first().map(String::as_str) {
        Some("generate") => {
            let num = |i: usize, name: &str| -> Result<u64> {
                Ok(args
                    .get(i)
                    .ok_or_else(|| format!("generate: missing {name}"))?
                    .parse()?)
            };
            let csv = generate(
                num(1, "REGIONS")? as usize,
                num(2, "COUNTIES")? as usize,
                num(3, "RECORDS")? as usize,
                args.get(4).map_or(Ok(2026), |s| s.parse())?,
            );
            std::io::stdout().write_all(csv.as_bytes())?;
            Ok(())
        }
        Some("linked") => linked(args.get(1).unwrap_or(&bench)),
        Some("scale") => scale(args.get(1).map_or("target/suppress-scale", String::as_str)),
        Some(dir) => four_way(dir, true).map(drop),
        None => four_way(&bench, true).map(drop),
    }
}

/// One microdata record: region, gender, status, age, county, age group.
struct Microdata {
    rows: Vec<[String; 6]>,
}

fn read_microdata(path: &str) -> Result<Microdata> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let row: [String; 6] = f
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|_| format!("{path}:{}: expected 6 fields", n + 1))?;
        rows.push(row);
    }
    Ok(Microdata { rows })
}

/// A hierarchy leaf -> parent -> total from the records' (leaf, parent) pairs.
fn hierarchy(id: &str, m: &Microdata, leaf: usize, parent: usize) -> Arc<Dimension> {
    let of: BTreeMap<&str, &str> = m
        .rows
        .iter()
        .map(|r| (r[leaf].as_str(), r[parent].as_str()))
        .collect();
    let mut parents: Vec<&str> = of.values().copied().collect();
    parents.sort_unstable();
    parents.dedup();
    let mut nodes: Vec<(&str, &str)> = parents.iter().map(|p| (*p, "total")).collect();
    nodes.extend(of.iter().map(|(c, p)| (*c, *p)));
    Arc::new(Dimension::hierarchy(id, &nodes))
}

fn flat(id: &str, m: &Microdata, col: usize) -> Arc<Dimension> {
    let mut codes: Vec<&str> = m.rows.iter().map(|r| r[col].as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    Arc::new(Dimension::flat(id, &codes))
}

/// A table over `dims` (each with its microdata column) counting records.
fn count(id: &str, m: &Microdata, dims: &[(Arc<Dimension>, usize)]) -> Result<Table> {
    let shape = Arc::new(TableShape::new(
        id.into(),
        dims.iter().map(|(d, _)| d.clone()).collect(),
        Measure::Count,
        "total".into(),
    ));
    let mut table = Table::zeros(shape);
    for r in &m.rows {
        let key = dims
            .iter()
            .map(|(d, col)| d.index_of(&r[*col]).ok_or("unknown category"))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        table.add_inner(&key, 1);
    }
    Ok(table)
}

fn policy() -> Policy {
    Policy {
        singletons: std::env::var_os("SUPPRESS_NO_SINGLETONS").is_none(),
        ..Policy::default()
    }
}

/// What one protection run measured.
struct Run {
    cells: usize,
    protect_s: f64,
    audit_s: f64,
    passed: bool,
    loss: Loss,
}

fn view(tables: &[Table], hidden: &[Vec<bool>]) -> Vec<PublishedTable> {
    tables
        .iter()
        .zip(hidden)
        .map(|(t, h)| PublishedTable {
            shape: t.shape.clone(),
            cells: t
                .values
                .iter()
                .zip(h)
                .map(|(&v, &s)| (!s).then_some(v))
                .collect(),
        })
        .collect()
}

/// Protects and audits `tables` as one report and prints the figures.
fn run(label: &str, tables: &[Table]) -> Result<(Run, Vec<Vec<bool>>)> {
    let policy = policy();
    let cells: usize = tables.iter().map(|t| t.shape.len()).sum();
    let start = Instant::now();
    let p = protect(tables, &policy)?;
    let protect_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let r = audit(&view(tables, &p.suppressed), &policy, Some(tables), true);
    let audit_s = start.elapsed().as_secs_f64();
    let loss = p.loss();
    println!("{label}: {cells} cells, protection {protect_s:.2} s, audit {audit_s:.2} s");
    println!("  primary {}, {loss}", p.primary_count);
    println!(
        "  independent audit: passed {}, {} failures, narrowest width {:?}, {} cells bounded by propagation (blocks over the integer-programming limit)",
        r.passed,
        r.failures.len(),
        r.narrowest_width,
        r.interval_skipped
    );
    for f in r.failures.iter().take(5) {
        println!("    {f}");
    }
    if let Some(note) = r.engine_note() {
        println!("  engine: {note}");
    }
    for l in loss.hidden_levels() {
        println!("  {l}");
    }
    for m in &p.hidden_margins {
        let shape = &tables[m.table].shape;
        println!(
            "  hidden margin {}[{}]: {}",
            shape.id,
            shape.key_codes(m.cell).join(", "),
            m.reason
        );
    }
    Ok((
        Run {
            cells,
            protect_s,
            audit_s,
            passed: r.passed,
            loss,
        },
        p.primary,
    ))
}

fn four_way_table(m: &Microdata) -> Result<Table> {
    let region = hierarchy("region", m, 0, 4);
    let age = hierarchy("age", m, 3, 5);
    let gender = flat("gender", m, 1);
    let status = flat("status", m, 2);
    count("4way", m, &[(region, 0), (gender, 1), (status, 2), (age, 3)])
}

fn four_way(dir: &str, compare: bool) -> Result<Run> {
    let path = if dir.ends_with(".csv") {
        dir.to_string()
    } else {
        format!("{dir}/microdata.csv")
    };
    let m = read_microdata(&path)?;
    let table = four_way_table(&m)?;
    let (mine, primary) = run("prikk", std::slice::from_ref(&table))?;
    let gauss_path = format!("{dir}/gauss_result.csv");
    if compare && std::path::Path::new(&gauss_path).exists() {
        gauss(&gauss_path, &table, &primary)?;
    }
    Ok(mine)
}

/// GaussSuppression's published pattern on the same cells, audited and
/// measured by prikk.
fn gauss(path: &str, table: &Table, primary: &[Vec<bool>]) -> Result<()> {
    let shape = &table.shape;
    let text = std::fs::read_to_string(path)?;
    let mut hidden = vec![false; shape.len()];
    let mut seen: HashMap<usize, bool> = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let codes: Vec<&str> = f
            .iter()
            .take(4)
            .map(|c| if *c == "Total" { "total" } else { c })
            .collect();
        let cell = shape
            .cell_by_codes(&codes)
            .ok_or("unknown cell in gauss_result.csv")?;
        hidden[cell] = f.get(6) == Some(&"TRUE");
        seen.insert(cell, true);
    }
    let policy = policy();
    let hidden = vec![hidden];
    let r = audit(
        &view(std::slice::from_ref(table), &hidden),
        &policy,
        Some(std::slice::from_ref(table)),
        true,
    );
    let loss = Loss::measure(std::slice::from_ref(table), &hidden, primary);
    println!("GaussSuppression: {} cells listed", seen.len());
    println!("  {loss}");
    println!(
        "  prikk's audit of this pattern: passed {}, {} failures, {} cells pinned exactly",
        r.passed,
        r.failures.len(),
        r.intervals.iter().filter(|i| i.exact).count()
    );
    for f in r.failures.iter().take(3) {
        println!("    {f}");
    }
    for l in loss.hidden_levels() {
        println!("  {l}");
    }
    Ok(())
}

/// Two tables sharing their region x gender margins, protected as one report.
fn linked(dir: &str) -> Result<()> {
    let m = read_microdata(&format!("{dir}/microdata.csv"))?;
    let region = hierarchy("region", &m, 0, 4);
    let age = hierarchy("age", &m, 3, 5);
    let gender = flat("gender", &m, 1);
    let status = flat("status", &m, 2);
    let a = count(
        "status",
        &m,
        &[(region.clone(), 0), (gender.clone(), 1), (status, 2)],
    )?;
    let b = count("age", &m, &[(region, 0), (gender, 1), (age, 3)])?;
    let tables = [a, b];
    let (_, primary) = run("prikk, linked tables", &tables)?;
    let gauss_path = "privacy/benches/data/linked-gauss.csv";
    if let Ok(text) = std::fs::read_to_string(gauss_path) {
        // GaussSuppression's pattern (privacy/benches/data/linked-gauss.R).
        let mut hidden: Vec<Vec<bool>> = tables.iter().map(|t| vec![false; t.shape.len()]).collect();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let t = tables
                .iter()
                .position(|t| Some(&t.shape.id.as_str()) == f.first())
                .ok_or("unknown table in linked-gauss.csv")?;
            let codes: Vec<&str> = f
                .iter()
                .skip(1)
                .take(3)
                .map(|c| if *c == "Total" { "total" } else { c })
                .collect();
            let cell = tables[t]
                .shape
                .cell_by_codes(&codes)
                .ok_or("unknown cell in linked-gauss.csv")?;
            hidden[t][cell] = f.get(6) == Some(&"TRUE");
        }
        let r = audit(&view(&tables, &hidden), &policy(), Some(&tables), true);
        let loss = Loss::measure(&tables, &hidden, &primary);
        println!("GaussSuppression, linked tables:");
        println!("  {loss}");
        println!(
            "  prikk's audit of this pattern: passed {}, {} failures",
            r.passed,
            r.failures.len()
        );
        for f in r.failures.iter().take(3) {
            println!("    {f}");
        }
        for l in loss.hidden_levels() {
            println!("  {l}");
        }
    }
    if std::env::var_os("SUPPRESS_LINKED_DUMP").is_some() {
        for t in &tables {
            let mut out = String::new();
            for c in 0..t.shape.len() {
                out.push_str(&t.shape.key_codes(c).join(","));
                out.push_str(&format!(",{}\n", t.values[c]));
            }
            std::fs::write(format!("{dir}/linked_{}.csv", t.shape.id), out)?;
        }
    }
    Ok(())
}

/// Microdata of the benchmark's shape: region sizes spread log-normally
/// (a few large municipalities, many small), status falling off
/// geometrically, age uniform over ten groups, gender about even.
fn generate(regions: usize, counties: usize, records: usize, seed: u64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = |rng: &mut ChaCha8Rng| -> f64 {
        let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let region_weight: Vec<f64> = (0..regions)
        .map(|_| (1.8 * normal(&mut rng)).exp())
        .collect();
    let status_weight: Vec<f64> = (0..12).map(|i| 0.72f64.powi(i)).collect();
    let pick = |rng: &mut ChaCha8Rng, w: &[f64]| -> usize {
        let total: f64 = w.iter().sum();
        let mut x = rng.random::<f64>() * total;
        for (i, &wi) in w.iter().enumerate() {
            if x < wi {
                return i;
            }
            x -= wi;
        }
        w.len() - 1
    };
    let mut out = String::from("region,gender,status,age,county,agegrp\n");
    for i in 0..records {
        // Every region has someone, so the table has its full size.
        let r = if i < regions {
            i
        } else {
            pick(&mut rng, &region_weight)
        };
        let s = pick(&mut rng, &status_weight);
        let a = rng.random_range(0..10usize);
        let g = if rng.random::<f64>() < 0.512 { "F" } else { "M" };
        let group = match a {
            0..=2 => "Y",
            3..=6 => "P",
            _ => "O",
        };
        out.push_str(&format!(
            "M{:03},{g},S{:02},A{},C{:02},{group}\n",
            r + 1,
            s + 1,
            a + 1,
            r % counties.max(1) + 1
        ));
    }
    out
}

/// The benchmark at four sizes, generated, protected and audited.
fn scale(dir: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    // (regions, counties, records): 23, 54, 108 and 220 region nodes.
    let sizes = [
        (20, 2, 10_000),
        (50, 3, 25_000),
        (100, 7, 50_000),
        (200, 19, 100_000),
    ];
    let mut rows = Vec::new();
    for (regions, counties, records) in sizes {
        let path = format!("{dir}/microdata-{regions}-{counties}-{records}.csv");
        if !std::path::Path::new(&path).exists() {
            std::fs::write(&path, generate(regions, counties, records, 2026))?;
        }
        println!("== {path}");
        let r = four_way(&path, false)?;
        rows.push(r);
    }
    println!();
    println!(
        "| cells | protection s | audit s | audit | secondary | people hidden | largest secondary | grand total | one-way margins hidden |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let l = &r.loss;
        println!(
            "| {} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} of {} |",
            r.cells,
            r.protect_s,
            r.audit_s,
            if r.passed { "passed" } else { "FAILED" },
            l.secondary_cells,
            l.suppressed_people.unwrap_or(0),
            l.largest_secondary.unwrap_or(0),
            if l.grand_totals_hidden == 0 {
                "published"
            } else {
                "hidden"
            },
            l.one_way_hidden,
            l.one_way_cells
        );
    }
    Ok(())
}
