//! Calendar arithmetic on UTC timestamps without time-zone lookups. The lake stores
//! timestamps as `Timestamp(µs, "UTC")`. Arrow converts every value of a zoned timestamp to
//! its local time through chrono-tz before it takes a date or a date part, even when the zone
//! is UTC. That is 35 ns a value, and a dbt `datediff('day', ...)` (two casts to `date`) or an
//! `extract(quarter from ...)` over ten million transactions pays it each time. For a
//! UTC-equivalent zone, the local time *is* the stored value, so this analyzer rule reads the
//! value as a zone-less timestamp first, which casts for free. Results and types are unchanged.
//! It covers `cast(ts as date)` (and `try_cast`) and `date_part`/`extract`. Other zones keep
//! the exact conversion.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, cast};
use datafusion::optimizer::analyzer::AnalyzerRule;

/// The rule: see the module documentation. Runs after type coercion, so it sees every cast.
#[derive(Debug, Default)]
pub struct UtcTimestamps;

/// Zone names that mean UTC.
fn is_utc(zone: &str) -> bool {
    matches!(
        zone.to_ascii_uppercase().as_str(),
        "UTC" | "Z" | "+00:00" | "+0000" | "+00" | "ETC/UTC" | "UCT" | "ZULU" | "GMT" | "ETC/GMT"
    )
}

/// The unit of `expr` when it is a timestamp in a UTC-equivalent zone.
fn utc_timestamp(expr: &Expr, schema: &DFSchema) -> Option<TimeUnit> {
    match expr.get_type(schema).ok()? {
        DataType::Timestamp(unit, Some(zone)) if is_utc(&zone) => Some(unit),
        _ => None,
    }
}

/// `expr` read as the same instants without a zone.
fn naive(expr: Expr, unit: TimeUnit) -> Expr {
    cast(expr, DataType::Timestamp(unit, None))
}

fn rewrite(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    expr.transform_up(|e| {
        Ok(match e {
            Expr::Cast(Cast { expr: inner, field }) if field.data_type() == &DataType::Date32 => {
                match utc_timestamp(&inner, schema) {
                    Some(unit) => Transformed::yes(Expr::Cast(Cast::new_from_field(
                        Box::new(naive(*inner, unit)),
                        field,
                    ))),
                    None => Transformed::no(Expr::Cast(Cast::new_from_field(inner, field))),
                }
            }
            Expr::TryCast(TryCast { expr: inner, field })
                if field.data_type() == &DataType::Date32 =>
            {
                match utc_timestamp(&inner, schema) {
                    Some(unit) => Transformed::yes(Expr::TryCast(TryCast::new_from_field(
                        Box::new(naive(*inner, unit)),
                        field,
                    ))),
                    None => Transformed::no(Expr::TryCast(TryCast::new_from_field(inner, field))),
                }
            }
            Expr::ScalarFunction(f) if f.func.name() == "date_part" && f.args.len() == 2 => {
                match utc_timestamp(&f.args[1], schema) {
                    Some(unit) => {
                        let mut args = f.args;
                        let value = args.remove(1);
                        args.push(naive(value, unit));
                        Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(
                            f.func, args,
                        )))
                    }
                    None => Transformed::no(Expr::ScalarFunction(f)),
                }
            }
            other => Transformed::no(other),
        })
    })
}

impl AnalyzerRule for UtcTimestamps {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        crate::dialect::rewrite_expressions(plan, rewrite)
    }

    fn name(&self) -> &str {
        "dataflow_utc_timestamps"
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::prelude::{SessionConfig, SessionContext};

    async fn run(ctx: &SessionContext, sql: &str) -> (String, String) {
        let frame = ctx.sql(sql).await.expect("plan");
        let optimized = frame.clone().into_optimized_plan().expect("optimize");
        let plan = format!("{}", optimized.display_indent());
        let batches = frame.collect().await.expect("run");
        (
            pretty_format_batches(&batches).expect("format").to_string(),
            plan,
        )
    }

    /// One column of timestamps in `zone`: a last microsecond of a year, one before the
    /// epoch, a time whose date differs between UTC and Berlin, and a null.
    fn values(zone: &str) -> String {
        let ts = |v: &str| format!("arrow_cast('{v}', 'Timestamp(Microsecond, Some(\"{zone}\"))')");
        format!(
            "(values ({}), ({}), ({}), (arrow_cast(null, 'Timestamp(Microsecond, Some(\"{zone}\"))'))) as t(ts)",
            ts("2024-12-31T23:59:59.999999Z"),
            ts("1969-12-31T23:00:00Z"),
            ts("2024-03-31T22:30:00Z"),
        )
    }

    #[tokio::test]
    async fn dates_and_parts_of_utc_timestamps_equal_datafusions() {
        let ours = crate::dialect::session_context(SessionConfig::new());
        let theirs = SessionContext::new();
        for (zone, rewritten) in [("UTC", true), ("+00:00", true), ("Europe/Berlin", false)] {
            let sql = format!(
                "select cast(ts as date) as d, try_cast(ts as date) as t,
                        cast(cast(ts as date) as bigint) as days,
                        extract(quarter from ts) as q, date_part('hour', ts) as h,
                        date_part('epoch', ts) as e, date_part('doy', ts) as doy
                 from {}",
                values(zone)
            );
            let (got, plan) = run(&ours, &sql).await;
            let (want, _) = run(&theirs, &sql).await;
            assert_eq!(got, want, "{zone}: {plan}");
            let naive = plan.matches("Timestamp(µs)").count()
                + plan.matches("Timestamp(Microsecond, None)").count();
            assert_eq!(naive > 0, rewritten, "{zone}: {plan}");
        }
    }
}
