//! Source freshness, as `dbt source freshness`: the newest `loaded_at_field` of each source
//! table against `warn_after` / `error_after`, with an optional `filter`.

use dataflow_engine::datafusion::arrow::array::{Array, Float64Array, StringArray};
use dataflow_engine::datafusion::arrow::compute::cast;
use dataflow_engine::datafusion::arrow::datatypes::DataType;
use dataflow_engine::datafusion::prelude::SessionContext;
use serde::Deserialize;

use crate::project::SourceTable;

/// A time span as dbt writes it: `{count: 12, period: hour}`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// How many periods.
    pub count: u64,
    /// The unit.
    pub period: PeriodUnit,
}

/// A unit of [`Period`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodUnit {
    /// 60 seconds.
    Minute,
    /// 3,600 seconds.
    Hour,
    /// 86,400 seconds.
    Day,
}

impl Period {
    /// The span in seconds.
    pub fn seconds(self) -> f64 {
        let unit = match self.period {
            PeriodUnit::Minute => 60,
            PeriodUnit::Hour => 3_600,
            PeriodUnit::Day => 86_400,
        };
        (self.count * unit) as f64
    }

    fn describe(self) -> String {
        let unit = match self.period {
            PeriodUnit::Minute => "minute",
            PeriodUnit::Hour => "hour",
            PeriodUnit::Day => "day",
        };
        format!(
            "{} {unit}{}",
            self.count,
            if self.count == 1 { "" } else { "s" }
        )
    }
}

/// A source's or table's `freshness:` block.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreshnessSpec {
    /// Older than this is a warning.
    #[serde(default)]
    pub warn_after: Option<Period>,
    /// Older than this is an error.
    #[serde(default)]
    pub error_after: Option<Period>,
    /// A SQL condition limiting the rows looked at.
    #[serde(default)]
    pub filter: Option<String>,
}

impl FreshnessSpec {
    /// This (the source's) block with a table's settings on top.
    pub fn overlay(&self, table: FreshnessSpec) -> FreshnessSpec {
        FreshnessSpec {
            warn_after: table.warn_after.or(self.warn_after),
            error_after: table.error_after.or(self.error_after),
            filter: table.filter.or_else(|| self.filter.clone()),
        }
    }
}

/// The outcome of one table's check, named as dbt names them.
#[derive(Debug, Clone, PartialEq)]
pub enum FreshnessStatus {
    /// Newer than every threshold.
    Pass,
    /// Older than `warn_after`.
    Warn,
    /// Older than `error_after`, or no rows.
    Error(String),
    /// The query failed.
    RuntimeError(String),
}

impl FreshnessStatus {
    /// dbt's status word.
    pub fn as_str(&self) -> &'static str {
        match self {
            FreshnessStatus::Pass => "pass",
            FreshnessStatus::Warn => "warn",
            FreshnessStatus::Error(_) => "error",
            FreshnessStatus::RuntimeError(_) => "runtime error",
        }
    }
}

/// One source table's freshness.
#[derive(Debug, Clone)]
pub struct FreshnessResult {
    /// `source.table`.
    pub name: String,
    /// Outcome.
    pub status: FreshnessStatus,
    /// The newest load time, as text.
    pub max_loaded_at: Option<String>,
    /// Seconds between the newest load and now.
    pub age_seconds: Option<f64>,
    /// The criteria applied.
    pub criteria: FreshnessSpec,
    /// Wall time of the check.
    pub seconds: f64,
}

/// Source tables that have both a `loaded_at_field` and freshness criteria.
pub fn checked_sources(sources: &[SourceTable]) -> Vec<&SourceTable> {
    sources
        .iter()
        .filter(|s| s.loaded_at_field.is_some() && s.freshness.is_some())
        .collect()
}

/// Age in words: `3d 4h`, `2h 5m`, `42s`.
pub fn describe_age(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m {}s", s / 60, s % 60),
        3_600..86_400 => format!("{}h {}m", s / 3_600, (s % 3_600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3_600),
    }
}

async fn newest(ctx: &SessionContext, sql: &str) -> Result<(Option<f64>, Option<String>), String> {
    let batches = ctx
        .sql(sql)
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok((None, None));
    };
    let epoch = cast(batch.column(0), &DataType::Float64).map_err(|e| e.to_string())?;
    let epoch = epoch
        .as_any()
        .downcast_ref::<Float64Array>()
        .filter(|a| a.is_valid(0))
        .map(|a| a.value(0));
    let text = cast(batch.column(1), &DataType::Utf8).map_err(|e| e.to_string())?;
    let text = text
        .as_any()
        .downcast_ref::<StringArray>()
        .filter(|a| a.is_valid(0))
        .map(|a| a.value(0).to_string());
    Ok((epoch, text))
}

/// Checks one source table against its criteria at `now` (seconds since the epoch).
pub async fn check(ctx: &SessionContext, source: &SourceTable, now: f64) -> FreshnessResult {
    let started = std::time::Instant::now();
    let name = format!("{}.{}", source.source, source.table);
    let criteria = source.freshness.clone().unwrap_or_default();
    let field = source.loaded_at_field.clone().unwrap_or_default();
    let filter = criteria
        .filter
        .as_ref()
        .map(|f| format!(" where {f}"))
        .unwrap_or_default();
    let loaded = format!("cast({field} as timestamp)");
    let sql = format!(
        "select extract(epoch from max({loaded})) as max_epoch, \
         cast(max({loaded}) as varchar) as max_loaded_at from {}{filter}",
        source.identifier
    );
    let (status, max_loaded_at, age_seconds) = match newest(ctx, &sql).await {
        Err(message) => (
            FreshnessStatus::RuntimeError(format!("{message}\nSQL: {sql}")),
            None,
            None,
        ),
        Ok((None, _)) => (
            FreshnessStatus::Error(format!(
                "no rows in `{}` have a `{field}`{filter}",
                source.identifier
            )),
            None,
            None,
        ),
        Ok((Some(epoch), text)) => {
            let age = now - epoch;
            let over = |limit: Option<Period>| limit.filter(|p| age > p.seconds());
            let status = if let Some(limit) = over(criteria.error_after) {
                FreshnessStatus::Error(format!(
                    "last loaded {} ago, more than error_after {}",
                    describe_age(age),
                    limit.describe()
                ))
            } else if over(criteria.warn_after).is_some() {
                FreshnessStatus::Warn
            } else {
                FreshnessStatus::Pass
            };
            (status, text, Some(age))
        }
    };
    FreshnessResult {
        name,
        status,
        max_loaded_at,
        age_seconds,
        criteria,
        seconds: started.elapsed().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_settings_override_the_source_per_key() {
        let source: FreshnessSpec = serde_yaml_ng::from_str(
            "{warn_after: {count: 1, period: day}, error_after: {count: 2, period: day}}",
        )
        .expect("valid");
        let table: FreshnessSpec =
            serde_yaml_ng::from_str("{warn_after: {count: 6, period: hour}}").expect("valid");
        let merged = source.overlay(table);
        assert_eq!(merged.warn_after.map(Period::seconds), Some(21_600.0));
        assert_eq!(merged.error_after.map(Period::seconds), Some(172_800.0));
    }

    #[test]
    fn typos_are_errors() {
        let err = serde_yaml_ng::from_str::<FreshnessSpec>("{warn_afer: {count: 1, period: day}}")
            .expect_err("unknown key");
        assert!(err.to_string().contains("warn_afer"), "{err}");
        let err =
            serde_yaml_ng::from_str::<FreshnessSpec>("{warn_after: {count: 1, period: week}}")
                .expect_err("unknown period");
        assert!(err.to_string().contains("minute"), "{err}");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(describe_age(42.0), "42s");
        assert_eq!(describe_age(7_500.0), "2h 5m");
        assert_eq!(describe_age(190_000.0), "2d 4h");
    }
}
