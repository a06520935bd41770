//! SQL semantics dbt projects rely on where DataFusion differs. Integer division: `7 / 2` is
//! `3` in DataFusion (and PostgreSQL) but `3.5` in DuckDB, Snowflake, BigQuery, Spark and
//! Databricks, the warehouses dbt projects are written for, so `amount_cents / 100` would
//! silently lose the cents. An analyzer rule turns `/` between two
//! integers into a division of doubles (before type coercion, which then types the expressions
//! around it). Truncating division stays available as
//! `cast(a / b as bigint)` or `trunc(a / b)`.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::expr::BinaryExpr;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, Operator, cast};
use datafusion::optimizer::analyzer::{Analyzer, AnalyzerRule};
use datafusion::prelude::{SessionConfig, SessionContext};

/// `integer / integer` becomes `double / double`.
#[derive(Debug, Default)]
pub struct FloatDivision;

fn is_integer(data_type: &DataType) -> bool {
    data_type.is_integer()
}

fn rewrite(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    expr.transform_up(|e| {
        let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Divide,
            right,
        }) = &e
        else {
            return Ok(Transformed::no(e));
        };
        let (Ok(l), Ok(r)) = (left.get_type(schema), right.get_type(schema)) else {
            return Ok(Transformed::no(e));
        };
        if !(is_integer(&l) && is_integer(&r)) {
            return Ok(Transformed::no(e));
        }
        let divided = Expr::BinaryExpr(BinaryExpr::new(
            Box::new(cast(left.as_ref().clone(), DataType::Float64)),
            Operator::Divide,
            Box::new(cast(right.as_ref().clone(), DataType::Float64)),
        ));
        Ok(Transformed::yes(divided))
    })
}

impl AnalyzerRule for FloatDivision {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        rewrite_expressions(plan, rewrite)
    }

    fn name(&self) -> &str {
        "dataflow_float_division"
    }
}

/// Applies `rewrite` to every expression of `plan`, its subqueries included, with the schema
/// of the node's inputs (a table scan: its source's). Output types may change (a projected
/// quotient becomes a double, and an alias or view above it must say so): every node
/// recomputes its schema.
pub(crate) fn rewrite_expressions(
    plan: LogicalPlan,
    rewrite: impl Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|plan| {
        let mut schema = merge_schema(&plan.inputs());
        if let LogicalPlan::TableScan(scan) = &plan {
            schema.merge(&DFSchema::try_from_qualified_schema(
                scan.table_name.clone(),
                &scan.source.schema(),
            )?);
        }
        let rewritten = plan.map_expressions(|expr| rewrite(expr, &schema))?;
        let transformed = rewritten.transformed;
        let plan = rewritten.data.recompute_schema()?;
        Ok(if transformed {
            Transformed::yes(plan)
        } else {
            Transformed::no(plan)
        })
    })
    .map(|t| t.data)
}

/// Bytes DataFusion may hold for sorts, aggregations, windows and joins before sorts and
/// aggregations spill to disk: `DATAFLOW_MEMORY_LIMIT_MB`, else half the machine's memory.
/// Without a limit a window over ten million rows took 22 GB.
pub fn memory_limit() -> usize {
    const MB: usize = 1024 * 1024;
    if let Some(mb) = std::env::var("DATAFLOW_MEMORY_LIMIT_MB")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|mb| *mb > 0)
    {
        return mb * MB;
    }
    let total_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<usize>().ok())
        });
    match total_kb {
        Some(kb) => kb * 1024 / 2,
        None => 4096 * MB,
    }
}

/// A session with dataflow's SQL semantics and `config`: an ordered `string_agg` that scales
/// to millions of groups ([`crate::string_agg`]), ranking and shift windows that scale to
/// millions of partitions ([`crate::window`]), dates of UTC timestamps without zone lookups
/// ([`crate::utc`]), and integer division as dbt's warehouses do it. The division rule runs just before
/// type coercion, so expressions around a quotient are coerced to its new type. Memory is
/// bounded by [`memory_limit`] (fair shares between operators; sorts and aggregations spill).
pub fn session_context(config: SessionConfig) -> SessionContext {
    let mut rules = Analyzer::new().rules;
    let at = rules
        .iter()
        .position(|r| r.name() == "type_coercion")
        .unwrap_or(rules.len());
    rules.insert(at, Arc::new(FloatDivision));
    // After type coercion, which adds casts of its own.
    let at = rules
        .iter()
        .position(|r| r.name() == "type_coercion")
        .map_or(rules.len(), |i| i + 1);
    rules.insert(at, Arc::new(crate::utc::UtcTimestamps));
    // Delta's planner knows its write, merge and delete nodes, so writes can stream from a
    // query in this session.
    let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(
            datafusion::execution::memory_pool::FairSpillPool::new(memory_limit()),
        ))
        .build_arc();
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_analyzer_rules(rules)
        // After DataFusion's physical rules: ranking and shift windows over sorted input.
        .with_physical_optimizer_rule(Arc::new(crate::window::SortedWindows))
        .with_query_planner(deltalake::delta_datafusion::planner::DeltaPlanner::new());
    let state = match runtime {
        Ok(runtime) => state.with_runtime_env(runtime),
        Err(_) => state,
    }
    .build();
    let ctx = SessionContext::new_with_state(state);
    // An ordered string_agg (dbt's listagg) with a grouped accumulator.
    ctx.register_udaf(crate::string_agg::string_agg_udaf());
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::util::pretty::pretty_format_batches;

    async fn run(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx
            .sql(sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        pretty_format_batches(&batches).expect("format").to_string()
    }

    #[tokio::test]
    async fn integer_division_is_exact_like_duckdb_and_snowflake() {
        let ctx = session_context(SessionConfig::new());
        let out = run(
            &ctx,
            "select 7 / 2 as half, cast(1169 as bigint) / 100 as dollars, 7.0 / 2 as float_half, \
             cast(7 / 2 as bigint) as truncated, sum(x) / count(*) + 1 - 1 as mean \
             from (values (1), (2)) as t(x)",
        )
        .await;
        assert!(
            out.contains("| 3.5  | 11.69   | 3.5        | 3         | 1.5  |"),
            "{out}"
        );
    }

    #[tokio::test]
    async fn views_subqueries_and_filters_see_the_same_rule() {
        let ctx = session_context(SessionConfig::new());
        run(
            &ctx,
            "create view v as select a / b as q from (values (1, 4), (3, 4)) as t(a, b)",
        )
        .await;
        let out = run(
            &ctx,
            "select q, (select max(a / b) from (values (5, 2)) as s(a, b)) as sub from v \
             where q > 0.5",
        )
        .await;
        assert!(out.contains("| 0.75 | 2.5 |"), "{out}");
    }
}
