//! Protects the four-way benchmark table of `shared/bench/suppression-4way`
//! (region -> county, gender, status, age -> age group; 12,558 cells) and
//! compares the result with GaussSuppression's, cell by cell.
//!
//! `cargo run --release -p prikk-privacy --example suppress4way -- [DIR]`

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use prikk_privacy::{
    Dimension, Measure, Policy, PublishedTable, Table, TableShape, audit, protect,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/bench/suppression-4way".into());
    let micro = std::fs::read_to_string(format!("{dir}/microdata.csv"))?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    for line in micro.lines().skip(1) {
        rows.push(line.split(',').map(str::to_string).collect());
    }
    let mut county_of: BTreeMap<String, String> = BTreeMap::new();
    let mut group_of: BTreeMap<String, String> = BTreeMap::new();
    for r in &rows {
        county_of.insert(r[0].clone(), r[4].clone());
        group_of.insert(r[3].clone(), r[5].clone());
    }
    let hier = |id: &str, of: &BTreeMap<String, String>| {
        let mut parents: Vec<&String> = of.values().collect();
        parents.sort();
        parents.dedup();
        let mut nodes: Vec<(String, String)> = parents
            .iter()
            .map(|p| ((*p).clone(), "total".into()))
            .collect();
        nodes.extend(of.iter().map(|(c, p)| (c.clone(), p.clone())));
        let refs: Vec<(&str, &str)> = nodes
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        Arc::new(Dimension::hierarchy(id, &refs))
    };
    let region = hier("region", &county_of);
    let age = hier("age", &group_of);
    let gender = Arc::new(Dimension::flat("gender", &["F", "M"]));
    let statuses: Vec<String> = (1..=12).map(|i| format!("S{i:02}")).collect();
    let status = Arc::new(Dimension::flat(
        "status",
        &statuses.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let shape = Arc::new(TableShape::new(
        "4way".into(),
        vec![region.clone(), gender.clone(), status.clone(), age.clone()],
        Measure::Count,
        "total".into(),
    ));
    let mut table = Table::zeros(shape.clone());
    for r in &rows {
        let key = [
            region.index_of(&r[0]).ok_or("region")?,
            gender.index_of(&r[1]).ok_or("gender")?,
            status.index_of(&r[2]).ok_or("status")?,
            age.index_of(&r[3]).ok_or("age")?,
        ];
        table.add_inner(&key, 1);
    }
    println!("cells: {}", shape.len());
    let policy = Policy {
        singletons: true,
        ..Policy::default()
    };
    let start = Instant::now();
    let p = protect(std::slice::from_ref(&table), &policy)?;
    let took = start.elapsed();
    println!(
        "prikk: primary {}, secondary {}, total suppressed {}, time {:.2} s",
        p.primary_count,
        p.secondary_count,
        p.primary_count + p.secondary_count,
        took.as_secs_f64()
    );
    if let Ok(path) = std::env::var("SUPPRESS4WAY_DUMP") {
        let mut out = String::new();
        for (c, &hidden) in p.suppressed[0].iter().enumerate() {
            if hidden {
                out.push_str(&shape.key_codes(c).join(","));
                out.push_str(&format!(",{},{}\n", table.values[c], p.primary[0][c]));
            }
        }
        std::fs::write(path, out)?;
    }
    let view = PublishedTable {
        shape: shape.clone(),
        cells: table
            .values
            .iter()
            .zip(&p.suppressed[0])
            .map(|(&v, &s)| (!s).then_some(v))
            .collect(),
    };
    let start = Instant::now();
    let r = audit(
        std::slice::from_ref(&view),
        &policy,
        Some(std::slice::from_ref(&table)),
        true,
    );
    println!(
        "independent audit: passed {}, {} suppressed examined, {} failures, intervals for {} cells ({} in blocks over the limit), narrowest width {:?}, time {:.2} s",
        r.passed,
        r.suppressed_quantities,
        r.failures.len(),
        r.intervals.len(),
        r.interval_skipped,
        r.narrowest_width,
        start.elapsed().as_secs_f64()
    );
    for f in r.failures.iter().take(5) {
        println!("  {f}");
    }
    // GaussSuppression's pattern on the same cells, audited by prikk.
    let gauss = std::fs::read_to_string(format!("{dir}/gauss_result.csv"))?;
    let mut hidden: HashMap<usize, bool> = HashMap::new();
    let (mut gp, mut gs) = (0, 0);
    for line in gauss.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let codes: Vec<&str> = f[..4]
            .iter()
            .map(|c| if *c == "Total" { "total" } else { c })
            .collect();
        let cell = shape
            .cell_by_codes(&codes)
            .ok_or("unknown cell in gauss_result.csv")?;
        let primary = f[5] == "TRUE";
        let suppressed = f[6] == "TRUE";
        gp += usize::from(primary);
        gs += usize::from(suppressed && !primary);
        hidden.insert(cell, suppressed);
    }
    println!(
        "GaussSuppression: primary {gp}, secondary {gs}, total suppressed {}",
        gp + gs
    );
    let gview = PublishedTable {
        shape: shape.clone(),
        cells: table
            .values
            .iter()
            .enumerate()
            .map(|(c, &v)| (!hidden[&c]).then_some(v))
            .collect(),
    };
    let gr = audit(
        std::slice::from_ref(&gview),
        &policy,
        Some(std::slice::from_ref(&table)),
        true,
    );
    println!(
        "prikk's audit of GaussSuppression's pattern: passed {}, {} failures, {} cells pinned exactly, narrowest width {:?}",
        gr.passed,
        gr.failures.len(),
        gr.intervals.iter().filter(|i| i.exact).count(),
        gr.narrowest_width
    );
    for f in gr
        .failures
        .iter()
        .filter(|f| f.contains("whole-number"))
        .take(3)
    {
        println!("  {f}");
    }
    for f in gr.failures.iter().take(5) {
        println!("  {f}");
    }
    Ok(())
}
