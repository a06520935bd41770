//! `dataflow checkpoint run NAME`: every validation of `checkpoints/NAME.yml`, its policy
//! applied (fail, warn, quarantine), results kept in the lake (`_dataflow_validations`) and
//! under `target/validations/NAME/`.

use std::sync::Arc;

use anyhow::Context;
use dataflow_core::config::Project;
use dataflow_core::ids::RunId;
use dataflow_engine::datafusion::arrow::array::{
    Array, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use dataflow_engine::datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use dataflow_engine::datafusion::prelude::SessionContext;
use dataflow_engine::{Lake, collect_sql, new_session, register_lake_table};
use dataflow_orchestrator::store::{Stage, StageRun, StageStatus};
use dataflow_quality::checkpoint::{self, Checkpoint, Policy, ValidationConfig};
use dataflow_quality::{ResultFormat, Suite, Validator};
use serde_json::Value;
use tracing::field::Empty;
use tracing::{Instrument, info_span};

use crate::exit::JobFailed;

/// The lake table that keeps every validation result.
const HISTORY: &str = "_dataflow_validations";

/// One stored result.
struct Stored {
    suite: String,
    data: String,
    success: bool,
    evaluated: i64,
    successful: i64,
    percent: f64,
    score: Option<f64>,
    result: String,
    /// When the suite started validating.
    started: chrono::DateTime<chrono::Utc>,
    /// Rows validated, when the results say (the element count of row-level expectations).
    records: Option<i64>,
    /// Rows set aside by the quarantine policy.
    quarantined: Option<i64>,
}

/// The table's data quality score: the mean of its rows' quality scores (the share of
/// row-level checks each passes); `None` without row-level checks.
async fn quality_score(
    ctx: &SessionContext,
    suite: &Suite,
    table: &str,
) -> anyhow::Result<Option<f64>> {
    let row_level = suite
        .expectations
        .iter()
        .any(|e| checkpoint::is_row_level(e.spec.family, &e.expectation_type));
    if !row_level {
        return Ok(None);
    }
    let frame = ctx.table(table).await?;
    let columns: Vec<(String, DataType)> = frame
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let query = checkpoint::failures_query(suite, table, &columns);
    let batches = collect_sql(
        ctx,
        &format!("select avg(_row_quality_score) from ({query}) as scored"),
    )
    .await?;
    Ok(batches.first().and_then(|b| {
        b.column(0)
            .as_any()
            .downcast_ref::<Float64Array>()
            .filter(|a| !a.is_empty() && a.is_valid(0))
            .map(|a| a.value(0))
    }))
}

/// Rows failing row-level expectations go to the quarantine table, the rest to the clean table.
async fn quarantine(
    ctx: &SessionContext,
    lake: &Lake,
    suite: &Suite,
    table: &str,
    v: &ValidationConfig,
) -> anyhow::Result<(usize, usize)> {
    let frame = ctx
        .table(table)
        .await
        .context("reading the data to quarantine")?;
    let columns: Vec<(String, DataType)> = frame
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let query = checkpoint::failures_query(suite, table, &columns);
    let base = v.data.trim_end_matches(".csv").trim_end_matches(".parquet");
    let base = std::path::Path::new(base)
        .file_name()
        .map_or(base.to_string(), |n| n.to_string_lossy().into_owned());
    let quarantine_table = v
        .quarantine_table
        .clone()
        .unwrap_or_else(|| format!("{base}_quarantine"));
    let clean_table = v
        .clean_table
        .clone()
        .unwrap_or_else(|| format!("{base}_clean"));
    let bad = collect_sql(
        ctx,
        &format!("select * from ({query}) as checked where _failed_expectations <> ''"),
    )
    .await
    .context("finding the failing rows")?;
    let keep: Vec<String> = columns
        .iter()
        .map(|(n, _)| format!("\"{}\"", n.replace('"', "\"\"")))
        .collect();
    let good = collect_sql(
        ctx,
        &format!(
            "select {} from ({query}) as checked where _failed_expectations = ''",
            keep.join(", ")
        ),
    )
    .await
    .context("finding the clean rows")?;
    let count = |batches: &[RecordBatch]| batches.iter().map(RecordBatch::num_rows).sum::<usize>();
    let (bad_rows, good_rows) = (count(&bad), count(&good));
    let schema_of = |sql: String| async move {
        let frame = ctx.sql(&sql).await?;
        Ok::<_, anyhow::Error>(Arc::new(frame.schema().as_arrow().clone()))
    };
    let bad = if bad.is_empty() {
        vec![RecordBatch::new_empty(schema_of(query.clone()).await?)]
    } else {
        bad
    };
    let good = if good.is_empty() {
        vec![RecordBatch::new_empty(Arc::new(
            frame.schema().as_arrow().clone(),
        ))]
    } else {
        good
    };
    lake.replace(&quarantine_table, bad).await?;
    lake.replace(&clean_table, good).await?;
    register_lake_table(ctx, lake, &quarantine_table).await?;
    register_lake_table(ctx, lake, &clean_table).await?;
    println!(
        "    quarantined {bad_rows} rows to {quarantine_table}, {good_rows} clean rows to {clean_table}"
    );
    Ok((bad_rows, good_rows))
}

/// One stage run per validated suite, for the metrics endpoint.
fn stage_runs(run_id: &RunId, stored: &[Stored]) -> Vec<StageRun> {
    let ended = chrono::Utc::now();
    stored
        .iter()
        .map(|s| StageRun {
            run_id: run_id.to_string(),
            stage: Stage::Quality,
            name: s.suite.clone(),
            target: Some(s.data.clone()),
            status: if s.success {
                StageStatus::Success
            } else {
                StageStatus::Failed
            },
            started_at: s.started,
            ended_at: ended,
            records: s.records,
            quarantined: s.quarantined,
            error_kind: (!s.success).then(|| "expectations".to_string()),
            error: (!s.success).then(|| {
                format!(
                    "{} of {} expectations failed",
                    s.evaluated - s.successful,
                    s.evaluated
                )
            }),
        })
        .collect()
}

/// Records the results in the metadata store as well (`quality_results`), where alerts and
/// the metrics endpoint read them. The lake copy is already committed, so a store that cannot
/// be reached is reported and does not fail the checkpoint.
async fn record_in_metadata_store(
    project: &Project,
    run_id: &RunId,
    name: &str,
    stored: &[Stored],
) {
    let url = super::orchestrator::metadata_url(project);
    let store = match dataflow_orchestrator::store::Store::open(&url).await {
        Ok(store) => store,
        Err(e) => {
            tracing::warn!(error = %e, "quality results not recorded in the metadata store");
            return;
        }
    };
    let now = chrono::Utc::now();
    for s in stored {
        let result = dataflow_orchestrator::store::QualityResult {
            run_id: run_id.to_string(),
            checkpoint: name.to_string(),
            suite: s.suite.clone(),
            data: s.data.clone(),
            validated_at: now,
            success: s.success,
            evaluated: s.evaluated,
            successful: s.successful,
            success_percent: s.percent,
            data_quality_score: s.score,
            result: s.result.clone(),
        };
        if let Err(e) = store.record_quality_result(&result).await {
            tracing::warn!(error = %e, suite = %s.suite, "quality result not recorded in the metadata store");
        }
    }
}

/// `dataflow quality results`: the history of checkpoint results in the metadata store.
pub async fn results(project: &Project, data: Option<&str>, limit: i64) -> anyhow::Result<()> {
    let url = super::orchestrator::metadata_url(project);
    let store = dataflow_orchestrator::store::Store::open(&url).await?;
    let mut table = comfy_table::Table::new();
    table.set_header([
        "validated at",
        "checkpoint",
        "suite",
        "data",
        "success",
        "expectations",
        "quality score",
    ]);
    for r in store.quality_results(data, limit.max(1)).await? {
        table.add_row([
            r.validated_at.to_rfc3339(),
            r.checkpoint,
            r.suite,
            r.data,
            r.success.to_string(),
            format!("{}/{}", r.successful, r.evaluated),
            r.data_quality_score
                .map(|s| format!("{s:.4}"))
                .unwrap_or_default(),
        ]);
    }
    println!("{table}");
    Ok(())
}

/// Posts the checkpoint's summary to its webhook: a readable `text` (Slack-style) and one
/// entry per validation. A webhook that fails is reported, not fatal: the results are stored.
async fn post_webhook(
    url: &str,
    run_id: &RunId,
    name: &str,
    failed: bool,
    failures: &[String],
    stored: &[Stored],
) {
    let validations: Vec<Value> = stored
        .iter()
        .map(|s| {
            serde_json::json!({
                "suite": s.suite,
                "data": s.data,
                "success": s.success,
                "evaluated_expectations": s.evaluated,
                "successful_expectations": s.successful,
                "success_percent": s.percent,
                "data_quality_score": s.score,
            })
        })
        .collect();
    let text = if failed {
        let bad: Vec<String> = stored
            .iter()
            .filter(|s| !s.success)
            .map(|s| {
                format!(
                    "{} on {} ({}/{})",
                    s.suite, s.data, s.successful, s.evaluated
                )
            })
            .collect();
        format!("❌ checkpoint {name} failed: {}", bad.join(", "))
    } else {
        format!("✅ checkpoint {name} passed ({} validations)", stored.len())
    };
    let body = serde_json::json!({
        "event": "checkpoint",
        "checkpoint": name,
        "run_id": run_id.to_string(),
        "success": !failed,
        "failures": failures,
        "validations": validations,
        "text": text,
    });
    let client = reqwest::Client::new();
    match client
        .post(url)
        .timeout(std::time::Duration::from_secs(10))
        .json(&body)
        .send()
        .await
    {
        Ok(resp) if resp.status().is_success() => println!("Webhook: posted to {url}"),
        Ok(resp) => {
            tracing::warn!(url, status = %resp.status(), "checkpoint webhook refused the message")
        }
        Err(e) => tracing::warn!(url, error = %e, "checkpoint webhook unreachable"),
    }
}

/// Appends this run's results to `_dataflow_validations` (one Delta version).
async fn store(
    ctx: &SessionContext,
    lake: &Lake,
    run_id: &RunId,
    name: &str,
    stored: &[Stored],
) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let text = |f: &dyn Fn(&Stored) -> String| {
        Arc::new(StringArray::from_iter_values(stored.iter().map(f)))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("checkpoint", DataType::Utf8, false),
        Field::new("suite", DataType::Utf8, false),
        Field::new("data", DataType::Utf8, false),
        Field::new(
            "validated_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("success", DataType::Boolean, false),
        Field::new("evaluated_expectations", DataType::Int64, false),
        Field::new("successful_expectations", DataType::Int64, false),
        Field::new("success_percent", DataType::Float64, false),
        Field::new("data_quality_score", DataType::Float64, true),
        Field::new("result", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            text(&|_| run_id.to_string()),
            text(&|_| name.to_string()),
            text(&|s| s.suite.clone()),
            text(&|s| s.data.clone()),
            Arc::new(TimestampMicrosecondArray::from(vec![now; stored.len()]).with_timezone("UTC")),
            Arc::new(BooleanArray::from(
                stored.iter().map(|s| s.success).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from_iter_values(
                stored.iter().map(|s| s.evaluated),
            )),
            Arc::new(Int64Array::from_iter_values(
                stored.iter().map(|s| s.successful),
            )),
            Arc::new(Float64Array::from_iter_values(
                stored.iter().map(|s| s.percent),
            )),
            Arc::new(Float64Array::from(
                stored.iter().map(|s| s.score).collect::<Vec<_>>(),
            )),
            text(&|s| s.result.clone()),
        ],
    )?;
    if lake.load(HISTORY).await?.is_some() {
        lake.append(HISTORY, vec![batch]).await?;
    } else {
        lake.replace(HISTORY, vec![batch]).await?;
    }
    register_lake_table(ctx, lake, HISTORY).await?;
    Ok(())
}

/// Rebuilds `target/data_docs` from every stored result (or this run's, when none are stored).
async fn data_docs(
    ctx: &SessionContext,
    project: &Project,
    run_id: &RunId,
    name: &str,
    stored: &[Stored],
) -> anyhow::Result<std::path::PathBuf> {
    use dataflow_quality::data_docs::StoredValidation;
    let mut validations = Vec::new();
    if ctx.table_exist(HISTORY)? {
        let batches = collect_sql(
            ctx,
            &format!(
                "select run_id, checkpoint, suite, data, cast(validated_at as varchar), result \
                 from {HISTORY}"
            ),
        )
        .await?;
        for batch in &batches {
            let text = |column: usize, row: usize| {
                dataflow_engine::datafusion::arrow::compute::cast(
                    batch.column(column),
                    &DataType::Utf8,
                )
                .ok()
                .and_then(|a| {
                    a.as_any()
                        .downcast_ref::<StringArray>()
                        .map(|s| s.value(row).to_string())
                })
                .unwrap_or_default()
            };
            for row in 0..batch.num_rows() {
                validations.push(StoredValidation {
                    run_id: text(0, row),
                    checkpoint: text(1, row),
                    suite: text(2, row),
                    data: text(3, row),
                    validated_at: text(4, row),
                    result: serde_json::from_str(&text(5, row)).unwrap_or(Value::Null),
                });
            }
        }
    } else {
        let now = super::models::chrono_now();
        for s in stored {
            validations.push(StoredValidation {
                run_id: run_id.to_string(),
                checkpoint: name.to_string(),
                suite: s.suite.clone(),
                data: s.data.clone(),
                validated_at: now.clone(),
                result: serde_json::from_str(&s.result).unwrap_or(Value::Null),
            });
        }
    }
    let dir = project.dir.join("target/data_docs");
    dataflow_quality::data_docs::write(&dir, &validations)
        .with_context(|| format!("writing data docs to {}", dir.display()))
}

/// Runs checkpoint `name`.
pub async fn run(project: &Project, name: &str, run_id: &RunId) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::load(&project.dir, name)?;
    let lake = super::open_lake(project)?;
    let ctx = new_session(&lake).await.context("opening the lake")?;
    let target = project.dir.join("target/validations").join(name);
    std::fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    let mut failures = Vec::new();
    let mut stored = Vec::new();
    let mut measured = Vec::new();
    for v in &checkpoint.validations {
        // One span per expectation suite: a stage of the trace.
        let span = info_span!("suite", checkpoint = %name, suite = Empty, data = %v.data);
        let validated = async {
            let started = chrono::Utc::now();
            let mut quarantined = None;
            let suite = Suite::load(&project.dir.join(&v.suite))?;
            tracing::Span::current().record("suite", suite.name.as_str());
            let types = super::validate::FileTypes::Inferred;
            let table = super::validate::register_data(&ctx, project, &v.data, types)
                .await?
                .table;
            let validator = Validator::new(ctx.clone(), ResultFormat::Summary, None);
            let result = validator.validate(&suite, &table).await?;
            println!(
                "\n{} on {} (on failure: {:?}):",
                suite.name, v.data, v.on_failure
            );
            super::validate::print_results(&result);
            let score = quality_score(&ctx, &suite, &table).await?;
            if let Some(score) = score {
                println!(
                    "    data quality score {score:.4} (mean share of row-level checks passed)"
                );
            }
            if let Some(policy) = v.schema_policy
                && let Some(problem) =
                    super::schema::check(&ctx, &lake, &v.data, &table, policy).await?
            {
                failures.push(problem);
            }
            // Which failed, and whether each judges rows (so its rows can be set aside).
            let mut row_level = 0;
            let mut table_level = Vec::new();
            for (item, e) in result["results"]
                .as_array()
                .into_iter()
                .flatten()
                .zip(&suite.expectations)
            {
                if item["success"].as_bool() == Some(true) || e.severity != "critical" {
                    continue;
                }
                if checkpoint::is_row_level(e.spec.family, &e.expectation_type)
                    && item["exception_info"]["raised_exception"].as_bool() != Some(true)
                {
                    row_level += 1;
                } else {
                    table_level.push(e.expectation_type.clone());
                }
            }
            match v.on_failure {
                Policy::Warn => {}
                Policy::Fail if row_level + table_level.len() > 0 => failures.push(format!(
                    "{} on {}: {} expectations failed",
                    suite.name,
                    v.data,
                    row_level + table_level.len()
                )),
                Policy::Fail => {}
                Policy::Quarantine => {
                    let (bad_rows, _) = quarantine(&ctx, &lake, &suite, &table, v).await?;
                    quarantined = Some(i64::try_from(bad_rows).unwrap_or(i64::MAX));
                    if !table_level.is_empty() {
                        failures.push(format!(
                            "{} on {}: {} (not row-level, so not quarantined)",
                            suite.name,
                            v.data,
                            table_level.join(", ")
                        ));
                    }
                }
            }
            if let Some(config) = &checkpoint.anomaly_detection {
                let (anomalies, metrics) =
                    super::anomaly::check(&ctx, config, name, &suite.name, &v.data, &result)
                        .await?;
                if config.on_anomaly == dataflow_quality::anomaly::OnAnomaly::Fail {
                    failures.extend(anomalies);
                }
                measured.extend(metrics);
            }
            let statistics = &result["statistics"];
            let file = target.join(format!(
                "{}.{}.json",
                suite.name,
                v.data.replace(['/', '\\'], "_")
            ));
            std::fs::write(&file, serde_json::to_string_pretty(&result)?)
                .with_context(|| format!("writing {}", file.display()))?;
            anyhow::Ok(Stored {
                suite: suite.name.clone(),
                data: v.data.clone(),
                success: result["success"].as_bool() == Some(true),
                evaluated: statistics["evaluated_expectations"].as_i64().unwrap_or(0),
                successful: statistics["successful_expectations"].as_i64().unwrap_or(0),
                percent: statistics["success_percent"].as_f64().unwrap_or(0.0),
                score,
                records: result["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["result"]["element_count"].as_i64())
                    .max(),
                result: Value::to_string(&result),
                started,
                quarantined,
            })
        }
        .instrument(span)
        .await?;
        stored.push(validated);
    }
    if checkpoint.actions.store_results {
        store(&ctx, &lake, run_id, name, &stored)
            .await
            .context("storing the results in _dataflow_validations")?;
        record_in_metadata_store(project, run_id, name, &stored).await;
    }
    super::stages::record(project, stage_runs(run_id, &stored)).await;
    super::anomaly::store(&ctx, &lake, run_id, &measured)
        .await
        .context("storing the metrics in _dataflow_metrics")?;
    if checkpoint.actions.data_docs {
        let page = data_docs(&ctx, project, run_id, name, &stored).await?;
        println!("Data docs: {}", page.display());
    }
    if let Some(hook) = &checkpoint.actions.webhook {
        let failed = !failures.is_empty() || stored.iter().any(|s| !s.success);
        if failed || hook.on == checkpoint::WebhookWhen::Always {
            post_webhook(&hook.url, run_id, name, failed, &failures, &stored).await;
        }
    }
    println!(
        "\nCheckpoint {name}: {} validations, {} failed; results in {}",
        checkpoint.validations.len(),
        failures.len(),
        target.display()
    );
    if !failures.is_empty() {
        return Err(JobFailed(format!("checkpoint {name} failed: {}", failures.join("; "))).into());
    }
    Ok(())
}
