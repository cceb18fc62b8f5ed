//! Merging stored reports: exact cells, lower bounds, latest revisions, regions.

use std::sync::Arc;

use prikk_gateway::FixedClock;
use prikk_gateway::merge::{self, MergedCell};
use prikk_gateway::store::{Intake, Store};
use prikk_privacy::Definition;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn national_and_regional_tables_from_latest_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let store = Arc::new(Store::open(&db).unwrap());
    let def = Definition::embedded();
    let receipt_signer = Arc::new(signer());
    let (intake, writer) =
        Intake::start(&db, receipt_signer, Arc::new(FixedClock::new(T0))).unwrap();

    let birth = |k: &[&str]| k[0] == "admitted.terminated.birth";
    let a = enrol(&store, "a", "vest");
    let b = enrol(&store, "b", "vest");
    let c = enrol(&store, "c", "ost");
    let ta = exact_tables(&def, 1, 30, |_| 5);
    let tb = exact_tables(&def, 2, 30, |_| 5);
    let tc = exact_tables(&def, 3, 30, |_| 5);
    // a suppresses its births row (and the cells that protect it, for the test's purpose only).
    intake
        .submit(new_report(
            "a",
            "2006",
            "a-1",
            &a,
            normal_tables(&ta, |t, k| t == "status" && birth(k)),
        ))
        .await
        .unwrap();
    intake
        .submit(new_report(
            "b",
            "2006",
            "b-1",
            &b,
            normal_tables(&tb, |_, _| false),
        ))
        .await
        .unwrap();
    // c's first revision is superseded by its second.
    let stale = exact_tables(&def, 99, 30, |_| 10);
    intake
        .submit(new_report(
            "c",
            "2006",
            "c-1",
            &c,
            normal_tables(&stale, |_, _| false),
        ))
        .await
        .unwrap();
    let second = intake
        .submit(new_report(
            "c",
            "2006",
            "c-2",
            &c,
            normal_tables(&tc, |_, _| false),
        ))
        .await
        .unwrap();
    assert_eq!(second.revision, 2);
    drop(intake);
    writer.join().unwrap();

    let reports = store.latest_reports("2006").unwrap();
    assert_eq!(
        reports
            .iter()
            .map(|r| (r.project.as_str(), r.revision))
            .collect::<Vec<_>>(),
        [("a", 1), ("b", 1), ("c", 2)]
    );

    let nat = merge::national(&def, &reports, 5);
    let shape = def.table("status").unwrap().shape.clone();
    let st = nat.iter().find(|t| t.shape.id == "status").unwrap();
    let status_idx = |codes: [&str; 2]| shape.cell_by_codes(&codes).unwrap();
    let value = |tables: &[prikk_privacy::Table], i: usize| tables[0].values[i];
    for g in ["female", "male", "total"] {
        let i = status_idx(["admitted.terminated.birth", g]);
        assert_eq!(
            st.cells[i],
            MergedCell::LowerBound {
                value: value(&tb, i) + value(&tc, i),
                suppressed: 1
            }
        );
        let j = status_idx(["admitted.active", g]);
        let exact = value(&ta, j) + value(&tb, j) + value(&tc, j);
        assert_eq!(
            st.cells[j],
            MergedCell::Exact(exact),
            "sum of a, b and c's latest revision"
        );
    }
    let vest = merge::regional(&def, &reports, "vest", 5);
    let sv = vest.iter().find(|t| t.shape.id == "status").unwrap();
    let i = status_idx(["total", "total"]);
    assert_eq!(
        sv.cells[i],
        MergedCell::Exact(value(&ta, i) + value(&tb, i))
    );
    let ost = merge::regional(&def, &reports, "ost", 5);
    assert_eq!(
        ost.iter().find(|t| t.shape.id == "status").unwrap().cells[i],
        MergedCell::Exact(value(&tc, i))
    );
}

#[test]
fn national_policy_suppresses_small_exact_merged_cells() {
    let def = Definition::embedded();
    // Two projects that each publish zeros and one 5 elsewhere: a merged cell
    // summing to 1..4 can only arise from exact cells; build one by hand.
    let mut tables = merge::merge(&def, &[]);
    let st = tables.iter_mut().find(|t| t.shape.id == "status").unwrap();
    st.cells[3] = MergedCell::Exact(4);
    st.cells[4] = MergedCell::Exact(5);
    st.cells[5] = MergedCell::LowerBound {
        value: 2,
        suppressed: 1,
    };
    merge::apply_policy(&mut tables, 5);
    let st = tables.iter().find(|t| t.shape.id == "status").unwrap();
    assert_eq!(st.cells[3], MergedCell::Suppressed);
    assert_eq!(st.cells[4], MergedCell::Exact(5));
    assert_eq!(
        st.cells[5],
        MergedCell::LowerBound {
            value: 2,
            suppressed: 1
        }
    );
    assert_eq!(st.cells[0], MergedCell::Exact(0), "zero stays");
}

/// Two corrections in flight at once were both checked against revision 1
/// before either was stored: the writer checks the second against the
/// first inside its transaction, so the second cannot publish what the
/// first hid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_checked_against_an_older_revision_is_checked_again_on_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, intake, writer) = store_and_intake(dir.path());
    let def = Definition::embedded();
    let a = enrol(&store, "a", "vest");
    let t = exact_tables(&def, 1, 30, |_| 5);
    let birth = |k: &[&str]| k[0] == "admitted.terminated.birth";
    let moved = |k: &[&str]| k[0] == "admitted.terminated.moved";
    // Revision 1 hides nothing of interest.
    intake
        .submit(new_report(
            "a",
            "2006",
            "a-1",
            &a,
            normal_tables(&t, |_, _| false),
        ))
        .await
        .unwrap();
    // Revision 2, checked against revision 1, hides the births row.
    let mut second = new_report(
        "a",
        "2006",
        "a-2",
        &a,
        normal_tables(&t, |id, k| id == "status" && birth(k)),
    );
    second.checked_revision = 1;
    assert_eq!(intake.submit(second).await.unwrap().revision, 2);
    // Revision 3 was also checked against revision 1 only, and publishes
    // the births row again: refused on commit, nothing stored.
    let mut third = new_report(
        "a",
        "2006",
        "a-3",
        &a,
        normal_tables(&t, |id, k| id == "status" && moved(k)),
    );
    third.checked_revision = 1;
    // The writer says which cell; the service refuses with that.
    let e = prikk_gateway::error::RpcError::from(intake.submit(third).await.unwrap_err());
    let text = e.to_string();
    assert!(
        matches!(
            e,
            prikk_gateway::error::RpcError::Refused(prikk_gateway::error::Refusal::Revision(_))
        ),
        "{text}"
    );
    assert!(text.contains("revision 2"), "{text}");
    assert_eq!(store.revisions("a", "2006").unwrap().len(), 2);
    // The same report checked against revision 2 but keeping its
    // suppression is stored as revision 3.
    let mut fourth = new_report(
        "a",
        "2006",
        "a-4",
        &a,
        normal_tables(&t, |id, k| id == "status" && (birth(k) || moved(k))),
    );
    fourth.checked_revision = 1;
    assert_eq!(intake.submit(fourth).await.unwrap().revision, 3);
    drop(intake);
    writer.join().unwrap();
}
