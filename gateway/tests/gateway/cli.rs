//! The `gateway` binary: registry commands, serve killed with SIGKILL and
//! restarted, completeness and exports parsed back.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use prikk_proto::{pb, sign_report, verify_receipt};
use prost::Message;

use crate::support::*;

fn gateway() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gateway"))
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn register(db: &Path, dir: &Path, project: &str, region: &str) -> prikk_proto::Signer {
    let s = signer();
    let pubfile = dir.join(format!("{project}.pub"));
    std::fs::write(&pubfile, format!("{}\n", hex::encode(s.public_key()))).unwrap();
    let out = ok(gateway()
        .args(["register", "--db"])
        .arg(db)
        .args([
            "--project",
            project,
            "--name",
            &format!("Project {project}"),
            "--region",
            region,
            "--public-key",
        ])
        .arg(&pubfile));
    assert!(out.contains(s.key_id()), "{out}");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_gateway_loses_no_acknowledged_report_and_exports_parse() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let signers: Vec<_> = ["a", "b", "c"]
        .iter()
        .zip(["vest", "vest", "ost"])
        .map(|(p, r)| register(&db, dir.path(), p, r))
        .collect();
    register(&db, dir.path(), "silent", "ost");

    let mut child = gateway()
        .args([
            "serve",
            "--insecure-plaintext",
            "--listen",
            "127.0.0.1:0",
            "--db",
        ])
        .arg(&db)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("gateway exited").unwrap();
        if let Some(a) = line.strip_prefix("gateway listening on ") {
            break a.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let mut client = prikk_proto::pb::report_gateway_client::ReportGatewayClient::connect(format!(
        "http://{addr}"
    ))
    .await
    .unwrap();
    let mut acknowledged: Vec<pb::ReceiptBody> = Vec::new();
    let mut receipts = Vec::new();
    for (i, s) in signers.iter().enumerate() {
        let project = ["a", "b", "c"][i];
        for rev in 0..2 {
            let r = valid_report(
                project,
                "2006",
                &format!("{project}-{rev}"),
                (i * 10 + rev) as u64,
            );
            receipts.push(
                client
                    .submit_report(sign_report(s, &r))
                    .await
                    .unwrap()
                    .into_inner(),
            );
        }
    }
    child.kill().unwrap(); // SIGKILL: no graceful shutdown
    child.wait().unwrap();

    let key_out = gateway()
        .args(["public-key", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(key_out.status.success());
    let printed = String::from_utf8(key_out.stdout).unwrap();
    assert_eq!(printed.lines().count(), 1, "the key alone on stdout");
    let key = hex::decode(printed.trim()).unwrap();
    assert!(String::from_utf8_lossy(&key_out.stderr).contains(&prikk_proto::key_id_of(&key)));
    for r in &receipts {
        acknowledged.push(verify_receipt(&key, r).unwrap());
    }
    let store = prikk_gateway::Store::open(&db).unwrap();
    for body in &acknowledged {
        let stored = store
            .receipt(&body.report_id)
            .unwrap()
            .expect("acknowledged report survives SIGKILL");
        assert_eq!(
            pb::Receipt::decode(stored.receipt.as_slice()).unwrap(),
            receipts[acknowledged.iter().position(|b| b == body).unwrap()]
        );
    }
    assert_eq!(store.report_count().unwrap(), 6);
    drop(store);

    // Completeness: three reported at revision 2, one missing.
    let text = ok(gateway()
        .args(["completeness", "--period", "2006", "--db"])
        .arg(&db));
    assert!(
        text.contains("3 of 4 registered projects reported"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("silent") && l.contains("missing")),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(gateway()
        .args([
            "completeness",
            "--period",
            "2006",
            "--format",
            "json",
            "--db",
        ])
        .arg(&db)))
    .unwrap();
    let a = json["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["project"] == "a")
        .unwrap();
    assert_eq!(a["revision"], 2);

    // CSV (long) parses back and has every cell of every table.
    let csv_text = ok(gateway()
        .args([
            "export", "--period", "2006", "--level", "national", "--format", "csv", "--db",
        ])
        .arg(&db));
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let def = prikk_privacy::Definition::embedded();
    let cells: usize = def.tables.iter().map(|t| t.shape.len()).sum();
    assert_eq!(rows.iter().filter(|r| &r[0] != "legend").count(), cells);
    let grand = rows
        .iter()
        .find(|r| &r[0] == "status" && &r[1] == "status=total;gender=total")
        .unwrap();
    let expected: i64 = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let r = valid_report(p, "2006", "x", (i * 10 + 1) as u64);
            match r.tables[0].cells[0].value {
                Some(pb::cell::Value::Count(n)) => n,
                _ => panic!(),
            }
        })
        .sum();
    assert_eq!(
        grand[2].parse::<i64>().unwrap(),
        expected,
        "latest revisions summed"
    );

    // JSON in the preview's shape.
    let j: serde_json::Value = serde_json::from_str(&ok(gateway()
        .args([
            "export", "--period", "2006", "--level", "region", "--region", "vest", "--format",
            "json", "--db",
        ])
        .arg(&db)))
    .unwrap();
    assert_eq!(j["tables"].as_array().unwrap().len(), def.tables.len());
    let c0 = &j["tables"][0]["cells"][0];
    assert_eq!(c0["key"]["status"], "total");
    assert!(c0["value"].is_i64(), "{c0}");

    // Table 3 in one command: rows the status hierarchy, columns female, male, total.
    let t3 = ok(gateway()
        .args([
            "export", "--period", "2006", "--level", "national", "--table", "status", "--format",
            "csv", "--db",
        ])
        .arg(&db));
    let mut r = csv::Reader::from_reader(t3.as_bytes());
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        ["status", "female", "male", "total"]
    );
    let labels: Vec<String> = r.records().map(|x| x.unwrap()[0].to_string()).collect();
    assert_eq!(labels.len(), 26);
    assert!(labels.contains(&"      birth".to_string()), "{labels:?}");
    let text = ok(gateway()
        .args([
            "export", "--period", "2006", "--level", "national", "--table", "status", "--db",
        ])
        .arg(&db));
    assert!(
        text.contains("Participant status (table 3)")
            && text.contains("not shown for confidentiality"),
        "{text}"
    );

    // Project level and XLSX.
    let xlsx = dir.path().join("a.xlsx");
    ok(gateway()
        .args([
            "export",
            "--period",
            "2006",
            "--level",
            "project",
            "--project",
            "a",
            "--format",
            "xlsx",
            "--db",
        ])
        .arg(&db)
        .arg("--out")
        .arg(&xlsx));
    let bytes = std::fs::read(&xlsx).unwrap();
    assert!(bytes.len() > 1000 && bytes.starts_with(b"PK\x03\x04"));

    // Usage errors exit 2, input errors 1.
    let st = gateway()
        .args([
            "export", "--period", "2006", "--level", "national", "--format", "xlsx", "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
    let st = gateway()
        .args([
            "export", "--period", "2006-Q9", "--level", "national", "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
    let st = gateway()
        .args([
            "export",
            "--period",
            "2006",
            "--level",
            "project",
            "--project",
            "silent",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(1));
    let st = gateway()
        .args([
            "serve",
            "--insecure-plaintext",
            "--listen",
            "0.0.0.0:0",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&st.stderr).contains("loopback"));
}

#[test]
fn registry_commands() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let first = register(&db, dir.path(), "bergen", "vest");
    let next = signer();
    let raw = dir.path().join("next.raw");
    std::fs::write(&raw, next.public_key()).unwrap();
    let out = ok(gateway()
        .args(["rotate-key", "--project", "bergen", "--db"])
        .arg(&db)
        .arg("--public-key")
        .arg(&raw));
    assert!(
        out.contains(next.key_id()) && out.contains(first.key_id()),
        "{out}"
    );
    ok(gateway()
        .args(["revoke-key", "--key-id", first.key_id(), "--db"])
        .arg(&db));
    let again = gateway()
        .args(["revoke-key", "--key-id", first.key_id(), "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let bad = dir.path().join("bad.pub");
    std::fs::write(&bad, "not a key\n").unwrap();
    let out = gateway()
        .args([
            "register",
            "--project",
            "x",
            "--name",
            "X",
            "--region",
            "r",
            "--db",
        ])
        .arg(&db)
        .arg("--public-key")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.pub"));
    let store = prikk_gateway::Store::open(&db).unwrap();
    assert!(
        store
            .key(first.key_id())
            .unwrap()
            .unwrap()
            .revoked_unix
            .is_some()
    );
    assert!(
        store
            .key(next.key_id())
            .unwrap()
            .unwrap()
            .revoked_unix
            .is_none()
    );
}
