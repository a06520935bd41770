//! Column pair and multicolumn expectations (`a_to_be_greater_than_b`, `pair_values_to_be_equal`,
//! compound uniqueness, uniqueness within a record, multicolumn sums): [`crate::multi`] turns
//! each into SQL conditions over the row (with `ignore_row_if` deciding the rows left out as
//! missing); here they are counted, the unexpected rows fetched, and the result shaped like a
//! map expectation's, with pair values as lists and multicolumn values as objects.

use dataflow_engine::datafusion::arrow::datatypes::DataType;

use super::map_result::{Found, Tally};
use super::{Outcome, PARTIAL, ResultFormat, TableInfo, Validator, number};
use crate::sql::{self, ident};
use crate::suite::Expectation;

impl Validator {
    /// Evaluates a pair or multicolumn expectation.
    pub(super) async fn multi_column(&self, info: &TableInfo, e: &Expectation) -> Outcome {
        let check = match crate::multi::row_check(e) {
            Ok(check) => check,
            Err(message) => return Outcome::exception(message),
        };
        if let Some(missing) = check
            .columns
            .iter()
            .find(|c| !info.columns.iter().any(|(n, _)| n == *c))
        {
            return Outcome::exception(format!(
                "Error: The column \"{missing}\" in BatchData does not exist."
            ));
        }
        let (table, ignored) = (&info.name, &check.ignored);
        // Rows left out by ignore_row_if are missing; the rest are tested.
        let source = match &check.window {
            Some(window) => format!("(select *, {window} from {table} where not ({ignored})) as t"),
            None => format!("(select * from {table} where not ({ignored})) as t"),
        };
        let counts = format!(
            "select count(*), coalesce(sum(case when {ignored} then 1 else 0 end), 0) from {table}"
        );
        let tested = format!("select count(*) from {source} where {}", check.unexpected);
        let (counted, unexpected_rows) =
            match (self.query(&counts).await, self.query(&tested).await) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(message), _) | (_, Err(message)) => return Outcome::exception(message),
            };
        let (elements, missing) = (number(&counted, 0), number(&counted, 1));
        let unexpected_count = number(&unexpected_rows, 0);
        let columns = check
            .columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let (extra, order) = self.index_select();
        let select = format!("{columns}{extra}");
        let limit = if self.format == ResultFormat::Complete {
            String::new()
        } else {
            format!(" limit {PARTIAL}")
        };
        let rows = format!(
            "select {select} from {source} where {}{order}{limit}",
            check.unexpected
        );
        let batches = match self.query_in_order(&rows).await {
            Ok(b) => b,
            Err(message) => return Outcome::exception(message),
        };
        let width = check.columns.len();
        let (mut shown, mut counted_values, mut indexes) = (Vec::new(), Vec::new(), Vec::new());
        for batch in &batches {
            for row in 0..batch.num_rows() {
                let values = (0..width)
                    .map(|c| sql::json_value(batch.column(c), row))
                    .collect();
                let (printed, listed) = crate::multi::shape(&check, values);
                shown.push(printed);
                counted_values.push(listed);
                if self.has_index() {
                    indexes.push(self.index_entry(batch, row, &check.columns));
                }
            }
        }
        // Nulls of non-float columns are Python's None when GE sorts the counts.
        let none_positions: Vec<bool> = check
            .columns
            .iter()
            .map(|c| {
                !info
                    .columns
                    .iter()
                    .any(|(n, t)| n == c && matches!(t, DataType::Float32 | DataType::Float64))
            })
            .collect();
        let tally = Tally {
            elements,
            missing,
            unexpected: unexpected_count,
            about_nulls: false,
        };
        let found = Found {
            shown,
            counted: counted_values,
            indexes,
            has_index: self.has_index(),
        };
        self.shape_map(e, tally, found, false, &none_positions)
    }
}
