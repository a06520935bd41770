//! `string_agg(value, delimiter ORDER BY ...)` with a grouped accumulator.
//!
//! DataFusion 55 runs an ordered `string_agg` through one `ArrayAgg` accumulator per group
//! that keeps every value and ordering key as a `ScalarValue`: a `GROUP BY` over a million
//! customers (dbt's `listagg` with `order_by_clause`, e.g. a customer's top categories) spent
//! more time there than in the window that ranked the categories. This replacement keeps the
//! values of all groups in flat buffers, the ordering keys in Arrow's row format, and sorts
//! each group's values when it is emitted. Without `ORDER BY`, and with `DISTINCT`, it defers
//! to DataFusion's own implementation; results are the same as DataFusion's (nulls skipped,
//! NULL for a group without values).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, LargeStringArray, LargeStringBuilder, ListArray,
    StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::{cast, filter};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::{Result, internal_err, not_impl_err};
use datafusion::functions_aggregate::string_agg::StringAgg;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator,
    ReversedUDAF, Signature,
};
use datafusion::physical_expr::expressions::Literal;

/// The `string_agg` UDAF registered in dataflow's sessions (see the module docs).
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct OrderedStringAgg {
    inner: StringAgg,
}

/// `string_agg` as an [`AggregateUDF`], replacing DataFusion's when registered.
pub fn string_agg_udaf() -> AggregateUDF {
    AggregateUDF::new_from_impl(OrderedStringAgg::default())
}

/// The delimiter: a string literal (or NULL, meaning none), as DataFusion requires.
fn delimiter(args: &AccumulatorArgs) -> Result<String> {
    let Some(literal) = args.exprs.get(1).and_then(|e| e.downcast_ref::<Literal>()) else {
        return not_impl_err!("string_agg delimiter must be a string literal");
    };
    if literal.value().is_null() {
        return Ok(String::new());
    }
    match literal.value().try_as_str() {
        Some(text) => Ok(text.unwrap_or("").to_string()),
        None => not_impl_err!(
            "string_agg not supported for delimiter \"{}\"",
            literal.value()
        ),
    }
}

impl AggregateUDFImpl for OrderedStringAgg {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        // The grouped accumulator writes the same state as DataFusion's ordered accumulator
        // (a list of values and a list of ordering structs), so either can merge it.
        self.inner.state_fields(args)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner.accumulator(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        if args.order_bys.is_empty() {
            return self.inner.create_groups_accumulator(args);
        }
        Ok(Box::new(OrderedGroups::try_new(&args)?))
    }

    // Each group's values are sorted when emitted, so the input's order does not matter and
    // no sort needs to be planned below the aggregate.
    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Beneficial
    }

    fn with_beneficial_ordering(
        self: Arc<Self>,
        _beneficial_ordering: bool,
    ) -> Result<Option<Arc<dyn AggregateUDFImpl>>> {
        Ok(Some(self))
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// The values of every group not yet emitted, one entry per non-null value.
#[derive(Debug)]
struct OrderedGroups {
    delimiter: String,
    /// The state's list element type (the value argument's type).
    value_type: DataType,
    /// The state's ordering struct fields, as DataFusion's `array_agg` names them.
    ordering_fields: Fields,
    converter: RowConverter,
    /// Per entry: its group, its ordering key (row format), its value.
    groups: Vec<usize>,
    keys: Rows,
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// Groups known (the highest `total_num_groups` seen).
    num_groups: usize,
}

impl OrderedGroups {
    fn try_new(args: &AccumulatorArgs) -> Result<OrderedGroups> {
        let mut sort_fields = Vec::with_capacity(args.order_bys.len());
        let mut fields = Vec::with_capacity(args.order_bys.len());
        for order in args.order_bys {
            let data_type = order.expr.data_type(args.schema)?;
            sort_fields.push(SortField::new_with_options(
                data_type.clone(),
                order.options,
            ));
            fields.push(Field::new(order.expr.to_string(), data_type, true));
        }
        let converter = RowConverter::new(sort_fields)?;
        let keys = converter.empty_rows(0, 0);
        Ok(OrderedGroups {
            delimiter: delimiter(args)?,
            value_type: args.expr_fields[0].data_type().clone(),
            ordering_fields: Fields::from(fields),
            converter,
            groups: Vec::new(),
            keys,
            bytes: Vec::new(),
            ends: Vec::new(),
            num_groups: 0,
        })
    }

    /// Adds one value per row of `values` (skipping nulls and filtered rows) with the keys
    /// of the same rows of `keys`.
    fn append(
        &mut self,
        values: &ArrayRef,
        keys: &Rows,
        group_indices: &[usize],
        filter: Option<&BooleanArray>,
    ) -> Result<()> {
        let mut push = |row: usize, text: Option<&str>| {
            let kept = filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if let (true, Some(text)) = (kept, text) {
                self.groups.push(group_indices[row]);
                self.keys.push(keys.row(row));
                self.bytes.extend_from_slice(text.as_bytes());
                self.ends.push(self.bytes.len());
            }
        };
        match values.data_type() {
            DataType::Utf8 => values
                .as_string::<i32>()
                .iter()
                .enumerate()
                .for_each(|(i, v)| push(i, v)),
            DataType::LargeUtf8 => values
                .as_string::<i64>()
                .iter()
                .enumerate()
                .for_each(|(i, v)| push(i, v)),
            DataType::Utf8View => values
                .as_string_view()
                .iter()
                .enumerate()
                .for_each(|(i, v)| push(i, v)),
            DataType::Null => {}
            other => return internal_err!("string_agg of unexpected type {other}"),
        }
        Ok(())
    }

    /// The state: per group, a list of its values and a list of their ordering structs,
    /// as DataFusion's ordered `array_agg` writes it.
    fn lists(
        &self,
        offsets: OffsetBuffer<i32>,
        values: ArrayRef,
        orderings: Vec<ArrayRef>,
    ) -> Result<Vec<ArrayRef>> {
        let orderings = StructArray::try_new(self.ordering_fields.clone(), orderings, None)?;
        let values_list = ListArray::try_new(
            Arc::new(Field::new_list_field(self.value_type.clone(), true)),
            offsets.clone(),
            values,
            None,
        )?;
        let orderings_list = ListArray::try_new(
            Arc::new(Field::new_list_field(
                DataType::Struct(self.ordering_fields.clone()),
                true,
            )),
            offsets,
            Arc::new(orderings),
            None,
        )?;
        Ok(vec![Arc::new(values_list), Arc::new(orderings_list)])
    }

    /// Takes the first `emit_to` groups out: for each, its entries in order. The groups
    /// left are renumbered from 0.
    fn take(&mut self, emit_to: EmitTo) -> Taken {
        let emitted = match emit_to {
            EmitTo::All => self.num_groups,
            EmitTo::First(n) => n.min(self.num_groups),
        };
        let mut taken = Taken {
            per_group: vec![Vec::new(); emitted],
            keys: std::mem::replace(&mut self.keys, self.converter.empty_rows(0, 0)),
            bytes: std::mem::take(&mut self.bytes),
            ends: std::mem::take(&mut self.ends),
        };
        let groups = std::mem::take(&mut self.groups);
        self.num_groups -= emitted;
        for (entry, group) in groups.into_iter().enumerate() {
            if group < emitted {
                taken.per_group[group].push(entry);
            } else {
                self.groups.push(group - emitted);
                self.keys.push(taken.keys.row(entry));
                self.bytes.extend_from_slice(taken.value(entry));
                self.ends.push(self.bytes.len());
            }
        }
        for entries in &mut taken.per_group {
            // Stable: equal keys keep their arrival order.
            entries.sort_by(|a, b| taken.keys.row(*a).cmp(&taken.keys.row(*b)));
        }
        taken
    }
}

/// Groups taken out of [`OrderedGroups`] to be emitted.
struct Taken {
    /// Per group, its entries in order.
    per_group: Vec<Vec<usize>>,
    keys: Rows,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Taken {
    fn value(&self, entry: usize) -> &[u8] {
        let start = if entry == 0 { 0 } else { self.ends[entry - 1] };
        &self.bytes[start..self.ends[entry]]
    }
}

impl GroupsAccumulator for OrderedGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.num_groups = self.num_groups.max(total_num_groups);
        // Arguments: the value, the delimiter, then the ORDER BY expressions.
        let Some(orderings) = values.get(2..) else {
            return internal_err!("ordered string_agg without its ordering columns");
        };
        let keys = self.converter.convert_columns(orderings)?;
        self.append(&values[0], &keys, group_indices, opt_filter)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.take(emit_to);
        let mut out = LargeStringBuilder::with_capacity(taken.per_group.len(), 0);
        let mut text = Vec::new();
        for entries in &taken.per_group {
            if entries.is_empty() {
                out.append_null();
                continue;
            }
            text.clear();
            for (i, &entry) in entries.iter().enumerate() {
                if i > 0 {
                    text.extend_from_slice(self.delimiter.as_bytes());
                }
                text.extend_from_slice(taken.value(entry));
            }
            // Whole UTF-8 values joined by a UTF-8 delimiter.
            match std::str::from_utf8(&text) {
                Ok(joined) => out.append_value(joined),
                Err(err) => return internal_err!("string_agg produced invalid UTF-8: {err}"),
            }
        }
        Ok(Arc::new(out.finish()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = self.take(emit_to);
        let order: Vec<usize> = taken.per_group.iter().flatten().copied().collect();
        let offsets = OffsetBuffer::from_lengths(taken.per_group.iter().map(Vec::len));
        let values: LargeStringArray = order
            .iter()
            .map(|&e| std::str::from_utf8(taken.value(e)).ok())
            .collect();
        let values = cast(&values, &self.value_type)?;
        let keys = self
            .converter
            .convert_rows(order.iter().map(|&e| taken.keys.row(e)))?;
        self.lists(offsets, values, keys)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.num_groups = self.num_groups.max(total_num_groups);
        let [values_list, orderings_list] = values else {
            return internal_err!("ordered string_agg state has {} columns", values.len());
        };
        let (Some(values_list), Some(orderings_list)) = (
            values_list.as_list_opt::<i32>(),
            orderings_list.as_list_opt::<i32>(),
        ) else {
            return internal_err!("ordered string_agg state is not a list");
        };
        let Some(orderings) = orderings_list.values().as_struct_opt() else {
            return internal_err!("ordered string_agg orderings are not structs");
        };
        let keys = self.converter.convert_columns(orderings.columns())?;
        // One (list) row per group row: expand to one group index per element.
        let offsets = values_list.value_offsets();
        let mut element_groups = Vec::with_capacity(values_list.values().len());
        for (row, &group) in group_indices.iter().enumerate() {
            if values_list.is_null(row) {
                continue;
            }
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            element_groups.resize(end, usize::MAX);
            element_groups[start..end].fill(group);
        }
        element_groups.resize(values_list.values().len(), usize::MAX);
        // Elements of null lists (none in practice) are filtered out.
        let keep: BooleanArray = element_groups
            .iter()
            .map(|g| Some(*g != usize::MAX))
            .collect();
        let elements = values_list.values().clone();
        self.append(&elements, &keys, &element_groups, Some(&keep))
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row its own group: a list of its value (none when null or filtered out).
        let Some(orderings) = values.get(2..) else {
            return internal_err!("ordered string_agg without its ordering columns");
        };
        let value = &values[0];
        let kept: BooleanArray = (0..value.len())
            .map(|i| {
                Some(value.is_valid(i) && opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i)))
            })
            .collect();
        let offsets = OffsetBuffer::from_lengths(kept.values().iter().map(usize::from));
        let elements = cast(&filter(value, &kept)?, &self.value_type)?;
        let ordering_columns = orderings
            .iter()
            .map(|c| filter(c, &kept))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        self.lists(offsets, elements, ordering_columns)
    }

    fn size(&self) -> usize {
        self.groups.capacity() * size_of::<usize>()
            + self.keys.size()
            + self.bytes.capacity()
            + self.ends.capacity() * size_of::<usize>()
            + self.converter.size()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::string_agg_udaf;

    const DATA: &str = "create table t as select * from (values \
        (1, 'b', 2), (1, 'a', 2), (1, 'c', 5), (1, null, 9), (2, 'x', 1), (3, null, 1), \
        (2, 'y', 3), (4, 'é', 1), (4, 'z', 1), (1, 'd', 0)) as v(g, s, n)";

    async fn run(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    /// The same queries through DataFusion's string_agg and this one, on 1 and 4 partitions
    /// (4: partial and final aggregates merge the state).
    #[tokio::test]
    async fn agrees_with_datafusion() {
        let queries = [
            "select g, string_agg(s, ', ' order by n desc, s) as r from t group by g order by g",
            "select g, string_agg(s, '|' order by s desc) as r from t group by g order by g",
            "select g, string_agg(s, '' order by n, s) filter (where n > 1) as r \
             from t group by g order by g",
            "select g, string_agg(distinct s, '-' order by s) as d from t group by g order by g",
            "select string_agg(s, ',' order by s) as r from t",
            "select g, r from (select g, string_agg(s, ';' order by n, s) as r from \
             (select * from t order by g, n, s) group by g) order by g",
        ];
        for partitions in [1, 4] {
            // Small batches and a low probe threshold: partial aggregates of many groups soon
            // pass rows on as state.
            let config = SessionConfig::new()
                .with_target_partitions(partitions)
                .with_batch_size(512)
                .set_usize(
                    "datafusion.execution.skip_partial_aggregation_probe_rows_threshold",
                    1000,
                );
            let theirs = SessionContext::new_with_config(config.clone());
            let ours = SessionContext::new_with_config(config);
            ours.register_udaf(string_agg_udaf());
            for ctx in [&theirs, &ours] {
                run(ctx, DATA).await;
                run(
                    ctx,
                    "create table big as select g % 1000 as g, \
                    cast(g % 7 as varchar) as s, g % 13 as n from \
                    (select value as g from generate_series(1, 50000))",
                )
                .await;
            }
            for sql in queries {
                assert_eq!(run(&ours, sql).await, run(&theirs, sql).await, "{sql}");
            }
            let big = "select g, string_agg(s, ',' order by n desc, s) as r, count(*) as c \
                       from big group by g order by g";
            assert_eq!(run(&ours, big).await, run(&theirs, big).await);
            let unique = "select g, string_agg(s, ',' order by n desc, s) as r from \
                (select value % 29000 as g, cast(value % 7 as varchar) as s, value % 13 as n \
                from generate_series(1, 30000)) group by g order by g";
            assert_eq!(run(&ours, unique).await, run(&theirs, unique).await);
            if partitions > 1 {
                let plan = run(&ours, &format!("explain analyze {unique}")).await;
                assert!(!plan.contains("skipped_aggregation_rows=0,"), "{plan}");
                // The state is written and merged (partial, then final aggregate).
                let plan = run(&ours, &format!("explain {big}")).await;
                assert!(plan.contains("mode=Partial"), "{plan}");
            }
        }
    }

    #[tokio::test]
    async fn orders_each_group_and_skips_nulls() {
        let ctx = SessionContext::new();
        ctx.register_udaf(string_agg_udaf());
        run(&ctx, DATA).await;
        let out = run(
            &ctx,
            "select g, string_agg(s, ', ' order by n desc, s) as r from t group by g order by g",
        )
        .await;
        assert!(out.contains("| 1 | c, a, b, d |"), "{out}");
        assert!(out.contains("| 3 |            |"), "{out}");
        assert!(out.contains("| 4 | z, é       |"), "{out}");
    }
}
