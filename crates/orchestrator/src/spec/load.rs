//! Reading `pipelines/*.yml`: strict parsing (unknown keys, bad types, unknown task types, bad
//! cron and durations are errors with file and line), group flattening, mapping, dependency
//! resolution, cycle detection and a trial render of every template.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use super::dag::{Dag, DagBag, Task, TriggerRule};
use super::graph::topological;
use super::task::{SensorMode, SensorSettings, TaskKind};
use crate::duration::DurationSpec;
use crate::error::{Error, Result};
use crate::schedule::{self, Schedule};
use crate::template;

/// The folder of pipeline files in a project.
pub const PIPELINES_DIR: &str = "pipelines";

/// Loads every `pipelines/*.yml` / `*.yaml` file of a project. A project without the folder
/// has no DAGs. DAG ids must be unique across files.
pub fn load_dags(project_dir: &Path) -> Result<DagBag> {
    let dir = project_dir.join(PIPELINES_DIR);
    let mut bag = DagBag::default();
    if !dir.is_dir() {
        return Ok(bag);
    }
    let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yml") | Some("yaml")
            )
        })
        .collect();
    files.sort();
    for file in files {
        let dag = load_dag_file(&file)?;
        if let Some(other) = bag.dags.get(&dag.dag_id) {
            return Err(Error::Spec {
                path: file.clone(),
                line: find_line(&read(&file)?, "dag_id", &dag.dag_id, 0),
                message: format!(
                    "dag_id `{}` is already defined in {}",
                    dag.dag_id,
                    other.file.display()
                ),
            });
        }
        bag.dags.insert(dag.dag_id.clone(), dag);
    }
    Ok(bag)
}

fn read(file: &Path) -> Result<String> {
    std::fs::read_to_string(file).map_err(|source| Error::Io {
        path: file.to_path_buf(),
        source,
    })
}

/// The top level of a pipeline file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDag {
    /// The DAG's id.
    dag_id: String,
    #[serde(default)]
    description: Option<String>,
    /// Cron, preset, interval or none.
    #[serde(default)]
    schedule: Option<String>,
    #[serde(default)]
    start_date: Option<String>,
    #[serde(default)]
    end_date: Option<String>,
    #[serde(default)]
    catchup: bool,
    #[serde(default = "default_max_active_runs")]
    max_active_runs: u32,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    default_args: RawDefaults,
    #[serde(default)]
    params: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    notifications: Vec<super::dag::Notification>,
    tasks: Vec<Value>,
}

fn default_max_active_runs() -> u32 {
    16
}

/// `default_args`: settings every task inherits unless it sets its own.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    retry_delay: Option<DurationSpec>,
    #[serde(default)]
    retry_exponential_backoff: Option<bool>,
    #[serde(default)]
    max_retry_delay: Option<DurationSpec>,
    #[serde(default)]
    execution_timeout: Option<DurationSpec>,
    #[serde(default)]
    sla: Option<DurationSpec>,
    #[serde(default)]
    pool: Option<String>,
    #[serde(default)]
    trigger_rule: Option<TriggerRule>,
    #[serde(default)]
    poke_interval: Option<DurationSpec>,
    #[serde(default)]
    timeout: Option<DurationSpec>,
    #[serde(default)]
    soft_fail: Option<bool>,
    #[serde(default)]
    mode: Option<SensorMode>,
}

/// The keys every task accepts besides its type's own.
/// Only the keys in `COMMON_KEYS` reach it (the task's mapping is split by key first), so it
/// needs no `deny_unknown_fields` (which serde does not support together with `flatten`).
#[derive(Debug, Default, Deserialize)]
struct RawCommon {
    id: String,
    #[serde(default)]
    depends_on: OneOrMany,
    #[serde(default)]
    doc: Option<String>,
    #[serde(default)]
    map: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    priority_weight: Option<i64>,
    #[serde(flatten)]
    overrides: RawDefaultsNoOwner,
}

/// `RawDefaults` without `owner`, for task-level overrides (flattened, so no
/// `deny_unknown_fields` of its own: the key split below checks names).
#[derive(Debug, Default, Clone, Deserialize)]
struct RawDefaultsNoOwner {
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    retry_delay: Option<DurationSpec>,
    #[serde(default)]
    retry_exponential_backoff: Option<bool>,
    #[serde(default)]
    max_retry_delay: Option<DurationSpec>,
    #[serde(default)]
    execution_timeout: Option<DurationSpec>,
    #[serde(default)]
    sla: Option<DurationSpec>,
    #[serde(default)]
    pool: Option<String>,
    #[serde(default)]
    trigger_rule: Option<TriggerRule>,
    #[serde(default)]
    poke_interval: Option<DurationSpec>,
    #[serde(default)]
    timeout: Option<DurationSpec>,
    #[serde(default)]
    soft_fail: Option<bool>,
    #[serde(default)]
    mode: Option<SensorMode>,
}

const COMMON_KEYS: &[&str] = &[
    "id",
    "depends_on",
    "doc",
    "map",
    "priority_weight",
    "retries",
    "retry_delay",
    "retry_exponential_backoff",
    "max_retry_delay",
    "execution_timeout",
    "sla",
    "pool",
    "trigger_rule",
    "poke_interval",
    "timeout",
    "soft_fail",
    "mode",
];

const SENSOR_KEYS: &[&str] = &["poke_interval", "timeout", "soft_fail", "mode"];

/// A task group: a namespace for task ids with dependencies applied to its first tasks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    group: String,
    #[serde(default)]
    depends_on: OneOrMany,
    #[serde(default)]
    tooltip: Option<String>,
    tasks: Vec<Value>,
}

/// A string or a list of strings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn names(&self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// A task before its dependencies are resolved.
struct Pending {
    task: Task,
    /// The id without the `[item]` suffix, which names every item of a mapped task.
    base_id: String,
    /// Dependency names as written, and the group scope they are resolved in.
    depends_on: Vec<String>,
}

/// A group, for resolving references to it and applying its dependencies.
struct GroupInfo {
    id: String,
    parent: Option<String>,
    depends_on: Vec<String>,
    line: Option<usize>,
}

struct Loader<'a> {
    file: &'a Path,
    text: &'a str,
    /// The line of the last task or group found: entries are read in file order, so the next
    /// one is below it (two tasks named `load` in different groups get their own lines).
    cursor: usize,
    defaults: RawDefaults,
    pending: Vec<Pending>,
    groups: Vec<GroupInfo>,
}

/// Loads and validates one pipeline file.
pub fn load_dag_file(file: &Path) -> Result<Dag> {
    let text = read(file)?;
    let raw: RawDag = serde_yaml_ng::from_str(&text).map_err(|err| Error::Spec {
        path: file.to_path_buf(),
        line: err.location().map(|l| l.line()),
        message: err.to_string(),
    })?;
    let spec_error = |key: &str, message: String| Error::Spec {
        path: file.to_path_buf(),
        line: dataflow_core::config::locate(&text, &[key.to_string()]),
        message,
    };
    check_id(&raw.dag_id, "dag_id").map_err(|m| spec_error("dag_id", m))?;
    let schedule = match raw.schedule.as_deref() {
        None => Schedule::None,
        Some(text) => schedule::parse(text).map_err(|m| spec_error("schedule", m))?,
    };
    let start_date = raw
        .start_date
        .as_deref()
        .map(parse_instant)
        .transpose()
        .map_err(|m| spec_error("start_date", m))?;
    let end_date = raw
        .end_date
        .as_deref()
        .map(parse_instant)
        .transpose()
        .map_err(|m| spec_error("end_date", m))?;
    if start_date.is_none() && !matches!(schedule, Schedule::None) {
        return Err(spec_error(
            "schedule",
            "a scheduled DAG needs a `start_date` (a date like 2024-01-01 or an RFC 3339 time)"
                .to_string(),
        ));
    }
    if raw.max_active_runs == 0 {
        return Err(spec_error(
            "max_active_runs",
            "max_active_runs must be at least 1".to_string(),
        ));
    }
    if raw.tasks.is_empty() {
        return Err(spec_error(
            "tasks",
            "a DAG needs at least one task".to_string(),
        ));
    }
    let mut loader = Loader {
        file,
        text: &text,
        cursor: 0,
        defaults: raw.default_args.clone(),
        pending: Vec::new(),
        groups: Vec::new(),
    };
    loader.items(&raw.tasks, None)?;
    let tasks = loader.resolve()?;
    let lines: BTreeMap<String, usize> =
        tasks.iter().map(|t| (t.task_id.clone(), t.line)).collect();
    let tasks = topological(tasks).map_err(|cycle| Error::Spec {
        path: file.to_path_buf(),
        line: cycle
            .first()
            .and_then(|id| lines.get(id).copied())
            .filter(|l| *l > 0),
        message: format!("dependency cycle: {}", cycle.join(" → ")),
    })?;
    let dag = Dag {
        dag_id: raw.dag_id,
        description: raw.description,
        schedule,
        start_date,
        end_date,
        catchup: raw.catchup,
        max_active_runs: raw.max_active_runs,
        tags: raw.tags,
        owner: raw.default_args.owner,
        params: raw.params,
        notifications: raw.notifications,
        tasks,
        file: file.to_path_buf(),
    };
    for task in &dag.tasks {
        template::check_task(&dag, task).map_err(|message| Error::Spec {
            path: file.to_path_buf(),
            line: Some(task.line),
            message: format!("task `{}`: {message}", task.task_id),
        })?;
    }
    Ok(dag)
}

impl Loader<'_> {
    fn error(&self, line: Option<usize>, message: String) -> Error {
        Error::Spec {
            path: self.file.to_path_buf(),
            line,
            message,
        }
    }

    /// Reads a list of tasks and groups inside `group` (None at the top level).
    fn items(&mut self, items: &[Value], group: Option<&str>) -> Result<()> {
        for item in items {
            let Some(map) = item.as_mapping() else {
                return Err(self.error(
                    None,
                    format!(
                        "every entry of `tasks` must be a mapping with `id` and `type` (or \
                         `group` and `tasks`), found {}",
                        describe(item)
                    ),
                ));
            };
            if map.contains_key("group") {
                self.group(item, group)?;
            } else {
                self.task(map, group)?;
            }
        }
        Ok(())
    }

    fn group(&mut self, item: &Value, parent: Option<&str>) -> Result<()> {
        let name_line = item
            .get("group")
            .and_then(Value::as_str)
            .and_then(|n| find_line(self.text, "group", n, self.cursor));
        self.cursor = name_line.unwrap_or(self.cursor);
        let raw: RawGroup = serde_yaml_ng::from_value(item.clone())
            .map_err(|err| self.error(name_line, format!("task group: {err}")))?;
        check_id(&raw.group, "group").map_err(|m| self.error(name_line, m))?;
        let id = match parent {
            Some(p) => format!("{p}.{}", raw.group),
            None => raw.group.clone(),
        };
        if self.groups.iter().any(|g| g.id == id) {
            return Err(self.error(name_line, format!("task group `{id}` is defined twice")));
        }
        let _ = raw.tooltip;
        self.groups.push(GroupInfo {
            id: id.clone(),
            parent: parent.map(str::to_string),
            depends_on: raw.depends_on.names(),
            line: name_line,
        });
        self.items(&raw.tasks, Some(&id))
    }

    fn task(&mut self, map: &Mapping, group: Option<&str>) -> Result<()> {
        let id_text = map.get("id").and_then(Value::as_str).unwrap_or("");
        let line = if id_text.is_empty() {
            None
        } else {
            find_line(self.text, "id", id_text, self.cursor)
        };
        self.cursor = line.unwrap_or(self.cursor);
        let mut common = Mapping::new();
        let mut kind = Mapping::new();
        for (key, value) in map {
            let name = key.as_str().unwrap_or("");
            if COMMON_KEYS.contains(&name) {
                common.insert(key.clone(), value.clone());
            } else {
                kind.insert(key.clone(), value.clone());
            }
        }
        let common: RawCommon = serde_yaml_ng::from_value(Value::Mapping(common))
            .map_err(|err| self.error(line, format!("task `{id_text}`: {err}")))?;
        check_id(&common.id, "task id").map_err(|m| self.error(line, m))?;
        if !kind.contains_key("type") {
            return Err(self.error(
                line,
                format!(
                    "task `{}` has no `type`; one of: {}",
                    common.id,
                    TaskKind::TYPES.join(", ")
                ),
            ));
        }
        let kind: TaskKind = serde_yaml_ng::from_value(Value::Mapping(kind)).map_err(|err| {
            // Point at the offending key when the message names one.
            let message = err.to_string();
            let key = if message.starts_with("unknown variant") {
                Some("type")
            } else {
                message
                    .strip_prefix("unknown field `")
                    .and_then(|rest| rest.split('`').next())
            };
            self.error(
                key.and_then(|k| line.and_then(|l| key_line(self.text, l, k)))
                    .or(line),
                if message.starts_with("unknown field") {
                    let typed: Vec<&str> = COMMON_KEYS.to_vec();
                    let hint = key
                        .and_then(|k| {
                            dataflow_core::suggest::closest_within(k, typed.iter().copied(), 2)
                        })
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    format!(
                        "task `{}`: {err} (or one of the keys every task accepts: {}){hint}",
                        common.id,
                        COMMON_KEYS.join(", ")
                    )
                } else {
                    format!("task `{}`: {err}", common.id)
                },
            )
        })?;
        let over = &common.overrides;
        let d = &self.defaults;
        let sensor = if kind.is_sensor() {
            Some(SensorSettings {
                poke_interval: over
                    .poke_interval
                    .or(d.poke_interval)
                    .unwrap_or(DurationSpec(Duration::from_secs(60))),
                timeout: over
                    .timeout
                    .or(d.timeout)
                    .unwrap_or(DurationSpec(Duration::from_secs(7 * 24 * 3600))),
                soft_fail: over.soft_fail.or(d.soft_fail).unwrap_or(false),
                mode: over.mode.or(d.mode).unwrap_or_default(),
            })
        } else {
            let used: Vec<&str> = SENSOR_KEYS
                .iter()
                .copied()
                .filter(|k| map.contains_key(*k))
                .collect();
            if !used.is_empty() {
                let key_line = used
                    .first()
                    .and_then(|k| line.and_then(|l| key_line(self.text, l, k)));
                return Err(self.error(
                    key_line.or(line),
                    format!(
                        "task `{}`: {} only apply to sensors, and `{}` is not one",
                        common.id,
                        used.join(", "),
                        kind.type_name()
                    ),
                ));
            }
            None
        };
        let base_id = match group {
            Some(g) => format!("{g}.{}", common.id),
            None => common.id.clone(),
        };
        let template = Task {
            task_id: base_id.clone(),
            group: group.map(str::to_string),
            kind,
            upstream: Vec::new(),
            trigger_rule: over.trigger_rule.or(d.trigger_rule).unwrap_or_default(),
            retries: over.retries.or(d.retries).unwrap_or(0),
            retry_delay: over
                .retry_delay
                .or(d.retry_delay)
                .map(|d| d.0)
                .unwrap_or(Duration::from_secs(300)),
            retry_exponential_backoff: over
                .retry_exponential_backoff
                .or(d.retry_exponential_backoff)
                .unwrap_or(false),
            max_retry_delay: over.max_retry_delay.or(d.max_retry_delay).map(|d| d.0),
            execution_timeout: over.execution_timeout.or(d.execution_timeout).map(|d| d.0),
            sla: over.sla.or(d.sla).map(|d| d.0),
            pool: over
                .pool
                .clone()
                .or_else(|| d.pool.clone())
                .unwrap_or_else(|| "default_pool".to_string()),
            priority_weight: common.priority_weight.unwrap_or(1),
            sensor,
            map_item: None,
            line: line.unwrap_or(0),
        };
        let _ = common.doc;
        let expanded: Vec<Task> = match &common.map {
            None => vec![template],
            Some(items) if items.is_empty() => {
                return Err(self.error(
                    line,
                    format!("task `{}`: `map` needs at least one item", common.id),
                ));
            }
            Some(items) => {
                let mut seen = BTreeSet::new();
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let label = match item {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Number(n) => n.to_string(),
                        _ => i.to_string(),
                    };
                    if !seen.insert(label.clone()) {
                        return Err(self.error(
                            line,
                            format!("task `{}`: `map` lists `{label}` twice", common.id),
                        ));
                    }
                    let mut task = template.clone();
                    task.task_id = format!("{base_id}[{label}]");
                    task.map_item = Some(item.clone());
                    out.push(task);
                }
                out
            }
        };
        for task in expanded {
            if self.pending.iter().any(|p| p.task.task_id == task.task_id) {
                return Err(self.error(line, format!("task id `{}` is used twice", task.task_id)));
            }
            self.pending.push(Pending {
                task,
                base_id: base_id.clone(),
                depends_on: common.depends_on.names(),
            });
        }
        Ok(())
    }

    /// Resolves every dependency name to full task ids and applies group dependencies.
    fn resolve(mut self) -> Result<Vec<Task>> {
        let groups: BTreeSet<String> = self.groups.iter().map(|g| g.id.clone()).collect();
        // Task-level names first: tasks, mapped bases and groups (a group means its leaves).
        let mut edges: Vec<Vec<String>> = Vec::with_capacity(self.pending.len());
        let mut group_refs: Vec<Vec<(String, usize)>> = Vec::with_capacity(self.pending.len());
        for pending in &self.pending {
            let mut ups = Vec::new();
            let mut refs = Vec::new();
            for name in &pending.depends_on {
                match self.lookup(name, pending.task.group.as_deref(), &groups) {
                    Some(Target::Tasks(ids)) => ups.extend(ids),
                    Some(Target::Group(g)) => refs.push((g, pending.task.line)),
                    None => {
                        return Err(self.unknown(
                            name,
                            Some(pending.task.line),
                            &pending.task.task_id,
                        ));
                    }
                }
            }
            edges.push(ups);
            group_refs.push(refs);
        }
        let members = |g: &str, pending: &[Pending]| -> Vec<usize> {
            let prefix = format!("{g}.");
            pending
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    p.task.group.as_deref() == Some(g)
                        || p.task
                            .group
                            .as_deref()
                            .is_some_and(|x| x.starts_with(&prefix))
                })
                .map(|(i, _)| i)
                .collect()
        };
        // Group references resolve to the group's leaves, computed on task-level edges (deepest
        // groups first so nested references are settled before their parents').
        let mut order: Vec<&GroupInfo> = self.groups.iter().collect();
        order.sort_by_key(|g| std::cmp::Reverse(g.id.matches('.').count()));
        let mut leaves: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for group in &order {
            let inside = members(&group.id, &self.pending);
            let ids: BTreeSet<&str> = inside
                .iter()
                .map(|&i| self.pending[i].task.task_id.as_str())
                .collect();
            let mut internal_upstreams: BTreeSet<String> = BTreeSet::new();
            for &i in &inside {
                for up in &edges[i] {
                    if ids.contains(up.as_str()) {
                        internal_upstreams.insert(up.clone());
                    }
                }
                for (g, _) in &group_refs[i] {
                    if let Some(l) = leaves.get(g) {
                        internal_upstreams
                            .extend(l.iter().filter(|x| ids.contains(x.as_str())).cloned());
                    }
                }
            }
            // A nested group's own `depends_on` on members of this group makes them upstreams
            // too (`publish` depending on `transform` means `transform` is not a leaf). Nested
            // groups are deeper, so their leaves are known already; unknown names are reported
            // below.
            let nested = format!("{}.", group.id);
            for sub in self.groups.iter().filter(|s| s.id.starts_with(&nested)) {
                for name in &sub.depends_on {
                    let targets = match self.lookup(name, sub.parent.as_deref(), &groups) {
                        Some(Target::Tasks(found)) => found,
                        Some(Target::Group(g)) => leaves.get(&g).cloned().unwrap_or_default(),
                        None => Vec::new(),
                    };
                    internal_upstreams
                        .extend(targets.into_iter().filter(|x| ids.contains(x.as_str())));
                }
            }
            let group_leaves: Vec<String> = inside
                .iter()
                .map(|&i| self.pending[i].task.task_id.clone())
                .filter(|id| !internal_upstreams.contains(id))
                .collect();
            if group_leaves.is_empty() {
                return Err(self.error(
                    group.line,
                    format!("task group `{}` has no tasks", group.id),
                ));
            }
            leaves.insert(group.id.clone(), group_leaves);
        }
        for (i, refs) in group_refs.iter().enumerate() {
            for (g, _) in refs {
                if let Some(l) = leaves.get(g) {
                    edges[i].extend(l.iter().cloned());
                }
            }
        }
        // A group's own `depends_on` applies to its roots: members with no upstream inside it.
        // Deepest groups first, so a member that waits for a sibling through its nested
        // group's `depends_on` is not taken for a root of the enclosing group.
        for group in &order {
            if group.depends_on.is_empty() {
                continue;
            }
            let mut targets = Vec::new();
            for name in &group.depends_on {
                match self.lookup(name, group.parent.as_deref(), &groups) {
                    Some(Target::Tasks(ids)) => targets.extend(ids),
                    Some(Target::Group(g)) => {
                        targets.extend(leaves.get(&g).cloned().unwrap_or_default())
                    }
                    None => return Err(self.unknown(name, group.line, &group.id)),
                }
            }
            let inside = members(&group.id, &self.pending);
            let ids: BTreeSet<String> = inside
                .iter()
                .map(|&i| self.pending[i].task.task_id.clone())
                .collect();
            for &i in &inside {
                if !edges[i].iter().any(|u| ids.contains(u)) {
                    edges[i].extend(targets.iter().cloned());
                }
            }
        }
        let mut tasks = Vec::with_capacity(self.pending.len());
        for (pending, mut ups) in std::mem::take(&mut self.pending).into_iter().zip(edges) {
            let mut seen = BTreeSet::new();
            ups.retain(|u| seen.insert(u.clone()));
            if ups.contains(&pending.task.task_id) {
                return Err(self.error(
                    Some(pending.task.line),
                    format!("task `{}` depends on itself", pending.task.task_id),
                ));
            }
            let mut task = pending.task;
            task.upstream = ups;
            tasks.push(task);
        }
        Ok(tasks)
    }

    /// Finds what a dependency name means in a group scope: the innermost enclosing scope
    /// that has a task, mapped task or group of that name wins.
    fn lookup(&self, name: &str, scope: Option<&str>, groups: &BTreeSet<String>) -> Option<Target> {
        let mut scopes: Vec<String> = Vec::new();
        let mut current = scope.map(str::to_string);
        while let Some(s) = current {
            scopes.push(format!("{s}.{name}"));
            current = s.rsplit_once('.').map(|(p, _)| p.to_string());
        }
        scopes.push(name.to_string());
        for candidate in scopes {
            let tasks: Vec<String> = self
                .pending
                .iter()
                .filter(|p| p.task.task_id == candidate || p.base_id == candidate)
                .map(|p| p.task.task_id.clone())
                .collect();
            if !tasks.is_empty() {
                return Some(Target::Tasks(tasks));
            }
            if groups.contains(&candidate) {
                return Some(Target::Group(candidate));
            }
        }
        None
    }

    fn unknown(&self, name: &str, line: Option<usize>, who: &str) -> Error {
        let known: Vec<String> = self
            .pending
            .iter()
            .map(|p| p.base_id.clone())
            .chain(self.groups.iter().map(|g| g.id.clone()))
            .collect();
        let hint =
            dataflow_core::suggest::closest_within(name, known.iter().map(String::as_str), 3)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
        self.error(
            line,
            format!("`{who}` depends on unknown task or group `{name}`{hint}"),
        )
    }
}

enum Target {
    Tasks(Vec<String>),
    Group(String),
}

/// Ids are letters, digits, `_` and `-`: dots separate groups and brackets mark mapped items.
fn check_id(id: &str, what: &str) -> std::result::Result<(), String> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "{what} `{id}` must be non-empty and use only letters, digits, `_` and `-`"
        ));
    }
    Ok(())
}

/// Parses a date (`2024-01-01`, midnight UTC), a naive date-time (UTC) or an RFC 3339 instant.
pub fn parse_instant(text: &str) -> std::result::Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(format!(
        "`{text}` is not a date (2024-01-01), date-time (2024-01-01 06:00:00) or RFC 3339 instant"
    ))
}

/// The 1-based line of `key: value` in the text (quoted or not, in a list item or not), below
/// line `after` (0 searches the whole text).
fn find_line(text: &str, key: &str, value: &str, after: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(after)
        .find(|(_, line)| {
            let t = line.trim_start().trim_start_matches("- ").trim();
            let Some(rest) = t.strip_prefix(key).and_then(|r| r.strip_prefix(':')) else {
                return false;
            };
            let v = rest
                .split(" #")
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\'']);
            v == value
        })
        .map(|(i, _)| i + 1)
}

/// The 1-based line of `key:` in the mapping whose entry `id: …` is on line `entry` (searching
/// that entry's block downwards; keys written above `id` are not found).
fn key_line(text: &str, entry: usize, key: &str) -> Option<usize> {
    let mut lines = text.lines().enumerate().skip(entry.checked_sub(1)?);
    let (_, first) = lines.next()?;
    // The column the entry's keys start at: after the indentation and a `- `, if any.
    let trimmed = first.trim_start();
    let keys = trimmed.strip_prefix("- ").map_or(trimmed, str::trim_start);
    let column = first.len() - keys.len();
    let wanted = format!("{key}:");
    for (i, line) in lines {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        if indent < column {
            return None;
        }
        if indent == column && body.starts_with(&wanted) {
            return Some(i + 1);
        }
    }
    None
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string `{s}`"),
        Value::Sequence(_) => "a list".to_string(),
        Value::Null => "an empty entry".to_string(),
        other => format!(
            "`{}`",
            serde_yaml_ng::to_string(other).unwrap_or_default().trim()
        ),
    }
}
