//! Task groups and mapped tasks as the loader resolves them: a group's `depends_on` applies to
//! its roots, depending on a group means depending on its leaves, groups nest, and a mapped
//! task's base id names all its items.

use dataflow_orchestrator::spec::{Dag, load_dag_file};

use crate::common::{Project, TestResult};

fn load(yaml: &str) -> TestResult<Dag> {
    let project = Project::new()?;
    let file = project.pipeline("groups", yaml)?;
    Ok(load_dag_file(&file)?)
}

/// The sorted upstream ids of a task.
fn ups(dag: &Dag, task_id: &str) -> TestResult<Vec<String>> {
    let task = dag
        .task(task_id)
        .ok_or_else(|| format!("no task `{task_id}`"))?;
    let mut ups = task.upstream.clone();
    ups.sort();
    Ok(ups)
}

const NESTED: &str = r#"
dag_id: nested
tasks:
  - id: start
    type: noop
  - group: etl
    depends_on: start
    tasks:
      - id: extract
        type: noop
        map: [orders, customers]
      - id: transform
        type: noop
        depends_on: extract
      - id: side
        type: noop
      - group: publish
        depends_on: transform
        tasks:
          - id: stage
            type: noop
          - id: swap
            type: noop
            depends_on: stage
  - id: report
    type: noop
    depends_on: etl
  - id: audit
    type: noop
    depends_on: etl.publish
  - id: count_extracts
    type: noop
    depends_on: etl.extract
"#;

#[test]
fn group_depends_on_applies_to_its_roots() -> TestResult {
    let dag = load(NESTED)?;
    assert_eq!(ups(&dag, "etl.extract[orders]")?, ["start"]);
    assert_eq!(ups(&dag, "etl.extract[customers]")?, ["start"]);
    assert_eq!(ups(&dag, "etl.side")?, ["start"]);
    // Not a root of `etl`: inside it, `publish` waits for `transform`.
    assert_eq!(
        ups(&dag, "etl.transform")?,
        ["etl.extract[customers]", "etl.extract[orders]"]
    );
    Ok(())
}

#[test]
fn nested_group_resolves_names_in_its_enclosing_group() -> TestResult {
    let dag = load(NESTED)?;
    // `publish` depends on `transform`, found in the enclosing group `etl`; only its root waits.
    assert_eq!(ups(&dag, "etl.publish.stage")?, ["etl.transform"]);
    assert_eq!(ups(&dag, "etl.publish.swap")?, ["etl.publish.stage"]);
    Ok(())
}

#[test]
fn depending_on_a_group_means_its_leaves() -> TestResult {
    let dag = load(NESTED)?;
    // The leaves of `etl`: `side`, and `publish`'s leaf `swap`. `transform` is not one: the
    // nested group `publish` depends on it.
    assert_eq!(ups(&dag, "report")?, ["etl.publish.swap", "etl.side"]);
    assert_eq!(ups(&dag, "audit")?, ["etl.publish.swap"]);
    Ok(())
}

#[test]
fn mapped_task_is_referenced_by_its_base_id() -> TestResult {
    let dag = load(NESTED)?;
    assert_eq!(
        ups(&dag, "count_extracts")?,
        ["etl.extract[customers]", "etl.extract[orders]"]
    );
    let ids: Vec<&str> = dag.tasks.iter().map(|t| t.task_id.as_str()).collect();
    for id in ["etl.extract[orders]", "etl.extract[customers]"] {
        assert!(ids.contains(&id), "{ids:?}");
    }
    assert!(!ids.contains(&"etl.extract"), "{ids:?}");
    let item = dag
        .task("etl.extract[orders]")
        .and_then(|t| t.map_item.clone());
    assert_eq!(item, Some(serde_json::json!("orders")));
    Ok(())
}

#[test]
fn tasks_come_in_dependency_order() -> TestResult {
    let dag = load(NESTED)?;
    let position = |id: &str| dag.tasks.iter().position(|t| t.task_id == id);
    for task in &dag.tasks {
        for up in &task.upstream {
            assert!(
                position(up) < position(&task.task_id),
                "{up} must come before {}",
                task.task_id
            );
        }
    }
    Ok(())
}

#[test]
fn sibling_groups_inside_a_group() -> TestResult {
    let dag = load(
        r#"
dag_id: siblings
tasks:
  - group: outer
    tasks:
      - group: first
        tasks:
          - id: a
            type: noop
      - group: second
        depends_on: first
        tasks:
          - id: b
            type: noop
  - id: after
    type: noop
    depends_on: outer
"#,
    )?;
    assert_eq!(ups(&dag, "outer.second.b")?, ["outer.first.a"]);
    // `first` feeds `second` inside `outer`, so only `second`'s leaf is a leaf of `outer`.
    assert_eq!(ups(&dag, "after")?, ["outer.second.b"]);
    Ok(())
}

#[test]
fn a_task_inside_a_group_prefers_its_own_group() -> TestResult {
    let dag = load(
        r#"
dag_id: scopes
tasks:
  - id: load
    type: noop
  - group: g
    tasks:
      - id: load
        type: noop
      - id: check
        type: noop
        depends_on: load
      - id: check_top
        type: noop
        depends_on: [check]
"#,
    )?;
    assert_eq!(ups(&dag, "g.check")?, ["g.load"]);
    assert_eq!(ups(&dag, "g.check_top")?, ["g.check"]);
    // Each `load` knows its own line (for error messages).
    let line = |id: &str| dag.task(id).map(|t| t.line);
    assert_eq!((line("load"), line("g.load")), (Some(4), Some(8)));
    Ok(())
}
