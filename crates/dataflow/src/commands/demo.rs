//! `dataflow demo`: the example project end to end on generated data, with no services:
//! generate, then one run of the `production_data_pipeline` DAG through the orchestrator
//! (file sensor, ingest of the four sources, quality checkpoints, models and their tests, the
//! RFM feature job), then ingest again to show nothing loads twice, and summaries and queries.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use comfy_table::Table;
use dataflow_core::config::load_project;
use dataflow_core::ids::RunId;
use dataflow_engine::{collect_sql, new_session};

use super::generate::{generate_with_progress, options, resolve_date};
use super::ingest::{check, ingest_all};
use crate::cli::{DataFormat, DemoArgs, GenerateArgs, QueryFormat};
use crate::output;

/// Marks a directory as created by the demo, so re-running may clear it.
const MARKER: &str = ".dataflow-demo";

/// The example project, embedded so the binary runs the demo from anywhere.
const EXAMPLE_FILES: &[(&str, &str)] = &[
    (
        "pipelines/production_data_pipeline.yml",
        include_str!("../../../../examples/ecommerce/pipelines/production_data_pipeline.yml"),
    ),
    (
        "pipelines/monitoring_and_alerting.yml",
        include_str!("../../../../examples/ecommerce/pipelines/monitoring_and_alerting.yml"),
    ),
    (
        "checkpoints/customers.yml",
        include_str!("../../../../examples/ecommerce/checkpoints/customers.yml"),
    ),
    (
        "checkpoints/transactions.yml",
        include_str!("../../../../examples/ecommerce/checkpoints/transactions.yml"),
    ),
    (
        "checkpoints/products_and_events.yml",
        include_str!("../../../../examples/ecommerce/checkpoints/products_and_events.yml"),
    ),
    (
        "checkpoints/raw_data.yml",
        include_str!("../../../../examples/ecommerce/checkpoints/raw_data.yml"),
    ),
    (
        "expectations/customers_suite.json",
        include_str!("../../../../examples/ecommerce/expectations/customers_suite.json"),
    ),
    (
        "expectations/transactions_suite.json",
        include_str!("../../../../examples/ecommerce/expectations/transactions_suite.json"),
    ),
    (
        "expectations/products_suite.json",
        include_str!("../../../../examples/ecommerce/expectations/products_suite.json"),
    ),
    (
        "expectations/events_suite.json",
        include_str!("../../../../examples/ecommerce/expectations/events_suite.json"),
    ),
    (
        "dbt_project.yml",
        include_str!("../../../../examples/ecommerce/dbt_project.yml"),
    ),
    (
        "macros/data_quality_checks.sql",
        include_str!("../../../../examples/ecommerce/macros/data_quality_checks.sql"),
    ),
    (
        "models/staging/_sources.yml",
        include_str!("../../../../examples/ecommerce/models/staging/_sources.yml"),
    ),
    (
        "models/staging/stg_customers.sql",
        include_str!("../../../../examples/ecommerce/models/staging/stg_customers.sql"),
    ),
    (
        "models/staging/stg_transactions.sql",
        include_str!("../../../../examples/ecommerce/models/staging/stg_transactions.sql"),
    ),
    (
        "models/staging/stg_products.sql",
        include_str!("../../../../examples/ecommerce/models/staging/stg_products.sql"),
    ),
    (
        "models/intermediate/int_transaction_analysis.sql",
        include_str!(
            "../../../../examples/ecommerce/models/intermediate/int_transaction_analysis.sql"
        ),
    ),
    (
        "models/intermediate/int_customer_metrics.sql",
        include_str!("../../../../examples/ecommerce/models/intermediate/int_customer_metrics.sql"),
    ),
    (
        "models/intermediate/int_product_performance.sql",
        include_str!(
            "../../../../examples/ecommerce/models/intermediate/int_product_performance.sql"
        ),
    ),
    (
        "models/marts/dim_customers.sql",
        include_str!("../../../../examples/ecommerce/models/marts/dim_customers.sql"),
    ),
    (
        "models/marts/fct_transactions.sql",
        include_str!("../../../../examples/ecommerce/models/marts/fct_transactions.sql"),
    ),
    (
        "models/marts/customer_360.sql",
        include_str!("../../../../examples/ecommerce/models/marts/customer_360.sql"),
    ),
    (
        "models/marts/customer_feature_summary.sql",
        include_str!("../../../../examples/ecommerce/models/marts/customer_feature_summary.sql"),
    ),
    (
        "models/marts/customer_features.sql",
        include_str!("../../../../examples/ecommerce/models/marts/customer_features.sql"),
    ),
    (
        "dataflow.yml",
        include_str!("../../../../examples/ecommerce/dataflow.yml"),
    ),
    (
        "README.md",
        include_str!("../../../../examples/ecommerce/README.md"),
    ),
];

fn prepare(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_none();
        if !empty && !dir.join(MARKER).exists() {
            bail!(dataflow_core::Error::Usage(format!(
                "{} exists and was not created by `dataflow demo`; choose another --dir",
                dir.display()
            )));
        }
        for sub in ["lake", "data"] {
            let path = dir.join(sub);
            if path.exists() {
                std::fs::remove_dir_all(&path)
                    .with_context(|| format!("cannot clear {}", path.display()))?;
            }
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "created by `dataflow demo`; safe to delete\n",
    )?;
    for sub in ["models", "macros", "target", "exports"] {
        let path = dir.join(sub);
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("cannot clear {}", path.display()))?;
        }
    }
    for (name, text) in EXAMPLE_FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {name}"))?;
    }
    Ok(())
}

/// Runs the command.
pub async fn run(args: DemoArgs, run_id: &RunId) -> anyhow::Result<()> {
    let total = Instant::now();
    prepare(&args.dir)?;
    let project = load_project(&args.dir)?;
    let incoming = args.dir.join("data").join("incoming");

    // 1. Generate three years of data ending today, so recency metrics look alive.
    let started = Instant::now();
    let end = resolve_date("today");
    let end_day = dataflow_core::time::parse_date(end.as_bytes()).unwrap_or(20_000);
    let mut start = Vec::new();
    dataflow_core::time::format_date(end_day - 3 * 365, &mut start);
    let generate_options = options(&GenerateArgs {
        out: incoming.clone(),
        seed: args.seed,
        customers: args.customers,
        transactions: args.transactions,
        products: 1_000.min(args.customers.max(10)),
        events: None,
        format: DataFormat::Csv,
        defect_rate: 0.015,
        start_date: String::from_utf8_lossy(&start).into_owned(),
        end_date: end,
    });
    let manifest = generate_with_progress(&generate_options)?;
    let generate_seconds = started.elapsed().as_secs_f64();

    // 2. The production pipeline, once, through the orchestrator (what `dataflow dags test
    // production_data_pipeline` does): sensor, ingest, checkpoints, models, tests, features.
    let started = Instant::now();
    println!("\nPipeline run (dataflow dags test production_data_pipeline):");
    let orch = super::orchestrator::open(&project).await?;
    let run = super::dags::test(&orch, "production_data_pipeline", None, None).await?;
    super::dags::print_run_result(&orch, &run).await?;
    let pipeline_seconds = started.elapsed().as_secs_f64();
    if run.state != dataflow_orchestrator::state::RunState::Success {
        bail!(crate::exit::JobFailed(format!(
            "the pipeline run {} failed; `dataflow --project-dir {} logs {} TASK_ID` shows why",
            run.run_id,
            args.dir.display(),
            run.run_id
        )));
    }

    // 3. Ingest again: nothing may load twice.
    let rerun = ingest_all(&project, &[], run_id).await?;
    check(&rerun)?;
    let reloaded: usize = rerun
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(|r| r.files_loaded())
        .sum();

    // 4. Summary: what landed against what the generator injected.
    let lake = super::open_lake(&project)?;
    let ctx = new_session(&lake).await?;
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header([
        "source",
        "rows generated",
        "rows loaded",
        "rows quarantined",
        "expected quarantined",
    ]);
    for name in project.config.sources.keys() {
        let count = |table: String| {
            let ctx = &ctx;
            async move {
                let sql = format!("select count(*) from {table}");
                collect_sql(ctx, &sql)
                    .await
                    .ok()
                    .and_then(|b| b.first().cloned())
                    .and_then(|b| {
                        b.column(0)
                            .as_any()
                            .downcast_ref::<datafusion::arrow::array::Int64Array>()
                            .map(|a| a.value(0))
                    })
                    .map_or("0".to_string(), |n| n.to_string())
            }
        };
        let expected = manifest.tables.get(name.as_str());
        table.add_row([
            name.clone(),
            expected.map_or("?".into(), |t| t.data_rows.to_string()),
            count(format!("raw_{name}")).await,
            count(format!("quarantine_{name}")).await,
            expected.map_or("?".into(), |t| t.structural_defects.to_string()),
        ]);
    }
    println!(
        "\nIngest into the lake (Delta tables raw_<source>, bad rows in quarantine_<source>):"
    );
    println!("{table}");
    println!(
        "re-run of ingest: {reloaded} files loaded again (the ledger skips files already in the lake)"
    );

    let segments = collect_sql(
        &ctx,
        "select value_tier, lifecycle_stage, count(*) as customers, round(sum(total_spent), 2) as revenue \
         from customer_360 group by value_tier, lifecycle_stage order by revenue desc limit 8",
    )
    .await
    .context("demo query failed")?;
    println!("\ncustomer_360 by value tier and lifecycle stage:");
    output::print_batches(&segments, QueryFormat::Table)?;
    let rfm = collect_sql(
        &ctx,
        "select customer_value_segment, count(*) as customers, round(avg(rfm_score), 2) as avg_rfm \
         from customer_features group by customer_value_segment order by avg_rfm desc",
    )
    .await
    .context("demo query failed")?;
    println!("\ncustomer_features (RFM) by value segment:");
    output::print_batches(&rfm, QueryFormat::Table)?;

    let sql = "select p.product_category, count(*) as orders, sum(t.transaction_amount) as revenue \
               from raw_transactions t join raw_products p on t.product_id = p.product_id \
               where t.status = 'completed' and t.transaction_amount between 0.01 and 100000 group by p.product_category order by revenue desc limit 5";
    let batches = collect_sql(&ctx, sql).await.context("demo query failed")?;
    println!("\nTop categories by completed revenue (dataflow query):");
    output::print_batches(&batches, QueryFormat::Table)?;

    println!(
        "\nTimings: generate {generate_seconds:.2}s, pipeline run {pipeline_seconds:.2}s, total {:.2}s",
        total.elapsed().as_secs_f64()
    );
    println!("Outputs:");
    println!("  project   {}", args.dir.join("dataflow.yml").display());
    println!(
        "  data      {}  (manifest.json counts every injected defect)",
        incoming.display()
    );
    println!("  lake      {}", lake.url());
    println!(
        "  features  {}  (Hive-partitioned snappy Parquet)",
        args.dir
            .join("exports/analytics/customer_features")
            .display()
    );
    println!(
        "  quality   {}  (GE validation results; failing rows in <table>_quarantine)",
        args.dir.join("target/validations").display()
    );
    println!(
        "  models    {}  (compiled SQL, manifest.json, run_results.json)",
        args.dir.join("target").display()
    );
    println!(
        "  runs      {}  (run history, stage runs, quality results)",
        args.dir.join("target/dataflow.db").display()
    );
    println!(
        "  logs      {}  (one file per task attempt: dataflow logs RUN_ID TASK_ID)",
        args.dir.join("target/logs").display()
    );
    println!(
        "  metrics   dataflow --project-dir {} serve  then  http://127.0.0.1:9464/metrics \
         (Prometheus; rules and dashboards in deploy/)",
        args.dir.display()
    );
    println!(
        "Next: dataflow --project-dir {} query \"select count(*) from raw_transactions\"",
        args.dir.display()
    );
    println!(
        "      dataflow --project-dir {} runs show {}",
        args.dir.display(),
        run.run_id
    );
    Ok(())
}
