//! dbt_utils macros that read the warehouse while rendering (`star`, `get_column_values`,
//! `union_relations`, `unpivot`) and the row-shaping ones (`pivot`, `deduplicate`,
//! `date_spine`), on a project that is only a dbt project (no dataflow.yml).

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
        "id,name,status,amount\n1,ann,paid,10\n2,bob,open,5\n3,ann,paid,7\n3,ann,void,1\n",
    );
    write(
        &project,
        "seeds/refunds.csv",
        "id,name,reason\n9,zed,damaged\n",
    );
    project
}

fn model(project: &TestProject, name: &str, body: &str, materialized: &str) {
    write(
        project,
        &format!("models/{name}.sql"),
        &format!("{{{{ config(materialized='{materialized}') }}}}\n{body}\n"),
    );
}

fn rows(project: &TestProject, sql: &str) -> Vec<Value> {
    project.query(sql)
}

#[test]
fn relation_macros_read_columns_and_values_when_the_model_is_built() {
    let project = project();
    model(
        &project,
        "starred",
        "select {{ dbt_utils.star(from=ref('orders'), except=['AMOUNT'], prefix='o_') }} from {{ ref('orders') }}",
        "table",
    );
    // A view reading the columns of another view built in the same run.
    model(
        &project,
        "paid",
        "select * from {{ ref('orders') }} where status = 'paid'",
        "view",
    );
    model(
        &project,
        "pivoted",
        "{% set statuses = dbt_utils.get_column_values(table=ref('orders'), column='status', order_by='status') %}\n\
         select o.name, {{ dbt_utils.pivot('o.status', statuses, then_value='o.amount') }}, \
         count({{ dbt_utils.star(from=ref('paid'), relation_alias='p', except=['id', 'name', 'status']) }}) as paid_rows\n\
         from {{ ref('orders') }} as o left join {{ ref('paid') }} as p \
         on o.id = p.id and o.status = p.status group by o.name",
        "table",
    );
    model(
        &project,
        "unioned",
        "{{ dbt_utils.union_relations(relations=[ref('orders'), ref('refunds')], exclude=['amount']) }}",
        "table",
    );
    model(
        &project,
        "unpivoted",
        "{{ dbt_utils.unpivot(relation=ref('orders'), exclude=['id'], remove=['amount'], field_name='attr', value_name='val') }}",
        "table",
    );
    model(
        &project,
        "deduped",
        "{{ dbt_utils.deduplicate(relation=ref('orders'), partition_by='id', order_by='amount desc') }}",
        "table",
    );
    model(
        &project,
        "spine",
        "{{ dbt_utils.date_spine(datepart='day', start_date=\"cast('2024-02-27' as date)\", end_date=\"cast('2024-03-02' as date)\") }}",
        "table",
    );
    project
        .cmd()
        .args(["models", "build", "--threads", "4"])
        .assert()
        .success();

    let starred = rows(&project, "select * from starred order by o_id, o_status");
    let columns: Vec<&String> = starred[0].as_object().expect("row").keys().collect();
    assert_eq!(
        columns.len(),
        3,
        "amount excluded case-insensitively: {columns:?}"
    );
    assert_eq!(starred[3]["o_status"], "void");

    let pivoted = rows(&project, "select * from pivoted order by name");
    assert_eq!(pivoted.len(), 2);
    assert_eq!(
        pivoted[0]["paid_rows"], 2,
        "ann has two paid orders: {pivoted:?}"
    );
    assert_eq!(
        (
            &pivoted[0]["paid"],
            &pivoted[0]["void"],
            &pivoted[1]["open"]
        ),
        (&Value::from(17), &Value::from(1), &Value::from(5))
    );
    let compiled =
        std::fs::read_to_string(project.path().join("target/compiled/p/models/pivoted.sql"))
            .expect("compiled SQL");
    assert!(
        compiled.contains("when o.status = 'void' then o.amount")
            && compiled.contains("count(p.\"amount\")"),
        "target/compiled holds the SQL that ran:\n{compiled}"
    );

    let unioned = rows(
        &project,
        "select _dbt_source_relation as rel, count(*) as n, count(reason) as reasons, count(status) as statuses \
         from unioned group by 1 order by 1",
    );
    assert_eq!(unioned.len(), 2, "{unioned:?}");
    assert_eq!(
        (
            &unioned[0]["rel"],
            &unioned[0]["n"],
            &unioned[0]["statuses"]
        ),
        (&Value::from("orders"), &Value::from(4), &Value::from(4))
    );
    assert_eq!(unioned[1]["reasons"], 1);
    assert!(
        rows(&project, "select * from unioned limit 1")[0]
            .get("amount")
            .is_none()
    );

    let unpivoted = rows(
        &project,
        "select attr, count(*) as n from unpivoted group by attr order by attr",
    );
    assert_eq!(
        unpivoted.len(),
        2,
        "name and status, not id or amount: {unpivoted:?}"
    );
    assert_eq!(unpivoted[0]["n"], 4);

    let deduped = rows(&project, "select id, amount from deduped order by id");
    assert_eq!(deduped.len(), 3);
    assert_eq!(deduped[2]["amount"], 7, "highest amount kept for id 3");

    let spine = rows(
        &project,
        "select cast(date_day as date) as d from spine order by 1",
    );
    let days: Vec<&str> = spine.iter().filter_map(|r| r["d"].as_str()).collect();
    assert_eq!(
        days,
        ["2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"]
    );
}

#[test]
fn an_unknown_relation_in_an_introspective_macro_names_the_model() {
    let project = project();
    model(
        &project,
        "broken",
        "select {{ dbt_utils.star(from='no_such_table') }} from {{ ref('orders') }}",
        "table",
    );
    let out = project.cmd().args(["models", "build"]).assert().failure();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("model `broken`")
            && text.contains("reading the columns of relation `no_such_table`"),
        "{text}"
    );
}

#[test]
fn relation_listing_query_results_nullcheck_and_group_by_macros_read_the_lake() {
    let project = project();
    write(&project, "seeds/orders_2023.csv", "id,note\n7,\n8,x\n");
    model(
        &project,
        "all_orders",
        "{{ dbt_utils.log_info('unioning the orders tables') }}\n\
         {{ dbt_utils.union_relations(relations=dbt_utils.get_relations_by_prefix(target.schema, 'orders', exclude='%2023'), \
         include=['id', 'status']) }}",
        "table",
    );
    model(
        &project,
        "patterned",
        "{% set relations = dbt_utils.get_relations_by_pattern('%', 'orders%') %}\n\
         select {% for r in relations %}'{{ r.identifier }}'{% if not loop.last %} || ',' || {% endif %}{% endfor %} as names",
        "table",
    );
    model(
        &project,
        "status_counts",
        "{% set counts = dbt_utils.get_query_results_as_dict(\"select status, count(*) as n from \" ~ ref('orders') ~ \" group by status order by status\") %}\n\
         select {% for status in counts['status'] %}{{ counts['n'][loop.index0] }} as {{ status }}{% if not loop.last %}, {% endif %}{% endfor %}",
        "table",
    );
    model(
        &project,
        "by_name",
        "select name, count(*) as n from {{ ref('orders') }} {{ dbt_utils.group_by(1) }}",
        "table",
    );
    model(
        &project,
        "blanks",
        "select 7 as id, '' as note union all select 8, 'x'",
        "view",
    );
    model(
        &project,
        "notes",
        "select *, note is null as missing from ({{ dbt_utils.nullcheck_table(ref('blanks')) }}) as t",
        "table",
    );
    project.cmd().args(["models", "build"]).assert().success();

    let unioned = rows(
        &project,
        "select _dbt_source_relation as rel, count(*) as n from all_orders group by 1 order by 1",
    );
    assert_eq!(unioned.len(), 1, "orders_2023 excluded: {unioned:?}");
    assert_eq!(
        (&unioned[0]["rel"], &unioned[0]["n"]),
        (&Value::from("orders"), &Value::from(4))
    );
    let names = rows(&project, "select names from patterned");
    assert_eq!(names[0]["names"], "orders,orders_2023");
    let counts = rows(&project, "select * from status_counts");
    assert_eq!(
        (&counts[0]["open"], &counts[0]["paid"], &counts[0]["void"]),
        (&Value::from(1), &Value::from(2), &Value::from(1))
    );
    assert_eq!(
        rows(&project, "select count(*) as n from by_name")[0]["n"],
        2,
        "ann and bob"
    );
    let notes = rows(&project, "select id, missing from notes order by id");
    assert_eq!(notes[0]["missing"], true, "{notes:?}");
    assert_eq!(notes[1]["missing"], false, "{notes:?}");
}
