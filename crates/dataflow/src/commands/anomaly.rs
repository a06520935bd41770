//! The anomaly step of a checkpoint: each validation's metrics against the same checkpoint,
//! suite and data's earlier runs (kept in the lake table `_dataflow_metrics`).

use std::sync::Arc;

use dataflow_core::ids::RunId;
use dataflow_engine::datafusion::arrow::array::{
    Array, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use dataflow_engine::datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use dataflow_engine::datafusion::prelude::SessionContext;
use dataflow_engine::{Lake, collect_sql, register_lake_table};
use dataflow_quality::anomaly::{self, AnomalyConfig, Verdict};
use serde_json::Value;

/// The lake table of metric history.
pub const METRICS: &str = "_dataflow_metrics";

/// One measured metric of this run.
pub struct Measured {
    checkpoint: String,
    suite: String,
    data: String,
    metric: String,
    value: f64,
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Earlier values of each metric of (checkpoint, suite, data), oldest first.
async fn history(
    ctx: &SessionContext,
    checkpoint: &str,
    suite: &str,
    data: &str,
) -> anyhow::Result<Vec<(String, f64)>> {
    if !ctx.table_exist(METRICS)? {
        return Ok(Vec::new());
    }
    let batches = collect_sql(
        ctx,
        &format!(
            "select metric, value from {METRICS} where checkpoint = {} and suite = {} \
             and data = {} order by measured_at",
            quote(checkpoint),
            quote(suite),
            quote(data)
        ),
    )
    .await?;
    let mut out = Vec::new();
    for batch in &batches {
        let names =
            dataflow_engine::datafusion::arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        let (Some(names), Some(values)) = (
            names.as_any().downcast_ref::<StringArray>(),
            batch.column(1).as_any().downcast_ref::<Float64Array>(),
        ) else {
            continue;
        };
        for row in 0..batch.num_rows() {
            if values.is_valid(row) {
                out.push((names.value(row).to_string(), values.value(row)));
            }
        }
    }
    Ok(out)
}

/// Judges one validation's metrics; prints the verdicts; returns the anomalies and the
/// metrics to store.
pub async fn check(
    ctx: &SessionContext,
    config: &AnomalyConfig,
    checkpoint: &str,
    suite: &str,
    data: &str,
    result: &Value,
) -> anyhow::Result<(Vec<String>, Vec<Measured>)> {
    let past = history(ctx, checkpoint, suite, data).await?;
    let mut anomalies = Vec::new();
    let mut measured = Vec::new();
    let mut waiting = Vec::new();
    for (metric, value) in anomaly::metrics(result) {
        if !config.metrics.is_empty() && !config.metrics.contains(&metric) {
            continue;
        }
        let earlier: Vec<f64> = past
            .iter()
            .filter(|(m, _)| *m == metric)
            .map(|(_, v)| *v)
            .collect();
        match anomaly::judge(config, value, &earlier) {
            Verdict::Normal => {}
            Verdict::InsufficientHistory { have, need } => {
                waiting.push(format!("{metric} ({have}/{need})"))
            }
            Verdict::Anomalous(why) => {
                println!("    ANOMALY {metric}: {why}");
                anomalies.push(format!("{suite} on {data}: {metric}: {why}"));
            }
        }
        measured.push(Measured {
            checkpoint: checkpoint.to_string(),
            suite: suite.to_string(),
            data: data.to_string(),
            metric,
            value,
        });
    }
    if !waiting.is_empty() {
        println!(
            "    anomaly detection: not enough history yet for {} metrics: {}",
            waiting.len(),
            waiting.join(", ")
        );
    } else if anomalies.is_empty() && !measured.is_empty() {
        println!(
            "    anomaly detection: {} metrics within their history",
            measured.len()
        );
    }
    Ok((anomalies, measured))
}

/// Appends this run's metrics to `_dataflow_metrics` (one Delta version).
pub async fn store(
    ctx: &SessionContext,
    lake: &Lake,
    run_id: &RunId,
    measured: &[Measured],
) -> anyhow::Result<()> {
    if measured.is_empty() {
        return Ok(());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let text = |f: &dyn Fn(&Measured) -> String| {
        Arc::new(StringArray::from_iter_values(measured.iter().map(f)))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("checkpoint", DataType::Utf8, false),
        Field::new("suite", DataType::Utf8, false),
        Field::new("data", DataType::Utf8, false),
        Field::new("metric", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new(
            "measured_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            text(&|_| run_id.to_string()),
            text(&|m| m.checkpoint.clone()),
            text(&|m| m.suite.clone()),
            text(&|m| m.data.clone()),
            text(&|m| m.metric.clone()),
            Arc::new(Float64Array::from_iter_values(
                measured.iter().map(|m| m.value),
            )),
            Arc::new(
                TimestampMicrosecondArray::from(vec![now; measured.len()]).with_timezone("UTC"),
            ),
        ],
    )?;
    if lake.load(METRICS).await?.is_some() {
        lake.append(METRICS, vec![batch]).await?;
    } else {
        lake.replace(METRICS, vec![batch]).await?;
    }
    register_lake_table(ctx, lake, METRICS).await?;
    Ok(())
}
