//! `dataflow validate`: Great Expectations suites against lake tables.

use predicates::prelude::*;
use serde_json::Value;

use crate::models::{shop, write};

const SUITE: &str = "name: orders_suite
expectations:
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
        text.contains("1 of 5 PASS  expect_table_row_count_to_equal: observed 4"),
        "{text}"
    );
    assert!(
        text.contains(
            "3 of 5 FAIL  expect_column_values_to_be_between amount: 1 unexpected (e.g. -1.00)"
        ) || text.contains("3 of 5 FAIL  expect_column_values_to_be_between amount: 1 unexpected"),
        "{text}"
    );
    assert!(
        text.contains("5 of 5 FAIL  expect_column_values_to_be_unique customer: 2 unexpected"),
        "{text}"
    );
    assert!(text.contains("3 of 5 expectations met (60.0%)"), "{text}");
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
    assert_eq!(result["statistics"]["evaluated_expectations"], 5);
    let between = &result["results"][2];
    assert_eq!(between["expectation_config"]["meta"]["owner"], "finance");
    assert_eq!(between["result"]["unexpected_count"], 1);
    assert_eq!(between["result"]["unexpected_percent"], 25.0);
    assert_eq!(result["results"][3]["success"], true, "mostly 0.5");

    // A CSV file validates the same way, without loading it.
    project
        .cmd()
        .args(["validate", "--suite", "suites/orders.yml", "--data", "in/orders.csv"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("3 of 5 expectations met"));
    assert!(
        project
            .path()
            .join("target/validations/orders_suite.orders.json")
            .exists()
    );
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
            predicate::str::contains("typo.yml: expectation #5 (expect_column_values_to_be_uniq)")
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
