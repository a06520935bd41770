//! Incremental strategies, `on_schema_change`, and parallel builds with `--threads`.

use predicates::prelude::*;

use crate::models::{shop, write};
use crate::support::TestProject;

/// An append-only incremental model whose columns depend on `--vars`: `who` is added with
/// `{extra: true}`, `amount` is dropped with `{drop: true}`.
fn changing_model(project: &TestProject, config: &str) {
    write(
        project,
        "models/marts/order_log.sql",
        &format!(
            "{{{{ config(materialized='incremental'{config}) }}}}\nselect id\n\
             {{% if not var('drop', false) %}}, amount{{% endif %}}\n\
             {{% if var('extra', false) %}}, customer as who{{% endif %}}\n\
             from {{{{ source('raw', 'orders') }}}}\n"
        ),
    );
}

fn run(project: &TestProject, vars: &str) -> assert_cmd::assert::Assert {
    project
        .cmd()
        .args(["models", "run", "-s", "order_log", "--vars", vars])
        .assert()
}

fn columns(project: &TestProject) -> Vec<String> {
    let row = project.query("select * from order_log limit 1");
    let mut names: Vec<String> = row[0]
        .as_object()
        .expect("a row object")
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

#[test]
fn on_schema_change_ignore_keeps_the_table_columns() {
    let project = shop();
    changing_model(&project, "");
    run(&project, "{}").success();
    run(&project, "{extra: true}").success();
    assert_eq!(columns(&project), ["amount", "id"]);
    assert_eq!(project.count("order_log"), 8, "the second run appended");
    // A column the table has but the model no longer produces cannot be ignored.
    run(&project, "{drop: true}")
        .failure()
        .stdout(predicate::str::contains(
            "columns amount of table `order_log`",
        ));
    assert_eq!(
        project.count("order_log"),
        8,
        "the failed run changed nothing"
    );
}

#[test]
fn on_schema_change_fail_refuses_and_leaves_the_table() {
    let project = shop();
    changing_model(&project, ", on_schema_change='fail'");
    run(&project, "{}").success();
    run(&project, "{extra: true}").failure().stdout(
        predicate::str::contains("on_schema_change is `fail`")
            .and(predicate::str::contains("added columns: who")),
    );
    assert_eq!(project.count("order_log"), 4);
    assert_eq!(columns(&project), ["amount", "id"]);
}

#[test]
fn on_schema_change_append_new_columns_adds_and_keeps_columns() {
    let project = shop();
    changing_model(&project, ", on_schema_change='append_new_columns'");
    run(&project, "{}").success();
    run(&project, "{extra: true}").success();
    assert_eq!(columns(&project), ["amount", "id", "who"]);
    let rows = project.query(
        "select count(who) as named, count(*) as rows, count(amount) as amounts from order_log",
    );
    assert_eq!(rows[0]["named"], 4, "old rows have no `who`: {rows:?}");
    assert_eq!(rows[0]["rows"], 8);
    // Dropping a column keeps it in the table, null for new rows.
    run(&project, "{extra: true, drop: true}").success();
    let rows = project.query("select count(*) as rows, count(amount) as amounts from order_log");
    assert_eq!(
        (rows[0]["rows"].as_u64(), rows[0]["amounts"].as_u64()),
        (Some(12), Some(8))
    );
}

#[test]
fn on_schema_change_sync_all_columns_follows_the_model() {
    let project = shop();
    changing_model(&project, ", on_schema_change='sync_all_columns'");
    run(&project, "{extra: true}").success();
    run(&project, "{drop: true}").success();
    assert_eq!(columns(&project), ["id"]);
    assert_eq!(project.count("order_log"), 8);
}

#[test]
fn delete_insert_replaces_every_row_of_a_changed_key() {
    let project = shop();
    write(
        &project,
        "models/marts/by_customer.sql",
        "{{ config(materialized='incremental', unique_key='customer', incremental_strategy='delete+insert') }}\n\
         select customer, id from {{ source('raw', 'orders') }}\n\
         {% if is_incremental() %}where customer = 'ann'{% endif %}\n",
    );
    project
        .cmd()
        .args(["models", "run", "-s", "by_customer"])
        .assert()
        .success();
    assert_eq!(project.count("by_customer"), 4);
    // ann has two rows: delete+insert replaces both (merge would refuse duplicate keys).
    project
        .cmd()
        .args(["models", "run", "-s", "by_customer"])
        .assert()
        .success();
    let rows = project.query(
        "select customer, count(*) as n from by_customer group by customer order by customer",
    );
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0]["n"], 2);
}

#[test]
fn bad_incremental_settings_fail_the_model_with_its_file() {
    let project = shop();
    changing_model(&project, ", on_schema_change='sync_columns'");
    run(&project, "{}").code(1).stdout(
        predicate::str::contains("ERROR table model order_log")
            .and(predicate::str::contains("order_log.sql"))
            .and(predicate::str::contains(
                "unknown on_schema_change `sync_columns`",
            )),
    );
    // `models compile` refuses a project with a model that does not render.
    project
        .cmd()
        .args(["models", "compile"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown on_schema_change"));
    changing_model(&project, ", incremental_strategy='merge'");
    run(&project, "{}")
        .code(1)
        .stdout(predicate::str::contains("`merge` needs a unique_key"));
}

#[test]
fn threads_build_independent_models_in_parallel_and_skip_failed_branches() {
    let project = shop();
    for (name, sql) in [
        ("a", "select 1 as x"),
        ("b", "select x + 1 as x from {{ ref('a') }}"),
        ("c", "select x + 2 as x from {{ ref('a') }}"),
        ("d", "select no_such_column from {{ ref('a') }}"),
        ("e", "select x from {{ ref('d') }}"),
        (
            "f",
            "select b.x + c.x as x from {{ ref('b') }} b, {{ ref('c') }} c",
        ),
    ] {
        write(
            &project,
            &format!("models/fan/{name}.sql"),
            &format!("{{{{ config(materialized='table') }}}}\n{sql}\n"),
        );
    }
    let out = project
        .cmd()
        .args(["models", "run", "-s", "path:models/fan", "--threads", "3"])
        .assert()
        .failure();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("ERROR table model d"), "{text}");
    assert!(text.contains("SKIP  table model e"), "{text}");
    assert!(
        text.contains("PASS=4 ERROR=1 SKIP=1 TOTAL=6"),
        "the rest built:\n{text}"
    );
    assert_eq!(project.query("select x from f")[0]["x"], 5);
    project
        .cmd()
        .args(["models", "run", "--threads", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--threads"));
}
