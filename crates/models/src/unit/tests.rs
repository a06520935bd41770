//! Unit tests inside a build: each runs just before its model, on the types of the parents
//! built moments before; a failing one keeps its model and the model's children from building.

use std::path::Path;

use dataflow_engine::{Lake, new_session};

use crate::render::RenderContext;
use crate::run::{BuildEvent, RunOptions, Status};
use crate::schema_tests::SchemaTest;
use crate::testing::TestStatus;
use crate::{DbtProject, compile_project};

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("a folder");
    std::fs::write(path, text).expect("a file");
}

fn context() -> RenderContext {
    RenderContext {
        vars: Default::default(),
        run_started_at: "2024-05-01 12:00:00+00:00".to_string(),
        invocation_id: "unit".to_string(),
        existing_tables: Default::default(),
        full_refresh: false,
        introspection: Default::default(),
    }
}

/// seed `people` → table `adults` (unit test passes) → view `adult_names`;
/// seed `people` → table `minors` (unit test fails) → view `minor_names`.
fn project(dir: &Path) {
    write(dir, "dbt_project.yml", "name: unit\nversion: '1'\n");
    write(dir, "seeds/people.csv", "id,name,age\n1,ann,40\n2,bob,12\n");
    let table = "{{ config(materialized='table') }}\n";
    write(
        dir,
        "models/adults.sql",
        &format!("{table}select id, name from {{{{ ref('people') }}}} where age >= 18"),
    );
    write(
        dir,
        "models/minors.sql",
        &format!("{table}select id, name from {{{{ ref('people') }}}} where age <= 18"),
    );
    write(
        dir,
        "models/adult_names.sql",
        "select name from {{ ref('adults') }}",
    );
    write(
        dir,
        "models/minor_names.sql",
        "select name from {{ ref('minors') }}",
    );
    write(
        dir,
        "models/unit.yml",
        "unit_tests:\n\
         \x20 - name: adults_are_18_or_more\n\
         \x20   model: adults\n\
         \x20   config: {tags: [ages]}\n\
         \x20   given:\n\
         \x20     - input: ref('people')\n\
         \x20       rows: [{id: 1, age: 18}, {id: 2, age: 17}]\n\
         \x20   expect:\n\
         \x20     rows: [{id: 1}]\n\
         \x20 - name: minors_are_under_18\n\
         \x20   model: minors\n\
         \x20   given:\n\
         \x20     - input: ref('people')\n\
         \x20       rows: [{id: 1, age: 18}, {id: 2, age: 17}]\n\
         \x20   expect:\n\
         \x20     rows: [{id: 2}]\n",
    );
}

#[tokio::test]
async fn a_failing_unit_test_keeps_its_model_and_children_from_building() {
    let dir = tempfile::tempdir().expect("a project directory");
    project(dir.path());
    let lake = Lake::open(
        dir.path().join("lake").to_str().expect("UTF-8"),
        Default::default(),
    )
    .expect("a lake");
    let project = DbtProject::load(dir.path()).expect("the project loads");
    let ctx = new_session(&lake).await.expect("a session");
    crate::load_seed(&ctx, &lake, &project.seeds[0])
        .await
        .expect("the seed loads");
    let render = context();
    let models = compile_project(&project, &render).expect("compiles");
    let unit: Vec<SchemaTest> = crate::schema_tests(&project, &render)
        .expect("tests")
        .into_iter()
        .filter(|t| t.kind == "unit")
        .collect();
    assert_eq!(unit.len(), 2);
    let options = RunOptions {
        full_refresh: false,
        threads: 2,
        project_dir: dir.path().to_path_buf(),
        introspector: None,
    };
    let mut events = Vec::new();
    let (results, unit_results) =
        crate::run_with_unit_tests(&ctx, &lake, &models, &options, &unit, |event| {
            events.push(match event {
                BuildEvent::UnitTest(r) => format!("unit {}", r.name),
                BuildEvent::Model(_, r) => format!("model {}", r.name),
            })
        })
        .await;
    let status = |name: &str| {
        results
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.status.clone())
            .expect("a result")
    };
    assert_eq!(status("adults"), Status::Success);
    assert_eq!(status("adult_names"), Status::Success);
    assert_eq!(status("minors"), Status::Skipped);
    assert_eq!(status("minor_names"), Status::Skipped);
    // Each unit test is reported before its model.
    let at = |e: &str| events.iter().position(|x| x == e).expect(e);
    assert!(
        at("unit adults_are_18_or_more") < at("model adults"),
        "{events:?}"
    );
    assert!(
        at("unit minors_are_under_18") < at("model minors"),
        "{events:?}"
    );
    let failed = unit_results
        .iter()
        .find(|r| r.name == "minors_are_under_18")
        .expect("ran");
    assert_eq!(failed.status, TestStatus::Fail(1));
    assert!(
        failed.sample.contains("+++,1") && failed.sample.contains("   ,2"),
        "{}",
        failed.sample
    );
    assert!(lake.load("minors").await.expect("lake").is_none());

    // Selection: by tag, by name, by type.
    let names = |select: &str| -> Vec<String> {
        crate::select_tests(&models, &unit, &[select.to_string()], &[])
            .expect("selects")
            .into_iter()
            .map(|t| t.name)
            .collect()
    };
    assert_eq!(names("tag:ages"), ["adults_are_18_or_more"]);
    assert_eq!(names("minors_are_under_18"), ["minors_are_under_18"]);
    assert_eq!(names("test_type:unit").len(), 2);
    assert!(names("test_type:data").is_empty());

    // The manifest lists unit tests where dbt does, and run results name them alike.
    let mut manifest = crate::artifacts::manifest(&project, &models, "id", "now");
    crate::artifacts::add_tests(&mut manifest, &project, &unit);
    let id = "unit_test.unit.adults.adults_are_18_or_more";
    assert_eq!(
        crate::artifacts::test_id(&project, "adults_are_18_or_more"),
        id
    );
    assert_eq!(manifest["unit_tests"][id]["model"], "adults");
    assert_eq!(manifest["unit_tests"][id]["config"]["tags"][0], "ages");
    assert_eq!(manifest["parent_map"][id][0], "model.unit.adults");
    assert!(
        manifest["child_map"]["model.unit.adults"]
            .as_array()
            .expect("children")
            .iter()
            .any(|c| c == id)
    );
}
