//! Pipeline files that must not load: each error names the file and the line of the mistake,
//! and says specifically what is wrong (with the valid choices or a suggestion where there is
//! one). Also the two example pipelines, which must load with the structure they describe.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dataflow_orchestrator::Error;
use dataflow_orchestrator::schedule::Schedule;
use dataflow_orchestrator::spec::{TaskKind, load_dag_file, load_dags};

use crate::common::{Project, TestResult};

/// Loads `yaml` as a pipeline file and returns the error's file, line and message.
fn spec_error(yaml: &str) -> TestResult<(PathBuf, PathBuf, usize, String)> {
    let project = Project::new()?;
    let file = project.pipeline("broken", yaml)?;
    match load_dag_file(&file) {
        Ok(dag) => Err(format!("`{}` loaded, but should not have", dag.dag_id).into()),
        Err(Error::Spec {
            path,
            line,
            message,
        }) => {
            // The display form is what users see: `file:line: message`.
            let shown = Error::Spec {
                path: path.clone(),
                line,
                message: message.clone(),
            }
            .to_string();
            let line = line.ok_or_else(|| format!("no line in: {shown}"))?;
            assert!(
                shown.starts_with(&format!("{}:{line}: ", file.display())),
                "{shown}"
            );
            Ok((file, path, line, message))
        }
        Err(other) => Err(format!("expected a spec error, got: {other}").into()),
    }
}

/// Asserts the error points at `line` of the file and its message contains every `needle`.
fn check(yaml: &str, line: usize, needles: &[&str]) -> TestResult {
    let (file, path, found, message) = spec_error(yaml)?;
    assert_eq!(path, file, "{message}");
    assert_eq!(found, line, "wrong line for: {message}");
    for needle in needles {
        assert!(
            message.contains(needle),
            "expected `{needle}` in the message: {message}"
        );
    }
    Ok(())
}

#[test]
fn typo_in_a_top_level_key() -> TestResult {
    check(
        "dag_id: typo\nschedul: \"@daily\"\nstart_date: 2024-01-01\ntasks:\n  - id: a\n    type: noop\n",
        2,
        &["unknown field `schedul`", "`schedule`"],
    )
}

#[test]
fn typo_in_a_task_key() -> TestResult {
    check(
        "dag_id: typo\ntasks:\n  - id: first\n    type: noop\n  - id: say_hello\n    type: shell\n    comand: echo hello\n",
        7,
        &["say_hello", "unknown field `comand`", "`command`"],
    )
}

#[test]
fn unknown_task_type_lists_the_valid_ones() -> TestResult {
    check(
        "dag_id: types\ntasks:\n  - id: a\n    type: noop\n  - id: b\n    type: bash\n    command: echo\n",
        6,
        &["`bash`", "noop", "shell", "file_sensor", "trigger_dag"],
    )
}

#[test]
fn bad_cron_expression() -> TestResult {
    check(
        "dag_id: cron\ndescription: hours go to 23\nschedule: \"0 25 * * *\"\nstart_date: 2024-01-01\ntasks:\n  - id: a\n    type: noop\n",
        3,
        &["0 25 * * *"],
    )?;
    let (_, _, _, message) = spec_error(
        "dag_id: cron\nschedule: \"0 25 * * *\"\nstart_date: 2024-01-01\ntasks:\n  - id: a\n    type: noop\n",
    )?;
    assert!(
        message.contains("the hour field's 25 is outside 0-23"),
        "the message should say the hour field is wrong: {message}"
    );
    Ok(())
}

#[test]
fn unknown_upstream_suggests_the_closest_task() -> TestResult {
    check(
        "dag_id: deps\ntasks:\n  - id: extract\n    type: noop\n  - id: load\n    type: noop\n    depends_on: extrat\n",
        5,
        &[
            "`load`",
            "unknown task or group `extrat`",
            "did you mean `extract`?",
        ],
    )
}

#[test]
fn dependency_cycle_is_shown() -> TestResult {
    let (_, _, line, message) = spec_error(
        "dag_id: cyclic\ntasks:\n  - id: start\n    type: noop\n  - id: a\n    type: noop\n    depends_on: [start, b]\n  - id: b\n    type: noop\n    depends_on: a\n",
    )?;
    assert!(
        message.contains("a → b → a") || message.contains("b → a → b"),
        "{message}"
    );
    assert!(message.contains("cycle"), "{message}");
    assert!(line == 5 || line == 8, "line {line} is neither a nor b");
    Ok(())
}

#[test]
fn duplicate_task_id() -> TestResult {
    check(
        "dag_id: dup\ntasks:\n  - id: a\n    type: noop\n  - id: b\n    type: noop\n  - id: b\n    type: shell\n    command: echo\n",
        7,
        &["task id `b` is used twice"],
    )
}

#[test]
fn duplicate_task_id_in_a_group() -> TestResult {
    check(
        "dag_id: dup\ntasks:\n  - group: g\n    tasks:\n      - id: x\n        type: noop\n      - id: x\n        type: noop\n",
        7,
        &["`g.x`", "used twice"],
    )
}

#[test]
fn sensor_settings_on_a_task_that_is_not_a_sensor() -> TestResult {
    check(
        "dag_id: sensors\ntasks:\n  - id: wait\n    type: file_sensor\n    path: x\n    poke_interval: 1m\n  - id: work\n    type: shell\n    command: echo\n    poke_interval: 1m\n",
        10,
        &[
            "`work`",
            "poke_interval",
            "only apply to sensors",
            "`shell`",
        ],
    )
}

#[test]
fn template_with_an_unknown_variable() -> TestResult {
    check(
        "dag_id: templates\ntasks:\n  - id: ok\n    type: shell\n    command: echo {{ ds }}\n  - id: report\n    type: shell\n    command: echo {{ dss }}\n",
        6,
        &["`report`", "dss", "undefined"],
    )
}

#[test]
fn scheduled_dag_without_start_date() -> TestResult {
    check(
        "dag_id: nostart\ndescription: x\nschedule: \"@daily\"\ntasks:\n  - id: a\n    type: noop\n",
        3,
        &["start_date"],
    )
}

#[test]
fn unknown_group_dependency_of_a_group() -> TestResult {
    check(
        "dag_id: groups\ntasks:\n  - group: ingest\n    tasks:\n      - id: a\n        type: noop\n  - group: report\n    depends_on: ingset\n    tasks:\n      - id: b\n        type: noop\n",
        7,
        &["`report`", "`ingset`", "did you mean `ingest`?"],
    )
}

#[test]
fn dag_id_defined_in_two_files() -> TestResult {
    let project = Project::new()?;
    let first = project.pipeline(
        "a_first",
        "dag_id: same\ntasks:\n  - id: a\n    type: noop\n",
    )?;
    let second = project.pipeline(
        "b_second",
        "# a copy\ndag_id: same\ntasks:\n  - id: a\n    type: noop\n",
    )?;
    match load_dags(&project.dir) {
        Err(Error::Spec {
            path,
            line,
            message,
        }) => {
            assert_eq!((path, line), (second, Some(2)), "{message}");
            assert!(
                message.contains("dag_id `same` is already defined in"),
                "{message}"
            );
            assert!(message.contains(&first.display().to_string()), "{message}");
            Ok(())
        }
        other => Err(format!("expected a spec error, got {other:?}").into()),
    }
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ecommerce")
}

#[test]
fn example_pipelines_load() -> TestResult {
    let bag = load_dags(&examples_dir())?;
    let ids: Vec<&str> = bag.dags.keys().map(String::as_str).collect();
    assert_eq!(ids, ["monitoring_and_alerting", "production_data_pipeline"]);

    let prod = bag.get("production_data_pipeline")?;
    assert_eq!(prod.schedule, Schedule::parse("@hourly")?);
    assert_eq!(prod.max_active_runs, 1);
    assert!(!prod.catchup);
    let mut groups: Vec<&str> = prod
        .tasks
        .iter()
        .filter_map(|t| t.group.as_deref())
        .collect();
    groups.dedup();
    groups.sort_unstable();
    groups.dedup();
    assert_eq!(
        groups,
        [
            "data_ingestion",
            "feature_and_stream",
            "quality_validation",
            "transformations"
        ]
    );
    let ingest: Vec<&str> = prod
        .tasks
        .iter()
        .filter(|t| t.task_id.starts_with("data_ingestion.ingest["))
        .map(|t| t.task_id.as_str())
        .collect();
    assert_eq!(ingest.len(), 4, "{ingest:?}");
    for source in ["customers", "transactions", "products", "events"] {
        let id = format!("data_ingestion.ingest[{source}]");
        let task = prod.task(&id).ok_or(format!("no {id}"))?;
        assert_eq!(task.upstream, ["data_ingestion.wait_for_source_files"]);
        assert_eq!(task.map_item, Some(serde_json::json!(source)));
    }
    for task in &prod.tasks {
        let retries = if task.task_id == "quality_validation.custom_quality_validation" {
            0
        } else {
            2
        };
        assert_eq!(task.retries, retries, "{}", task.task_id);
        assert_eq!(
            task.retry_delay,
            Duration::from_secs(300),
            "{}",
            task.task_id
        );
        assert_eq!(
            task.sla,
            Some(Duration::from_secs(7200)),
            "{}",
            task.task_id
        );
    }
    let sensor = prod
        .task("data_ingestion.wait_for_source_files")
        .ok_or("no sensor")?;
    assert!(matches!(sensor.kind, TaskKind::FileSensor { .. }));
    let settings = sensor.sensor.ok_or("no sensor settings")?;
    assert_eq!(settings.poke_interval.0, Duration::from_secs(300));
    assert_eq!(settings.timeout.0, Duration::from_secs(3600));
    // quality_validation depends on the whole data_ingestion group: its roots wait for the
    // four ingest tasks, the group's leaves.
    let validate = prod
        .task("quality_validation.validate_customers_data")
        .ok_or("no validate task")?;
    let mut ups = validate.upstream.clone();
    ups.sort();
    assert_eq!(
        ups,
        [
            "data_ingestion.ingest[customers]",
            "data_ingestion.ingest[events]",
            "data_ingestion.ingest[products]",
            "data_ingestion.ingest[transactions]",
        ]
    );
    let leaf = prod.task("update_monitoring_metrics").ok_or("no leaf")?;
    assert_eq!(
        leaf.upstream,
        ["feature_and_stream.build_customer_features"]
    );
    assert_eq!(prod.leaves(), ["update_monitoring_metrics"]);

    let monitoring = bag.get("monitoring_and_alerting")?;
    assert_eq!(
        monitoring.schedule,
        Schedule::Interval(Duration::from_secs(15 * 60))
    );
    assert_eq!(monitoring.max_active_runs, 1);
    let alerts = monitoring
        .task("generate_alerts")
        .ok_or("no generate_alerts")?;
    assert_eq!(alerts.upstream.len(), 4);
    assert_eq!(monitoring.leaves(), ["generate_alerts"]);
    Ok(())
}
