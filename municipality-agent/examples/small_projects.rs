//! How much of each small project's report suppression hides: the 21
//! generated Ny sjanse projects (sizes 10-170, skewed small, as in the
//! 2005-2006 trial), each protected as its own report for 2006 with the
//! default policy (k = 5, zeros published, singletons protected).
//!
//! `cargo run --release -p municipality-agent --example small_projects -- [SEED]`
//!
//! Prints one markdown row per project: participants, hidden cells of all
//! cells, the people those hidden cells count (a person counts once per
//! table they appear in), the same for table 3 (status) alone, and whether
//! table 3's total is published.

use municipality_agent::report::prepare;
use municipality_agent::synthetic::{PROJECTS, SyntheticOptions, project_size, write_export};
use prikk_privacy::definition::Definition;
use prikk_privacy::policy::Policy;
use prikk_privacy::table::Measure;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed: u64 = std::env::args().nth(1).map_or(Ok(2026), |s| s.parse())?;
    let def = Definition::embedded();
    let dir = std::env::temp_dir().join(format!("prikk-small-projects-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!(
        "| project | participants | hidden cells | people in hidden cells (sum of hidden counts) | status table: hidden cells | status table: hidden counts of all counts | status total |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut shares = Vec::new();
    for p in PROJECTS {
        let rows = project_size(p.id, seed);
        let path = dir.join(format!("{}.csv", p.id));
        write_export(&path, p.id, rows, seed, &SyntheticOptions::default())?;
        let prepared = prepare(&def, &path, "2006", None, &Policy::default())?;
        let prot = &prepared.protected;
        let (mut cells, mut hidden, mut people) = (0usize, 0usize, 0i64);
        let (mut s_hidden, mut s_people, mut s_total) = (0usize, 0i64, true);
        let mut s_sum = 0i64;
        for (t, flags) in prot.tables.iter().zip(&prot.suppressed) {
            let is_status = t.shape.id == "status";
            for (c, (&v, &h)) in t.values.iter().zip(flags).enumerate() {
                cells += 1;
                let n = match t.shape.measure {
                    Measure::Count => v,
                    _ => t.contributors.get(c).copied().unwrap_or(0),
                };
                if is_status {
                    s_sum += n;
                }
                if is_status && c == 0 {
                    s_total = !h;
                }
                if h {
                    hidden += 1;
                    people += n;
                    if is_status {
                        s_hidden += 1;
                        s_people += n;
                    }
                }
            }
        }
        shares.push(if s_sum > 0 {
            s_people as f64 / s_sum as f64
        } else {
            0.0
        });
        println!(
            "| {} | {} | {hidden} of {cells} | {people} | {s_hidden} | {s_people} of {s_sum} ({:.0} %) | {} |",
            p.id,
            prepared.summary.rows_accepted,
            shares.last().copied().unwrap_or(0.0) * 100.0,
            if s_total { "published" } else { "hidden" }
        );
    }
    std::fs::remove_dir_all(&dir)?;
    shares.sort_by(f64::total_cmp);
    let q = |f: f64| shares[((shares.len() - 1) as f64 * f).round() as usize] * 100.0;
    println!();
    println!(
        "status table, hidden counts as a share of all its counts, over the 21 projects: min {:.0} %, median {:.0} %, max {:.0} %",
        q(0.0),
        q(0.5),
        q(1.0)
    );
    Ok(())
}
