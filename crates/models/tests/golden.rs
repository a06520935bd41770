//! Golden tests: each directory under `tests/golden/` is a small dbt project. Its models are
//! compiled with a fixed context and compared with `expected/<model>.sql`; the compiled models
//! are then run on DataFusion over the project's seeds (registered as CSV tables) and compared
//! with `expected/<model>.out` (skipped for models that read the clock). A project that must
//! not compile is compared with `expected/error.txt` instead. `UPDATE_GOLDEN=1 cargo test -p
//! dataflow-models --test golden` rewrites the expected files; review the diff before
//! committing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dataflow_engine::datafusion::arrow::util::pretty::pretty_format_batches;
use dataflow_engine::datafusion::prelude::CsvReadOptions;
use dataflow_models::{DbtProject, Materialization, RenderContext, compile_project};

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

/// Runs the compiled models over the seeds; returns `<model>.out` texts.
async fn results(
    project: &DbtProject,
    models: &[dataflow_models::Compiled],
) -> BTreeMap<String, String> {
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
    for model in models {
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
    out
}

async fn actual(dir: &Path) -> BTreeMap<String, String> {
    let compiled =
        DbtProject::load(dir).and_then(|p| compile_project(&p, &context()).map(|m| (p, m)));
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
    match compiled {
        Err(err) => {
            let text = err.to_string().replace(&format!("{}/", dir.display()), "");
            BTreeMap::from([("error.txt".to_string(), format!("{text}\n"))])
        }
        Ok((project, models)) => {
            let mut files: BTreeMap<String, String> = models
                .iter()
                .map(|m| (format!("{}.sql", m.name), format!("{}\n", m.sql)))
                .collect();
            files.extend(results(&project, &models).await);
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
