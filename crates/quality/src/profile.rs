//! `dataflow quality profile TABLE`: per-column statistics from one aggregate scan and a
//! suggested suite (GE 1.x JSON) built from them, to be reviewed and edited like GE's
//! onboarding assistant's output.

use dataflow_engine::datafusion::arrow::array::{Array, RecordBatch};
use dataflow_engine::datafusion::arrow::compute::cast;
use dataflow_engine::datafusion::arrow::datatypes::DataType;
use dataflow_engine::datafusion::prelude::SessionContext;
use serde_json::{Value, json};

use crate::sql::{self, ident};

/// Distinct values up to which a text column gets an `in_set` expectation.
const SET_LIMIT: i64 = 20;

/// One column's statistics.
#[derive(Debug, Clone)]
pub struct ColumnProfile {
    /// Name.
    pub name: String,
    /// Arrow type.
    pub data_type: DataType,
    /// Null values.
    pub nulls: i64,
    /// Distinct non-null values.
    pub distinct: i64,
    /// Smallest value (numbers, dates, text), as JSON.
    pub min: Value,
    /// Largest value.
    pub max: Value,
    /// Mean of a numeric column.
    pub mean: Option<f64>,
    /// All distinct values when there are few.
    pub values: Vec<Value>,
}

/// A table's profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The table.
    pub table: String,
    /// Rows.
    pub rows: i64,
    /// Columns in order.
    pub columns: Vec<ColumnProfile>,
}

fn scalar(batches: &[RecordBatch], column: usize) -> Value {
    batches
        .first()
        .filter(|b| b.num_rows() > 0)
        .map_or(Value::Null, |b| {
            if b.column(column).is_null(0) {
                Value::Null
            } else {
                sql::json_value(b.column(column), 0)
            }
        })
}

fn number(batches: &[RecordBatch], column: usize) -> Option<f64> {
    batches.first().filter(|b| b.num_rows() > 0).and_then(|b| {
        let floats = cast(b.column(column), &DataType::Float64).ok()?;
        let floats = floats
            .as_any()
            .downcast_ref::<dataflow_engine::datafusion::arrow::array::Float64Array>()?;
        floats.is_valid(0).then(|| floats.value(0))
    })
}

async fn collect(ctx: &SessionContext, query: &str) -> Result<Vec<RecordBatch>, String> {
    ctx.sql(query)
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())
}

/// Profiles `table`: one aggregate query over every column, plus one per low-cardinality
/// column for its values.
pub async fn profile(ctx: &SessionContext, table: &str) -> Result<Profile, String> {
    let frame = ctx.table(table).await.map_err(|e| e.to_string())?;
    let fields: Vec<(String, DataType)> = frame
        .schema()
        .fields()
        .iter()
        .filter(|f| !f.name().starts_with('_'))
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let mut items = vec!["count(*)".to_string()];
    for (name, data_type) in &fields {
        let c = ident(name);
        let orderable =
            data_type.is_numeric() || sql::is_temporal(data_type) || sql::is_text(data_type);
        let (min, max) = if orderable {
            (format!("min({c})"), format!("max({c})"))
        } else {
            ("null".to_string(), "null".to_string())
        };
        let mean = if data_type.is_numeric() {
            format!("avg(cast({c} as double))")
        } else {
            "cast(null as double)".to_string()
        };
        // Every item gets its own name: DataFusion refuses two identical expressions.
        for expr in [
            format!("count({c})"),
            format!("count(distinct {c})"),
            min,
            max,
            mean,
        ] {
            let alias = format!("p{}", items.len());
            items.push(format!("{expr} as {alias}"));
        }
    }
    let batches = collect(ctx, &format!("select {} from {table}", items.join(", "))).await?;
    let rows = number(&batches, 0).unwrap_or(0.0) as i64;
    let mut columns = Vec::new();
    for (i, (name, data_type)) in fields.iter().enumerate() {
        let at = 1 + i * 5;
        let present = number(&batches, at).unwrap_or(0.0) as i64;
        let distinct = number(&batches, at + 1).unwrap_or(0.0) as i64;
        let mut values = Vec::new();
        if sql::is_text(data_type) && distinct > 0 && distinct <= SET_LIMIT {
            let found = collect(
                ctx,
                &format!(
                    "select distinct {c} from {table} where {c} is not null order by 1",
                    c = ident(name)
                ),
            )
            .await?;
            for batch in &found {
                for row in 0..batch.num_rows() {
                    values.push(sql::json_value(batch.column(0), row));
                }
            }
        }
        columns.push(ColumnProfile {
            name: name.clone(),
            data_type: data_type.clone(),
            nulls: rows - present,
            distinct,
            min: scalar(&batches, at + 2),
            max: scalar(&batches, at + 3),
            mean: number(&batches, at + 4),
            values,
        });
    }
    Ok(Profile {
        table: table.to_string(),
        rows,
        columns,
    })
}

/// A suite suggested from a profile: what held in this data, to review before relying on it.
pub fn suggest(profile: &Profile) -> Value {
    let mut expectations = vec![
        json!({"type": "expect_table_row_count_to_be_between",
               "kwargs": {"min_value": profile.rows / 2, "max_value": profile.rows.saturating_mul(2).max(1)},
               "meta": {"profiled_rows": profile.rows}}),
        json!({"type": "expect_table_columns_to_match_set",
               "kwargs": {"column_set": profile.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                          "exact_match": false}}),
    ];
    for c in &profile.columns {
        let column = &c.name;
        if c.nulls == 0 {
            expectations.push(json!({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column}}));
        } else if profile.rows > 0 {
            let present = 1.0 - c.nulls as f64 / profile.rows as f64;
            if present >= 0.5 {
                let mostly = (present * 100.0).floor() / 100.0;
                expectations.push(json!({"type": "expect_column_values_to_not_be_null",
                                         "kwargs": {"column": column, "mostly": mostly}}));
            }
        }
        if c.distinct > 1 && c.distinct == profile.rows - c.nulls {
            expectations.push(
                json!({"type": "expect_column_values_to_be_unique", "kwargs": {"column": column}}),
            );
        }
        if c.data_type.is_numeric() && !c.min.is_null() {
            expectations.push(json!({"type": "expect_column_values_to_be_between",
                                     "kwargs": {"column": column, "min_value": c.min, "max_value": c.max}}));
        }
        if sql::is_temporal(&c.data_type) && !c.min.is_null() {
            expectations.push(json!({"type": "expect_column_values_to_be_between",
                                     "kwargs": {"column": column, "min_value": c.min, "max_value": c.max}}));
        }
        if !c.values.is_empty() {
            expectations.push(json!({"type": "expect_column_values_to_be_in_set",
                                     "kwargs": {"column": column, "value_set": c.values}}));
        }
    }
    json!({
        "name": format!("{}_profiled", profile.table),
        "meta": {"notes": format!("Suggested by `dataflow quality profile {}` from {} rows: review before use.", profile.table, profile.rows)},
        "expectations": expectations,
    })
}
