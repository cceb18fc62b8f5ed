//! National (and regional) cells against the exact truth computed from the
//! exports with the agent's own ingest and aggregate functions.

use municipality_agent::synthetic::PROJECTS;
use prikk_e2e::truth;
use prikk_gateway::merge;

use crate::world::{PERIOD, World, delivered};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn national_cells_are_true_sums_where_all_published_and_lower_bounds_elsewhere() {
    let w = World::new(&PROJECTS);
    let results = w.submit_all(&w.access()).await;
    let ok = delivered(results, PROJECTS.len());
    let store = w.gateway().store();
    let reports = store.latest_reports(PERIOD).unwrap();
    assert_eq!(
        reports.len(),
        ok.len(),
        "one stored report per delivering project"
    );
    let reporting: Vec<_> = ok.iter().map(|(a, _)| a.clone()).collect();
    let exact = truth::exact_by_project(&w.def, &reporting, PERIOD).unwrap();
    let min_count = w.gateway().config().min_count;

    let national = merge::national(&w.def, &reports, min_count);
    let cmp = truth::compare_national(&w.def, &exact, &reports, &national, min_count);
    assert!(
        cmp.problems.is_empty(),
        "national cells disagree with the truth:\n{:#?}",
        cmp.problems
    );
    let cells: usize = w.def.tables.iter().map(|t| t.shape.len()).sum();
    assert_eq!(
        cmp.exact + cmp.lower_bounds + cmp.suppressed,
        cells,
        "every national cell was checked"
    );
    assert!(
        cmp.exact > 0,
        "some national cells have every contribution published"
    );
    assert!(
        cmp.lower_bounds > 0,
        "some national cells have suppressed contributions"
    );
    assert_eq!(
        cmp.project_cells + suppressed_project_cells(&reports),
        cells * reports.len()
    );

    // The same holds for every region's merge.
    let mut regions: Vec<&str> = reports.iter().map(|r| r.region.as_str()).collect();
    regions.sort_unstable();
    regions.dedup();
    assert!(regions.len() >= 5, "{regions:?}");
    for region in regions {
        let in_region: Vec<_> = reports
            .iter()
            .filter(|r| r.region == region)
            .cloned()
            .collect();
        let merged = merge::regional(&w.def, &reports, region, min_count);
        let cmp = truth::compare_national(&w.def, &exact, &in_region, &merged, min_count);
        assert!(
            cmp.problems.is_empty(),
            "region {region}:\n{:#?}",
            cmp.problems
        );
    }

    // A wrong truth is caught: the check can fail.
    let mut wrong = exact.clone();
    let first = wrong.values_mut().next().unwrap();
    first[0].values[0] += 1;
    let cmp = truth::compare_national(&w.def, &wrong, &reports, &national, min_count);
    assert!(
        !cmp.problems.is_empty(),
        "an off-by-one truth must be reported"
    );
}

fn suppressed_project_cells(reports: &[prikk_gateway::store::StoredReport]) -> usize {
    reports
        .iter()
        .flat_map(|r| &r.tables)
        .flat_map(|t| &t.values)
        .filter(|v| v.is_none())
        .count()
}
