//! The evaluation behind [`super::exec::SortedWindowExec`]: ranking and shift functions over
//! a stream already sorted by the partition keys and then the window's order keys.
//!
//! Each input batch is evaluated once, as a whole, on an *extended* batch: the last rows
//! already emitted (the history, for `lag` and for comparing the first row with its
//! predecessor) + the batch + the first rows of the following batches (the lookahead, for
//! `lead`). Because the input is sorted, two rows are in the same partition exactly when no
//! partition key changes between them, so one pass that numbers the partitions (a counter
//! bumped where adjacent keys differ, compared in Arrow's row format) answers every "same
//! partition?" question with an integer comparison. Ranking counters carry over from one
//! batch to the next. A batch is held back only until enough lookahead rows have arrived.

use std::collections::VecDeque;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::compute::{cast, concat};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::{Result, ScalarValue};
use datafusion::physical_expr::{PhysicalExpr, PhysicalSortExpr};

/// One window function the sorted evaluation supports.
#[derive(Debug, Clone)]
pub enum Function {
    /// `row_number()`.
    RowNumber,
    /// `rank()`: peers (equal order keys) share the rank of the first of them.
    Rank,
    /// `dense_rank()`: ranks without gaps.
    DenseRank,
    /// `lead(arg, n, default)` (`offset` = n) or `lag(arg, n, default)` (`offset` = -n): the
    /// value `offset` rows away within the partition, else `default`.
    Shift {
        arg: Arc<dyn PhysicalExpr>,
        offset: i64,
        default: ScalarValue,
    },
}

/// What every window of one operator shares: the partition and order keys.
#[derive(Debug, Clone)]
pub struct Spec {
    pub partition_by: Vec<Arc<dyn PhysicalExpr>>,
    pub order_by: Vec<PhysicalSortExpr>,
    pub functions: Vec<Function>,
}

impl Spec {
    /// Rows after a row that its windows read (`lead`).
    fn ahead(&self) -> usize {
        self.offsets().filter(|o| *o > 0).max().unwrap_or(0) as usize
    }

    /// Rows before a row that its windows read: at least one, to compare keys with it.
    fn behind(&self) -> usize {
        (self
            .offsets()
            .filter(|o| *o < 0)
            .map(|o| -o)
            .max()
            .unwrap_or(0) as usize)
            .max(1)
    }

    fn offsets(&self) -> impl Iterator<Item = i64> + '_ {
        self.functions.iter().filter_map(|f| match f {
            Function::Shift { offset, .. } => Some(*offset),
            _ => None,
        })
    }

    /// Which ranking columns the windows ask for.
    fn wanted(&self) -> Wanted {
        let any = |kind: fn(&Function) -> bool| self.functions.iter().any(kind);
        Wanted {
            row_number: any(|f| matches!(f, Function::RowNumber)),
            rank: any(|f| matches!(f, Function::Rank)),
            dense_rank: any(|f| matches!(f, Function::DenseRank)),
        }
    }
}

/// The ranking columns an operator computes.
#[derive(Debug, Clone, Copy)]
struct Wanted {
    row_number: bool,
    rank: bool,
    dense_rank: bool,
}

/// A batch with the arrays its windows need, evaluated once.
struct Pending {
    batch: RecordBatch,
    /// Partition keys, then order keys (when a rank needs them), then shift arguments.
    columns: Vec<ArrayRef>,
}

/// Running state of one output partition's evaluation.
pub struct Evaluator {
    spec: Arc<Spec>,
    schema: SchemaRef,
    wanted: Wanted,
    partition_rows: Option<RowConverter>,
    order_rows: Option<RowConverter>,
    queue: VecDeque<Pending>,
    queued_rows: usize,
    /// The last emitted rows' columns (same layout as [`Pending::columns`]).
    history: Option<Vec<ArrayRef>>,
    history_rows: usize,
    row_number: u64,
    rank: u64,
    dense_rank: u64,
}

impl Evaluator {
    pub fn try_new(spec: Arc<Spec>, schema: SchemaRef, input: &SchemaRef) -> Result<Self> {
        let converter = |exprs: Vec<&Arc<dyn PhysicalExpr>>| -> Result<Option<RowConverter>> {
            if exprs.is_empty() {
                return Ok(None);
            }
            let fields = exprs
                .iter()
                .map(|e| Ok(SortField::new(e.data_type(input)?)))
                .collect::<Result<Vec<_>>>()?;
            Ok(Some(RowConverter::new(fields)?))
        };
        let partition_rows = converter(spec.partition_by.iter().collect())?;
        let wanted = spec.wanted();
        let order_rows = if wanted.rank || wanted.dense_rank {
            converter(spec.order_by.iter().map(|s| &s.expr).collect())?
        } else {
            None
        };
        Ok(Self {
            spec,
            schema,
            wanted,
            partition_rows,
            order_rows,
            queue: VecDeque::new(),
            queued_rows: 0,
            history: None,
            history_rows: 0,
            row_number: 0,
            rank: 0,
            dense_rank: 0,
        })
    }

    /// Takes one input batch; returns the batches that can now be emitted.
    pub fn push(&mut self, batch: RecordBatch) -> Result<Vec<RecordBatch>> {
        if batch.num_rows() == 0 {
            return Ok(vec![]);
        }
        let columns = self.evaluate_columns(&batch)?;
        self.queued_rows += batch.num_rows();
        self.queue.push_back(Pending { batch, columns });
        let ahead = self.spec.ahead();
        let mut out = vec![];
        while let Some(first) = self.queue.front() {
            if self.queued_rows - first.batch.num_rows() < ahead {
                break;
            }
            out.push(self.emit_front()?);
        }
        Ok(out)
    }

    /// The input ended: emits everything still held back.
    pub fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        let mut out = vec![];
        while !self.queue.is_empty() {
            out.push(self.emit_front()?);
        }
        Ok(out)
    }

    fn evaluate_columns(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        let rows = batch.num_rows();
        let mut columns = vec![];
        for expr in &self.spec.partition_by {
            columns.push(expr.evaluate(batch)?.into_array(rows)?);
        }
        if self.order_rows.is_some() {
            for sort in &self.spec.order_by {
                columns.push(sort.expr.evaluate(batch)?.into_array(rows)?);
            }
        }
        for function in &self.spec.functions {
            if let Function::Shift { arg, .. } = function {
                columns.push(arg.evaluate(batch)?.into_array(rows)?);
            }
        }
        Ok(columns)
    }

    /// Emits the first queued batch with its window columns.
    fn emit_front(&mut self) -> Result<RecordBatch> {
        let Some(front) = self.queue.pop_front() else {
            return datafusion::common::internal_err!("sorted window: nothing queued");
        };
        self.queued_rows -= front.batch.num_rows();
        let rows = front.batch.num_rows();
        let behind = self.history_rows;
        let (extended, total) = self.extended(&front)?;

        let keys = self.spec.partition_by.len();
        let partitions = numbered(self.partition_rows.as_ref(), &extended[..keys], total)?;
        let order_end = if self.order_rows.is_some() {
            keys + self.spec.order_by.len()
        } else {
            keys
        };
        let peers = numbered(self.order_rows.as_ref(), &extended[keys..order_end], total)?;

        let mut outputs = front.batch.columns().to_vec();
        let ranks = self.ranking(&partitions, &peers, behind, rows);
        let mut shift_column = order_end;
        for function in &self.spec.functions {
            let column: ArrayRef = match function {
                Function::RowNumber => ranks.column(&ranks.row_number),
                Function::Rank => ranks.column(&ranks.rank),
                Function::DenseRank => ranks.column(&ranks.dense_rank),
                Function::Shift {
                    offset, default, ..
                } => {
                    let values = &extended[shift_column];
                    shift_column += 1;
                    shift(values, &partitions, behind, rows, *offset, default)?
                }
            };
            outputs.push(column);
        }
        // Keep the last emitted rows for the next batch's comparisons and `lag`.
        let keep = self.spec.behind().min(behind + rows);
        let end = behind + rows;
        self.history = Some(extended.iter().map(|a| a.slice(end - keep, keep)).collect());
        self.history_rows = keep;
        debug_assert!(total >= end);
        let outputs = outputs
            .into_iter()
            .zip(self.schema.fields())
            .map(|(array, field)| {
                if array.data_type() == field.data_type() {
                    Ok(array)
                } else {
                    Ok(cast(&array, field.data_type())?)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), outputs)?)
    }

    /// history + the batch + the lookahead rows of the batches queued after it, and how many
    /// rows that is.
    fn extended(&self, front: &Pending) -> Result<(Vec<ArrayRef>, usize)> {
        let ahead = self.spec.ahead();
        let mut parts: Vec<Vec<ArrayRef>> = vec![];
        let mut total = front.batch.num_rows();
        if let Some(history) = &self.history {
            parts.push(history.clone());
            total += self.history_rows;
        }
        parts.push(front.columns.clone());
        let mut needed = ahead;
        for next in &self.queue {
            if needed == 0 {
                break;
            }
            let take = needed.min(next.batch.num_rows());
            parts.push(next.columns.iter().map(|c| c.slice(0, take)).collect());
            needed -= take;
            total += take;
        }
        if parts.len() == 1 {
            return Ok((front.columns.clone(), total));
        }
        let columns = (0..front.columns.len())
            .map(|i| {
                let arrays: Vec<&dyn Array> = parts.iter().map(|p| p[i].as_ref()).collect();
                Ok(concat(&arrays)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((columns, total))
    }

    /// row_number, rank and dense_rank of the batch's rows, continuing the counters.
    fn ranking(&mut self, partitions: &[u32], peers: &[u32], behind: usize, rows: usize) -> Ranks {
        let wanted = self.wanted;
        let capacity = |on: bool| if on { rows } else { 0 };
        let mut ranks = Ranks {
            row_number: Vec::with_capacity(capacity(wanted.row_number)),
            rank: Vec::with_capacity(capacity(wanted.rank)),
            dense_rank: Vec::with_capacity(capacity(wanted.dense_rank)),
        };
        for i in behind..behind + rows {
            let new_partition = i == 0 || partitions[i] != partitions[i - 1];
            if new_partition {
                self.row_number = 1;
                self.rank = 1;
                self.dense_rank = 1;
            } else {
                self.row_number += 1;
                if peers[i] != peers[i - 1] {
                    self.rank = self.row_number;
                    self.dense_rank += 1;
                }
            }
            if wanted.row_number {
                ranks.row_number.push(self.row_number);
            }
            if wanted.rank {
                ranks.rank.push(self.rank);
            }
            if wanted.dense_rank {
                ranks.dense_rank.push(self.dense_rank);
            }
        }
        ranks
    }
}

/// The ranking columns of one batch (empty when no window asks for them).
struct Ranks {
    row_number: Vec<u64>,
    rank: Vec<u64>,
    dense_rank: Vec<u64>,
}

impl Ranks {
    fn column(&self, values: &[u64]) -> ArrayRef {
        Arc::new(UInt64Array::from(values.to_vec()))
    }
}

/// Numbers runs of equal keys in sorted rows: 0 for the first run, bumped wherever a row's
/// keys differ from the previous row's. No keys: one run.
fn numbered(converter: Option<&RowConverter>, keys: &[ArrayRef], len: usize) -> Result<Vec<u32>> {
    let Some(converter) = converter.filter(|_| !keys.is_empty()) else {
        return Ok(vec![0; len]);
    };
    let rows: Rows = converter.convert_columns(keys)?;
    let mut out = Vec::with_capacity(rows.num_rows());
    let mut run = 0u32;
    for i in 0..rows.num_rows() {
        if i > 0 && rows.row(i) != rows.row(i - 1) {
            run += 1;
        }
        out.push(run);
    }
    Ok(out)
}

/// `lead`/`lag` of the rows `behind..behind + rows` of `values`: the value `offset` rows
/// away when that row is in the same partition, else `default`.
fn shift(
    values: &ArrayRef,
    partitions: &[u32],
    behind: usize,
    rows: usize,
    offset: i64,
    default: &ScalarValue,
) -> Result<ArrayRef> {
    let total = values.len() as i64;
    let mut indices = Vec::with_capacity(rows);
    let mut found = Vec::with_capacity(rows);
    for i in behind..behind + rows {
        let target = i as i64 + offset;
        let hit = (0..total).contains(&target) && partitions[target as usize] == partitions[i];
        indices.push(hit.then_some(target as u32));
        found.push(hit);
    }
    let taken = datafusion::arrow::compute::take(values, &UInt32Array::from(indices), None)?;
    if default.is_null() {
        return Ok(taken);
    }
    let default = default.cast_to(values.data_type())?.to_scalar()?;
    let found = BooleanArray::from(found);
    Ok(zip(&found, &taken, &default)?)
}
