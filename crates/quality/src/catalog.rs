//! Every expectation type dataflow knows, with its required and optional kwargs, so a suite is
//! checked when it is loaded: an unknown type or kwarg is an error naming the expectation.

/// How an expectation is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// About the table as a whole (row count, columns).
    Table,
    /// A condition on each value of one column (nulls skipped unless the condition is about nulls).
    ColumnMap,
    /// A statistic of one column.
    ColumnAggregate,
    /// A condition on two columns of each row.
    ColumnPair,
    /// A condition on several columns of each row.
    Multicolumn,
    /// A query returning the unexpected rows.
    Query,
}

/// One expectation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// GE's name.
    pub name: &'static str,
    /// How it is evaluated.
    pub family: Family,
    /// Kwargs that must be present.
    pub required: &'static [&'static str],
    /// Kwargs that may be present (besides the common ones).
    pub optional: &'static [&'static str],
    /// Whether this version of dataflow evaluates it (others fail with an exception).
    pub evaluated: bool,
}

/// Kwargs every expectation accepts.
pub const COMMON: &[&str] = &[
    "result_format",
    "include_config",
    "catch_exceptions",
    "meta",
    "notes",
    "batch_id",
    "row_condition",
    "condition_parser",
];

const MAP: &[&str] = &["mostly"];
const BETWEEN: &[&str] = &["min_value", "max_value", "strict_min", "strict_max"];
const MAP_BETWEEN: &[&str] = &[
    "min_value",
    "max_value",
    "strict_min",
    "strict_max",
    "mostly",
    "parse_strings_as_datetimes",
    "output_strftime_format",
    "allow_cross_type_comparisons",
];

macro_rules! spec {
    ($name:literal, $family:ident, [$($req:literal),*], $optional:expr, $evaluated:literal) => {
        Spec {
            name: $name,
            family: Family::$family,
            required: &[$($req),*],
            optional: $optional,
            evaluated: $evaluated,
        }
    };
}

/// The catalog, GE's names.
pub const SPECS: &[Spec] = &[
    spec!(
        "expect_table_row_count_to_be_between",
        Table,
        [],
        BETWEEN,
        true
    ),
    spec!(
        "expect_table_row_count_to_equal",
        Table,
        ["value"],
        &[],
        true
    ),
    spec!(
        "expect_table_columns_to_match_ordered_list",
        Table,
        ["column_list"],
        &[],
        true
    ),
    spec!(
        "expect_table_columns_to_match_set",
        Table,
        ["column_set"],
        &["exact_match"],
        true
    ),
    spec!(
        "expect_table_column_count_to_equal",
        Table,
        ["value"],
        &[],
        true
    ),
    spec!(
        "expect_table_column_count_to_be_between",
        Table,
        [],
        BETWEEN,
        true
    ),
    spec!(
        "expect_column_to_exist",
        Table,
        ["column"],
        &["column_index"],
        true
    ),
    spec!(
        "expect_column_values_to_not_be_null",
        ColumnMap,
        ["column"],
        MAP,
        true
    ),
    spec!(
        "expect_column_values_to_be_null",
        ColumnMap,
        ["column"],
        MAP,
        true
    ),
    spec!(
        "expect_column_values_to_be_unique",
        ColumnMap,
        ["column"],
        MAP,
        true
    ),
    spec!(
        "expect_column_values_to_match_regex",
        ColumnMap,
        ["column", "regex"],
        MAP,
        true
    ),
    spec!(
        "expect_column_values_to_not_match_regex",
        ColumnMap,
        ["column", "regex"],
        MAP,
        true
    ),
    spec!(
        "expect_column_values_to_match_regex_list",
        ColumnMap,
        ["column", "regex_list"],
        &["mostly", "match_on"],
        true
    ),
    spec!(
        "expect_column_values_to_not_match_regex_list",
        ColumnMap,
        ["column", "regex_list"],
        MAP,
        true
    ),
    spec!(
        "expect_column_values_to_be_in_set",
        ColumnMap,
        ["column", "value_set"],
        &["mostly", "parse_strings_as_datetimes"],
        true
    ),
    spec!(
        "expect_column_values_to_not_be_in_set",
        ColumnMap,
        ["column", "value_set"],
        &["mostly", "parse_strings_as_datetimes"],
        true
    ),
    spec!(
        "expect_column_values_to_be_between",
        ColumnMap,
        ["column"],
        MAP_BETWEEN,
        true
    ),
    spec!(
        "expect_column_value_lengths_to_be_between",
        ColumnMap,
        ["column"],
        MAP_BETWEEN,
        true
    ),
    spec!(
        "expect_column_value_lengths_to_equal",
        ColumnMap,
        ["column", "value"],
        MAP,
        true
    ),
    spec!(
        "expect_column_values_to_match_strftime_format",
        ColumnMap,
        ["column", "strftime_format"],
        MAP,
        true
    ),
    spec!(
        "expect_column_values_to_be_dateutil_parseable",
        ColumnMap,
        ["column"],
        MAP,
        true
    ),
    spec!(
        "expect_column_values_to_be_json_parseable",
        ColumnMap,
        ["column"],
        MAP,
        true
    ),
    spec!(
        "expect_column_values_to_be_of_type",
        ColumnMap,
        ["column", "type_"],
        MAP,
        true
    ),
    spec!(
        "expect_column_values_to_be_in_type_list",
        ColumnMap,
        ["column", "type_list"],
        MAP,
        true
    ),
    spec!(
        "expect_column_values_to_be_increasing",
        ColumnMap,
        ["column"],
        &["mostly", "strictly", "parse_strings_as_datetimes"],
        true
    ),
    spec!(
        "expect_column_values_to_be_decreasing",
        ColumnMap,
        ["column"],
        &["mostly", "strictly", "parse_strings_as_datetimes"],
        true
    ),
    spec!(
        "expect_column_mean_to_be_between",
        ColumnAggregate,
        ["column"],
        BETWEEN,
        true
    ),
    spec!(
        "expect_column_median_to_be_between",
        ColumnAggregate,
        ["column"],
        BETWEEN,
        true
    ),
    spec!(
        "expect_column_stdev_to_be_between",
        ColumnAggregate,
        ["column"],
        BETWEEN,
        true
    ),
    spec!(
        "expect_column_sum_to_be_between",
        ColumnAggregate,
        ["column"],
        BETWEEN,
        true
    ),
    spec!(
        "expect_column_min_to_be_between",
        ColumnAggregate,
        ["column"],
        &[
            "min_value",
            "max_value",
            "strict_min",
            "strict_max",
            "parse_strings_as_datetimes",
            "output_strftime_format"
        ],
        true
    ),
    spec!(
        "expect_column_max_to_be_between",
        ColumnAggregate,
        ["column"],
        &[
            "min_value",
            "max_value",
            "strict_min",
            "strict_max",
            "parse_strings_as_datetimes",
            "output_strftime_format"
        ],
        true
    ),
    spec!(
        "expect_column_unique_value_count_to_be_between",
        ColumnAggregate,
        ["column"],
        BETWEEN,
        true
    ),
    spec!(
        "expect_column_proportion_of_unique_values_to_be_between",
        ColumnAggregate,
        ["column"],
        BETWEEN,
        true
    ),
    spec!(
        "expect_column_distinct_values_to_be_in_set",
        ColumnAggregate,
        ["column", "value_set"],
        &["parse_strings_as_datetimes"],
        true
    ),
    spec!(
        "expect_column_distinct_values_to_contain_set",
        ColumnAggregate,
        ["column", "value_set"],
        &["parse_strings_as_datetimes"],
        true
    ),
    spec!(
        "expect_column_distinct_values_to_equal_set",
        ColumnAggregate,
        ["column", "value_set"],
        &["parse_strings_as_datetimes"],
        true
    ),
    spec!(
        "expect_column_most_common_value_to_be_in_set",
        ColumnAggregate,
        ["column", "value_set"],
        &["ties_okay"],
        true
    ),
    spec!(
        "expect_column_quantile_values_to_be_between",
        ColumnAggregate,
        ["column", "quantile_ranges"],
        &["allow_relative_error"],
        true
    ),
    spec!(
        "expect_column_pair_values_a_to_be_greater_than_b",
        ColumnPair,
        ["column_A", "column_B"],
        &[
            "or_equal",
            "ignore_row_if",
            "mostly",
            "parse_strings_as_datetimes",
            "allow_cross_type_comparisons"
        ],
        true
    ),
    spec!(
        "expect_column_pair_values_to_be_equal",
        ColumnPair,
        ["column_A", "column_B"],
        &["ignore_row_if", "mostly"],
        true
    ),
    spec!(
        "expect_compound_columns_to_be_unique",
        Multicolumn,
        ["column_list"],
        &["ignore_row_if", "mostly"],
        true
    ),
    spec!(
        "expect_select_column_values_to_be_unique_within_record",
        Multicolumn,
        ["column_list"],
        &["ignore_row_if", "mostly"],
        true
    ),
    spec!(
        "expect_multicolumn_sum_to_equal",
        Multicolumn,
        ["column_list", "sum_total"],
        &["ignore_row_if", "mostly"],
        true
    ),
    spec!(
        "unexpected_rows_expectation",
        Query,
        ["unexpected_rows_query"],
        &["description"],
        true
    ),
];

/// The spec of `name` (GE's snake_case name; the 1.x class name `ExpectColumnValuesToBeUnique`
/// is accepted too).
pub fn find(name: &str) -> Option<&'static Spec> {
    let snake = to_snake(name);
    SPECS.iter().find(|s| s.name == snake)
}

/// `ExpectColumnValuesToBeUnique` -> `expect_column_values_to_be_unique`; snake case unchanged.
fn to_snake(name: &str) -> String {
    if name.contains('_') || name.chars().all(|c| c.is_ascii_lowercase()) {
        return name.to_string();
    }
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The known name closest to `name`, for "did you mean" hints.
pub fn closest(name: &str) -> Option<&'static str> {
    dataflow_core::suggest::closest_within(name, SPECS.iter().map(|s| s.name), 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_and_typos() {
        assert_eq!(
            find("ExpectColumnValuesToBeUnique").map(|s| s.name),
            Some("expect_column_values_to_be_unique")
        );
        assert_eq!(
            closest("expect_column_value_to_be_unique"),
            Some("expect_column_values_to_be_unique")
        );
        assert!(find("expect_the_moon").is_none());
    }
}
