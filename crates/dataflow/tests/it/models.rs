//! dbt-style models: Jinja, sources, refs, macros, vars, folder config, views and lake tables,
//! and the errors a user sees.

use predicates::prelude::*;

use crate::support::TestProject;

// dbt unit tests of models: their own file, a child module of this one.
#[path = "models_unit.rs"]
mod unit;

const CONFIG: &str = "name: shop
sources:
  orders:
    format: csv
    path: in/orders.csv
    columns:
      - {name: id, type: bigint, nullable: false}
      - {name: customer, type: string}
      - {name: amount, type: \"decimal(8,2)\"}
";

pub fn write(project: &TestProject, path: &str, text: &str) {
    let full = project.path().join(path);
    std::fs::create_dir_all(full.parent().expect("a parent folder")).expect("create folders");
    std::fs::write(full, text).expect("write a project file");
}

pub fn shop() -> TestProject {
    let project = TestProject::new(|_| CONFIG.to_string());
    write(
        &project,
        "in/orders.csv",
        "id,customer,amount\n1,ann,10.50\n2,bob,5.00\n3,ann,2.25\n4,cy,-1.00\n",
    );
    project.ingest();
    write(
        &project,
        "dbt_project.yml",
        "name: shop\nversion: '1.0'\nconfig-version: 2\nprofile: shop\nvars:\n  min_amount: 0\nmodels:\n  shop:\n    marts:\n      +materialized: table\n",
    );
    write(
        &project,
        "models/staging/_sources.yml",
        "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: orders\n        identifier: raw_orders\n",
    );
    write(
        &project,
        "macros/cents.sql",
        "{% macro cents(column) -%}\n  cast({{ column }} * 100 as bigint)\n{%- endmacro %}\n",
    );
    write(
        &project,
        "models/staging/stg_orders.sql",
        "{{ config(tags=['staging']) }}\nselect id, customer, amount\nfrom {{ source('raw', 'orders') }}\nwhere amount >= {{ var('min_amount') }}\n",
    );
    write(
        &project,
        "models/marts/customer_totals.sql",
        "{# one row per customer #}\nselect customer, count(*) as orders, sum({{ cents('amount') }}) as cents\nfrom {{ ref('stg_orders') }}\ngroup by customer\n",
    );
    project
}

#[test]
fn models_build_views_and_lake_tables_in_ref_order() {
    let project = shop();
    let out = project.cmd().args(["models", "run"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("1 of 2 OK    view model stg_orders"),
        "{text}"
    );
    assert!(
        text.contains("2 of 2 OK    table model customer_totals [") && text.contains("] (2 rows)"),
        "{text}"
    );
    assert!(text.contains("PASS=2 ERROR=0 SKIP=0 TOTAL=2"), "{text}");
    let rows =
        project.query("select customer, orders, cents from customer_totals order by customer");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (
            rows[0]["customer"].as_str(),
            rows[0]["orders"].as_u64(),
            rows[0]["cents"].as_u64()
        ),
        (Some("ann"), Some(2), Some(1275))
    );
    assert_eq!(rows[1]["cents"], 500);
    let compiled = std::fs::read_to_string(
        project
            .path()
            .join("target/compiled/shop/models/marts/customer_totals.sql"),
    )
    .unwrap();
    assert!(
        compiled.contains("cast(amount * 100 as bigint)") && compiled.contains("from stg_orders"),
        "{compiled}"
    );

    // --vars overrides the project's vars; a rebuild is a new table version.
    project
        .cmd()
        .args(["models", "run", "--vars", "{min_amount: 6}"])
        .assert()
        .success();
    let rows = project.query("select customer, cents from customer_totals");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["cents"], 1050);

    let out = project.cmd().args(["models", "ls"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let stg = text.find("stg_orders").unwrap();
    let mart = text.find("customer_totals").unwrap();
    assert!(stg < mart, "{text}");
    assert!(text.contains("<- raw_orders"), "{text}");
}

#[test]
fn broken_models_name_their_file() {
    let project = shop();
    write(
        &project,
        "models/marts/bad_ref.sql",
        "select * from {{ ref('nope') }}\n",
    );
    project
        .cmd()
        .args(["models", "run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad_ref.sql"))
        .stderr(predicate::str::contains("refs `nope`"));
    std::fs::remove_file(project.path().join("models/marts/bad_ref.sql")).unwrap();

    write(
        &project,
        "models/marts/bad_jinja.sql",
        "select 1 as x\n{% if %}\n",
    );
    project
        .cmd()
        .args(["models", "compile"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad_jinja.sql:2"));
    std::fs::remove_file(project.path().join("models/marts/bad_jinja.sql")).unwrap();

    write(&project, "models/a.sql", "select * from {{ ref('b') }}\n");
    write(&project, "models/b.sql", "select * from {{ ref('a') }}\n");
    project
        .cmd()
        .args(["models", "ls"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("dependency cycle"));
    std::fs::remove_file(project.path().join("models/a.sql")).unwrap();
    std::fs::remove_file(project.path().join("models/b.sql")).unwrap();

    // A SQL error fails that model (exit 1), shows the compiled SQL, and skips its children.
    write(
        &project,
        "models/staging/stg_orders.sql",
        "select id, customer, amount, no_such_column from {{ source('raw', 'orders') }}\n",
    );
    let out = project.cmd().args(["models", "run"]).assert().code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("ERROR view model stg_orders"), "{text}");
    assert!(text.contains("no_such_column"), "{text}");
    assert!(
        text.contains("SKIP  table model customer_totals [") && text.contains("(upstream failed)"),
        "{text}"
    );
}

#[test]
fn schema_tests_report_failing_rows_and_respect_severity() {
    let project = shop();
    write(
        &project,
        "models/marts/customers.sql",
        "select 'ann' as name\n",
    );
    write(
        &project,
        "models/staging/schema.yml",
        "version: 2\nmodels:\n  - name: stg_orders\n    columns:\n      - name: id\n        tests: [unique, not_null]\n      - name: customer\n        data_tests:\n          - accepted_values:\n              values: [ann]\n          - relationships:\n              to: ref('customers')\n              field: name\n              config:\n                severity: warn\n",
    );
    project.cmd().args(["models", "run"]).assert().success();
    let out = project.cmd().args(["models", "test"]).assert().code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("PASS  unique_stg_orders_id"), "{text}");
    assert!(text.contains("PASS  not_null_stg_orders_id"), "{text}");
    // `bob` is neither an accepted value nor a known customer (`cy` is filtered by the model).
    assert!(
        text.contains("FAIL  accepted_values_stg_orders_customer__ann [")
            && text.contains("(1 failing rows)"),
        "{text}"
    );
    assert!(text.contains("| bob "), "{text}");
    assert!(
        text.contains("WARN  relationships_stg_orders_customer__name__customers ["),
        "{text}"
    );
    assert!(
        text.contains("PASS=2 WARN=1 ERROR=1 SKIP=0 TOTAL=4"),
        "{text}"
    );

    // Fixing the data makes the suite pass (warnings do not fail it).
    write(
        &project,
        "models/staging/schema.yml",
        "version: 2\nmodels:\n  - name: stg_orders\n    columns:\n      - name: customer\n        tests:\n          - accepted_values: {values: [ann, bob]}\n          - relationships: {to: \"ref('customers')\", field: name, severity: warn}\n",
    );
    project.cmd().args(["models", "test"]).assert().success();

    // An unknown test type is that test's error, naming the schema file; the others still run.
    write(
        &project,
        "models/staging/schema.yml",
        "version: 2\nmodels:\n  - name: stg_orders\n    columns:\n      - name: id\n        tests: [uniqe, not_null]\n",
    );
    project
        .cmd()
        .args(["models", "test"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("schema.yml"))
        .stdout(predicate::str::contains(
            "unknown test `uniqe`; did you mean `unique`?",
        ))
        .stdout(predicate::str::contains("PASS  not_null_stg_orders_id"));
}

#[test]
fn cross_database_macros_render_to_working_sql() {
    let project = shop();
    write(
        &project,
        "models/marts/macro_check.sql",
        "{{ config(materialized='table') }}
with people as (
    select 1 as id, 'ann@x.io' as email, date '2024-01-31' as joined, timestamp '2024-03-01 10:00:00' as seen
    union all
    select 2 as id, null as email, date '2023-12-25' as joined, timestamp '2024-01-01 00:00:00' as seen
)
select
    id,
    {{ dbt_utils.generate_surrogate_key(['id', 'email']) }} as person_key,
    {{ dbt.datediff('joined', 'seen', 'day') }} as days,
    {{ dbt_utils.datediff('joined', 'seen', 'month') }} as months,
    {{ dbt.safe_divide('id', 'id - 1') }} as ratio,
    cast(id as {{ dbt.type_string() }}) as id_text
from people
",
    );
    write(
        &project,
        "models/marts/category_list.sql",
        "select customer, {{ dbt_utils.listagg('cast(id as varchar)', ', ', 'order by id desc') }} as ids\nfrom {{ ref('stg_orders') }} group by customer\n",
    );
    project.cmd().args(["models", "run"]).assert().success();
    let rows = project.query("select * from macro_check order by id");
    assert_eq!(rows[0]["person_key"], "6899bc12cbd0b0bf64bd8362d053cd95");
    assert_eq!(rows[1]["person_key"], "529273ab1940ae5faa7c2c7ee6507d66");
    assert_eq!(rows[0]["days"], 30);
    assert_eq!(rows[1]["days"], 7);
    assert_eq!(rows[0]["months"], 2);
    assert_eq!(rows[1]["months"], 1);
    assert!(rows[0]["ratio"].is_null(), "{:?}", rows[0]);
    assert_eq!(rows[1]["id_text"], "2");
    let lists = project
        .cmd()
        .args([
            "query",
            "--format",
            "csv",
            "select ids from category_list where customer = 'ann'",
        ])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&lists.get_output().stdout).into_owned();
    assert!(text.contains("\"3, 1\""), "{text}");
}

/// Copies the example project's dbt files next to a test project's dataflow.yml.
fn add_example_models(project: &TestProject) {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ecommerce");
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).expect("create folder");
        for entry in std::fs::read_dir(from).expect("read folder") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).expect("copy file");
            }
        }
    }
    std::fs::copy(
        example.join("dbt_project.yml"),
        project.path().join("dbt_project.yml"),
    )
    .expect("copy");
    copy(&example.join("models"), &project.path().join("models"));
    copy(&example.join("macros"), &project.path().join("macros"));
}

fn cents(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    if fraction.len() > 2 || whole.is_empty() {
        return None;
    }
    let negative = whole.starts_with('-');
    let whole: i64 = whole.trim_start_matches('-').parse().ok()?;
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    let value = whole * 100 + fraction;
    Some(if negative { -value } else { value })
}

#[test]
fn customer_360_matches_an_independent_computation() {
    let project = TestProject::new(|c| c);
    project.generate(&[
        "--customers",
        "800",
        "--transactions",
        "12000",
        "--products",
        "60",
        "--start-date",
        "2022-01-01",
        "--end-date",
        "2024-06-30",
        "--defect-rate",
        "0.05",
    ]);
    project.ingest();
    add_example_models(&project);
    project.cmd().args(["models", "run"]).assert().success();

    // Independent: read transactions.csv directly and apply the documented business rules.
    let mut expected: std::collections::HashMap<i64, (i64, i64, i64)> = Default::default();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(project.incoming().join("transactions.csv"))
        .expect("open transactions.csv");
    for record in reader.records() {
        let record = record.expect("csv record");
        if record.len() != 7 {
            continue;
        }
        let (Ok(customer), Some(amount)) = (record[1].parse::<i64>(), cents(&record[3])) else {
            continue;
        };
        let date = &record[4];
        let valid = (1..=10_000_000).contains(&amount)
            && ("2020-01-01".."2031-01-01").contains(&date)
            && record[6].trim().eq_ignore_ascii_case("completed");
        if !valid {
            continue;
        }
        let month: i64 = date[5..7].parse().expect("month");
        let entry = expected.entry(customer).or_default();
        entry.0 += 1;
        entry.1 += amount;
        entry.2 += i64::from(month >= 10);
    }

    let rows = project.query(
        "select customer_id, total_transactions, cast(total_spent as varchar) as spent, q4_transactions from customer_360",
    );
    assert!(rows.len() > 700, "{} customers", rows.len());
    let mut compared = 0;
    for row in rows {
        let id = row["customer_id"].as_i64().expect("id");
        let (count, spent, q4) = expected.get(&id).copied().unwrap_or_default();
        assert_eq!(
            row["total_transactions"].as_i64(),
            Some(count),
            "customer {id}"
        );
        assert_eq!(
            cents(row["spent"].as_str().expect("spent")),
            Some(spent),
            "customer {id}"
        );
        assert_eq!(row["q4_transactions"].as_i64(), Some(q4), "customer {id}");
        compared += 1;
    }
    assert!(compared > 700);
}

#[test]
fn selection_builds_only_the_chosen_models() {
    let project = shop();
    let out = project
        .cmd()
        .args(["models", "run", "--select", "tag:staging"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("1 of 1 OK    view model stg_orders"),
        "{text}"
    );
    assert!(!text.contains("customer_totals"), "{text}");

    // An unselected upstream view is still available to the selected model.
    let out = project
        .cmd()
        .args(["models", "run", "-s", "customer_totals"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("1 of 1 OK    table model customer_totals"),
        "{text}"
    );

    let out = project
        .cmd()
        .args([
            "models",
            "ls",
            "--select",
            "+customer_totals",
            "--exclude",
            "stg_orders",
        ])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("customer_totals") && !text.contains("stg_orders "),
        "{text}"
    );

    project
        .cmd()
        .args(["models", "run", "--select", "no_such_model"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("matches no model"));
}

#[test]
fn incremental_models_append_or_merge_and_ephemeral_models_inline() {
    let project = shop();
    let config = std::fs::read_to_string(project.path().join("dataflow.yml"))
        .unwrap()
        .replace("path: in/orders.csv", "path: in/orders*.csv");
    write(&project, "dataflow.yml", &config);
    write(
        &project,
        "models/staging/orders_eph.sql",
        "{{ config(materialized='ephemeral') }}\nselect id, customer, amount from {{ source('raw', 'orders') }}\n",
    );
    write(
        &project,
        "models/marts/order_log.sql",
        "{{ config(materialized='incremental') }}\nselect id, amount, '{{ invocation_id }}' as loaded_by\nfrom {{ ref('orders_eph') }}\n{% if is_incremental() %}where id > (select max(id) from {{ this }}){% endif %}\n",
    );
    write(
        &project,
        "models/marts/customer_top.sql",
        "{{ config(materialized='incremental', unique_key='customer') }}\nselect customer, max(amount) as top_amount from {{ ref('orders_eph') }} group by customer\n",
    );
    let out = project.cmd().args(["models", "run"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        !text.contains("orders_eph"),
        "ephemeral models are not built:\n{text}"
    );
    let compiled = std::fs::read_to_string(
        project
            .path()
            .join("target/compiled/shop/models/marts/order_log.sql"),
    )
    .unwrap();
    assert!(
        compiled.starts_with("with __dbt__cte__orders_eph as ("),
        "{compiled}"
    );
    assert_eq!(project.count("order_log"), 4);
    assert_eq!(project.count("customer_top"), 3);

    // New data: one more order for ann (a new maximum) and a new customer.
    write(
        &project,
        "in/orders2.csv",
        "id,customer,amount\n5,ann,99.00\n6,dee,1.00\n",
    );
    project.ingest();
    project.cmd().args(["models", "run"]).assert().success();
    assert_eq!(project.count("order_log"), 6, "appended only the new ids");
    let runs = project.query("select count(distinct loaded_by) as n from order_log");
    assert_eq!(runs[0]["n"], 2);
    let tops = project.query(
        "select customer, cast(top_amount as varchar) as top from customer_top order by customer",
    );
    assert_eq!(tops.len(), 4, "merged on customer: {tops:?}");
    assert_eq!(tops[0]["top"], "99.00");
    assert_eq!(tops[3]["customer"], "dee");

    // --full-refresh rebuilds from scratch.
    project
        .cmd()
        .args(["models", "run", "--full-refresh", "-s", "order_log"])
        .assert()
        .success();
    let runs =
        project.query("select count(*) as rows, count(distinct loaded_by) as n from order_log");
    assert_eq!(
        (runs[0]["rows"].as_u64(), runs[0]["n"].as_u64()),
        (Some(6), Some(1))
    );
}

#[test]
fn seeds_load_with_inferred_and_declared_types_and_build_runs_everything() {
    let project = shop();
    let dbt = std::fs::read_to_string(project.path().join("dbt_project.yml")).unwrap();
    write(
        &project,
        "dbt_project.yml",
        &format!(
            "{dbt}seeds:\n  shop:\n    regions:\n      +column_types:\n        code: varchar\n"
        ),
    );
    write(
        &project,
        "seeds/regions.csv",
        "code,name,since\n01,North,2020-01-01\n02,South,2021-06-30\n",
    );
    write(
        &project,
        "models/marts/region_names.sql",
        "{{ config(materialized='table') }}\nselect code, upper(name) as name, since from {{ ref('regions') }}\n",
    );
    let out = project.cmd().args(["models", "build"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("1 of 1 OK    seed regions"), "{text}");
    assert!(text.contains("OK    table model region_names"), "{text}");
    assert!(text.contains("== dataflow models test =="), "{text}");
    let rows = project.query(
        "select code, name, cast(since as varchar) as since from region_names order by code",
    );
    // `code` kept its leading zero because column_types made it text.
    assert_eq!(rows[0]["code"], "01");
    assert_eq!(rows[1]["name"], "SOUTH");
    assert_eq!(rows[1]["since"], "2021-06-30");

    write(
        &project,
        "dbt_project.yml",
        &format!(
            "{dbt}seeds:\n  shop:\n    regions:\n      +column_types:\n        cod: varchar\n"
        ),
    );
    // A typo'd column is that seed's error, naming the file and the column.
    project
        .cmd()
        .args(["models", "seed"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("ERROR seed regions"))
        .stdout(predicate::str::contains("regions.csv"))
        .stdout(predicate::str::contains("`cod`"));
}

#[test]
fn dbt_utils_tests_singular_tests_and_where() {
    let project = shop();
    write(
        &project,
        "models/staging/schema.yml",
        "version: 2
models:
  - name: stg_orders
    data_tests:
      - dbt_utils.unique_combination_of_columns:
          combination_of_columns: [id, customer]
      - dbt_utils.expression_is_true:
          expression: \"amount >= 0\"
      - dbt_utils.equal_rowcount:
          compare_model: ref('stg_orders')
      - dbt_utils.recency:
          datepart: day
          field: cast('2000-01-01' as timestamp)
          interval: 1
          config: {severity: warn}
    columns:
      - name: amount
        tests:
          - dbt_utils.accepted_range:
              min_value: 3
              max_value: 100
          - dbt_utils.accepted_range:
              min_value: 3
              config: {where: \"customer = 'ann' and id = 1\"}
          - dbt_utils.not_null_proportion:
              at_least: 0.9
      - name: customer
        tests:
          - dbt_utils.relationships_where:
              to: source('raw', 'orders')
              field: customer
              from_condition: \"id < 3\"
",
    );
    write(
        &project,
        "tests/no_huge_orders.sql",
        "select * from {{ ref('stg_orders') }} where amount > 10\n",
    );
    write(
        &project,
        "tests/generic/ignored.sql",
        "{% test my_test(model) %}select 1{% endtest %}\n",
    );
    project.cmd().args(["models", "run"]).assert().success();
    let out = project.cmd().args(["models", "test"]).assert().code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let status = |name: &str| {
        text.lines()
            .find(|l| l.contains(&format!(" {name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
            .split_whitespace()
            .nth(3)
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        status("unique_combination_of_columns_stg_orders__id__customer"),
        "PASS"
    );
    assert_eq!(status("expression_is_true_stg_orders"), "PASS");
    assert_eq!(status("equal_rowcount_stg_orders__stg_orders"), "PASS");
    assert_eq!(status("recency_stg_orders"), "WARN");
    // 2.25 is below 3; the `where` variant only sees ann's 10.50.
    assert_eq!(status("accepted_range_stg_orders_amount"), "FAIL");
    assert_eq!(status("accepted_range_stg_orders_amount_2"), "PASS");
    assert_eq!(status("not_null_proportion_stg_orders_amount"), "PASS");
    assert_eq!(
        status("relationships_where_stg_orders_customer__customer__raw_orders"),
        "PASS"
    );
    // The singular test: ann's 10.50 is over 10.
    assert_eq!(status("no_huge_orders"), "FAIL");
    assert!(
        text.contains("PASS=6 WARN=1 ERROR=2 SKIP=0 TOTAL=9"),
        "{text}"
    );
}

#[test]
fn manifest_and_run_results_describe_the_run() {
    let project = shop();
    write(
        &project,
        "models/staging/schema.yml",
        "version: 2\nmodels:\n  - name: stg_orders\n    description: Orders, cleaned.\n    columns:\n      - name: id\n        description: Order id.\n        tests: [unique]\n",
    );
    project.cmd().args(["models", "run"]).assert().success();
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(project.path().join("target").join(name)).unwrap(),
        )
        .unwrap()
    };
    let manifest = read("manifest.json");
    assert_eq!(
        manifest["metadata"]["dbt_schema_version"],
        "https://schemas.getdbt.com/dbt/manifest/v12.json"
    );
    let mart = &manifest["nodes"]["model.shop.customer_totals"];
    assert_eq!(mart["config"]["materialized"], "table");
    assert_eq!(mart["depends_on"]["nodes"][0], "model.shop.stg_orders");
    assert!(
        mart["compiled_code"]
            .as_str()
            .unwrap()
            .contains("cast(amount * 100 as bigint)")
    );
    assert_eq!(
        mart["fqn"],
        serde_json::json!(["shop", "marts", "customer_totals"])
    );
    let staging = &manifest["nodes"]["model.shop.stg_orders"];
    assert_eq!(staging["description"], "Orders, cleaned.");
    assert_eq!(staging["columns"]["id"]["description"], "Order id.");
    assert_eq!(staging["depends_on"]["nodes"][0], "source.shop.raw.orders");
    assert_eq!(
        manifest["child_map"]["model.shop.stg_orders"][0],
        "model.shop.customer_totals"
    );
    assert_eq!(
        manifest["parent_map"]["model.shop.stg_orders"][0],
        "source.shop.raw.orders"
    );

    let results = read("run_results.json");
    assert_eq!(
        results["metadata"]["dbt_schema_version"],
        "https://schemas.getdbt.com/dbt/run-results/v6.json"
    );
    let statuses: Vec<(&str, &str)> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["unique_id"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("model.shop.stg_orders", "success"),
            ("model.shop.customer_totals", "success")
        ]
    );

    project.cmd().args(["models", "test"]).assert().success();
    let results = read("run_results.json");
    assert_eq!(
        results["results"][0]["unique_id"],
        "test.shop.unique_stg_orders_id"
    );
    assert_eq!(results["results"][0]["status"], "pass");
    assert_eq!(results["results"][0]["failures"], 0);
}

#[test]
fn custom_generic_tests_from_test_blocks() {
    let project = shop();
    write(
        &project,
        "tests/generic/is_even.sql",
        "{% test is_even(model, column_name) %}\nselect * from {{ model }} where {{ column_name }} % 2 <> 0\n{% endtest %}\n",
    );
    write(
        &project,
        "macros/limits.sql",
        "{%- test at_most(model, column_name, limit) -%}\nselect * from {{ model }} where {{ column_name }} > {{ limit }}\n{%- endtest %}\n",
    );
    write(
        &project,
        "models/staging/schema.yml",
        "version: 2\nmodels:\n  - name: stg_orders\n    columns:\n      - name: id\n        tests: [is_even]\n      - name: amount\n        tests:\n          - at_most: {limit: 20}\n          - at_most: {limit: 5, config: {severity: warn}}\n",
    );
    project.cmd().args(["models", "run"]).assert().success();
    let out = project.cmd().args(["models", "test"]).assert().code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("FAIL  is_even_stg_orders_id [") && text.contains("(2 failing rows)"),
        "{text}"
    );
    assert!(text.contains("PASS  at_most_stg_orders_amount ["), "{text}");
    assert!(
        text.contains("WARN  at_most_stg_orders_amount_2 ["),
        "{text}"
    );
    assert!(
        text.contains("PASS=1 WARN=1 ERROR=1 SKIP=0 TOTAL=3"),
        "{text}"
    );
}

#[test]
fn thresholds_and_stored_failures() {
    let project = shop();
    write(
        &project,
        "models/staging/schema.yml",
        "version: 2\nmodels:\n  - name: stg_orders\n    columns:\n      - name: amount\n        tests:\n          - dbt_utils.accepted_range:\n              max_value: 3\n              config: {error_if: \">5\", warn_if: \">1\", store_failures: true}\n          - dbt_utils.accepted_range:\n              max_value: 3\n              config: {error_if: \">=2\"}\n          - dbt_utils.accepted_range:\n              max_value: 100\n              config: {store_failures: true}\n",
    );
    project.cmd().args(["models", "run"]).assert().success();
    let out = project.cmd().args(["models", "test"]).assert().code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    // Two amounts (10.50, 5.00) exceed 3: above warn_if >1 but not error_if >5.
    assert!(
        text.contains("WARN  accepted_range_stg_orders_amount ["),
        "{text}"
    );
    assert!(
        text.contains("FAIL  accepted_range_stg_orders_amount_2 ["),
        "{text}"
    );
    assert!(
        text.contains("PASS  accepted_range_stg_orders_amount_3 ["),
        "{text}"
    );
    assert_eq!(
        project.count("dbt_test__audit__accepted_range_stg_orders_amount"),
        2
    );
    assert_eq!(
        project.count("dbt_test__audit__accepted_range_stg_orders_amount_3"),
        0
    );
}
