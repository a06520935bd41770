//! Ingest against the manifest: counts, quarantine, idempotency, changed files, thresholds.

use crate::support::{TestProject, assert_lake_matches_manifest, number, table};

const SOURCES: [&str; 4] = ["customers", "products", "transactions", "events"];

#[test]
fn ingest_counts_match_the_manifest_and_rerun_loads_nothing() {
    let project = TestProject::new(|c| c);
    let manifest = project.generate(&[
        "--customers",
        "2000",
        "--transactions",
        "20000",
        "--products",
        "300",
        "--defect-rate",
        "0.04",
    ]);
    let summary = project.ingest();
    assert!(summary.contains("raw_transactions"), "{summary}");

    for source in SOURCES {
        let expected = table(&manifest, source);
        assert!(
            number(expected, "structural_defects") > 0,
            "{source}: no structural defects generated"
        );
    }
    assert_lake_matches_manifest(&project, &manifest, &SOURCES);

    // Quarantine rows say where and why.
    let bad = project.query(
        "select source_file, line_number, column_name, raw_value, raw_record, reason \
         from quarantine_transactions order by line_number",
    );
    for row in &bad {
        assert!(
            row["source_file"]
                .as_str()
                .unwrap_or("")
                .ends_with("transactions.csv")
        );
        assert!(row["line_number"].as_u64().unwrap_or(0) >= 2);
        assert!(!row["raw_record"].as_str().unwrap_or("").is_empty());
        let reason = row["reason"].as_str().unwrap_or("");
        assert!(
            reason.starts_with("expected 7 fields") || reason.starts_with("cannot parse"),
            "{reason}"
        );
        if reason.starts_with("cannot parse") {
            assert_eq!(row["column_name"], "transaction_amount");
        }
    }
    // Line numbers point at the actual line of the file.
    let text = std::fs::read_to_string(project.incoming().join("transactions.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for row in &bad {
        let line = row["line_number"].as_u64().unwrap() as usize;
        assert_eq!(lines[line - 1], row["raw_record"].as_str().unwrap());
    }

    // Lineage columns.
    let lineage = project.query(
        "select count(distinct _batch_id) as batches, count(distinct _source_file) as files, \
         min(_loaded_at) is not null as has_time from raw_customers",
    );
    assert_eq!(lineage[0]["batches"], 1);
    assert_eq!(lineage[0]["files"], 1);

    // Second run: everything skipped, nothing changes.
    let versions_before = project.query("select count(*) as n from raw_events");
    let rerun = project.ingest();
    for source in SOURCES {
        let row = rerun
            .lines()
            .find(|l| l.contains(&format!("raw_{source} ")))
            .unwrap_or_else(|| panic!("no summary row for {source}:\n{rerun}"));
        let cells: Vec<&str> = row.split(['│', '┆']).map(str::trim).collect();
        assert_eq!((cells[3], cells[4], cells[5]), ("0", "1", "0"), "{row}");
    }
    assert_lake_matches_manifest(&project, &manifest, &SOURCES);
    assert_eq!(
        versions_before,
        project.query("select count(*) as n from raw_events")
    );
}

#[test]
fn a_changed_file_is_loaded_again_as_a_new_batch() {
    let project = TestProject::new(|c| c);
    let manifest = project.generate(&[
        "--customers",
        "200",
        "--transactions",
        "1000",
        "--products",
        "50",
    ]);
    project.ingest();
    let products = number(table(&manifest, "products"), "loadable_rows");
    let path = project.incoming().join("products.csv");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("999999,New Gadget,electronics,19.99\n");
    std::fs::write(&path, text).unwrap();
    project.ingest();
    assert_eq!(project.count("raw_products"), products * 2 + 1);
    let batches = project.query("select count(distinct _batch_id) as n from raw_products");
    assert_eq!(batches[0]["n"], 2);
}

#[test]
fn too_many_bad_rows_fail_the_source_and_load_nothing() {
    let project = TestProject::new(|c| {
        c.replace("max_bad_row_fraction: 0.05", "max_bad_row_fraction: 0.001")
    });
    let manifest = project.generate(&[
        "--customers",
        "500",
        "--transactions",
        "5000",
        "--products",
        "50",
        "--defect-rate",
        "0.2",
    ]);
    let out = project.cmd().arg("ingest").assert().code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("more than the allowed 0.10%"), "{stderr}");
    assert!(stderr.contains("nothing was loaded"), "{stderr}");
    assert_eq!(project.count("raw_transactions"), 0);
    let structural = number(table(&manifest, "transactions"), "structural_defects");
    assert_eq!(project.count("quarantine_transactions"), structural);
    // Re-running fails the same way and does not duplicate quarantine rows.
    project.cmd().arg("ingest").assert().code(1);
    assert_eq!(project.count("quarantine_transactions"), structural);
}

#[test]
fn missing_files_name_the_source_and_path() {
    let project = TestProject::new(|c| c);
    let out = project
        .cmd()
        .args(["ingest", "--source", "customers"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("source `customers`: no files match"),
        "{stderr}"
    );
    assert!(stderr.contains("customers*.csv"), "{stderr}");
}

#[test]
fn a_header_without_a_declared_column_fails_that_source_only() {
    let project = TestProject::new(|c| c);
    project.generate_small();
    let path = project.incoming().join("products.csv");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replacen("price", "cost", 1);
    std::fs::write(&path, text).unwrap();
    let out = project.cmd().arg("ingest").assert().code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("header lacks declared column(s) price"),
        "{stderr}"
    );
    assert!(project.count("raw_customers") > 0);
    assert_eq!(project.count("raw_products"), 0);
}

#[test]
fn a_changed_declared_schema_is_refused_and_the_table_kept() {
    let project = TestProject::new(|c| c);
    let manifest = project.generate_small();
    project
        .cmd()
        .args(["ingest", "--source", "products"])
        .assert()
        .success();
    let config = std::fs::read_to_string(project.path().join("dataflow.yml"))
        .unwrap()
        .replace("type: decimal(10,2)", "type: double");
    std::fs::write(project.path().join("dataflow.yml"), config).unwrap();
    std::fs::write(
        project.incoming().join("products2.csv"),
        "product_id,product_name,product_category,price\n1,x,y,2.5\n",
    )
    .unwrap();
    let out = project
        .cmd()
        .args(["ingest", "--source", "products"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("schema differs from the declared one"),
        "{stderr}"
    );
    assert!(
        stderr.contains("price Decimal128(10, 2)") && stderr.contains("price Float64"),
        "{stderr}"
    );
    assert_eq!(
        project.count("raw_products"),
        number(table(&manifest, "products"), "loadable_rows")
    );
}

#[test]
fn environment_variables_override_the_project_file() {
    let project = TestProject::new(|c| c);
    project.generate_small();
    let elsewhere = project.path().join("other-lake");
    project
        .cmd()
        .env("DATAFLOW__LAKE__LOCATION", &elsewhere)
        .args(["ingest", "--source", "products"])
        .assert()
        .success();
    assert!(elsewhere.join("raw_products/_delta_log").is_dir());
    assert!(!project.path().join("lake/raw_products").exists());
}

#[test]
fn identical_files_in_one_run_load_once() {
    let project = TestProject::new(|c| c);
    let manifest = project.generate_small();
    std::fs::copy(
        project.incoming().join("products.csv"),
        project.incoming().join("products_copy.csv"),
    )
    .unwrap();
    project
        .cmd()
        .args(["ingest", "--source", "products"])
        .assert()
        .success();
    assert_eq!(
        project.count("raw_products"),
        number(table(&manifest, "products"), "loadable_rows")
    );
}
