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
         \x20     - dbt_utils.mutually_exclusive_ranges: {lower_bound_column: a, upper_bound_column: b}\n\
         \x20 - name: retired_model\n\
         \x20   description: documented but deleted\n\
         seeds:\n\
         \x20 - name: raw_orders\n\
         \x20   columns:\n\
         \x20     - name: id\n\
         \x20       tests: [unique]\n\
         \x20     - name: customer\n\
         \x20       tests:\n\
         \x20         - dbt_utils.cardinality_equality: {field: customer, to: ref('customers')}\n",
    );
    let out = project.cmd().args(["models", "build"]).assert().failure();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    // The one unsupported test is an error of its own; every other test ran.
    assert!(
        text.contains("ERROR mutually_exclusive_ranges_customers")
            && text.contains("unknown test `mutually_exclusive_ranges`"),
        "{text}"
    );
    // ann has two orders but one customers row: the per-value counts differ, as dbt_utils
    // defines cardinality_equality.
    assert!(
        text.contains("FAIL  cardinality_equality_raw_orders_customer__customer__customers")
            && text.contains("(2 failing rows)"),
        "{text}"
    );
    assert!(text.contains("PASS=10 WARN=0 ERROR=2 TOTAL=12"), "{text}");
    assert!(
        text.contains("PASS  unique_raw_orders_id"),
        "seed tests run: {text}"
    );
    // Sources that name the project's seeds read them; money is not truncated.
    let rows = project
        .query("select customer, cast(spend as varchar) as spend from customers order by customer");
    assert_eq!(rows[0]["spend"], "21.68", "11.69 + 9.99: {rows:?}");
    assert_eq!(rows[1]["spend"], "2.50");
}
