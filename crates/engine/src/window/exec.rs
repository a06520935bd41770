//! [`SortedWindowExec`]: the execution plan node that replaces a sorted-mode
//! `BoundedWindowAggExec` of ranking and shift functions. It keeps the replaced node for
//! everything the planner asks (schema, partitioning, ordering and distribution
//! requirements, statistics), so the plan around it is unchanged; only execution differs.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::OrderingRequirements;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::CardinalityEffect;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildStats, ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan,
    InputDistributionRequirements, PlanProperties, ReplaceChildrenOptions,
    SendableRecordBatchStream, Statistics, StatisticsArgs,
};
use futures::{StreamExt, TryStreamExt, stream};

use super::eval::{Evaluator, Spec};

/// Window functions evaluated over input sorted by partition and order keys (see
/// [`super::eval`]).
#[derive(Debug)]
pub struct SortedWindowExec {
    /// The `BoundedWindowAggExec` this node stands in for.
    replaced: Arc<dyn ExecutionPlan>,
    input: Arc<dyn ExecutionPlan>,
    spec: Arc<Spec>,
    metrics: ExecutionPlanMetricsSet,
}

impl SortedWindowExec {
    pub(super) fn new(replaced: Arc<dyn ExecutionPlan>, spec: Spec) -> Result<Self> {
        let Some(input) = replaced.children().first().map(|c| Arc::clone(*c)) else {
            return datafusion::common::internal_err!("a window node without input");
        };
        Ok(Self {
            replaced,
            input,
            spec: Arc::new(spec),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    fn names(&self) -> Vec<String> {
        self.replaced
            .schema()
            .fields()
            .iter()
            .skip(self.input.schema().fields().len())
            .map(|f| f.name().clone())
            .collect()
    }
}

impl DisplayAs for SortedWindowExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(f, "SortedWindowExec: wdw=[{}]", self.names().join(", "))
            }
            DisplayFormatType::TreeRender => {
                writeln!(f, "select_list={}", self.names().join(", "))
            }
        }
    }
}

impl ExecutionPlan for SortedWindowExec {
    fn name(&self) -> &str {
        "SortedWindowExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.replaced.properties()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.replaced.input_distribution_requirements()
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.replaced.required_input_ordering()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        self.replaced.benefits_from_input_partitioning()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let replaced = Arc::clone(&self.replaced).replace_children(children, options)?;
        // The new input may change the window's mode: then the original node runs.
        Ok(super::replacement(&replaced)?.unwrap_or(replaced))
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.replaced.apply_expressions(f)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = self.schema();
        let evaluator =
            Evaluator::try_new(Arc::clone(&self.spec), Arc::clone(&schema), &input.schema())?;
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        let state = (input, evaluator, metrics, false);
        let batches = stream::try_unfold(
            state,
            |(mut input, mut evaluator, metrics, done)| async move {
                if done {
                    return Ok::<_, DataFusionError>(None);
                }
                let (out, done) = match input.next().await {
                    Some(batch) => {
                        let _timer = metrics.elapsed_compute().timer();
                        (evaluator.push(batch?)?, false)
                    }
                    None => {
                        let _timer = metrics.elapsed_compute().timer();
                        (evaluator.finish()?, true)
                    }
                };
                for batch in &out {
                    metrics.record_output(batch.num_rows());
                }
                Ok(Some((out, (input, evaluator, metrics, done))))
            },
        )
        .map_ok(|out| stream::iter(out.into_iter().map(Ok)))
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        self.replaced.child_stats_requests(partition)
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        self.replaced.statistics_from_inputs(input_stats, args)
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::Equal
    }
}
