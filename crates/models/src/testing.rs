//! Running schema and singular tests: each is a query returning failing rows; the count decides
//! pass, warn or fail (`severity`, `warn_if`, `error_if`), and a sample of the rows is kept.
//! Tests are independent, so up to `threads` run at once.

use std::time::Instant;

use dataflow_engine::Lake;
use dataflow_engine::datafusion::prelude::SessionContext;
use tokio::task::JoinSet;

use crate::error::Error;
use crate::error::Result;

/// The outcome of one schema test.
#[derive(Debug, Clone, PartialEq)]
pub enum TestStatus {
    /// No failing rows.
    Pass,
    /// Failing rows, error severity.
    Fail(u64),
    /// Failing rows, warn severity.
    Warn(u64),
    /// The test query itself failed.
    Error(String),
}

/// One schema test's result.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// Test name.
    pub name: String,
    /// Outcome.
    pub status: TestStatus,
    /// Up to five failing rows, as a text table.
    pub sample: String,
    /// Wall time.
    pub seconds: f64,
}

async fn count_and_sample(
    ctx: &SessionContext,
    sql: &str,
) -> std::result::Result<(u64, String), String> {
    use dataflow_engine::datafusion::arrow::array::{Array, Int64Array};
    let count_sql = format!("select count(*) as failures from ({sql}) as dbt_test");
    let batches = ctx
        .sql(&count_sql)
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let failures = batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| if a.is_empty() { 0 } else { a.value(0) })
        })
        .unwrap_or(0) as u64;
    if failures == 0 {
        return Ok((0, String::new()));
    }
    let sample = ctx
        .sql(&format!("select * from ({sql}) as dbt_test limit 5"))
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let text = dataflow_engine::datafusion::arrow::util::pretty::pretty_format_batches(&sample)
        .map(|t| t.to_string())
        .unwrap_or_default();
    Ok((failures, text))
}

/// Applies severity, `error_if` and `warn_if` to a failure count, as dbt does.
fn classify(
    test: &crate::schema_tests::SchemaTest,
    failures: u64,
) -> std::result::Result<TestStatus, String> {
    use crate::schema_tests::{Severity, threshold_met};
    if test.severity == Severity::Error && threshold_met(&test.error_if, failures)? {
        return Ok(TestStatus::Fail(failures));
    }
    if threshold_met(&test.warn_if, failures)? {
        return Ok(TestStatus::Warn(failures));
    }
    Ok(TestStatus::Pass)
}

/// Replaces `dbt_test__audit__<test>` with the test's failing rows.
async fn store_failures(
    ctx: &SessionContext,
    lake: &Lake,
    test: &crate::schema_tests::SchemaTest,
) -> Result<()> {
    let failed = |e: &dyn std::fmt::Display| Error::Sql {
        model: test.name.clone(),
        path: test.file.clone(),
        message: e.to_string(),
        sql: test.sql.clone(),
    };
    let frame = ctx.sql(&test.sql).await.map_err(|e| failed(&e))?;
    let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
    let mut batches = frame.collect().await.map_err(|e| failed(&e))?;
    if batches.is_empty() {
        // No failures: the audit table still exists, empty, with the test's columns.
        batches.push(dataflow_engine::datafusion::arrow::array::RecordBatch::new_empty(schema));
    }
    let table = format!("dbt_test__audit__{}", test.name);
    lake.replace(&table, batches).await?;
    Ok(())
}

/// The column list a test asked for, read from the relation's schema now.
async fn column_list(
    ctx: &SessionContext,
    spec: &crate::utils_tests::ColumnSpec,
) -> std::result::Result<String, String> {
    use dataflow_engine::datafusion::arrow::datatypes::DataType;
    let frame = ctx
        .table(spec.relation.as_str())
        .await
        .map_err(|e| format!("reading the columns of `{}`: {e}", spec.relation))?;
    let schema = frame.schema().clone();
    let exclude: Vec<String> = spec.exclude.iter().map(|c| c.to_lowercase()).collect();
    let names: Vec<String> = if spec.only.is_empty() {
        schema.fields().iter().map(|f| f.name().clone()).collect()
    } else {
        spec.only.clone()
    };
    let mut items = Vec::new();
    for name in names {
        if exclude.contains(&name.to_lowercase()) {
            continue;
        }
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let numeric = schema
            .fields()
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(&name))
            .is_some_and(|f| {
                matches!(
                    f.data_type(),
                    DataType::Float32
                        | DataType::Float64
                        | DataType::Decimal128(_, _)
                        | DataType::Decimal256(_, _)
                )
            });
        items.push(match spec.precision {
            Some(digits) if numeric => format!("round({quoted}, {digits}) as {quoted}"),
            _ => quoted,
        });
    }
    if items.is_empty() {
        return Err(format!("no columns of `{}` left to compare", spec.relation));
    }
    Ok(items.join(", "))
}

/// Runs one test: count and sample the failing rows, classify, store failures if asked (a
/// unit test runs its model on its mocked inputs).
pub(crate) async fn run_one(
    ctx: &SessionContext,
    lake: &Lake,
    schema_test: &crate::schema_tests::SchemaTest,
) -> TestResult {
    let started = Instant::now();
    if let (Some(case), None) = (&schema_test.unit, &schema_test.problem) {
        return crate::unit::run(ctx, case).await;
    }
    if let Some(problem) = &schema_test.problem {
        return TestResult {
            name: schema_test.name.clone(),
            status: TestStatus::Error(problem.clone()),
            sample: String::new(),
            seconds: 0.0,
        };
    }
    let sql = match &schema_test.columns_from {
        None => Ok(schema_test.sql.clone()),
        Some(spec) => column_list(ctx, spec)
            .await
            .map(|list| schema_test.sql.replace(crate::utils_tests::COLUMNS, &list)),
    };
    let sql = match sql {
        Ok(sql) => sql,
        Err(message) => {
            return TestResult {
                name: schema_test.name.clone(),
                status: TestStatus::Error(message),
                sample: String::new(),
                seconds: started.elapsed().as_secs_f64(),
            };
        }
    };
    let outcome = match count_and_sample(ctx, &sql).await {
        Ok((n, sample)) => classify(schema_test, n).map(|status| (status, sample, n)),
        Err(message) => Err(message),
    };
    let outcome = match outcome {
        Ok((status, sample, n)) if schema_test.store_failures => {
            match store_failures(ctx, lake, schema_test).await {
                Ok(()) => Ok((status, sample)),
                Err(err) => Err(format!("storing {n} failures: {err}")),
            }
        }
        Ok((status, sample, _)) => Ok((status, sample)),
        Err(message) => Err(message),
    };
    let (status, sample) = match outcome {
        Ok(result) => result,
        Err(message) => (
            TestStatus::Error(format!("{message}\ncompiled SQL:\n{}", sql)),
            String::new(),
        ),
    };
    TestResult {
        name: schema_test.name.clone(),
        status,
        sample,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Runs tests, up to `threads` at once, calling `report` as each finishes (with its position in
/// finishing order).
pub async fn test(
    ctx: &SessionContext,
    lake: &Lake,
    tests: &[crate::schema_tests::SchemaTest],
    threads: usize,
    mut report: impl FnMut(usize, &TestResult),
) -> Vec<TestResult> {
    let mut results = Vec::with_capacity(tests.len());
    let mut pending = tests.iter().enumerate();
    let mut running = JoinSet::new();
    let mut tasks = std::collections::HashMap::new();
    loop {
        while running.len() < threads.max(1) {
            let Some((i, schema_test)) = pending.next() else {
                break;
            };
            let (ctx, lake, schema_test) = (ctx.clone(), lake.clone(), schema_test.clone());
            let handle = running.spawn(async move { run_one(&ctx, &lake, &schema_test).await });
            tasks.insert(handle.id(), i);
        }
        let Some(joined) = running.join_next_with_id().await else {
            break;
        };
        let result = match joined {
            Ok((_, result)) => result,
            Err(err) => TestResult {
                name: tasks
                    .get(&err.id())
                    .map(|&i| tests[i].name.clone())
                    .unwrap_or_default(),
                status: TestStatus::Error(format!("the test's task failed: {err}")),
                sample: String::new(),
                seconds: 0.0,
            },
        };
        report(results.len(), &result);
        results.push(result);
    }
    results
}
