//! Golden tests: each directory under `tests/golden/` is a small dbt project. Its models are
//! compiled with a fixed context and run on DataFusion over the project's seeds (registered as
//! CSV tables), introspective macros answered from that session first; the SQL is compared
//! with `expected/<model>.sql` and the rows with `expected/<model>.out` (skipped for models
//! that read the clock). The project's unit tests then run in the same session and their
//! outcomes (diffs, errors) are compared with `expected/unit_tests.out`. A project that must
//! not compile is compared with `expected/error.txt` instead. `UPDATE_GOLDEN=1 cargo test -p
//! dataflow-models --test golden` rewrites the expected files; review the diff before
//! committing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dataflow_engine::datafusion::arrow::util::pretty::pretty_format_batches;
use dataflow_engine::datafusion::prelude::{CsvReadOptions, SessionContext};
use dataflow_models::{DbtProject, Materialization, RenderContext, TestStatus, compile_project};

fn context() -> RenderContext {
    RenderContext {
        vars: BTreeMap::new(),
        run_started_at: "2024-05-01 12:00:00+00:00".to_string(),
        invocation_id: "00000000-0000-7000-8000-000000000000".to_string(),
        existing_tables: Default::default(),
        full_refresh: false,
        introspection: Default::default(),
    }
}

/// Runs the compiled models over the seeds (answering introspective macros first); returns
/// the session, the models as run, and the `<model>.out` texts.
async fn results(
    project: &DbtProject,
    render: &RenderContext,
    models: &[dataflow_models::Compiled],
) -> (
    SessionContext,
    Vec<dataflow_models::Compiled>,
    BTreeMap<String, String>,
) {
    let ctx = dataflow_engine::session_context(Default::default());
    for seed in &project.seeds {
        ctx.register_csv(
            seed.name.as_str(),
            seed.path.to_string_lossy().as_ref(),
            CsvReadOptions::new().has_header(true),
        )
        .await
        .expect("register a seed");
    }
    let mut out = BTreeMap::new();
    let mut ran = Vec::new();
    for model in models {
        let mut model = model.clone();
        for _ in 0..4 {
            if model.pending.is_empty() {
                break;
            }
            render
                .introspection
                .resolve(&ctx, &model.pending)
                .await
                .expect("introspection answers");
            model = dataflow_models::recompile(project, render, models, &model.name)
                .expect("renders again");
        }
        ran.push(model.clone());
        if model.materialization == Materialization::Ephemeral {
            continue;
        }
        let view = format!("create view {} as {}", model.name, model.sql);
        let text = match ctx.sql(&view).await {
            Err(e) => format!("error: {e}\n"),
            Ok(_) if model.sql.contains("current_timestamp") => continue,
            Ok(_) => {
                let width = ctx
                    .table(model.name.as_str())
                    .await
                    .expect("the view")
                    .schema()
                    .fields()
                    .len();
                let order: Vec<String> = (1..=width).map(|i| i.to_string()).collect();
                let query = format!("select * from {} order by {}", model.name, order.join(", "));
                let frame = match ctx.sql(&query).await {
                    Ok(frame) => frame,
                    Err(e) => {
                        out.insert(format!("{}.out", model.name), format!("error: {e}\n"));
                        continue;
                    }
                };
                match frame.collect().await {
                    Ok(batches) => {
                        format!("{}\n", pretty_format_batches(&batches).expect("format"))
                    }
                    Err(e) => format!("error: {e}\n"),
                }
            }
        };
        out.insert(format!("{}.out", model.name), text);
    }
    (ctx, ran, out)
}

/// Runs the project's unit tests in `ctx`; the outcome of each, in declaration order.
async fn unit_results(
    project: &DbtProject,
    render: &RenderContext,
    ctx: &SessionContext,
) -> Option<String> {
    let tests: Vec<_> = dataflow_models::schema_tests(project, render)
        .expect("tests")
        .into_iter()
        .filter(|t| t.kind == "unit")
        .collect();
    if tests.is_empty() {
        return None;
    }
    let lake_dir = tempfile::tempdir().expect("a lake directory");
    let lake = dataflow_engine::Lake::open(
        lake_dir.path().to_str().expect("a UTF-8 path"),
        Default::default(),
    )
    .expect("a lake");
    let results = dataflow_models::test(ctx, &lake, &tests, 1, |_, _| {}).await;
    let mut text = String::new();
    for test in &tests {
        let result = results
            .iter()
            .find(|r| r.name == test.name)
            .expect("every test ran");
        let outcome = match &result.status {
            TestStatus::Pass => "PASS".to_string(),
            TestStatus::Fail(n) => format!("FAIL {n}\n{}", result.sample),
            TestStatus::Warn(n) => format!("WARN {n}\n{}", result.sample),
            TestStatus::Error(message) => format!("ERROR\n{message}"),
        };
        text.push_str(&format!("== {}: {outcome}\n", test.name));
    }
    Some(text)
}

async fn actual(dir: &Path) -> BTreeMap<String, String> {
    let render = context();
    let compiled = DbtProject::load(dir).and_then(|p| compile_project(&p, &render).map(|m| (p, m)));
    // A model that does not render is an error case too (the rest of a project would run).
    let compiled = compiled.and_then(|(p, models)| {
        let errors: Vec<&str> = models
            .iter()
            .filter_map(|m| m.render_error.as_deref())
            .collect();
        if errors.is_empty() {
            Ok((p, models))
        } else {
            Err(dataflow_models::Error::Graph(errors.join("\n")))
        }
    });
    let strip = |text: String| text.replace(&format!("{}/", dir.display()), "");
    match compiled {
        Err(err) => BTreeMap::from([(
            "error.txt".to_string(),
            format!("{}\n", strip(err.to_string())),
        )]),
        Ok((project, models)) => {
            let (ctx, ran, mut files) = results(&project, &render, &models).await;
            files.extend(
                ran.iter()
                    .map(|m| (format!("{}.sql", m.name), format!("{}\n", m.sql))),
            );
            if let Some(text) = unit_results(&project, &render, &ctx).await {
                files.insert("unit_tests.out".to_string(), strip(text));
            }
            files
        }
    }
}

fn expected(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(dir.join("expected")) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).expect("read an expected file"),
            )
        })
        .collect()
}

#[tokio::test]
async fn golden_projects_compile_and_run_as_recorded() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/golden")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "golden cases found: {cases:?}");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let actual = actual(case).await;
        if update {
            let dir = case.join("expected");
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create expected/");
            for (name, text) in &actual {
                std::fs::write(dir.join(name), text).expect("write an expected file");
            }
            continue;
        }
        let expected = expected(case);
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with("error_") != actual.contains_key("error.txt") {
            failures.push(format!(
                "{name}: error cases must fail to compile, others must compile"
            ));
        }
        for (file, text) in &actual {
            match expected.get(file) {
                None => failures.push(format!("{name}/{file}: not in expected/\n{text}")),
                Some(want) if want != text => failures.push(format!(
                    "{name}/{file} differs\n--- expected\n{want}--- actual\n{text}"
                )),
                Some(_) => {}
            }
        }
        for file in expected.keys().filter(|f| !actual.contains_key(*f)) {
            failures.push(format!("{name}/{file}: expected but not produced"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatches (UPDATE_GOLDEN=1 to re-record):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
