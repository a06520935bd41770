//! `dataflow validate`: Great Expectations suites against lake tables.

use predicates::prelude::*;
use serde_json::Value;

use crate::models::{shop, write};

const SUITE: &str = "name: orders_suite
expectations:
  - type: unexpected_rows_expectation
    kwargs: {unexpected_rows_query: \"select * from {batch} where amount > 100\"}
  - type: expect_table_row_count_to_equal
    kwargs: {value: 4}
  - type: expect_column_values_to_not_be_null
    kwargs: {column: id}
  - type: expect_column_values_to_be_between
    kwargs: {column: amount, min_value: 0}
    meta: {owner: finance}
  - type: expect_column_values_to_be_in_set
    kwargs: {column: customer, value_set: [ann, bob, cy], mostly: 0.5}
  - type: expect_column_values_to_be_unique
    kwargs: {column: customer}
";

#[test]
fn validate_reports_each_expectation_and_writes_ge_results() {
    let project = shop();
    write(&project, "suites/orders.yml", SUITE);
    let out = project
        .cmd()
        .args([
            "validate",
            "--suite",
            "suites/orders.yml",
            "--data",
            "raw_orders",
        ])
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("2 of 6 PASS  expect_table_row_count_to_equal: observed 4"),
        "{text}"
    );
    assert!(
        text.contains(
            "4 of 6 FAIL  expect_column_values_to_be_between amount: 1 unexpected (e.g. -1.0)"
        ) || text.contains("4 of 6 FAIL  expect_column_values_to_be_between amount: 1 unexpected"),
        "{text}"
    );
    assert!(
        text.contains("6 of 6 FAIL  expect_column_values_to_be_unique customer: 2 unexpected"),
        "{text}"
    );
    assert!(text.contains("4 of 6 expectations met (66.7%)"), "{text}");
    let result: Value = serde_json::from_str(
        &std::fs::read_to_string(
            project
                .path()
                .join("target/validations/orders_suite.raw_orders.json"),
        )
        .expect("the result file"),
    )
    .expect("json");
    assert_eq!(result["success"], false);
    assert_eq!(result["statistics"]["evaluated_expectations"], 6);
    let between = &result["results"][3];
    assert_eq!(between["expectation_config"]["meta"]["owner"], "finance");
    assert_eq!(between["result"]["unexpected_count"], 1);
    assert_eq!(between["result"]["unexpected_percent"], 25.0);
    assert_eq!(result["results"][4]["success"], true, "mostly 0.5");
    assert_eq!(
        result["results"][0]["result"]["observed_value"], 0,
        "no order above 100"
    );

    // Unexpected rows reported by an index column, as GE's unexpected_index_column_names.
    project
        .cmd()
        .args([
            "validate",
            "--suite",
            "suites/orders.yml",
            "--data",
            "raw_orders",
            "--result-format",
            "COMPLETE",
            "--index-columns",
            "id",
        ])
        .assert()
        .code(1);
    let complete: Value = serde_json::from_str(
        &std::fs::read_to_string(
            project
                .path()
                .join("target/validations/orders_suite.raw_orders.json"),
        )
        .expect("the result file"),
    )
    .expect("json");
    let between = &complete["results"][3]["result"];
    assert_eq!(between["unexpected_index_column_names"][0], "id");
    assert_eq!(between["unexpected_index_list"][0]["id"], 4);
    assert_eq!(between["unexpected_index_list"][0]["amount"], -1.0);
    // A CSV file validates the same way, without loading it.
    project
        .cmd()
        .args([
            "validate",
            "--suite",
            "suites/orders.yml",
            "--data",
            "in/orders.csv",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("4 of 6 expectations met"));
    assert!(
        project
            .path()
            .join("target/validations/orders_suite.orders.json")
            .exists()
    );
}

fn result_file(project: &crate::support::TestProject, name: &str) -> Value {
    let path = project.path().join("target/validations").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("the result file")).expect("json")
}

#[test]
fn a_file_of_a_declared_source_is_read_with_its_schema_without_loading_it() {
    let project = shop();
    write(&project, "suites/orders.yml", SUITE);
    // The ingested rows plus a bad amount and a short line, which ingest would quarantine.
    write(
        &project,
        "in/orders.csv",
        "id,customer,amount\n1,ann,10.50\n2,bob,5.00\n3,ann,2.25\n4,cy,-1.00\n5,dee,12.3.4\n6,eve\n",
    );
    let out = project
        .cmd()
        .args([
            "validate",
            "--suite",
            "suites/orders.yml",
            "--data",
            "in/orders.csv",
        ])
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains(
            "Read in/orders.csv as source `orders`: 4 rows; 2 bad rows left out, as ingest would \
             quarantine them (e.g. line 6: cannot parse `12.3.4` as decimal(8,2): not a number; \
             line 7: expected 3 fields, found 2)"
        ),
        "{text}"
    );
    assert!(text.contains("4 of 6 expectations met"), "{text}");
    let from_file = result_file(&project, "orders_suite.orders.json");
    let read = &from_file["meta"]["dataflow_file_read"];
    assert_eq!(read["source"], "orders");
    assert_eq!(read["rows"], 4);
    assert_eq!(read["bad_rows"], 2);
    assert_eq!(read["bad_row_examples"][0]["line_number"], 6);
    assert_eq!(read["bad_row_examples"][0]["column"], "amount");
    assert_eq!(read["bad_row_examples"][0]["raw_value"], "12.3.4");
    // Nothing was loaded, and nothing is left behind.
    assert_eq!(project.count("raw_orders"), 4);
    let leftovers = std::fs::read_dir(project.path().join("target/tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0);
    // The same answers as the loaded table's, expectation by expectation.
    project
        .cmd()
        .args([
            "validate",
            "--suite",
            "suites/orders.yml",
            "--data",
            "raw_orders",
        ])
        .assert()
        .code(1);
    let from_lake = result_file(&project, "orders_suite.raw_orders.json");
    assert_eq!(from_file["results"], from_lake["results"]);
    assert_eq!(from_file["statistics"], from_lake["statistics"]);

    // A file elsewhere is read with a source's schema when asked.
    write(
        &project,
        "exports/today.csv",
        "id,customer,amount\n7,ann,1.00\n",
    );
    let out = project
        .cmd()
        .args([
            "validate",
            "--suite",
            "suites/orders.yml",
            "--data",
            "exports/today.csv",
            "--source",
            "orders",
        ])
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("Read exports/today.csv as source `orders`: 1 rows\n"),
        "{text}"
    );
    project
        .cmd()
        .args([
            "validate",
            "--suite",
            "suites/orders.yml",
            "--data",
            "exports/today.csv",
            "--source",
            "order",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--source order: no such source in dataflow.yml (sources: orders)",
        ));
}

#[test]
fn suite_mistakes_and_missing_tables_are_clear_errors() {
    let project = shop();
    write(
        &project,
        "suites/typo.yml",
        &SUITE.replace(
            "expect_column_values_to_be_unique",
            "expect_column_values_to_be_uniq",
        ),
    );
    project
        .cmd()
        .args([
            "validate",
            "--suite",
            "suites/typo.yml",
            "--data",
            "raw_orders",
        ])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("typo.yml: expectation #6 (expect_column_values_to_be_uniq)")
                .and(predicate::str::contains(
                    "did you mean `expect_column_values_to_be_unique`",
                )),
        );
    write(&project, "suites/orders.yml", SUITE);
    project
        .cmd()
        .args([
            "validate",
            "--suite",
            "suites/orders.yml",
            "--data",
            "raw_order",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("table `raw_order`"));
    // The 0.x JSON form runs too; a missing column fails that expectation only, as in GE.
    write(
        &project,
        "suites/legacy.json",
        r#"{"expectation_suite_name": "legacy", "expectations": [
            {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id", "mostly": null}},
            {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "nope"}}
        ]}"#,
    );
    let out = project
        .cmd()
        .args([
            "validate",
            "--suite",
            "suites/legacy.json",
            "--data",
            "raw_orders",
        ])
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("1 of 2 PASS"), "{text}");
    assert!(
        text.contains("2 of 2 ERROR expect_column_values_to_not_be_null nope: Error: The column \"nope\" in BatchData does not exist."),
        "{text}"
    );
}

const ROW_SUITE: &str = "name: orders_rows
expectations:
  - type: expect_column_values_to_be_between
    kwargs: {column: amount, min_value: 0}
  - type: expect_column_values_to_be_in_set
    kwargs: {column: customer, value_set: [ann, bob]}
  - type: expect_column_values_to_be_unique
    kwargs: {column: customer}
    severity: warning
";

#[test]
fn checkpoints_quarantine_failing_rows_and_keep_history() {
    let project = shop();
    write(&project, "suites/rows.yml", ROW_SUITE);
    write(
        &project,
        "checkpoints/nightly.yml",
        "validations:\n  - suite: suites/rows.yml\n    data: raw_orders\n    on_failure: quarantine\n",
    );
    let out = project
        .cmd()
        .args(["checkpoint", "run", "nightly"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    // cy's -1.00 order fails two critical expectations; ann's two rows fail only the
    // warning-level `unique`, which is reported but moves no rows.
    assert!(
        text.contains(
            "quarantined 1 rows to raw_orders_quarantine, 3 clean rows to raw_orders_clean"
        ),
        "{text}"
    );
    assert!(
        text.contains("FAIL  expect_column_values_to_be_unique customer"),
        "{text}"
    );
    let bad = project.query("select id, _failed_expectations as why from raw_orders_quarantine");
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0]["id"], 4);
    assert_eq!(
        bad[0]["why"],
        "column_values_to_be_between(amount); column_values_to_be_in_set(customer)"
    );
    assert_eq!(project.count("raw_orders_clean"), 3);
    // The row fails both critical row checks: score 0; the table's score is the mean.
    let score = project.query("select _row_quality_score as s from raw_orders_quarantine");
    assert_eq!(score[0]["s"], 0.0);
    assert!(text.contains("data quality score 0.7500"), "{text}");
    let stored = project.query("select data_quality_score as s from _dataflow_validations");
    assert_eq!(stored[0]["s"], 0.75);
    // The same result is in the metadata store.
    let listed = project
        .cmd()
        .args(["quality", "results", "--data", "raw_orders"])
        .assert()
        .success();
    let listed = String::from_utf8_lossy(&listed.get_output().stdout).into_owned();
    assert!(
        listed.contains("nightly") && listed.contains("0.7500"),
        "{listed}"
    );
    // Each run is kept.
    project
        .cmd()
        .args(["checkpoint", "run", "nightly"])
        .assert()
        .success();
    let history = project.query(
        "select count(*) as runs, count(distinct run_id) as ids, max(evaluated_expectations) as n \
         from _dataflow_validations where checkpoint = 'nightly'",
    );
    assert_eq!(
        (&history[0]["runs"], &history[0]["ids"], &history[0]["n"]),
        (&Value::from(2), &Value::from(2), &Value::from(3))
    );
    // Data docs: an index of both runs and a page per validation.
    let index = std::fs::read_to_string(project.path().join("target/data_docs/index.html"))
        .expect("data docs index");
    assert_eq!(index.matches("href=\"validations/").count(), 2, "{index}");
    let pages: Vec<_> = std::fs::read_dir(project.path().join("target/data_docs/validations"))
        .expect("validation pages")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(pages.len(), 2);
    let page = std::fs::read_to_string(pages[0].path()).expect("a page");
    assert!(
        page.contains("expect_column_values_to_be_in_set") && page.contains("&quot;cy&quot;"),
        "{page}"
    );
}

#[test]
fn checkpoint_policies_and_mistakes() {
    let project = shop();
    write(&project, "suites/rows.yml", ROW_SUITE);
    // fail: any failing critical expectation fails the run (the warning one does not count).
    write(
        &project,
        "checkpoints/strict.yml",
        "validations:\n  - suite: suites/rows.yml\n    data: raw_orders\n",
    );
    project
        .cmd()
        .args(["checkpoint", "run", "strict"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "orders_rows on raw_orders: 2 expectations failed",
        ));
    // warn: reported, not failed.
    write(
        &project,
        "checkpoints/lenient.yml",
        "validations:\n  - suite: suites/rows.yml\n    data: raw_orders\n    on_failure: warn\n",
    );
    project
        .cmd()
        .args(["checkpoint", "run", "lenient"])
        .assert()
        .success();
    // A critical `unique` quarantines every copy; a pair check quarantines its failing rows.
    write(
        &project,
        "suites/keys.yml",
        "name: keys\nexpectations:\n  - type: expect_column_values_to_be_unique\n    kwargs: {column: customer}\n  - type: expect_column_pair_values_a_to_be_greater_than_b\n    kwargs: {column_A: id, column_B: amount}\n",
    );
    write(
        &project,
        "checkpoints/keys.yml",
        "validations:\n  - suite: suites/keys.yml\n    data: raw_orders\n    on_failure: quarantine\n    quarantine_table: bad_orders\n    clean_table: good_orders\n",
    );
    project
        .cmd()
        .args(["checkpoint", "run", "keys"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "quarantined 3 rows to bad_orders, 1 clean rows to good_orders",
        ));
    let why = project.query("select id, _failed_expectations as why from bad_orders order by id");
    assert_eq!(
        why[0]["why"],
        "column_values_to_be_unique(customer); column_pair_values_a_to_be_greater_than_b(id,amount)"
    );
    assert_eq!(
        why[1]["why"],
        "column_pair_values_a_to_be_greater_than_b(id,amount)"
    );
    // A table-level failure cannot be quarantined: the run fails.
    write(
        &project,
        "suites/table.yml",
        "name: table\nexpectations:\n  - type: expect_table_row_count_to_be_between\n    kwargs: {min_value: 10}\n",
    );
    write(
        &project,
        "checkpoints/volume.yml",
        "validations:\n  - suite: suites/table.yml\n    data: raw_orders\n    on_failure: quarantine\n",
    );
    project
        .cmd()
        .args(["checkpoint", "run", "volume"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "not row-level, so not quarantined",
        ));
    // A typo names the file and line; an unknown checkpoint lists the known ones.
    write(
        &project,
        "checkpoints/typo.yml",
        "validations:\n  - suite: suites/rows.yml\n    data: raw_orders\n    on_falure: warn\n",
    );
    project
        .cmd()
        .args(["checkpoint", "run", "typo"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("typo.yml")
                .and(predicate::str::contains("unknown field `on_falure`"))
                .and(predicate::str::contains("line 4")),
        );
    project
        .cmd()
        .args(["checkpoint", "run", "nope"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("no such checkpoint").and(predicate::str::contains("strict")),
        );
}

#[test]
fn anomaly_detection_waits_for_history_then_flags_jumps() {
    let project = shop();
    let config = std::fs::read_to_string(project.path().join("dataflow.yml"))
        .expect("config")
        .replace("path: in/orders.csv", "path: in/orders*.csv");
    write(&project, "dataflow.yml", &config);
    write(
        &project,
        "suites/volume.yml",
        "name: volume\nexpectations:\n  - type: expect_table_row_count_to_be_between\n    kwargs: {min_value: 1}\n  - type: expect_column_mean_to_be_between\n    kwargs: {column: amount, min_value: -100}\n",
    );
    write(
        &project,
        "checkpoints/watch.yml",
        "validations:\n  - suite: suites/volume.yml\n    data: raw_orders\n    on_failure: warn\nanomaly_detection:\n  min_history: 2\n  window: 5\n  on_anomaly: fail\n",
    );
    let run = || project.cmd().args(["checkpoint", "run", "watch"]).assert();
    run().success().stdout(predicate::str::contains(
        "not enough history yet for 2 metrics: row_count (0/2)",
    ));
    run()
        .success()
        .stdout(predicate::str::contains("row_count (1/2)"));
    run()
        .success()
        .stdout(predicate::str::contains("2 metrics within their history"));
    // Ten times the orders: the row count and the mean jump.
    let mut more = String::from("id,customer,amount\n");
    for i in 10..50 {
        more.push_str(&format!("{i},zed,{}.00\n", i * 10));
    }
    write(&project, "in/orders2.csv", &more);
    project.ingest();
    let out = run().code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("ANOMALY row_count: 44 differs from the constant 4 of the last 3 runs")
            && text.contains("changed +1000.0% since the previous run (4)"),
        "{text}"
    );
    assert!(
        text.contains("ANOMALY column_mean_to_be_between(amount)"),
        "{text}"
    );
    let stored =
        project.query("select count(*) as n from _dataflow_metrics where metric = 'row_count'");
    assert_eq!(stored[0]["n"], 4, "every run's metrics are kept");
}

#[test]
fn a_profiled_suite_passes_on_the_data_it_came_from() {
    let project = shop();
    let out = project
        .cmd()
        .args(["quality", "profile", "raw_orders"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("raw_orders: 4 rows"), "{text}");
    assert!(
        text.contains("customer") && text.contains("3 "),
        "distinct customers: {text}"
    );
    let suite: Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("target/profiles/raw_orders.json"))
            .expect("suggested suite"),
    )
    .expect("json");
    let kinds: Vec<&str> = suite["expectations"]
        .as_array()
        .expect("expectations")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(
        kinds.contains(&"expect_column_values_to_be_unique"),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"expect_column_values_to_be_in_set"),
        "{kinds:?}"
    );
    project
        .cmd()
        .args([
            "validate",
            "--suite",
            "target/profiles/raw_orders.json",
            "--data",
            "raw_orders",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("expectations met (100.0%)"));
}

#[test]
fn schema_changes_are_judged_by_policy() {
    let project = shop();
    write(
        &project,
        "suites/any.yml",
        "name: any\nexpectations:\n  - type: expect_table_row_count_to_be_between\n    kwargs: {min_value: 1}\n",
    );
    write(
        &project,
        "in/extra.csv",
        "id,customer,amount,tag\n1,ann,1.00,x\n",
    );
    let checkpoint = |policy: &str, data: &str| {
        write(
            &project,
            "checkpoints/shape.yml",
            &format!(
                "validations:\n  - suite: suites/any.yml\n    data: {data}\n    schema_policy: {policy}\n"
            ),
        );
        project.cmd().args(["checkpoint", "run", "shape"]).assert()
    };
    checkpoint("fail", "in/orders.csv")
        .success()
        .stdout(predicate::str::contains("schema: registered 3 columns"));
    checkpoint("fail", "in/orders.csv")
        .success()
        .stdout(predicate::str::contains("schema: unchanged"));
    // The same dataset name with a new column: rejected by `fail`, accepted as additive.
    std::fs::copy(
        project.path().join("in/extra.csv"),
        project.path().join("in/orders.csv"),
    )
    .expect("replace the file");
    checkpoint("fail", "in/orders.csv")
        .code(1)
        .stdout(predicate::str::contains(
            "schema: REJECTED change +tag (Utf8)",
        ));
    checkpoint("allow_additive", "in/orders.csv")
        .success()
        .stdout(predicate::str::contains(
            "schema: accepted change +tag (Utf8)",
        ));
    checkpoint("fail", "in/orders.csv")
        .success()
        .stdout(predicate::str::contains("schema: unchanged (4 columns)"));
}

/// Accepts one HTTP POST on a loopback port and returns its JSON body through the channel.
fn one_webhook() -> (u16, std::sync::mpsc::Receiver<Value>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let Ok(clone) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(clone);
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_ok()
            && let Ok(json) = serde_json::from_slice(&body)
        {
            let _ = tx.send(json);
        }
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    });
    (port, rx)
}

#[test]
fn a_failing_checkpoint_posts_its_summary_to_the_webhook() {
    let project = shop();
    write(&project, "suites/rows.yml", ROW_SUITE);
    let (port, rx) = one_webhook();
    write(
        &project,
        "checkpoints/hooked.yml",
        &format!(
            "validations:\n  - suite: suites/rows.yml\n    data: raw_orders\n    on_failure: warn\n\
             actions:\n  webhook:\n    url: http://127.0.0.1:{port}/hook\n"
        ),
    );
    project
        .cmd()
        .args(["checkpoint", "run", "hooked"])
        .assert()
        .success()
        .stdout(predicates::str::contains("Webhook: posted"));
    let body = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(body["checkpoint"], "hooked");
    assert_eq!(body["success"], false);
    assert_eq!(body["validations"][0]["suite"], "orders_rows");
    assert_eq!(body["validations"][0]["data"], "raw_orders");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("❌ checkpoint hooked failed: orders_rows on raw_orders"),
        "{body}"
    );
}
