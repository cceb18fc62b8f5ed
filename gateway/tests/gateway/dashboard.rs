//! The read-only dashboard over HTTP: the pages show the same tables the
//! exports give and who has reported, and refuse what they do not serve.

use std::sync::Arc;

use prikk_gateway::dashboard::{Dashboard, escape, serve};
use prikk_gateway::export::grid;
use prikk_gateway::merge::{self, Scope};

use prikk_privacy::Definition;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// One HTTP/1.1 request; the status code and the body.
async fn get(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("{method} {path} HTTP/1.1\r\nHost: dashboard\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    (status, body.to_string())
}

/// The HTML the dashboard writes for one grid row of data cells.
fn row_cells(row: &[String]) -> String {
    row[1..]
        .iter()
        .map(|c| format!("<td class=\"n\">{}</td>", escape(c)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_show_completeness_and_the_exported_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (store, intake, writer) = store_and_intake(dir.path());
    let def = Definition::embedded();
    let birth = |k: &[&str]| k[0] == "admitted.terminated.birth";
    for (i, (project, region)) in [("alpha", "vest"), ("bravo", "vest"), ("charlie", "ost")]
        .into_iter()
        .enumerate()
    {
        let s = enrol(&store, project, region);
        let exact = exact_tables(&def, i as u64 + 1, 30, |_| 5);
        // alpha suppresses its births row: the national births are a lower bound.
        let tables = normal_tables(&exact, |t, k| {
            project == "alpha" && t == "status" && birth(k)
        });
        intake
            .submit(new_report(
                project,
                "2006",
                &format!("{project}-1"),
                &s,
                tables,
            ))
            .await
            .unwrap();
    }
    enrol(&store, "delta", "ost");
    drop(intake);
    writer.join().unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        Arc::new(Dashboard::new(store.clone(), Arc::new(def.clone()), 5)),
        async move {
            let _ = stopped.await;
        },
    ));

    let (status, index) = get(addr, "GET", "/").await;
    assert_eq!(status, 200);
    assert!(
        index.contains("<a href=\"/period/2006\">2006</a></td><td class=\"n\">3</td>"),
        "{index}"
    );

    let (status, national) = get(addr, "GET", "/period/2006").await;
    assert_eq!(status, 200);
    assert!(
        national.contains("3 of 4 registered projects reported"),
        "{national}"
    );
    assert!(
        national.contains("<tr class=\"missing\"><td>delta</td>"),
        "{national}"
    );
    assert!(national.contains("<td>alpha-1</td>"));
    // Every national table exactly as the export lays it out.
    let view = merge::view(&store, &def, "2006", &Scope::National, 5)
        .unwrap()
        .unwrap();
    let mut lower_bounds = 0;
    for t in &view.tables {
        for row in grid(t).iter().skip(1) {
            assert!(
                national.contains(&row_cells(row)),
                "{} row {:?} missing",
                t.shape.id,
                row
            );
            lower_bounds += row.iter().filter(|c| c.starts_with('≥')).count();
        }
    }
    assert!(
        lower_bounds > 0,
        "alpha's suppressed births make lower bounds"
    );
    assert!(national.contains(&escape(&merge::heading(
        &view.source,
        view.reports,
        "Norway",
        "2006"
    ))));

    let (status, ost) = get(addr, "GET", "/period/2006/region/ost").await;
    assert_eq!(status, 200);
    assert!(ost.contains("1 of 2 registered projects reported"), "{ost}");
    assert!(ost.contains("<td>charlie</td>") && !ost.contains("<td>alpha</td>"));
    let region = merge::view(&store, &def, "2006", &Scope::Region("ost".into()), 5)
        .unwrap()
        .unwrap();
    let status_table = region
        .tables
        .iter()
        .find(|t| t.shape.id == "status")
        .unwrap();
    for row in grid(status_table).iter().skip(1) {
        assert!(ost.contains(&row_cells(row)), "{row:?}");
    }

    for (method, path, want) in [
        ("GET", "/period/20x6", 400),
        ("GET", "/period/2006/region/nowhere", 404),
        ("GET", "/reports", 404),
        ("POST", "/period/2006", 405),
        ("DELETE", "/", 405),
    ] {
        assert_eq!(get(addr, method, path).await.0, want, "{method} {path}");
    }
    // Nothing a page served was written: the store is as it was.
    assert_eq!(store.report_count().unwrap(), 3);

    let _ = stop.send(());
    server.await.unwrap();
}
