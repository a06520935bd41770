//! Source freshness (`dataflow models freshness`) against the lake's load times.

use predicates::prelude::*;
use serde_json::Value;

use crate::models::{shop, write};

const SOURCES: &str = "version: 2
sources:
  - name: raw
    loaded_at_field: _loaded_at
    freshness:
      warn_after: {count: 1, period: hour}
      error_after: {count: 3, period: hour}
    tables:
      - name: orders
        identifier: raw_orders
      - name: late_orders
        identifier: raw_orders
        loaded_at_field: \"_loaded_at - interval '2 hours'\"
      - name: stale_orders
        identifier: raw_orders
        loaded_at_field: \"_loaded_at - interval '1 day'\"
      - name: unchecked
        identifier: raw_orders
        freshness: null
      - name: empty_orders
        identifier: raw_orders
        freshness:
          filter: \"id < 0\"
";

#[test]
fn freshness_passes_warns_and_errors_by_age() {
    let project = shop();
    write(&project, "models/staging/_sources.yml", SOURCES);
    let out = project
        .cmd()
        .args(["models", "freshness"])
        .assert()
        .failure()
        .code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("PASS  freshness of raw.orders"), "{text}");
    assert!(
        text.contains("WARN  freshness of raw.late_orders"),
        "{text}"
    );
    assert!(text.contains("(last loaded 2h 0m ago)"), "{text}");
    assert!(
        text.contains("ERROR STALE freshness of raw.stale_orders")
            && text.contains("more than error_after 3 hours"),
        "{text}"
    );
    assert!(
        text.contains("no rows in `raw_orders` have a `_loaded_at` where id < 0"),
        "the filter applies and an empty result is an error: {text}"
    );
    assert!(
        !text.contains("unchecked"),
        "freshness: null turns checks off"
    );
    assert!(text.contains("PASS=1 WARN=1 ERROR=2 TOTAL=4"), "{text}");

    let sources: Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("target/sources.json")).expect("sources.json"),
    )
    .expect("json");
    let results = sources["results"].as_array().expect("results");
    let late = results
        .iter()
        .find(|r| r["unique_id"] == "source.shop.raw.late_orders")
        .expect("late_orders result");
    assert_eq!(late["status"], "warn");
    assert_eq!(late["criteria"]["warn_after"]["period"], "hour");
    let age = late["max_loaded_at_time_ago_in_s"].as_f64().expect("age");
    assert!((7_200.0..7_300.0).contains(&age), "{age}");

    // Selecting only the fresh table passes.
    project
        .cmd()
        .args(["models", "freshness", "-s", "source:raw.orders"])
        .assert()
        .success()
        .stdout(predicate::str::contains("PASS=1 WARN=0 ERROR=0 TOTAL=1"));
}

#[test]
fn freshness_typos_name_the_schema_file() {
    let project = shop();
    write(
        &project,
        "models/staging/_sources.yml",
        &SOURCES.replace(
            "warn_after: {count: 1, period: hour}",
            "warn_after: {count: 1, period: hours}",
        ),
    );
    project
        .cmd()
        .args(["models", "freshness"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("_sources.yml")
                .and(predicate::str::contains("unknown variant `hours`")),
        );
}

/// The JSON the docs page embeds.
fn page_data(html: &str) -> Value {
    let start = html
        .find(r#"<script type="application/json" id="data">"#)
        .expect("data script")
        + r#"<script type="application/json" id="data">"#.len();
    let end = start + html[start..].find("</script>").expect("end of data");
    serde_json::from_str(&html[start..end]).expect("page data is JSON")
}

#[test]
fn docs_site_has_models_columns_tests_sql_and_lineage() {
    let project = shop();
    write(
        &project,
        "models/marts/schema.yml",
        "version: 2\nmodels:\n  - name: customer_totals\n    description: Orders and cents per customer </script> safely.\n    columns:\n      - name: customer\n        description: Who ordered.\n        tests: [unique, not_null]\n",
    );
    // Before anything is built the site still lists every node, without column types.
    project
        .cmd()
        .args(["models", "docs"])
        .assert()
        .success()
        .stdout(predicate::str::contains("target/index.html"));
    project.cmd().args(["models", "run"]).assert().success();
    project.cmd().args(["models", "docs"]).assert().success();
    let html = std::fs::read_to_string(project.path().join("target/index.html")).expect("page");
    assert_eq!(
        html.matches("<g class=\"node ").count(),
        3,
        "source and two models"
    );
    assert!(
        html.contains(r#"data-from="source.shop.raw.orders" data-to="model.shop.stg_orders""#)
            && html.contains(
                r#"data-from="model.shop.stg_orders" data-to="model.shop.customer_totals""#
            ),
        "lineage edges"
    );
    let data = page_data(&html);
    let nodes = data["nodes"].as_array().expect("nodes");
    let totals = nodes
        .iter()
        .find(|n| n["name"] == "customer_totals")
        .expect("customer_totals");
    assert_eq!(totals["materialized"], "table");
    assert!(
        totals["description"]
            .as_str()
            .is_some_and(|d| d.contains("</script>")),
        "text survives the embedding"
    );
    let customer = &totals["columns"][0];
    assert_eq!(customer["name"], "customer");
    assert_eq!(customer["description"], "Who ordered.");
    assert_eq!(customer["tests"].as_array().map(Vec::len), Some(2));
    assert!(
        totals["compiled_code"]
            .as_str()
            .is_some_and(|c| c.contains("from stg_orders"))
    );
    assert_eq!(totals["parents"][0], "model.shop.stg_orders");
    // The view's columns come from planning it; the source's from the lake.
    let stg = nodes
        .iter()
        .find(|n| n["name"] == "stg_orders")
        .expect("stg_orders");
    assert_eq!(stg["columns"].as_array().map(Vec::len), Some(3));
    let catalog: Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("target/catalog.json")).expect("catalog"),
    )
    .expect("json");
    assert_eq!(
        catalog["nodes"]["model.shop.customer_totals"]["columns"]["orders"]["type"],
        "Int64"
    );
    assert!(catalog["sources"]["source.shop.raw.orders"]["columns"]["_batch_id"].is_object());
}

/// Renders a page in headless Chromium (installed by scripts/test) and returns the DOM after
/// its scripts ran.
fn rendered_dom(page: &std::path::Path, fragment: &str) -> String {
    let profile = tempfile::tempdir().expect("a browser profile directory");
    let out = std::process::Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}#{fragment}", page.display()))
        .output()
        .expect("chromium runs (scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn docs_page_script_renders_a_model_in_a_real_browser() {
    let project = shop();
    write(
        &project,
        "models/marts/schema.yml",
        "version: 2\nmodels:\n  - name: customer_totals\n    description: Orders per customer.\n    columns:\n      - name: customer\n        description: Who ordered.\n        tests: [unique]\n",
    );
    project.cmd().args(["models", "run"]).assert().success();
    project.cmd().args(["models", "docs"]).assert().success();
    let page = project.path().join("target/index.html");
    let dom = rendered_dom(&page, "model.shop.customer_totals");
    assert!(
        dom.contains(r#"<h1>customer_totals<span class="badge">model</span><span class="badge">table</span></h1>"#),
        "the detail view was rendered by the script:\n{dom}"
    );
    assert!(dom.contains("<td>Who ordered.</td>"), "column descriptions");
    assert!(
        dom.contains("unique_customer_totals_customer"),
        "column tests"
    );
    assert!(
        dom.contains(r#"class="node model near selected" data-id="model.shop.customer_totals""#),
        "the graph highlights the node"
    );
    assert!(
        dom.contains(r#"<svg class="lineage focus""#),
        "others are dimmed"
    );
    let overview = rendered_dom(&page, "");
    assert!(
        overview.contains("2 models, 0 seeds, 1 sources."),
        "{overview}"
    );
}
