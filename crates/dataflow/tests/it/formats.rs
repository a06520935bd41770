//! Parquet, JSON-lines and object-store (file://) sources, and query output formats.

use crate::support::{TestProject, number, table};

#[test]
fn parquet_sources_load_every_row() {
    let project = TestProject::new(|c| {
        c.replace("format: csv", "format: parquet")
            .replace("*.csv", "*.parquet")
    });
    let manifest = project.generate(&[
        "--format",
        "parquet",
        "--customers",
        "1000",
        "--transactions",
        "8000",
        "--products",
        "100",
    ]);
    project.ingest();
    for source in ["customers", "products", "transactions", "events"] {
        let expected = table(&manifest, source);
        assert_eq!(number(expected, "structural_defects"), 0);
        assert_eq!(
            project.count(&format!("raw_{source}")),
            number(expected, "data_rows"),
            "{source}"
        );
    }
    // Typed values survive: the same totals as the generator wrote.
    let sums = project.query("select count(transaction_amount) as n from raw_transactions");
    let transactions = table(&manifest, "transactions");
    let nulls = transactions["defects"]["null_amount"].as_u64().unwrap_or(0);
    assert_eq!(
        sums[0]["n"].as_u64(),
        Some(number(transactions, "data_rows") - nulls)
    );
}

#[test]
fn json_lines_sources_quarantine_bad_lines() {
    let project = TestProject::new(|_| {
        "name: json_test\nsources:\n  orders:\n    format: json\n    path: in/orders.jsonl\n    max_bad_row_fraction: 0.9\n    columns:\n      - {name: id, type: bigint, nullable: false}\n      - {name: amount, type: \"decimal(8,2)\"}\n      - {name: at, type: timestamp}\n      - {name: tags, type: string}\n".to_string()
    });
    std::fs::create_dir_all(project.path().join("in")).unwrap();
    std::fs::write(
        project.path().join("in/orders.jsonl"),
        concat!(
            "{\"id\": 1, \"amount\": 12.5, \"at\": \"2024-01-02T03:04:05\", \"tags\": [\"a\"]}\n",
            "{\"id\": 2, \"amount\": \"7.25\"}\n",
            "not json\n",
            "{\"id\": null, \"amount\": 1}\n",
            "\n",
            "{\"id\": 5, \"amount\": \"lots\"}\n",
            "{\"id\": 6, \"amount\": 1.5, \"extra\": true}\n",
        ),
    )
    .unwrap();
    project.ingest();
    assert_eq!(project.count("raw_orders"), 3);
    let rows = project
        .query("select id, cast(amount as varchar) as amount, tags from raw_orders order by id");
    assert_eq!(rows[0]["amount"], "12.50");
    assert_eq!(rows[0]["tags"], "[\"a\"]");
    assert_eq!(rows[1]["amount"], "7.25");
    let bad = project.query(
        "select line_number, column_name, reason from quarantine_orders order by line_number",
    );
    assert_eq!(bad.len(), 3);
    assert_eq!(bad[0]["line_number"], 3);
    assert!(
        bad[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON")
    );
    assert_eq!(bad[1]["line_number"], 4);
    assert_eq!(bad[1]["reason"], "null in required column `id`");
    assert_eq!(bad[2]["line_number"], 6);
    assert_eq!(bad[2]["column_name"], "amount");
}

#[test]
fn object_store_urls_with_globs_are_sources() {
    let project = TestProject::new(|c| c);
    let manifest = project.generate(&[
        "--customers",
        "300",
        "--transactions",
        "2000",
        "--products",
        "30",
    ]);
    let url = format!("file://{}/customers*.csv", project.incoming().display());
    let config = std::fs::read_to_string(project.path().join("dataflow.yml"))
        .unwrap()
        .replace(
            "path: data/incoming/customers*.csv",
            &format!("path: \"{url}\""),
        );
    std::fs::write(project.path().join("dataflow.yml"), config).unwrap();
    project
        .cmd()
        .args(["ingest", "--source", "customers"])
        .assert()
        .success();
    assert_eq!(
        project.count("raw_customers"),
        number(table(&manifest, "customers"), "loadable_rows")
    );
    let files = project.query("select distinct _source_file as f from raw_customers");
    assert!(files[0]["f"].as_str().unwrap().starts_with("file:///"));
}

#[test]
fn query_prints_tables_csv_and_json() {
    let project = TestProject::new(|c| c);
    project.generate_small();
    project.ingest();
    let sql = "select status, count(*) as n from raw_transactions group by status order by status";
    let out = project.cmd().args(["query", sql]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("| completed"), "{text}");
    let out = project
        .cmd()
        .args(["query", "--format", "csv", sql])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.starts_with("status,n\n"), "{text}");
    let bad = project
        .cmd()
        .args(["query", "select nope from raw_transactions"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&bad.get_output().stderr).into_owned();
    assert!(stderr.contains("nope"), "{stderr}");
    let tables = project.cmd().arg("tables").assert().success();
    let text = String::from_utf8_lossy(&tables.get_output().stdout).into_owned();
    assert!(
        text.contains("raw_transactions") && text.contains("quarantine_events"),
        "{text}"
    );
}
