//! Habits of real dbt projects (found running jaffle-shop and dbt_utils' integration tests):
//! sources that are the project's own seeds, `adapter.dispatch` + `return()`, integer division,
//! tests on seeds, dbt_utils tests, and one bad test declaration not stopping the rest.

use crate::models::write;
use crate::support::TestProject;

fn project() -> TestProject {
    let project = TestProject::new(|c| c);
    std::fs::remove_file(project.path().join("dataflow.yml")).expect("a dbt-only project");
    write(
        &project,
        "dbt_project.yml",
        "name: shop\nversion: '1'\nprofile: shop\nseeds:\n  shop:\n    +schema: raw\n",
    );
    write(
        &project,
        "seeds/raw_orders.csv",
        "id,customer,subtotal_cents,ordered_at\n1,ann,1169,2024-01-01\n2,bob,250,2024-01-02\n3,ann,999,2024-01-03\n",
    );
    write(
        &project,
        "macros/cents.sql",
        "{% macro cents_to_dollars(column_name) -%}\n  {{ return(adapter.dispatch('cents_to_dollars')(column_name)) }}\n{%- endmacro %}\n\n\
         {% macro default__cents_to_dollars(column_name) -%}\n  ({{ column_name }} / 100)::numeric(16, 2)\n{%- endmacro %}\n",
    );
    write(
        &project,
        "models/staging/__sources.yml",
        "version: 2\nsources:\n  - name: ecom\n    schema: raw\n    tables:\n      - name: raw_orders\n",
    );
    write(
        &project,
        "models/staging/stg_orders.sql",
        "select id, customer, {{ cents_to_dollars('subtotal_cents') }} as subtotal, subtotal_cents / 100 as subtotal_float\nfrom {{ source('ecom', 'raw_orders') }}\n",
    );
    write(
        &project,
        "models/marts/customers.sql",
        "{{ config(materialized='table') }}\nselect customer, sum(subtotal) as spend, count(*) as orders from {{ ref('stg_orders') }} group by customer\n",
    );
    project
}

#[test]
fn a_real_projects_habits_build_with_dbts_answers() {
    let project = project();
    write(
        &project,
        "models/marts/schema.yml",
        "version: 2\n\
         models:\n\
         \x20 - name: customers\n\
         \x20   columns:\n\
         \x20     - name: customer\n\
         \x20       tests: [unique, not_null, dbt_utils.not_constant, dbt_utils.not_empty_string]\n\
         \x20     - name: orders\n\
         \x20       tests:\n\
         \x20         - dbt_utils.not_accepted_values: {values: [0]}\n\
         \x20         - dbt_utils.at_least_one\n\
         \x20         - dbt_utils.sequential_values: {interval: 1}\n\
         \x20   tests:\n\
         \x20     - dbt_utils.fewer_rows_than: {compare_model: ref('stg_orders')}\n\
         \x20     - dbt_utils.equality: {compare_model: ref('customers')}\n\
         \x20     - dbt_utils.equality: {compare_model: ref('customers_reordered'), exclude_columns: [orders]}\n\
         \x20     - dbt_expectations.expect_table_row_count_to_be_between: {min_value: 1}\n\
         \x20 - name: retired_model\n\
         \x20   description: documented but deleted\n\
         seeds:\n\
         \x20 - name: ranges\n\
         \x20   tests:\n\
         \x20     - dbt_utils.mutually_exclusive_ranges: {lower_bound_column: lo, upper_bound_column: hi, partition_by: grp}\n\
         \x20     - dbt_utils.mutually_exclusive_ranges: {lower_bound_column: lo, upper_bound_column: hi}\n\
         \x20 - name: raw_orders\n\
         \x20   columns:\n\
         \x20     - name: id\n\
         \x20       tests: [unique]\n\
         \x20     - name: customer\n\
         \x20       tests:\n\
         \x20         - dbt_utils.cardinality_equality: {field: customer, to: ref('customers')}\n",
    );
    write(
        &project,
        "seeds/ranges.csv",
        "lo,hi,grp\n0,10,a\n10,20,a\n5,15,b\n",
    );
    write(
        &project,
        "models/marts/customers_reordered.sql",
        "select orders + 1 as orders, spend, customer from {{ ref('customers') }}\n",
    );
    let out = project.cmd().args(["models", "build"]).assert().failure();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    // The one unsupported test is an error of its own; every other test ran.
    assert!(
        text.contains("ERROR dbt_expectations.expect_table_row_count_to_be_between_customers")
            && text
                .contains("unknown test `dbt_expectations.expect_table_row_count_to_be_between`"),
        "{text}"
    );
    // ann has two orders but one customers row: the per-value counts differ, as dbt_utils
    // defines cardinality_equality.
    assert!(
        text.contains("FAIL  cardinality_equality_raw_orders_customer__customer__customers")
            && text.contains("(2 failing rows)"),
        "{text}"
    );
    assert!(
        text.contains("PASS  equality_customers__customers_reordered"),
        "columns compared by name, excluded ones left out: {text}"
    );
    assert!(
        text.contains("PASS  mutually_exclusive_ranges_ranges "),
        "{text}"
    );
    assert!(
        text.contains("FAIL  mutually_exclusive_ranges_ranges_2"),
        "ranges overlap across groups: {text}"
    );
    assert!(
        text.contains("PASS=12 WARN=0 ERROR=3 SKIP=0 TOTAL=15"),
        "{text}"
    );
    assert!(
        text.contains("PASS  unique_raw_orders_id"),
        "seed tests run: {text}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("target/manifest.json")).expect("manifest"),
    )
    .expect("json");
    let node = &manifest["nodes"]["test.shop.unique_raw_orders_id"];
    assert_eq!(node["resource_type"], "test");
    assert_eq!(node["attached_node"], "seed.shop.raw_orders");
    assert_eq!(node["test_metadata"]["name"], "unique");
    assert!(
        manifest["child_map"]["seed.shop.raw_orders"]
            .as_array()
            .is_some_and(|c| c.iter().any(|id| id == "test.shop.unique_raw_orders_id"))
    );
    // Sources that name the project's seeds read them; money is not truncated.
    let rows = project
        .query("select customer, cast(spend as varchar) as spend from customers order by customer");
    assert_eq!(rows[0]["spend"], "21.68", "11.69 + 9.99: {rows:?}");
    assert_eq!(rows[1]["spend"], "2.50");
}

#[test]
fn view_models_stay_queryable_after_the_run() {
    let project = project();
    project.cmd().args(["models", "build"]).assert().success();
    // stg_orders is a view: later commands see it, with the float division in place.
    let rows = project.query("select subtotal_float from stg_orders order by id");
    assert_eq!(rows[0]["subtotal_float"], 11.69);
    // Made a table, the lake table wins and the saved view is dropped.
    write(
        &project,
        "models/staging/stg_orders.sql",
        "{{ config(materialized='table') }}\nselect id, customer, 1 as subtotal, 2 as subtotal_float\nfrom {{ source('ecom', 'raw_orders') }}\n",
    );
    project.cmd().args(["models", "run"]).assert().success();
    assert_eq!(
        project.query("select subtotal_float from stg_orders limit 1")[0]["subtotal_float"],
        2
    );
    let saved = project.query("select name from _dataflow_views");
    assert!(saved.iter().all(|r| r["name"] != "stg_orders"), "{saved:?}");
    // run_results.json of `build` covers seeds, models and tests; the manifest has the tests.
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("target/run_results.json")).expect("results"),
    )
    .expect("json");
    let ids: Vec<&str> = results["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["unique_id"].as_str())
        .collect();
    assert!(ids.contains(&"model.shop.stg_orders"), "{ids:?}");
    project.cmd().args(["models", "build"]).assert().success();
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("target/run_results.json")).expect("results"),
    )
    .expect("json");
    let ids: Vec<&str> = results["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["unique_id"].as_str())
        .collect();
    assert!(
        ids.contains(&"seed.shop.raw_orders") && ids.contains(&"model.shop.customers"),
        "{ids:?}"
    );
}

#[test]
fn seed_settings_apply_through_folders_and_vars() {
    let project = project();
    write(
        &project,
        "dbt_project.yml",
        "name: shop\nversion: '1'\nprofile: shop\nseeds:\n  shop:\n    +schema: raw\n    jaffle-data:\n      +enabled: \"{{ var('load_source_data', false) }}\"\n    lookups:\n      +column_types: {code: varchar}\n      codes:\n        +column_types: {label: varchar}\n",
    );
    write(&project, "seeds/jaffle-data/raw_items.csv", "id,sku\n1,A\n");
    write(&project, "seeds/lookups/codes.csv", "code,label\n01,7\n");
    let out = project.cmd().args(["models", "seed"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        !text.contains("raw_items"),
        "disabled unless the var is set: {text}"
    );
    let codes = project.query("select code, label from codes");
    assert_eq!(
        (&codes[0]["code"], &codes[0]["label"]),
        (
            &serde_json::Value::from("01"),
            &serde_json::Value::from("7")
        )
    );
    project
        .cmd()
        .args(["models", "seed", "--vars", "{load_source_data: true}"])
        .assert()
        .success()
        .stdout(predicates::str::contains("seed raw_items"));

    // Property files beside the seeds; a timestamp without seconds; one bad seed alone fails.
    write(
        &project,
        "seeds/lookups/props.yml",
        "version: 2\nseeds:\n  - name: codes\n    columns:\n      - name: code\n        tests: [not_null]\n",
    );
    write(
        &project,
        "dbt_project.yml",
        "name: shop\nversion: '1'\nprofile: shop\nseeds:\n  shop:\n    lookups:\n      events:\n        +column_types: {at: timestamp}\n      broken:\n        +column_types: {n: int}\n",
    );
    write(
        &project,
        "seeds/lookups/events.csv",
        "at\n2021-01-01 00:00\n2021-01-02 10:30:15\n",
    );
    write(&project, "seeds/lookups/broken.csv", "n\n1\nnot a number\n");
    let out = project.cmd().args(["models", "seed"]).assert().code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("ERROR seed broken"), "{text}");
    assert!(text.contains("OK    seed events"), "{text}");
    assert!(text.contains("PASS=4 ERROR=1 TOTAL=5"), "{text}");
    let events = project.query("select cast(at as varchar) as at from events order by at");
    assert_eq!(events[0]["at"], "2021-01-01T00:00:00");
    project
        .cmd()
        .args(["models", "test"])
        .assert()
        .stdout(predicates::str::contains("PASS  not_null_codes_code"));
}

#[test]
fn one_broken_model_does_not_stop_the_others_or_their_tests() {
    let project = project();
    write(
        &project,
        "models/marts/needs_a_package.sql",
        "select {{ dbt_date.get_base_dates(n_dateparts=3) }} as d\n",
    );
    write(
        &project,
        "models/marts/after_broken.sql",
        "select * from {{ ref('needs_a_package') }}\n",
    );
    write(
        &project,
        "models/marts/schema.yml",
        "version: 2\nmodels:\n  - name: customers\n    columns:\n      - name: customer\n        tests: [unique]\n  - name: after_broken\n    columns:\n      - name: d\n        tests: [not_null]\n",
    );
    let out = project.cmd().args(["models", "build"]).assert().code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("ERROR view model needs_a_package")
            && text.contains("needs_a_package.sql:1")
            && text.contains("dbt_date"),
        "{text}"
    );
    assert!(text.contains("SKIP  view model after_broken"), "{text}");
    assert!(
        text.contains("PASS=2 ERROR=1 SKIP=1 TOTAL=4"),
        "the rest built: {text}"
    );
    assert!(
        text.contains("built in and does not install dbt packages"),
        "{text}"
    );
    assert!(
        text.contains("SKIP  not_null_after_broken_d (model `after_broken` did not build)")
            && text.contains("PASS  unique_customers_customer"),
        "tests of built models still run: {text}"
    );
}

#[test]
fn tests_on_ephemeral_models_read_their_sql() {
    let project = project();
    write(
        &project,
        "models/staging/orders_eph.sql",
        "{{ config(materialized='ephemeral') }}\nselect id, customer from {{ source('ecom', 'raw_orders') }}\n",
    );
    write(
        &project,
        "models/staging/eph.yml",
        "version: 2\nmodels:\n  - name: orders_eph\n    columns:\n      - name: id\n        tests: [unique, not_null]\n",
    );
    project
        .cmd()
        .args(["models", "build"])
        .assert()
        .success()
        .stdout(predicates::str::contains("PASS  unique_orders_eph_id"));
}

#[test]
fn tests_whose_jinja_reads_the_lake_render_again_before_they_run() {
    let project = project();
    write(
        &project,
        "tests/generic/has_columns.sql",
        "{% test has_columns(model, expected) %}\n{% set cols = adapter.get_columns_in_relation(model) %}\nselect {{ cols | length }} as found from (select 1) as t where {{ cols | length }} <> {{ expected }}\n{% endtest %}\n",
    );
    write(
        &project,
        "models/marts/schema.yml",
        "version: 2\nmodels:\n  - name: customers\n    tests:\n      - has_columns: {expected: 3}\n",
    );
    write(
        &project,
        "tests/most_orders.sql",
        "select * from {{ ref('customers') }}\nwhere orders > {{ dbt_utils.get_single_value(\"select max(orders) from customers\") }}\n",
    );
    project
        .cmd()
        .args(["models", "build"])
        .assert()
        .success()
        .stdout(predicates::str::contains("PASS  has_columns_customers"))
        .stdout(predicates::str::contains("PASS  most_orders"));
}
