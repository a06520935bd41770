//! The sorted window evaluation against DataFusion's own operator, on data with many small
//! partitions, ties, nulls, tiny batches and several partitions of the plan.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::physical_plan::displayable;
use datafusion::prelude::{SessionConfig, SessionContext};

/// A small deterministic generator (no dependency for one test).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// `rows` rows in batches of 1-40 rows spread over three memory partitions: `id` unique,
/// `k` (~rows/3 values, some null), `k2` (3 values, some null), `o` (ties, nulls), `v`
/// (strings, nulls), `x` (doubles).
fn table(rows: usize) -> MemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("k", DataType::Int64, true),
        Field::new("k2", DataType::Utf8, true),
        Field::new("o", DataType::Int64, true),
        Field::new("v", DataType::Utf8, true),
        Field::new("x", DataType::Float64, true),
    ]));
    let mut rng = Lcg(42);
    let mut partitions = vec![vec![], vec![], vec![]];
    let mut id = 0i64;
    let mut p = 0;
    while (id as usize) < rows {
        let n = (1 + rng.next(40) as usize).min(rows - id as usize);
        let (mut ids, mut k, mut k2, mut o, mut v, mut x) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..n {
            ids.push(id);
            let key = rng.next(rows as u64 / 3 + 1) as i64;
            k.push((rng.next(20) != 0).then_some(key));
            let key2 = ["a", "b", "c"][rng.next(3) as usize];
            k2.push((rng.next(10) != 0).then_some(key2));
            o.push((rng.next(8) != 0).then_some(rng.next(5) as i64));
            v.push((rng.next(6) != 0).then(|| format!("v{id}")));
            x.push((rng.next(6) != 0).then_some(id as f64 / 2.0));
            id += 1;
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(Int64Array::from(k)),
            Arc::new(StringArray::from(k2)),
            Arc::new(Int64Array::from(o)),
            Arc::new(StringArray::from(v)),
            Arc::new(Float64Array::from(x)),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns).expect("batch");
        partitions[p % 3].push(batch);
        p += 1;
    }
    MemTable::try_new(schema, partitions).expect("table")
}

fn config() -> SessionConfig {
    SessionConfig::new()
        .with_target_partitions(3)
        .with_batch_size(7)
}

async fn run(ctx: &SessionContext, sql: &str) -> (String, String) {
    let frame = ctx.sql(sql).await.expect("plan");
    let plan = frame
        .clone()
        .create_physical_plan()
        .await
        .expect("physical plan");
    let plan = displayable(plan.as_ref()).indent(true).to_string();
    let batches = frame.collect().await.expect("run");
    let text = pretty_format_batches(&batches).expect("format").to_string();
    (text, plan)
}

/// Runs `sql` (ordered by id) with dataflow's session and with DataFusion's own, and checks
/// that the results are equal and which operator ran.
async fn compare(sql: &str, sorted: bool) {
    let ours = crate::dialect::session_context(config());
    let theirs = SessionContext::new_with_config(config());
    for ctx in [&ours, &theirs] {
        ctx.register_table("t", Arc::new(table(3000)))
            .expect("register");
    }
    let (got, plan) = run(&ours, sql).await;
    let (want, reference) = run(&theirs, sql).await;
    assert!(
        !reference.contains("SortedWindowExec"),
        "reference plan:\n{reference}"
    );
    assert_eq!(
        plan.contains("SortedWindowExec"),
        sorted,
        "{sql}\nplan:\n{plan}"
    );
    assert_eq!(got, want, "{sql}\nplan:\n{plan}");
}

#[tokio::test]
async fn row_number_rank_and_dense_rank_equal_datafusions() {
    compare(
        "select id, row_number() over (partition by k order by o, id) as rn,
                rank() over (partition by k order by o) as r,
                dense_rank() over (partition by k order by o) as d
         from t order by id",
        true,
    )
    .await;
    compare(
        "select id, rank() over (partition by k2, k order by o desc nulls first) as r,
                dense_rank() over (partition by k2, k order by o desc nulls first) as d,
                row_number() over (partition by k2, k order by o desc nulls first, id desc) as rn
         from t order by id",
        true,
    )
    .await;
}

#[tokio::test]
async fn lead_and_lag_equal_datafusions() {
    compare(
        "select id, lead(v) over (partition by k order by o, id) as next_v,
                lag(v, 2) over (partition by k order by o, id) as prev2_v,
                lead(x, 3, -1.0) over (partition by k order by o, id) as next3_x,
                lag(x, 1, 0) over (partition by k order by o, id) as prev_x
         from t order by id",
        true,
    )
    .await;
    // Offsets longer than a batch (7 rows) and than most partitions, on a 3-value key.
    compare(
        "select id, lead(id, 20) over (partition by k2 order by id) as ahead,
                lag(v, 17, 'none') over (partition by k2 order by id) as behind
         from t order by id",
        true,
    )
    .await;
}

#[tokio::test]
async fn windows_without_partitions_and_the_dedup_pattern_equal_datafusions() {
    compare(
        "select id, row_number() over (order by o, id) as rn, lag(x) over (order by o, id) as p
         from t order by id",
        true,
    )
    .await;
    compare(
        "select id, k, v from (
             select *, row_number() over (partition by k order by o desc, id) as rn from t
         ) where rn = 1 order by id",
        true,
    )
    .await;
}

#[tokio::test]
async fn other_windows_keep_datafusions_operator() {
    // An aggregate window beside a ranking one: the whole node stays DataFusion's.
    compare(
        "select id, row_number() over (partition by k order by id) as rn,
                sum(x) over (partition by k order by id) as running
         from t order by id",
        false,
    )
    .await;
    compare(
        "select id, lead(v) ignore nulls over (partition by k order by id) as next_v
         from t order by id",
        false,
    )
    .await;
}

#[tokio::test]
async fn windows_in_opposite_orders_equal_datafusions() {
    // dbt_utils' mutually_exclusive_ranges: a lead in one order, a row_number in the other.
    // DataFusion sorts once and runs the lead reversed; that node stays DataFusion's.
    compare(
        "select id, lead(o) over (partition by k2 order by o, id) as next_o,
                row_number() over (partition by k2 order by o desc, id desc) = 1 as is_last
         from t order by id",
        true,
    )
    .await;
}
