//! What an aggregate expectation learns from its column, read batch by batch as the query
//! streams it. Count, sum, mean and extremes keep a few numbers whatever the column's length
//! (the float sum as numpy's pairwise sum, walked as the values arrive); the standard
//! deviation reads the column a second time for the squared deviations from the mean, as
//! pandas' two-pass variance does. Median and quantiles keep every number (they are order
//! statistics: no fixed amount of memory gives them exactly), and the value-set expectations
//! (distinct values, most common value, proportion of unique values) keep every value.

use dataflow_engine::datafusion::arrow::array::{Array, ArrayRef, Float64Array, Int64Array};
use dataflow_engine::datafusion::arrow::compute::cast;
use dataflow_engine::datafusion::arrow::datatypes::DataType;
use serde_json::Value;

use super::pairwise::PairwiseSum;
use crate::sql;

/// What an aggregate expectation reads from its column, cheapest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Needs {
    /// Count, sum, mean, minimum, maximum: a few numbers, one pass.
    Moments,
    /// The sample standard deviation: the moments, then a second pass.
    Deviation,
    /// Median and quantiles: every number, sorted.
    Numbers,
    /// Distinct values, most common value, proportion of unique values: every value.
    Values,
}

impl Needs {
    /// What the expectation `kind` needs.
    pub fn of(kind: &str) -> Needs {
        match kind {
            "expect_column_mean_to_be_between"
            | "expect_column_sum_to_be_between"
            | "expect_column_min_to_be_between"
            | "expect_column_max_to_be_between" => Needs::Moments,
            "expect_column_stdev_to_be_between" => Needs::Deviation,
            "expect_column_median_to_be_between"
            | "expect_column_quantile_values_to_be_between" => Needs::Numbers,
            _ => Needs::Values,
        }
    }
}

/// A column's numbers, batch by batch: integer columns as i64 (sums stay exact), other
/// numeric columns as f64, with nulls and NaN (which pandas counts as missing) as `None`.
fn numbers(array: &ArrayRef, integer: bool) -> Result<Vec<Option<f64>>, String> {
    if integer {
        let ints = cast(array, &DataType::Int64).map_err(|e| e.to_string())?;
        let ints = ints
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or("not an integer column")?;
        return Ok(ints.iter().map(|v| v.map(|v| v as f64)).collect());
    }
    let floats = cast(array, &DataType::Float64).map_err(|e| e.to_string())?;
    let floats = floats
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or("not a float column")?;
    Ok(floats.iter().map(|v| v.filter(|v| !v.is_nan())).collect())
}

/// The statistics of one column, filled by [`Column::push`] in table order.
pub struct Column {
    /// The Arrow type.
    pub data_type: DataType,
    /// Whether the column holds integers (sums and extremes stay integers).
    pub integer: bool,
    needs: Needs,
    rows: usize,
    count: usize,
    int_sum: i128,
    float_sum: Option<PairwiseSum>,
    sum: f64,
    min: Option<f64>,
    max: Option<f64>,
    text_min: Option<String>,
    text_max: Option<String>,
    squares: Option<f64>,
    /// Non-null numbers, sorted once the scan is over (`Needs::Numbers`).
    sorted: Vec<f64>,
    /// Every value as GE prints it, null as null (`Needs::Values`).
    pub json: Vec<Value>,
}

impl Column {
    /// An empty scan of a column of `rows` rows (the float sum's tree depends on the count).
    pub fn new(data_type: &DataType, needs: Needs, rows: usize) -> Column {
        Column {
            data_type: data_type.clone(),
            integer: data_type.is_integer(),
            needs,
            rows,
            count: 0,
            int_sum: 0,
            // Integers are summed exactly; floats as numpy does.
            float_sum: (data_type.is_numeric() && !data_type.is_integer())
                .then(|| PairwiseSum::new(rows)),
            sum: 0.0,
            min: None,
            max: None,
            text_min: None,
            text_max: None,
            squares: None,
            sorted: Vec::new(),
            json: Vec::new(),
        }
    }

    /// Reads the next batch of the column.
    pub fn push(&mut self, array: &ArrayRef) -> Result<(), String> {
        if self.needs == Needs::Values {
            // Nulls stay null here (not pandas' NaT): aggregates leave them out.
            self.json.extend((0..array.len()).map(|i| {
                if array.is_null(i) {
                    Value::Null
                } else {
                    sql::json_value(array, i)
                }
            }));
        }
        if !self.data_type.is_numeric() {
            // Extremes of text, dates and timestamps compare as GE prints them (ISO text).
            for i in (0..array.len()).filter(|i| array.is_valid(*i)) {
                if let Value::String(text) = sql::json_value(array, i) {
                    if self.text_min.as_ref().is_none_or(|m| text < *m) {
                        self.text_min = Some(text.clone());
                    }
                    if self.text_max.as_ref().is_none_or(|m| text > *m) {
                        self.text_max = Some(text);
                    }
                }
            }
            return Ok(());
        }
        for value in numbers(array, self.integer)? {
            // pandas fills the missing values with 0 and sums the whole column.
            if let Some(sum) = &mut self.float_sum {
                sum.push(value.unwrap_or(0.0));
            }
            let Some(value) = value else { continue };
            self.count += 1;
            if self.integer {
                self.int_sum += value as i128;
            }
            self.min = Some(self.min.map_or(value, |m| m.min(value)));
            self.max = Some(self.max.map_or(value, |m| m.max(value)));
            if self.needs == Needs::Numbers {
                self.sorted.push(value);
            }
        }
        Ok(())
    }

    /// Ends the scan: the float sum is complete, the numbers sorted.
    pub fn finish(&mut self) {
        if let Some(sum) = self.float_sum.take() {
            self.sum = sum.finish();
        }
        self.sorted.sort_by(f64::total_cmp);
    }

    /// The second pass of the standard deviation, when there are two numbers or more.
    pub fn deviations(&self) -> Option<Deviations> {
        let mean = self.mean().filter(|_| self.count >= 2)?;
        Some(Deviations {
            mean,
            squares: PairwiseSum::new(self.rows),
            integer: self.integer,
        })
    }

    /// Takes the squared deviations read by [`Column::deviations`].
    pub fn set_squares(&mut self, squares: f64) {
        self.squares = Some(squares);
    }

    /// The sum as pandas computes it: integers exactly, floats pairwise with nulls as 0.
    pub fn sum(&self) -> Value {
        if self.integer {
            return Value::from(self.int_sum as i64);
        }
        Value::from(self.sum)
    }

    /// The mean of the numbers.
    pub fn mean(&self) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let total = if self.integer {
            self.int_sum as f64
        } else {
            self.sum
        };
        Some(total / self.count as f64)
    }

    /// The sample standard deviation (ddof 1), once the second pass is in.
    pub fn stdev(&self) -> Option<f64> {
        let squares = self.squares.filter(|_| self.count >= 2)?;
        Some((squares / (self.count - 1) as f64).sqrt())
    }

    /// The smallest or largest number.
    pub fn extreme(&self, smallest: bool) -> Option<f64> {
        if smallest { self.min } else { self.max }
    }

    /// The smallest or largest text (non-numeric columns).
    pub fn text_extreme(&self, smallest: bool) -> Option<&str> {
        if smallest {
            self.text_min.as_deref()
        } else {
            self.text_max.as_deref()
        }
    }

    /// The numbers in ascending order (only kept for `Needs::Numbers`).
    pub fn sorted(&self) -> &[f64] {
        &self.sorted
    }

    /// A number in the column's type: integers print without a fraction.
    pub fn typed(&self, value: f64) -> Value {
        if self.integer {
            Value::from(value as i64)
        } else {
            Value::from(value)
        }
    }
}

/// The second pass of the standard deviation: `(x - mean)²` summed pairwise over the column,
/// nulls as 0 (pandas' `nanvar`).
pub struct Deviations {
    mean: f64,
    squares: PairwiseSum,
    integer: bool,
}

impl Deviations {
    /// Reads the next batch of the column.
    pub fn push(&mut self, array: &ArrayRef) -> Result<(), String> {
        for value in numbers(array, self.integer)? {
            let square = value.map_or(0.0, |v| (v - self.mean) * (v - self.mean));
            self.squares.push(square);
        }
        Ok(())
    }

    /// The sum of the squares.
    pub fn finish(self) -> f64 {
        self.squares.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::aggregate::pairwise_sum;

    /// `scripts/pandas-moments.py`'s columns: xorshift64 draws, one in ten null.
    fn column(seed: u64, rows: usize) -> Vec<Option<f64>> {
        let mut state = seed;
        let mut draw = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..rows)
            .map(|_| {
                let (null, unit, scale) = (draw(), draw(), draw());
                let unit = (unit >> 11) as f64 / (1u64 << 53) as f64;
                let scale = [1e-3, 1.0, 1e3][(scale % 3) as usize];
                (null % 10 != 0).then_some((unit * 2e6 - 1e6) * scale)
            })
            .collect()
    }

    /// Streams `values` through a scan in batches of `batch`, both passes.
    fn scan(values: &[Option<f64>], needs: Needs, batch: usize) -> Column {
        let arrays: Vec<ArrayRef> = values
            .chunks(batch.max(1))
            .map(|c| Arc::new(Float64Array::from(c.to_vec())) as ArrayRef)
            .collect();
        let mut column = Column::new(&DataType::Float64, needs, values.len());
        for array in &arrays {
            column.push(array).expect("numbers");
        }
        column.finish();
        if let Some(mut deviations) = column.deviations() {
            for array in &arrays {
                deviations.push(array).expect("numbers");
            }
            column.set_squares(deviations.finish());
        }
        column
    }

    #[test]
    fn sum_mean_and_std_have_pandas_bits() {
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/pandas/moments.json"))
                .expect("moments.json");
        for case in fixture["cases"].as_array().expect("cases") {
            let rows = case["rows"].as_u64().expect("rows") as usize;
            let values = column(case["seed"].as_u64().expect("seed"), rows);
            assert_eq!(
                values.iter().filter(|v| v.is_none()).count() as u64,
                case["nulls"].as_u64().expect("nulls"),
                "the generator drifted from the script's"
            );
            let bits = |key: &str| case[key].as_u64().map(f64::from_bits);
            for batch in [1, 777, rows] {
                let column = scan(&values, Needs::Deviation, batch);
                let label = format!("{rows} rows in batches of {batch}");
                assert_eq!(column.sum().as_f64(), bits("sum"), "sum, {label}");
                assert_eq!(column.mean(), bits("mean"), "mean, {label}");
                assert_eq!(column.stdev(), bits("std"), "std, {label}");
            }
        }
    }

    #[test]
    fn moments_keep_no_values() {
        let values = column(9, 10_000);
        let column = scan(&values, Needs::Deviation, 1000);
        assert!(column.json.is_empty() && column.sorted().is_empty());
        let filled: Vec<f64> = values.iter().map(|v| v.unwrap_or(0.0)).collect();
        assert_eq!(column.sum().as_f64(), Some(pairwise_sum(&filled)));
        let present = values.iter().flatten();
        let smallest = present.clone().copied().fold(f64::INFINITY, f64::min);
        assert_eq!(column.extreme(true), Some(smallest));
        // Order statistics keep the numbers; NaN is missing, as in pandas.
        let mut with_nan = values[..10].to_vec();
        with_nan.push(Some(f64::NAN));
        let numbers = scan(&with_nan, Needs::Numbers, 4);
        assert_eq!(
            numbers.sorted().len(),
            with_nan.iter().flatten().count() - 1
        );
    }
}
