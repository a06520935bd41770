//! SIGKILL during ingest, at several points: the lake always holds a complete old or new version
//! of each table, and the re-run completes the load without loading anything twice.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{TestProject, assert_lake_matches_manifest, number, table};

const SOURCES: [&str; 4] = ["customers", "products", "transactions", "events"];

#[test]
fn killing_ingest_mid_load_leaves_a_consistent_lake() {
    let project = TestProject::new(|c| c.replace("batch_rows: 65536", "batch_rows: 4096"));
    let manifest = project.generate(&[
        "--customers",
        "20000",
        "--transactions",
        "200000",
        "--products",
        "500",
        "--defect-rate",
        "0.02",
    ]);
    let bin = assert_cmd::cargo::cargo_bin("dataflow");
    let mut killed_mid_run = 0;
    for delay_ms in [50u64, 250, 600, 1200, 2500] {
        let mut child = std::process::Command::new(&bin)
            .arg("--project-dir")
            .arg(project.path())
            .arg("ingest")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ingest");
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().expect("poll").is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();

        // Whatever was committed is whole: each table holds 0 rows or every loadable row.
        for source in SOURCES {
            let expected = table(&manifest, source);
            let tables = project.query(
                "select table_name from information_schema.tables where table_schema = 'lake'",
            );
            let name = format!("raw_{source}");
            if tables.iter().any(|t| t["table_name"] == name.as_str()) {
                let rows = project.count(&name);
                assert!(
                    rows == 0 || rows == number(expected, "loadable_rows"),
                    "{name} holds {rows} rows after a kill at {delay_ms} ms"
                );
            }
        }
    }
    assert!(
        killed_mid_run > 0,
        "no kill landed while ingest was running"
    );

    // The re-run completes the load exactly once.
    project.ingest();
    assert_lake_matches_manifest(&project, &manifest, &SOURCES);
}
