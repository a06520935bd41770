//! Running one unit test: each `given` input is registered in the session under a private
//! name, the model is rendered with those names in place of its `ref()`s and `source()`s (and
//! the test's overrides), and the rows it returns are compared with the expected rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use dataflow_engine::datafusion::arrow::array::RecordBatch;
use dataflow_engine::datafusion::arrow::compute::{CastOptions, cast_with_options};
use dataflow_engine::datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use dataflow_engine::datafusion::prelude::SessionContext;

use crate::project::{DbtProject, Model};
use crate::render::{Mocks, RenderContext};
use crate::testing::{TestResult, TestStatus};
use crate::unit::fixture::{self, Rows};
use crate::unit::spec::{Input, UnitTest};

/// A unit test with what it needs to run: the project (for the model, macros and fixtures)
/// and the invocation's render context.
#[derive(Clone)]
pub struct UnitCase {
    /// The test.
    pub test: UnitTest,
    /// The project.
    pub project: Arc<DbtProject>,
    /// The invocation's render context (vars, introspection).
    pub render: RenderContext,
}

impl PartialEq for UnitCase {
    fn eq(&self, other: &Self) -> bool {
        self.test == other.test
    }
}

impl std::fmt::Debug for UnitCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnitCase")
            .field("test", &self.test)
            .finish_non_exhaustive()
    }
}

/// Checks what can be checked before running: the model, each input and the rows' shape. The
/// message says what is wrong (the caller adds the file and test name).
pub fn check(project: &DbtProject, test: &UnitTest) -> Result<(), String> {
    let spec = &test.spec;
    if !project.models.iter().any(|m| m.name == spec.model) {
        let hint =
            crate::graph::closest(&spec.model, project.models.iter().map(|m| m.name.as_str()))
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
        return Err(format!(
            "model `{}` is not a model of this project{hint}",
            spec.model
        ));
    }
    for given in &spec.given {
        let input = Input::parse(&given.input).ok_or_else(|| {
            format!(
                "input `{}` is not ref('model'), source('source', 'table') or this",
                given.input
            )
        })?;
        match &input {
            Input::Ref(name) => {
                let known = project.models.iter().any(|m| &m.name == name)
                    || project.seeds.iter().any(|s| &s.name == name);
                if !known {
                    let names = project
                        .models
                        .iter()
                        .map(|m| m.name.as_str())
                        .chain(project.seeds.iter().map(|s| s.name.as_str()));
                    let hint = crate::graph::closest(name, names)
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    return Err(format!(
                        "input `{input}` names no model or seed of this project{hint}"
                    ));
                }
            }
            Input::Source(source, table) => {
                if !project
                    .sources
                    .iter()
                    .any(|s| &s.source == source && &s.table == table)
                {
                    return Err(format!("input `{input}` is not a declared source"));
                }
            }
            Input::This => {}
        }
        fixture::read(
            project,
            given.format,
            given.rows.as_ref(),
            given.fixture.as_deref(),
        )
        .map_err(|e| format!("input `{input}`: {e}"))?;
    }
    fixture::read(
        project,
        spec.expect.format,
        spec.expect.rows.as_ref(),
        spec.expect.fixture.as_deref(),
    )
    .map_err(|e| format!("expect: {e}"))?;
    Ok(())
}

/// Names registered for one test, deregistered when it ends however it ends.
struct Registered {
    ctx: SessionContext,
    names: Vec<String>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        for name in &self.names {
            // A name that is already gone needs nothing more.
            let _ = self.ctx.deregister_table(name.as_str());
        }
    }
}

/// Private relation names for the inputs of one run of one test.
static NEXT_RUN: AtomicU64 = AtomicU64::new(0);

/// Renders Jinja in a fixture query (macros and `var()` work, as in dbt).
fn render_sql(case: &UnitCase, what: &str, sql: &str) -> Result<String, String> {
    let model = Model {
        name: case.test.spec.name.clone(),
        path: case.test.file.clone(),
        fqn: Vec::new(),
        raw_sql: sql.to_string(),
        config: Default::default(),
    };
    crate::render::compile(&case.project, &model, &case.render, &Default::default())
        .map(|c| c.sql)
        .map_err(|e| format!("{what}: {e}"))
}

/// The columns of the relation an input stands for: from the session (lake tables, views),
/// else, for a model not built yet, from planning its compiled SQL.
async fn input_schema(
    ctx: &SessionContext,
    case: &UnitCase,
    input: &Input,
) -> Result<Schema, String> {
    let project = &case.project;
    let relation = match input {
        Input::Ref(name) => name.clone(),
        Input::This => case.test.spec.model.clone(),
        Input::Source(source, table) => project
            .sources
            .iter()
            .find(|s| &s.source == source && &s.table == table)
            .map(|s| s.identifier.clone())
            .unwrap_or_else(|| format!("{source}_{table}")),
    };
    if let Ok(frame) = ctx.table(relation.as_str()).await {
        return Ok(frame.schema().as_arrow().clone());
    }
    let is_model = project.models.iter().any(|m| m.name == relation);
    if is_model && !matches!(input, Input::Source(..)) {
        let compiled = crate::compile_project(project, &case.render)
            .ok()
            .and_then(|all| all.into_iter().find(|m| m.name == relation))
            .filter(|m| m.render_error.is_none());
        if let Some(model) = compiled
            && let Ok(frame) = ctx.sql(&model.sql).await
        {
            return Ok(frame.schema().as_arrow().clone());
        }
    }
    let build = if is_model || project.seeds.iter().any(|s| s.name == relation) {
        format!("build it first (`dataflow models build --select +{relation}`)")
    } else {
        "load it first".to_string()
    };
    Err(format!(
        "input `{input}`: cannot read the columns of `{relation}` to type the rows; {build}, \
         or give the input as `format: sql` with every column"
    ))
}

/// Renders the model with the mocked inputs, answering introspective macros (`star` on an
/// input reads the mocked rows' columns) until nothing more is asked.
async fn render_model(
    ctx: &SessionContext,
    case: &UnitCase,
    mocks: &Mocks,
) -> Result<String, String> {
    let project = &case.project;
    let spec = &case.test.spec;
    let model = project
        .models
        .iter()
        .find(|m| m.name == spec.model)
        .ok_or_else(|| format!("model `{}` is not a model of this project", spec.model))?;
    for _ in 0..4 {
        let compiled = crate::render::compile_mocked(project, model, &case.render, mocks)
            .map_err(|e| e.to_string())?;
        if compiled.pending.is_empty() {
            return Ok(compiled.sql);
        }
        case.render
            .introspection
            .resolve(ctx, &compiled.pending)
            .await
            .map_err(|e| format!("introspective macro: {e}"))?;
    }
    Err("introspective macros still need answers after 4 rounds".to_string())
}

/// Casts the columns of a query's rows to the output types of the same-named model columns.
fn cast_to(
    output: &Schema,
    batches: Vec<RecordBatch>,
    schema: &Schema,
    model: &str,
) -> Result<(Vec<String>, SchemaRef, Vec<RecordBatch>), String> {
    let mut fields = Vec::new();
    for field in schema.fields() {
        let Some(target) = output
            .fields()
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(field.name()))
        else {
            return Err(missing_column(field.name(), output, model));
        };
        fields.push(Field::new(target.name(), target.data_type().clone(), true));
    }
    let target = Arc::new(Schema::new(fields));
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let cast = batches
        .iter()
        .map(|batch| {
            let columns = batch
                .columns()
                .iter()
                .zip(target.fields())
                .map(|(c, f)| cast_with_options(c, f.data_type(), &options))
                .collect::<Result<Vec<_>, _>>()?;
            RecordBatch::try_new(target.clone(), columns)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("expect: {e}"))?;
    let names = target.fields().iter().map(|f| f.name().clone()).collect();
    Ok((names, target, cast))
}

fn missing_column(column: &str, output: &Schema, model: &str) -> String {
    let known: Vec<&str> = output.fields().iter().map(|f| f.name().as_str()).collect();
    format!(
        "expect: column `{column}` is not a column of model `{model}`; its columns: {}",
        known.join(", ")
    )
}

/// What running the test found: `None` when the rows match, else the diff.
async fn outcome(
    ctx: &SessionContext,
    case: &UnitCase,
) -> Result<Option<super::diff::Diff>, String> {
    let project = &case.project;
    let spec = &case.test.spec;
    check(project, &case.test)?;
    let run = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
    let mut registered = Registered {
        ctx: ctx.clone(),
        names: Vec::new(),
    };
    let mut mocks = Mocks {
        macros: spec.overrides.macros.clone(),
        vars: spec.overrides.vars.clone(),
        env_vars: spec
            .overrides
            .env_vars
            .iter()
            .map(|(k, v)| (k.clone(), crate::schema_tests::text(v)))
            .collect(),
        ..Mocks::default()
    };
    for (k, given) in spec.given.iter().enumerate() {
        let input = Input::parse(&given.input).ok_or_else(|| format!("input `{}`", given.input))?;
        let name = format!("__dbt_unit_{run}_{k}");
        let rows = fixture::read(
            project,
            given.format,
            given.rows.as_ref(),
            given.fixture.as_deref(),
        )
        .map_err(|e| format!("input `{input}`: {e}"))?;
        match rows {
            Rows::Sql(sql) => {
                let sql = render_sql(case, &format!("input `{input}`"), &sql)?;
                let frame = ctx
                    .sql(&sql)
                    .await
                    .map_err(|e| format!("input `{input}`: {e}\nquery: {sql}"))?;
                ctx.register_table(name.as_str(), frame.into_view())
                    .map_err(|e| e.to_string())?;
            }
            Rows::Table { columns, rows } => {
                let schema = input_schema(ctx, case, &input).await?;
                let batch = fixture::typed(&schema, &columns, &rows)
                    .map_err(|e| format!("input `{input}` {e}"))?;
                ctx.register_batch(name.as_str(), batch)
                    .map_err(|e| e.to_string())?;
            }
        }
        registered.names.push(name.clone());
        match input {
            Input::Ref(model) => {
                mocks.refs.insert(model, name);
            }
            Input::Source(source, table) => {
                mocks.sources.insert((source, table), name);
            }
            Input::This => mocks.this = Some(name),
        }
    }
    let sql = render_model(ctx, case, &mocks).await?;
    let sql_error = |e: &dyn std::fmt::Display| {
        format!(
            "model `{}`: {e}\n{}",
            spec.model,
            crate::sql_position::excerpt(&sql, &e.to_string())
        )
    };
    let frame = ctx.sql(&sql).await.map_err(|e| sql_error(&e))?;
    let output = frame.schema().as_arrow().clone();
    let expected = fixture::read(
        project,
        spec.expect.format,
        spec.expect.rows.as_ref(),
        spec.expect.fixture.as_deref(),
    )
    .map_err(|e| format!("expect: {e}"))?;
    let (columns, schema, expected) = match expected {
        Rows::Table { columns, rows } => {
            // No rows named no columns: every column of the model is compared.
            let columns: Vec<String> = if columns.is_empty() {
                output.fields().iter().map(|f| f.name().clone()).collect()
            } else {
                columns
            };
            let mut fields = Vec::new();
            for column in &columns {
                let field = output
                    .fields()
                    .iter()
                    .find(|f| f.name().eq_ignore_ascii_case(column))
                    .ok_or_else(|| missing_column(column, &output, &spec.model))?;
                fields.push(field.as_ref().clone());
            }
            let batch = fixture::typed(&Schema::new(fields), &columns, &rows)
                .map_err(|e| format!("expect: {e}"))?;
            let names = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            (names, batch.schema(), vec![batch])
        }
        Rows::Sql(sql) => {
            let sql = render_sql(case, "expect", &sql)?;
            let frame = ctx
                .sql(&sql)
                .await
                .map_err(|e| format!("expect: {e}\nquery: {sql}"))?;
            let schema = frame.schema().as_arrow().clone();
            let batches = frame
                .collect()
                .await
                .map_err(|e| format!("expect: {e}\nquery: {sql}"))?;
            cast_to(&output, batches, &schema, &spec.model)?
        }
    };
    let names: Vec<&str> = columns.iter().map(String::as_str).collect();
    let actual = frame.select_columns(&names).map_err(|e| sql_error(&e))?;
    let actual_schema: SchemaRef = Arc::new(
        fixture::nullable(actual.schema().as_arrow())
            .as_ref()
            .clone(),
    );
    let batches = actual.collect().await.map_err(|e| sql_error(&e))?;
    let batches = batches
        .into_iter()
        .map(|b| b.with_schema(actual_schema.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let expected_rows = super::diff::sorted_rows(&schema, &expected)?;
    let actual_rows = super::diff::sorted_rows(&actual_schema, &batches)?;
    drop(registered);
    Ok(super::diff::compare(&columns, &expected_rows, &actual_rows))
}

/// Runs one unit test: PASS when the model returns exactly the expected rows (as multisets,
/// on the expected columns), FAIL with dbt's table diff otherwise, ERROR (naming the property
/// file and the test) when the test cannot run.
pub async fn run(ctx: &SessionContext, case: &UnitCase) -> TestResult {
    let started = Instant::now();
    let spec = &case.test.spec;
    let file = case
        .test
        .file
        .strip_prefix(&case.project.dir)
        .unwrap_or(&case.test.file)
        .display()
        .to_string();
    let (status, sample) = match outcome(ctx, case).await {
        Ok(None) => (TestStatus::Pass, String::new()),
        Ok(Some(diff)) => (
            TestStatus::Fail(diff.differences as u64),
            format!(
                "Failure in unit_test {} ({file})\n\nactual differs from expected:\n\n{}",
                spec.name, diff.text
            ),
        ),
        Err(problem) => (
            TestStatus::Error(
                crate::error::Error::Project {
                    path: case.test.file.clone(),
                    message: format!("unit test `{}`: {problem}", spec.name),
                }
                .to_string(),
            ),
            String::new(),
        ),
    };
    TestResult {
        name: spec.name.clone(),
        status,
        sample,
        seconds: started.elapsed().as_secs_f64(),
    }
}
