//! The command line: help, exit codes, configuration errors, the generator and the demo.

use predicates::prelude::*;

use crate::support::{TestProject, dataflow};

#[test]
fn help_lists_every_command() {
    let out = dataflow().arg("--help").assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for command in ["demo", "generate", "ingest", "query", "tables"] {
        assert!(
            text.contains(command),
            "{command} missing from --help:\n{text}"
        );
        dataflow().args([command, "--help"]).assert().success();
    }
}

#[test]
fn usage_errors_exit_2() {
    dataflow().arg("no-such-command").assert().code(2);
    dataflow()
        .args(["generate", "--customers", "lots"])
        .assert()
        .code(2);
}

#[test]
fn a_typo_in_the_config_names_file_line_and_choices() {
    let project = TestProject::new(|c| c.replacen("    format: csv", "    fromat: csv", 1));
    project
        .cmd()
        .arg("ingest")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("dataflow.yml"))
        .stderr(predicate::str::contains("unknown field `fromat`"))
        .stderr(predicate::str::contains("line 18"))
        .stderr(predicate::str::contains("expected one of"));
}

#[test]
fn a_missing_project_file_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    dataflow()
        .arg("--project-dir")
        .arg(dir.path())
        .arg("ingest")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("dataflow.yml"));
}

#[test]
fn generate_is_deterministic_per_seed() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for (dir, seed) in dirs.iter().zip(["7", "7", "8"]) {
        dataflow()
            .args([
                "generate",
                "--customers",
                "300",
                "--transactions",
                "3000",
                "--products",
                "40",
                "--seed",
                seed,
                "--out",
            ])
            .arg(dir.path())
            .assert()
            .success();
    }
    for file in [
        "customers.csv",
        "products.csv",
        "transactions.csv",
        "events.csv",
        "manifest.json",
    ] {
        let a = std::fs::read(dirs[0].path().join(file)).unwrap();
        let b = std::fs::read(dirs[1].path().join(file)).unwrap();
        let c = std::fs::read(dirs[2].path().join(file)).unwrap();
        assert_eq!(a, b, "{file} differs for the same seed");
        assert_ne!(a, c, "{file} is the same for another seed");
    }
    let header = std::fs::read_to_string(dirs[0].path().join("transactions.csv")).unwrap();
    assert!(header.starts_with(
        "transaction_id,customer_id,product_id,transaction_amount,transaction_date,payment_method,status\n"
    ));
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dirs[0].path().join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["tables"]["customers"]["file"], "customers.csv");
    let lines = header.lines().count() as u64 - 1;
    assert_eq!(
        manifest["tables"]["transactions"]["data_rows"].as_u64(),
        Some(lines)
    );
}

#[test]
fn generate_rejects_bad_options_and_leaves_no_files() {
    let dir = tempfile::tempdir().unwrap();
    dataflow()
        .args(["generate", "--defect-rate", "2", "--out"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--defect-rate"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn demo_runs_end_to_end_and_prints_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = dataflow()
        .args([
            "demo",
            "--customers",
            "500",
            "--transactions",
            "5000",
            "--dir",
        ])
        .arg(&work)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for needle in [
        "of production_data_pipeline: success",
        "data_ingestion.ingest[transactions]",
        "quality_validation.custom_quality_validation",
        "transformations.dbt_test_all",
        "feature_and_stream.build_customer_features",
        "customer_features (RFM) by value segment",
        "rows quarantined",
        "raw_<source>",
        "Top categories",
        "0 files loaded again",
        "lake",
        "serve  then  http://127.0.0.1:9464/metrics",
        "target/logs",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from demo output:\n{text}"
        );
    }
    // The feature job's export: Hive partitions by value segment, then customer segment.
    let exports = work.join("exports/analytics/customer_features");
    let segments: Vec<String> = std::fs::read_dir(&exports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        segments
            .iter()
            .any(|s| s.starts_with("customer_value_segment=")),
        "{segments:?}"
    );
    let first = exports.join(&segments[0]);
    let inner: Vec<String> = std::fs::read_dir(&first)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        inner.iter().all(|s| s.starts_with("customer_segment=")),
        "{inner:?}"
    );
    assert!(work.join("exports/analytics/summary_stats").is_dir());
    assert!(work.join("target/manifest.json").is_file());
    // The pipeline's task logs hold each command's output: the marts built, the tests ran.
    let logs = work.join("target/logs/production_data_pipeline");
    let run_dir = std::fs::read_dir(&logs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let marts =
        std::fs::read_to_string(run_dir.join("transformations.dbt_run_marts/attempt=1.log"))
            .unwrap();
    assert!(marts.contains("PASS=3 ERROR=0 SKIP=0 TOTAL=3"), "{marts}");
    let tests = std::fs::read_to_string(run_dir.join("transformations.dbt_test_all/attempt=1.log"))
        .unwrap();
    assert!(tests.contains("ERROR=0 SKIP=0 TOTAL=9"), "{tests}");
    quarantine_matches_the_manifest(&work, &tests);

    // Running it again in the same directory starts over.
    dataflow()
        .args([
            "demo",
            "--customers",
            "200",
            "--transactions",
            "1000",
            "--dir",
        ])
        .arg(&work)
        .assert()
        .success();
    // It refuses to clobber a directory it did not create.
    let other = dir.path().join("mine");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("important.txt"), "keep").unwrap();
    dataflow()
        .args(["demo", "--dir"])
        .arg(&other)
        .assert()
        .code(2);
    assert!(other.join("important.txt").exists());
}

/// Every defect the generator injected is caught exactly once, and nothing else is: rows that
/// cannot be parsed are quarantined by ingest (`quarantine_<source>`), rows failing a critical
/// expectation by the checkpoints (`raw_<source>_quarantine`; both copies of a duplicated
/// customer id), and rows referring to unknown customers are the models layer's relationships
/// tests (warnings that count them).
fn quarantine_matches_the_manifest(work: &std::path::Path, tests_log: &str) {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.join("data/incoming/manifest.json")).expect("manifest"),
    )
    .expect("manifest JSON");
    let count = |sql: &str| -> u64 {
        let out = dataflow()
            .arg("--project-dir")
            .arg(work)
            .args(["query", "--format", "csv", sql])
            .assert()
            .success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        text.lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("{sql}: {text}"))
    };
    let defects = |table: &str, classes: &[&str]| -> u64 {
        classes
            .iter()
            .map(|c| {
                manifest["tables"][table]["defects"][c]
                    .as_u64()
                    .unwrap_or(0)
            })
            .sum()
    };
    let checkpoint_classes: [(&str, &[&str]); 4] = [
        (
            "customers",
            &[
                "invalid_email",
                "padded_email",
                "null_first_name",
                "blank_first_name",
                "unknown_segment",
                "mixed_case_segment",
                "login_before_registration",
                "out_of_range_registration_date",
                // Both the first registration and the repeated one are quarantined.
                "duplicate_customer_id",
                "duplicate_customer_id",
            ],
        ),
        ("products", &["negative_price", "null_category"]),
        (
            "transactions",
            &[
                "negative_amount",
                "huge_amount",
                "null_amount",
                "out_of_range_date",
            ],
        ),
        ("events", &["out_of_range_timestamp"]),
    ];
    for (table, classes) in checkpoint_classes {
        let structural = manifest["tables"][table]["structural_defects"]
            .as_u64()
            .expect("structural_defects");
        assert_eq!(
            count(&format!("select count(*) from quarantine_{table}")),
            structural,
            "ingest quarantine of {table}"
        );
        assert_eq!(
            count(&format!("select count(*) from raw_{table}_quarantine")),
            defects(table, classes),
            "checkpoint quarantine of {table}"
        );
    }
    // `N of M WARN  <test name> [0.10s] (K failing rows)` in the pipeline's test task log.
    let failures = |prefix: &str| -> u64 {
        tests_log
            .lines()
            .find(|l| l.contains(&format!(" {prefix}_")))
            .and_then(|l| l.rsplit_once(" ("))
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no failing rows of {prefix} in:\n{tests_log}"))
    };
    assert_eq!(
        failures("relationships_stg_transactions_customer_id"),
        defects("transactions", &["unknown_customer"])
    );
    assert_eq!(
        failures("source_relationships_raw_events_customer_id"),
        defects("events", &["unknown_customer"])
    );
}

#[test]
fn json_logs_carry_the_run_id_on_every_line() {
    let project = TestProject::new(|c| c);
    project.generate_small();
    let out = project
        .cmd()
        .args(["--log-format", "json", "ingest"])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let mut run_ids = std::collections::HashSet::new();
    let mut lines = 0;
    for line in stderr.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        let spans = value["spans"].as_array().expect("span list");
        let run = spans.iter().find(|s| s["name"] == "run").expect("run span");
        run_ids.insert(run["run_id"].as_str().expect("run id").to_string());
        assert!(value["timestamp"].is_string() && value["level"].is_string());
        lines += 1;
    }
    assert!(lines >= 4, "{stderr}");
    assert_eq!(run_ids.len(), 1);
}
