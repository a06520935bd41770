//! Ranking and shift window functions over sorted input, fast with millions of partitions.
//!
//! dbt projects deduplicate with `row_number() over (partition by id order by ...) = 1`, rank
//! within customers, and take gaps with `lead`/`lag` over each customer's history: windows
//! partitioned by a key with about as many values as rows. DataFusion runs them in
//! `BoundedWindowAggExec`, which keeps state and calls an evaluator per partition; with a
//! million one-row partitions that costs more than sorting the input (measured: 1.6-2.0 s
//! for deduplicating a million customers, against 0.06 s for the sort before it).
//!
//! [`SortedWindows`] is a physical optimizer rule that runs after DataFusion's: where a
//! `BoundedWindowAggExec` reads input already sorted by its partition and order keys
//! (`InputOrderMode::Sorted`) and every one of its functions is `row_number`, `rank`,
//! `dense_rank`, `lead` or `lag`, it puts a [`exec::SortedWindowExec`] in its place, which
//! evaluates whole batches at once ([`eval`]). Aggregate windows (`sum(...) over`), other
//! functions, `IGNORE NULLS` and windows DataFusion reversed (evaluated over input sorted the
//! other way) keep DataFusion's operator.

mod eval;
mod exec;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_expr::window::StandardWindowExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowUDFExpr};
use datafusion::physical_plan::{ExecutionPlan, InputOrderMode, WindowExpr};

pub use exec::SortedWindowExec;

use eval::{Function, Spec};

/// The rule: see the module documentation.
#[derive(Debug, Default)]
pub struct SortedWindows;

impl PhysicalOptimizerRule for SortedWindows {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            Ok(match replacement(&node)? {
                Some(exec) => Transformed::yes(exec),
                None => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "dataflow_sorted_windows"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A [`SortedWindowExec`] for `plan` when it is a window node the sorted evaluation covers.
fn replacement(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(window) = plan.downcast_ref::<BoundedWindowAggExec>() else {
        return Ok(None);
    };
    if window.input_order_mode != InputOrderMode::Sorted {
        return Ok(None);
    }
    let exprs = window.window_expr();
    let Some(first) = exprs.first() else {
        return Ok(None);
    };
    let shared = |e: &Arc<dyn WindowExpr>| {
        same_exprs(e.partition_by(), first.partition_by())
            && e.order_by().len() == first.order_by().len()
            && e.order_by()
                .iter()
                .zip(first.order_by())
                .all(|(a, b)| a.to_string() == b.to_string())
    };
    let mut functions = vec![];
    for expr in exprs {
        if !shared(expr) {
            return Ok(None);
        }
        match function(expr) {
            Some(f) => functions.push(f),
            None => return Ok(None),
        }
    }
    let spec = Spec {
        partition_by: first.partition_by().to_vec(),
        order_by: first.order_by().to_vec(),
        functions,
    };
    Ok(Some(Arc::new(SortedWindowExec::new(
        Arc::clone(plan),
        spec,
    )?)))
}

fn same_exprs(a: &[Arc<dyn PhysicalExpr>], b: &[Arc<dyn PhysicalExpr>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_string() == y.to_string())
}

/// The supported function `expr` computes, if it is one.
fn function(expr: &Arc<dyn WindowExpr>) -> Option<Function> {
    let standard = expr.as_any().downcast_ref::<StandardWindowExpr>()?;
    let udf = standard
        .get_standard_func_expr()
        .as_any()
        .downcast_ref::<WindowUDFExpr>()?;
    let fun = udf.fun().name().to_string();
    // DataFusion evaluates a window over input sorted the other way by reversing it: the
    // same `lead` with a hidden `is_reversed` flag that turns its offset around. That flag
    // and `IGNORE NULLS` are private fields, visible only in the node's Debug form: a window
    // is taken only when both are there and false, so a DataFusion that renames them falls
    // back to its own operator rather than to wrong answers.
    let debug = format!("{udf:?}");
    if !debug.contains("is_reversed: false") || !debug.contains("ignore_nulls: false") {
        return None;
    }
    let args = udf.args();
    match fun.as_str() {
        "row_number" => Some(Function::RowNumber),
        "rank" => Some(Function::Rank),
        "dense_rank" => Some(Function::DenseRank),
        "lead" | "lag" => {
            let arg = Arc::clone(args.first()?);
            let n = match args.get(1) {
                None => 1,
                Some(e) => match literal(e)? {
                    ScalarValue::Null => return None,
                    v => i64::try_from(v).ok()?,
                },
            };
            let default = match args.get(2) {
                None => ScalarValue::Null,
                Some(e) => literal(e)?,
            };
            let offset = if fun == "lead" { n } else { n.checked_neg()? };
            Some(Function::Shift {
                arg,
                offset,
                default,
            })
        }
        _ => None,
    }
}

fn literal(expr: &Arc<dyn PhysicalExpr>) -> Option<ScalarValue> {
    expr.downcast_ref::<Literal>().map(|l| l.value().clone())
}
