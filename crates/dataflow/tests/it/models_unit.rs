//! dbt unit tests through the binary: `models build` and `models test` run them with the data
//! tests, print dbt's table diff for a failure and name the property file for an error, and
//! the artifacts list them as dbt does.

use serde_json::Value;

use crate::models::write;
use crate::support::TestProject;

fn project() -> TestProject {
    let project = TestProject::new(|c| c);
    std::fs::remove_file(project.path().join("dataflow.yml")).expect("a dbt-only project");
    write(
        &project,
        "dbt_project.yml",
        "name: p\nversion: '1'\nprofile: p\n",
    );
    write(
        &project,
        "seeds/orders.csv",
        "id,customer,amount,status\n1,ann,10.50,paid\n2,bob,5.00,open\n3,ann,2.25,paid\n",
    );
    write(
        &project,
        "models/stg_orders.sql",
        "select id, customer, amount, status from {{ ref('orders') }}",
    );
    write(
        &project,
        "models/paid_totals.sql",
        "{{ config(materialized='table') }}\n\
         select customer, count(*) as orders, sum(amount) as total\n\
         from {{ ref('stg_orders') }} where status = 'paid' group by customer",
    );
    write(
        &project,
        "models/big_orders.sql",
        "select id from {{ ref('stg_orders') }} where amount > {{ var('limit', 100) }}",
    );
    write(
        &project,
        "models/unit_tests.yml",
        "version: 2
models:
  - name: paid_totals
    columns:
      - name: customer
        data_tests: [unique]
unit_tests:
  - name: paid_totals_sum_paid_orders
    model: paid_totals
    given:
      - input: ref('stg_orders')
        rows:
          - {customer: ann, amount: 1.5, status: paid}
          - {customer: ann, amount: 2, status: paid}
          - {customer: bob, amount: 9, status: open}
    expect:
      rows:
        - {customer: ann, orders: 2, total: 3.5}
  - name: big_orders_over_the_limit
    model: big_orders
    overrides:
      vars: {limit: 4}
    given:
      - input: ref('stg_orders')
        format: csv
        rows: |
          id,amount
          1,3
          2,5
    expect:
      format: csv
      rows: |
        id
        1
  - name: big_orders_bad_column
    model: big_orders
    given:
      - input: ref('stg_orders')
        rows: [{id: 1, amount: 5}]
    expect:
      rows: [{order_id: 1}]
",
    );
    project
}

fn stdout(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

fn json(project: &TestProject, file: &str) -> Value {
    let text = std::fs::read_to_string(project.path().join("target").join(file)).expect(file);
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn build_runs_unit_tests_with_a_diff_for_failures_and_the_file_for_errors() {
    let project = project();
    let out = project.cmd().args(["models", "build"]).assert().failure();
    let text = stdout(&out);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{text}"))
            .to_string()
    };
    assert!(
        line("paid_totals_sum_paid_orders").contains("PASS"),
        "{text}"
    );
    assert!(
        line("unique_paid_totals_customer").contains("PASS"),
        "{text}"
    );
    // The expected row (id 1) is missing and id 2 was returned: dbt's diff shows both.
    assert!(
        line("big_orders_over_the_limit").contains("FAIL")
            && text
                .contains("Failure in unit_test big_orders_over_the_limit (models/unit_tests.yml)")
            && text.contains("actual differs from expected:")
            && text.contains("@@ ,id")
            && text.contains("---,1")
            && text.contains("+++,2"),
        "{text}"
    );
    assert!(
        line("big_orders_bad_column").contains("ERROR")
            && text.contains("unit_tests.yml: unit test `big_orders_bad_column`: expect: column `order_id` is not a column of model `big_orders`"),
        "{text}"
    );
    // The models themselves built.
    assert_eq!(
        project.query("select total from paid_totals where customer = 'ann'")[0]["total"],
        12.75
    );

    let results = json(&project, "run_results.json");
    let status = |id: &str| -> String {
        results["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["unique_id"] == id)
            .map(|r| r["status"].as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|| panic!("{id} not in run_results: {results}"))
    };
    assert_eq!(
        status("unit_test.p.paid_totals.paid_totals_sum_paid_orders"),
        "pass"
    );
    assert_eq!(
        status("unit_test.p.big_orders.big_orders_over_the_limit"),
        "fail"
    );
    assert_eq!(
        status("unit_test.p.big_orders.big_orders_bad_column"),
        "error"
    );
    let manifest = json(&project, "manifest.json");
    let unit = &manifest["unit_tests"]["unit_test.p.big_orders.big_orders_over_the_limit"];
    assert_eq!(unit["resource_type"], "unit_test");
    assert_eq!(unit["overrides"]["vars"]["limit"], 4);
    assert_eq!(unit["depends_on"]["nodes"][0], "model.p.big_orders");
}

#[test]
fn test_runs_the_unit_tests_of_the_selected_models() {
    let project = project();
    project.cmd().args(["models", "seed"]).assert().success();
    project
        .cmd()
        .args(["models", "run", "--select", "+paid_totals"])
        .assert()
        .success();
    let out = project
        .cmd()
        .args(["models", "test", "--select", "paid_totals"])
        .assert()
        .success();
    let text = stdout(&out);
    assert!(
        text.contains("PASS  paid_totals_sum_paid_orders") && !text.contains("big_orders"),
        "{text}"
    );
    // A unit test whose model's input type is unknown: the message says how to get one.
    write(
        &project,
        "models/unit_tests.yml",
        "unit_tests:\n  - name: needs_types\n    model: big_orders\n    given:\n      - input: ref('stg_orders')\n        rows: [{id: 1, nope: 2}]\n    expect: {rows: []}\n",
    );
    let out = project
        .cmd()
        .args(["models", "test", "--select", "big_orders"])
        .assert()
        .failure();
    let text = stdout(&out);
    assert!(
        text.contains("unit test `needs_types`: input `ref('stg_orders')` has no column `nope`; its columns: id, customer, amount, status"),
        "{text}"
    );
}

#[test]
fn build_runs_unit_tests_before_their_models_and_skips_a_model_that_fails_one() {
    let project = project();
    let out = project.cmd().args(["models", "build"]).assert().failure();
    let text = stdout(&out);
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("no `{needle}` in:\n{text}"))
    };
    assert!(at("PASS  unit test paid_totals_sum_paid_orders") < at("table model paid_totals"));
    assert!(at("FAIL  unit test big_orders_over_the_limit") < at("SKIP  view model big_orders"));
    assert!(text.contains("(a unit test failed)"), "{text}");
    let results = json(&project, "run_results.json");
    let big = results["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["unique_id"] == "model.p.big_orders")
        .expect("big_orders in run_results");
    assert_eq!(big["status"], "skipped");
}

#[test]
fn test_type_unit_and_unit_test_names_select_only_unit_tests() {
    let project = project();
    project.cmd().args(["models", "seed"]).assert().success();
    project.cmd().args(["models", "run"]).assert().success();
    let out = project
        .cmd()
        .args([
            "models",
            "test",
            "--select",
            "test_type:unit",
            "--exclude",
            "big_orders_bad_column",
        ])
        .assert()
        .failure();
    let text = stdout(&out);
    assert!(
        text.contains("paid_totals_sum_paid_orders")
            && text.contains("big_orders_over_the_limit")
            && !text.contains("unique_paid_totals_customer")
            && !text.contains("big_orders_bad_column"),
        "{text}"
    );
    let out = project
        .cmd()
        .args(["models", "test", "--select", "paid_totals_sum_paid_orders"])
        .assert()
        .success();
    assert!(stdout(&out).contains("TOTAL=1"), "{}", stdout(&out));
}
