//! `dataflow models run|compile|ls`: the dbt-style project in the project directory.

use std::collections::BTreeMap;

use anyhow::Context;
use dataflow_core::config::Project;
use dataflow_core::ids::RunId;
use dataflow_engine::new_session;
use dataflow_models::{
    BuildEvent, DbtProject, Materialization, RenderContext, Status, TestStatus, compile_project,
    write_compiled,
};

use dataflow_models::artifacts::{self, ResultEntry};

use crate::cli::{ModelsAction, ModelsArgs};
use crate::exit::JobFailed;

fn parse_vars(text: Option<&str>) -> anyhow::Result<BTreeMap<String, serde_yaml_ng::Value>> {
    match text {
        None => Ok(BTreeMap::new()),
        Some(text) => serde_yaml_ng::from_str(text).map_err(|e| {
            dataflow_core::Error::Usage(format!(
                "--vars must be a YAML mapping like `{{key: value}}`: {e}"
            ))
            .into()
        }),
    }
}

/// Runs the command; `build` is `seed`, `run` and `test` in turn, stopping at the first failure.
pub async fn run(project: &Project, args: ModelsArgs, run_id: &RunId) -> anyhow::Result<()> {
    // run_results.json of `build` holds the seeds, models and tests of all three steps.
    let mut results = Vec::new();
    if args.action == ModelsAction::Build {
        // Like `dbt build`, failed models do not stop the tests of the models that built.
        let mut failure = None;
        for action in [ModelsAction::Seed, ModelsAction::Run, ModelsAction::Test] {
            println!("\n== dataflow models {} ==", action.name());
            let done = results.len();
            let outcome = run_one(project, &args, action, run_id, &mut results).await;
            record_stages(project, run_id, &results[done..]).await;
            match outcome {
                Ok(()) => {}
                Err(err) if err.downcast_ref::<JobFailed>().is_some() => {
                    failure.get_or_insert(err);
                }
                Err(err) => return Err(err),
            }
        }
        return failure.map_or(Ok(()), Err);
    }
    let outcome = run_one(project, &args, args.action, run_id, &mut results).await;
    record_stages(project, run_id, &results).await;
    outcome
}

/// Records seeds, models and tests that ran as stage runs in the metadata store.
async fn record_stages(project: &Project, run_id: &RunId, results: &[ResultEntry]) {
    let runs = super::stages::from_model_results(run_id.as_str(), results, chrono::Utc::now());
    super::stages::record(project, runs).await;
}

async fn seed(
    project: &Project,
    dbt: &DbtProject,
    args: &ModelsArgs,
    run_id: &RunId,
    results: &mut Vec<ResultEntry>,
) -> anyhow::Result<()> {
    let started_all = std::time::Instant::now();
    let lake = super::open_lake(project)?;
    let ctx = new_session(&lake).await.context("opening the lake")?;
    let vars = parse_vars(args.vars.as_deref())?;
    let mut enabled = Vec::new();
    for seed in &dbt.seeds {
        if dataflow_models::render::seed_enabled(dbt, seed, &vars)? {
            enabled.push(seed);
        }
    }
    let seeds: Vec<_> = enabled
        .into_iter()
        .filter(|s| {
            args.select.is_empty()
                || args
                    .select
                    .iter()
                    .any(|sel| sel.split_whitespace().any(|w| w == s.name))
        })
        .collect();
    let total = seeds.len();
    // A seed that does not load is that seed's error; the others load (its table keeps its
    // previous version).
    let mut failed = 0;
    for (position, seed) in seeds.iter().enumerate() {
        let started = std::time::Instant::now();
        let (status, message) = match dataflow_models::load_seed(&ctx, &lake, seed).await {
            Ok(rows) => {
                println!(
                    "{:>3} of {total} OK    seed {} [{:.2}s] ({rows} rows)",
                    position + 1,
                    seed.name,
                    started.elapsed().as_secs_f64()
                );
                ("success", format!("{rows} rows"))
            }
            Err(err) => {
                failed += 1;
                println!(
                    "{:>3} of {total} ERROR seed {} [{:.2}s]\n    {}",
                    position + 1,
                    seed.name,
                    started.elapsed().as_secs_f64(),
                    err.to_string().replace('\n', "\n    ")
                );
                ("error", err.to_string())
            }
        };
        results.push(ResultEntry {
            unique_id: format!("seed.{}.{}", dbt.name, seed.name),
            status: status.to_string(),
            seconds: started.elapsed().as_secs_f64(),
            message: Some(message),
            failures: None,
        });
    }
    println!("Done. PASS={} ERROR={failed} TOTAL={total}", total - failed);
    artifacts::write_run_results(
        &project.dir.join("target"),
        results,
        run_id.as_str(),
        &chrono_now(),
        started_all.elapsed().as_secs_f64(),
    )?;
    if failed > 0 {
        return Err(JobFailed(format!("{failed} of {total} seeds failed")).into());
    }
    Ok(())
}

async fn run_one(
    project: &Project,
    args: &ModelsArgs,
    action: ModelsAction,
    run_id: &RunId,
    results: &mut Vec<ResultEntry>,
) -> anyhow::Result<()> {
    let mut dbt = DbtProject::load(&project.dir)?;
    let lake = super::open_lake(project)?;
    dbt.resolve_source_identifiers(&lake.table_names().await?.into_iter().collect());
    if action == ModelsAction::Seed {
        return seed(project, &dbt, args, run_id, results).await;
    }
    if action == ModelsAction::Freshness {
        return super::freshness::run(project, &dbt, args, run_id).await;
    }
    let context = RenderContext {
        vars: parse_vars(args.vars.as_deref())?,
        run_started_at: chrono_now(),
        invocation_id: run_id.to_string(),
        existing_tables: lake.table_names().await?.into_iter().collect(),
        full_refresh: args.full_refresh,
        introspection: std::sync::Arc::default(),
    };
    let all_models = compile_project(&dbt, &context)?;
    let models = dataflow_models::select(&all_models, &args.select, &args.exclude)?;
    // Views live in the session: unselected upstream views must exist for selected models.
    let context_views: Vec<_> = all_models
        .iter()
        .filter(|m| !models.iter().any(|s| s.name == m.name))
        .cloned()
        .collect();
    let target = project.dir.join("target");
    if matches!(action, ModelsAction::Compile | ModelsAction::Run) {
        write_compiled(&target, &dbt.dir, &dbt.name, &models)?;
    }
    let introspector = dataflow_models::Introspector {
        introspection: context.introspection.clone(),
        recompile: {
            let (dbt, context, all) = (dbt.clone(), context.clone(), all_models.clone());
            let target = target.clone();
            let write = action == ModelsAction::Run;
            std::sync::Arc::new(move |name: &str| {
                let model = dataflow_models::recompile(&dbt, &context, &all, name)?;
                // target/compiled shows the SQL that ran, not the parse-time placeholder.
                if write {
                    write_compiled(&target, &dbt.dir, &dbt.name, std::slice::from_ref(&model))?;
                }
                Ok(model)
            })
        },
    };
    let generated_at = context.run_started_at.clone();
    let declared_tests = dataflow_models::schema_tests(&dbt, &context)?;
    let singular = dataflow_models::singular_tests(&dbt, &context)?;
    let every_test: Vec<_> = declared_tests
        .iter()
        .cloned()
        .chain(singular.iter().map(|(t, _)| t.clone()))
        .collect();
    artifacts::write_manifest(
        &target,
        &dbt,
        &all_models,
        &every_test,
        run_id.as_str(),
        &generated_at,
    )?;
    let started = std::time::Instant::now();
    // What earlier steps of this `build` did (a failed model's tests are skipped).
    let earlier = results.clone();
    let mut write_results = |entries: Vec<ResultEntry>| {
        results.extend(entries);
        artifacts::write_run_results(
            &target,
            results,
            run_id.as_str(),
            &generated_at,
            started.elapsed().as_secs_f64(),
        )
    };
    match action {
        ModelsAction::Compile => {
            let broken: Vec<&str> = models
                .iter()
                .filter_map(|m| m.render_error.as_deref())
                .collect();
            if !broken.is_empty() {
                return Err(dataflow_models::Error::Graph(broken.join("\n")).into());
            }
            for model in &models {
                println!(
                    "compiled {} -> target/compiled/{}/{}",
                    model.name,
                    dbt.name,
                    model
                        .path
                        .strip_prefix(&dbt.dir)
                        .unwrap_or(&model.path)
                        .display()
                );
            }
            Ok(())
        }
        ModelsAction::Test => {
            let ctx = new_session(&lake).await.context("opening the lake")?;
            dataflow_models::register_views(&ctx, &all_models, Some(&introspector)).await;
            let step = super::models_test::TestStep {
                dbt: &dbt,
                args,
                models: &models,
                all_models: &all_models,
                ctx: &ctx,
                lake: &lake,
                threads: threads(args),
                render: &context,
            };
            let (entries, failed) = step.run(declared_tests, singular, &earlier).await;
            write_results(entries)?;
            if failed > 0 {
                return Err(JobFailed(format!("{failed} tests failed")).into());
            }
            Ok(())
        }
        ModelsAction::Docs => {
            let ctx = new_session(&lake).await.context("opening the lake")?;
            let catalog =
                dataflow_models::docs::catalog(&ctx, &dbt, &all_models, Some(&introspector)).await;
            let tests = dataflow_models::schema_tests(&dbt, &context)?;
            let manifest = artifacts::manifest(&dbt, &all_models, run_id.as_str(), &generated_at);
            let page = dataflow_models::docs::write_site(&target, &manifest, &catalog, &tests)?;
            println!(
                "Documentation for {} models, {} seeds and {} sources: {}",
                all_models.len(),
                dbt.seeds.len(),
                dbt.sources.len(),
                page.display()
            );
            Ok(())
        }
        ModelsAction::Ls => {
            for model in &models {
                let deps: Vec<&str> = model
                    .refs
                    .iter()
                    .chain(&model.sources)
                    .map(String::as_str)
                    .collect();
                println!(
                    "{:<32} {:<6} <- {}",
                    model.name,
                    model.materialization.as_str(),
                    deps.join(", ")
                );
            }
            Ok(())
        }
        ModelsAction::Seed | ModelsAction::Build | ModelsAction::Freshness => Ok(()),
        ModelsAction::Run => {
            let ctx = new_session(&lake).await.context("opening the lake")?;
            dataflow_models::register_views(&ctx, &context_views, Some(&introspector)).await;
            // Ephemeral models are inlined into their children, not built.
            let models: Vec<_> = models
                .into_iter()
                .filter(|m| m.materialization != Materialization::Ephemeral)
                .collect();
            let total = models.len();
            let options = dataflow_models::RunOptions {
                full_refresh: args.full_refresh,
                threads: threads(args),
                project_dir: project.dir.clone(),
                introspector: Some(introspector.clone()),
            };
            // `build` runs each model's unit tests just before the model, as `dbt build` does.
            let unit_tests: Vec<_> = if args.action == ModelsAction::Build {
                dataflow_models::select_tests(
                    &all_models,
                    &declared_tests,
                    &args.select,
                    &args.exclude,
                )?
                .into_iter()
                .filter(|t| t.kind == "unit")
                .collect()
            } else {
                Vec::new()
            };
            let mut blocked = std::collections::BTreeSet::new();
            let (results, unit_results) = dataflow_models::run_with_unit_tests(
                &ctx,
                &lake,
                &models,
                &options,
                &unit_tests,
                |event| match event {
                    BuildEvent::UnitTest(result) => {
                        if result.status != TestStatus::Pass
                            && let Some(test) = unit_tests.iter().find(|t| t.name == result.name)
                        {
                            blocked.insert(test.model.clone());
                        }
                        let (status, detail) = match &result.status {
                            TestStatus::Pass => ("PASS", String::new()),
                            TestStatus::Fail(_) | TestStatus::Warn(_) => {
                                ("FAIL", format!("\n{}", result.sample))
                            }
                            TestStatus::Error(message) => (
                                "ERROR",
                                format!("\n    {}", message.replace('\n', "\n    ")),
                            ),
                        };
                        println!(
                            "        {status:<5} unit test {} [{:.2}s]{detail}",
                            result.name, result.seconds
                        );
                    }
                    BuildEvent::Model(position, result) => {
                        let (status, detail) = match &result.status {
                            Status::Success => (
                                "OK",
                                result
                                    .rows
                                    .map(|r| format!(" ({r} rows)"))
                                    .unwrap_or_default(),
                            ),
                            Status::Error(message) => (
                                "ERROR",
                                format!("\n    {}", message.replace('\n', "\n    ")),
                            ),
                            Status::Skipped if blocked.contains(&result.name) => {
                                ("SKIP", " (a unit test failed)".to_string())
                            }
                            Status::Skipped => ("SKIP", " (upstream failed)".to_string()),
                        };
                        println!(
                            "{:>3} of {total} {status:<5} {} model {} [{:.2}s]{detail}",
                            position + 1,
                            result.materialization.as_str(),
                            result.name,
                            result.seconds
                        );
                    }
                },
            )
            .await;
            let mut entries: Vec<ResultEntry> = unit_results
                .iter()
                .map(|r| {
                    let (status, failures, message) = match &r.status {
                        TestStatus::Pass => ("pass", Some(0), None),
                        TestStatus::Fail(n) | TestStatus::Warn(n) => {
                            ("fail", Some(*n), Some(r.sample.clone()))
                        }
                        TestStatus::Error(m) => ("error", None, Some(m.clone())),
                    };
                    ResultEntry {
                        unique_id: artifacts::test_id(&dbt, &r.name),
                        status: status.to_string(),
                        seconds: r.seconds,
                        message,
                        failures,
                    }
                })
                .collect();
            entries.extend(results.iter().map(|r| {
                let (status, message) = match &r.status {
                    Status::Success => ("success", r.rows.map(|n| format!("{n} rows"))),
                    Status::Error(m) => ("error", Some(m.clone())),
                    Status::Skipped => ("skipped", None),
                };
                ResultEntry {
                    unique_id: artifacts::model_id(&dbt, &r.name),
                    status: status.to_string(),
                    seconds: r.seconds,
                    message,
                    failures: None,
                }
            }));
            write_results(entries)?;
            // The manifest shows the SQL that ran (introspective macros answered).
            let ran: Vec<_> = all_models
                .iter()
                .map(|m| {
                    let mut m = m.clone();
                    if let Some(sql) = results
                        .iter()
                        .find(|r| r.name == m.name)
                        .and_then(|r| r.sql.clone())
                    {
                        m.sql = sql;
                    }
                    m
                })
                .collect();
            artifacts::write_manifest(
                &target,
                &dbt,
                &ran,
                &every_test,
                run_id.as_str(),
                &generated_at,
            )?;
            // View models stay queryable after the run: their definitions go to the lake.
            let built_views: Vec<_> = results
                .iter()
                .filter(|r| r.materialization == Materialization::View)
                .filter_map(|r| {
                    r.sql.clone().map(|sql| dataflow_engine::views::SavedView {
                        name: r.name.clone(),
                        sql,
                    })
                })
                .collect();
            let not_views: Vec<String> = all_models
                .iter()
                .filter(|m| m.materialization != Materialization::View)
                .map(|m| m.name.clone())
                .collect();
            dataflow_engine::views::save_views(&ctx, &lake, &built_views, &not_views)
                .await
                .context("saving the view models' definitions")?;
            let failed = results
                .iter()
                .filter(|r| matches!(r.status, Status::Error(_)))
                .count();
            let skipped = results
                .iter()
                .filter(|r| r.status == Status::Skipped)
                .count();
            println!(
                "Done in {:.2}s. PASS={} ERROR={failed} SKIP={skipped} TOTAL={total}",
                started.elapsed().as_secs_f64(),
                total - failed - skipped
            );
            let unit_failed = unit_results
                .iter()
                .filter(|r| r.status != TestStatus::Pass)
                .count();
            if unit_failed > 0 {
                println!("{unit_failed} unit tests failed; their models were not built");
            }
            if failed > 0 || unit_failed > 0 {
                return Err(JobFailed(format!(
                    "{failed} of {total} models failed, {unit_failed} unit tests failed"
                ))
                .into());
            }
            Ok(())
        }
    }
}

/// `--threads`, else one per CPU core.
fn threads(args: &ModelsArgs) -> usize {
    args.threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    })
}

/// The current UTC time as dbt prints `run_started_at`.
pub(super) fn chrono_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut out = Vec::new();
    dataflow_core::time::format_timestamp_secs(secs, &mut out);
    format!("{}+00:00", String::from_utf8_lossy(&out))
}
