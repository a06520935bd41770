//! The duplicated values of a column, for `expect_column_values_to_be_unique`: every row of a
//! duplicated value is unexpected, as in GE. They are few, so they are kept in memory as a
//! small table (`__dataflow_key`, `__dataflow_copies`) that the unexpected rows join to.
//!
//! An integer column whose values span a range not much larger than its row count (ids, the
//! common case) is checked against a bitmap of that range in one streaming pass: 10M ids take
//! a 1.25 MB bitmap instead of a hash table of 10M groups. Any other column is grouped in SQL.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dataflow_engine::datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch,
};
use dataflow_engine::datafusion::arrow::compute::cast;
use dataflow_engine::datafusion::arrow::datatypes::{
    DataType, Field, Int64Type, Schema, SchemaRef,
};
use dataflow_engine::datafusion::datasource::MemTable;
use dataflow_engine::datafusion::prelude::SessionContext;
use futures::StreamExt;

use super::Validator;

/// Bitmap bits allowed per non-null value (and never more than [`MAX_BITS`]).
const BITS_PER_VALUE: u128 = 64;
/// The largest bitmap: 2^30 bits, 128 MiB.
const MAX_BITS: u128 = 1 << 30;
/// A bitmap this small is always fine, however few the values.
const MIN_BITS: u128 = 1 << 24;

type Found = std::result::Result<(SchemaRef, Vec<RecordBatch>), String>;

/// The duplicated values of a column, registered in the validator's session under
/// [`Duplicates::table`] for as long as this lives.
pub(super) struct Duplicates {
    ctx: SessionContext,
    /// The registered table's name.
    pub table: String,
    /// Rows holding a duplicated value (GE's unexpected count).
    pub rows: i64,
}

impl Duplicates {
    /// Finds the duplicated values of `column` (an SQL identifier) of `table`.
    pub(super) async fn find(
        validator: &Validator,
        table: &str,
        column: &str,
        data_type: &DataType,
    ) -> std::result::Result<Duplicates, String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let (schema, batches) = match by_bitmap(validator, table, column, data_type).await? {
            Some(found) => found,
            None => by_grouping(validator, table, column).await?,
        };
        let rows = batches
            .iter()
            .flat_map(|b| b.column(1).as_primitive::<Int64Type>().iter().flatten())
            .sum();
        let memory = MemTable::try_new(schema, vec![batches]).map_err(|e| e.to_string())?;
        let name = format!("__dataflow_dups_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        validator
            .ctx
            .register_table(name.as_str(), Arc::new(memory))
            .map_err(|e| e.to_string())?;
        Ok(Duplicates {
            ctx: validator.ctx.clone(),
            table: name,
            rows,
        })
    }
}

impl Drop for Duplicates {
    fn drop(&mut self) {
        let _ = self.ctx.deregister_table(self.table.as_str());
    }
}

/// A hash aggregate of the column, values seen more than once.
async fn by_grouping(validator: &Validator, table: &str, column: &str) -> Found {
    let frame = validator
        .ctx
        .sql(&format!(
            "select {column} as __dataflow_key, count(*) as __dataflow_copies from {table} \
             where {column} is not null group by {column} having count(*) > 1"
        ))
        .await
        .map_err(|e| e.to_string())?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await.map_err(|e| e.to_string())?;
    Ok((schema, batches))
}

/// The bitmap pass for an integer column with a compact range; `None` when the column is not
/// such a column.
async fn by_bitmap(
    validator: &Validator,
    table: &str,
    column: &str,
    data_type: &DataType,
) -> std::result::Result<Option<(SchemaRef, Vec<RecordBatch>)>, String> {
    use DataType::*;
    if !matches!(
        data_type,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32
    ) {
        return Ok(None);
    }
    let failed = |e: &dyn std::fmt::Display| e.to_string();
    let bounds = validator
        .query(&format!(
            "select cast(min({column}) as bigint), cast(max({column}) as bigint), count({column}) \
             from {table}"
        ))
        .await?;
    let value = |i: usize| {
        bounds
            .iter()
            .find(|b| b.num_rows() > 0)
            .map(|b| b.column(i).as_primitive::<Int64Type>())
            .filter(|a| a.is_valid(0))
            .map(|a| a.value(0))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("__dataflow_key", data_type.clone(), true),
        Field::new("__dataflow_copies", DataType::Int64, false),
    ]));
    let (Some(min), Some(max), Some(count)) = (value(0), value(1), value(2)) else {
        return Ok(Some((schema, Vec::new())));
    };
    let span = (i128::from(max) - i128::from(min) + 1) as u128;
    let allowed = (count.max(0) as u128 * BITS_PER_VALUE).clamp(MIN_BITS, MAX_BITS);
    if span > allowed {
        return Ok(None);
    }
    let mut seen = vec![0u64; span.div_ceil(64) as usize];
    let mut copies: HashMap<i64, i64> = HashMap::new();
    let mut stream = validator
        .ctx
        .sql(&format!(
            "select {column} from {table} where {column} is not null"
        ))
        .await
        .map_err(|e| failed(&e))?
        .execute_stream()
        .await
        .map_err(|e| failed(&e))?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| failed(&e))?;
        let values = cast(batch.column(0), &DataType::Int64).map_err(|e| failed(&e))?;
        for v in values.as_primitive::<Int64Type>().iter().flatten() {
            if v < min || v > max {
                // The table changed under us: count the slow way.
                return Ok(None);
            }
            let offset = (v - min) as usize;
            let (word, bit) = (offset / 64, 1u64 << (offset % 64));
            if seen[word] & bit == 0 {
                seen[word] |= bit;
            } else {
                *copies.entry(v).or_insert(1) += 1;
            }
        }
    }
    if copies.is_empty() {
        return Ok(Some((schema, Vec::new())));
    }
    let (keys, counts): (Vec<i64>, Vec<i64>) = copies.into_iter().unzip();
    let keys: ArrayRef = cast(&Int64Array::from(keys), data_type).map_err(|e| failed(&e))?;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![keys, Arc::new(Int64Array::from(counts))],
    )
    .map_err(|e| failed(&e))?;
    Ok(Some((schema, vec![batch])))
}

#[cfg(test)]
mod tests {
    use dataflow_engine::datafusion::arrow::array::{Int32Array, StringArray};

    use super::*;
    use crate::validate::ResultFormat;

    async fn duplicates(array: ArrayRef) -> Vec<(String, i64)> {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "v",
            array.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(schema.clone(), vec![array]).expect("batch");
        let ctx = dataflow_engine::session_context(Default::default());
        ctx.register_table(
            "t",
            Arc::new(MemTable::try_new(schema, vec![vec![batch]]).expect("table")),
        )
        .expect("register");
        let validator = Validator::new(ctx, ResultFormat::Summary, None);
        let data_type = validator
            .ctx
            .table("t")
            .await
            .expect("t")
            .schema()
            .field(0)
            .data_type()
            .clone();
        let integers = !matches!(data_type, DataType::Utf8) && array_is_compact(&validator).await;
        let bitmap = by_bitmap(&validator, "t", "v", &data_type)
            .await
            .expect("bitmap");
        assert_eq!(bitmap.is_some(), integers, "{data_type}");
        let found = Duplicates::find(&validator, "t", "v", &data_type)
            .await
            .expect("find");
        let batches = validator
            .ctx
            .sql(&format!(
                "select cast(__dataflow_key as varchar), __dataflow_copies from {} order by 1",
                found.table
            ))
            .await
            .expect("sql")
            .collect()
            .await
            .expect("collect");
        let mut out: Vec<(String, i64)> = batches
            .iter()
            .flat_map(|b| {
                let keys = b
                    .column(0)
                    .as_string_view()
                    .iter()
                    .map(|k| k.unwrap_or("").to_string())
                    .collect::<Vec<_>>();
                let counts = b.column(1).as_primitive::<Int64Type>().values().to_vec();
                keys.into_iter().zip(counts)
            })
            .collect();
        out.sort();
        let total: i64 = out.iter().map(|(_, n)| n).sum();
        assert_eq!(found.rows, total);
        out
    }

    /// Whether the test column's values span a small range (or it has none).
    async fn array_is_compact(validator: &Validator) -> bool {
        let batches = validator
            .ctx
            .sql("select coalesce(cast(max(v) as double) - cast(min(v) as double), 0) < 1e6 from t")
            .await
            .expect("sql")
            .collect()
            .await
            .expect("collect");
        batches[0].column(0).as_boolean().value(0)
    }

    #[tokio::test]
    async fn integers_by_bitmap_and_text_by_grouping_agree() {
        let ints = Arc::new(Int32Array::from(vec![
            Some(5),
            None,
            Some(-3),
            Some(5),
            Some(7),
            Some(5),
            None,
            Some(-3),
        ]));
        let expected = vec![("-3".to_string(), 2), ("5".to_string(), 3)];
        assert_eq!(duplicates(ints).await, expected);
        let text = Arc::new(StringArray::from(vec![
            Some("5"),
            None,
            Some("-3"),
            Some("5"),
            Some("7"),
            Some("5"),
            None,
            Some("-3"),
        ]));
        assert_eq!(duplicates(text).await, expected);
        // A sparse range falls back to grouping, with the same answer.
        let sparse = Arc::new(Int64Array::from(vec![i64::MIN, 0, i64::MAX, 0]));
        assert_eq!(duplicates(sparse).await, vec![("0".to_string(), 2)]);
        let none = Arc::new(Int64Array::from(vec![None::<i64>, None]));
        assert_eq!(duplicates(none).await, vec![]);
    }
}
