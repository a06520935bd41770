//! The test step of `dataflow models test|build`: picks the tests of the selected models,
//! skips those whose model failed to render or build (as `dbt build` does), runs the rest in
//! parallel and prints one line per test.

use std::collections::BTreeSet;

use dataflow_engine::Lake;
use dataflow_engine::datafusion::prelude::SessionContext;
use dataflow_models::artifacts::{self, ResultEntry};
use dataflow_models::{Compiled, DbtProject, SchemaTest, TestStatus};

use crate::cli::ModelsArgs;

/// Everything the step needs from the command.
pub struct TestStep<'a> {
    /// The project.
    pub dbt: &'a DbtProject,
    /// The command's options.
    pub args: &'a ModelsArgs,
    /// The selected models.
    pub models: &'a [Compiled],
    /// Every model of the project.
    pub all_models: &'a [Compiled],
    /// The session (views registered).
    pub ctx: &'a SessionContext,
    /// The lake.
    pub lake: &'a Lake,
    /// Tests run at once.
    pub threads: usize,
    /// The invocation's render context (for tests with introspective macros).
    pub render: &'a dataflow_models::RenderContext,
}

impl TestStep<'_> {
    fn selected(&self, name: &str) -> bool {
        let named = || {
            self.args
                .select
                .iter()
                .flat_map(|s| s.split_whitespace())
                .any(|w| w == name)
        };
        // Tests on seeds run with every test, or when a selector names the seed.
        self.models.iter().any(|m| m.name == name)
            || (self.dbt.seeds.iter().any(|s| s.name == name)
                && (self.args.select.is_empty() || named()))
    }

    /// Models whose tests cannot run: they did not render, or an earlier step of this build
    /// failed or skipped them.
    fn broken_models(&self, earlier: &[ResultEntry]) -> BTreeSet<String> {
        let mut broken: BTreeSet<String> = self
            .all_models
            .iter()
            .filter(|m| m.render_error.is_some())
            .map(|m| m.name.clone())
            .collect();
        for entry in earlier {
            if matches!(entry.status.as_str(), "error" | "skipped")
                && let Some(name) = entry.unique_id.rsplit('.').next()
            {
                broken.insert(name.to_string());
            }
        }
        broken
    }

    /// Runs the tests; returns their run_results entries and how many failed.
    pub async fn run(
        &self,
        declared: Vec<SchemaTest>,
        singular: Vec<(SchemaTest, Vec<String>)>,
        earlier: &[ResultEntry],
    ) -> (Vec<ResultEntry>, usize) {
        // dbt's test selection: tests of the selected models, and tests named or picked by
        // `test_type:` / `test_name:` / a unit test's tag. In `build`, unit tests already ran
        // before their models.
        let building = self.args.action == crate::cli::ModelsAction::Build;
        let mut tests: Vec<SchemaTest> = dataflow_models::select_tests(
            self.all_models,
            &declared,
            &self.args.select,
            &self.args.exclude,
        )
        .unwrap_or_else(|_| {
            declared
                .into_iter()
                .filter(|t| self.selected(&t.model))
                .collect()
        })
        .into_iter()
        .filter(|t| !(building && t.kind == "unit"))
        .collect();
        // Singular tests run when any model they read is selected (all, without --select).
        let mut reads = std::collections::BTreeMap::new();
        for (test, refs) in singular {
            if self.args.select.is_empty() || refs.iter().any(|r| self.selected(r)) {
                reads.insert(test.name.clone(), refs);
                tests.push(test);
            }
        }
        let broken = self.broken_models(earlier);
        let (skipped, tests): (Vec<SchemaTest>, Vec<SchemaTest>) =
            tests.into_iter().partition(|t| {
                broken.contains(&t.model)
                    || reads
                        .get(&t.name)
                        .is_some_and(|refs| refs.iter().any(|r| broken.contains(r)))
            });
        let total = tests.len() + skipped.len();
        let mut entries = Vec::with_capacity(total);
        for (position, test) in skipped.iter().enumerate() {
            println!(
                "{:>3} of {total} SKIP  {} (model `{}` did not build)",
                position + 1,
                test.name,
                test.model
            );
            entries.push(ResultEntry {
                unique_id: artifacts::test_id(self.dbt, &test.name),
                status: "skipped".to_string(),
                seconds: 0.0,
                message: None,
                failures: None,
            });
        }
        // Tests whose Jinja reads the lake (adapter.get_columns_in_relation, ...) render again.
        let mut settled = Vec::with_capacity(tests.len());
        for test in tests {
            settled.push(
                dataflow_models::schema_tests::settle_test(self.ctx, self.dbt, self.render, test)
                    .await,
            );
        }
        let tests = settled;
        let offset = skipped.len();
        let results = dataflow_models::test(
            self.ctx,
            self.lake,
            &tests,
            self.threads,
            |position, result| {
                let (status, detail) = match &result.status {
                    TestStatus::Pass => ("PASS", String::new()),
                    TestStatus::Fail(n) => {
                        ("FAIL", format!(" ({n} failing rows)\n{}", result.sample))
                    }
                    TestStatus::Warn(n) => {
                        ("WARN", format!(" ({n} failing rows)\n{}", result.sample))
                    }
                    TestStatus::Error(message) => (
                        "ERROR",
                        format!("\n    {}", message.replace('\n', "\n    ")),
                    ),
                };
                println!(
                    "{:>3} of {total} {status:<5} {} [{:.2}s]{detail}",
                    offset + position + 1,
                    result.name,
                    result.seconds
                );
            },
        )
        .await;
        for r in &results {
            let (status, failures, message) = match &r.status {
                TestStatus::Pass => ("pass", Some(0), None),
                TestStatus::Fail(n) => ("fail", Some(*n), None),
                TestStatus::Warn(n) => ("warn", Some(*n), None),
                TestStatus::Error(m) => ("error", None, Some(m.clone())),
            };
            entries.push(ResultEntry {
                unique_id: artifacts::test_id(self.dbt, &r.name),
                status: status.to_string(),
                seconds: r.seconds,
                message,
                failures,
            });
        }
        let count = |f: fn(&TestStatus) -> bool| results.iter().filter(|r| f(&r.status)).count();
        let failed = count(|s| matches!(s, TestStatus::Fail(_) | TestStatus::Error(_)));
        println!(
            "Done. PASS={} WARN={} ERROR={failed} SKIP={} TOTAL={total}",
            count(|s| *s == TestStatus::Pass),
            count(|s| matches!(s, TestStatus::Warn(_))),
            skipped.len()
        );
        (entries, failed)
    }
}
