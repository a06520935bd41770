//! Rendering a model's Jinja with minijinja: `ref`, `source`, `config`, `var`, `env_var`,
//! `is_incremental`, `this`, `target`, `run_started_at`, `invocation_id`, and the project's
//! macros. Rendering also records what the model depends on.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, ErrorKind as JinjaErrorKind, UndefinedBehavior, context};
use serde_yaml_ng::Value;

use crate::error::{Error, Result};
use crate::project::{DbtProject, Materialization, Model, ModelConfig};

/// A rendered model.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Model name.
    pub name: String,
    /// Its file.
    pub path: std::path::PathBuf,
    /// SQL after Jinja.
    pub sql: String,
    /// Models it refs, in order of appearance.
    pub refs: Vec<String>,
    /// Lake tables it reads through `source()`.
    pub sources: Vec<String>,
    /// Final configuration.
    pub config: ModelConfig,
    /// How to build it.
    pub materialization: Materialization,
    /// Questions introspective macros could not answer while rendering: the model is rendered
    /// again once the runner has answered them.
    pub pending: Vec<crate::introspect::Request>,
    /// Why the model did not render: it fails (and its descendants are skipped) while the
    /// rest of the project runs.
    pub render_error: Option<String>,
    /// Names of the enabled unit tests of this model (for selection).
    pub unit_tests: Vec<String>,
}

impl Compiled {
    /// A model whose Jinja failed: no SQL, no known dependencies, the error kept.
    pub fn failed(model: &Model, error: &Error) -> Compiled {
        Compiled {
            name: model.name.clone(),
            path: model.path.clone(),
            sql: String::new(),
            refs: Vec::new(),
            sources: Vec::new(),
            materialization: Materialization::parse(&model.config.materialized)
                .unwrap_or(Materialization::View),
            config: model.config.clone(),
            pending: Vec::new(),
            render_error: Some(error.to_string()),
            unit_tests: Vec::new(),
        }
    }
}

/// Values every model of one invocation sees.
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// `--vars`, overriding the project's `vars:`.
    pub vars: BTreeMap<String, Value>,
    /// `run_started_at`.
    pub run_started_at: String,
    /// `invocation_id`.
    pub invocation_id: String,
    /// Lake tables that exist now (for `is_incremental()`).
    pub existing_tables: std::collections::BTreeSet<String>,
    /// `--full-refresh`: incremental models are rebuilt from scratch.
    pub full_refresh: bool,
    /// Columns and values read for introspective macros, shared by every render.
    pub introspection: Arc<crate::introspect::Introspection>,
}

/// The CTE name an ephemeral model is inlined under.
pub fn cte_name(model: &str) -> String {
    format!("__dbt__cte__{model}")
}

fn jinja_error(message: String) -> minijinja::Error {
    minijinja::Error::new(JinjaErrorKind::InvalidOperation, message)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How a unit test renders its model: its `given` inputs stand in for the relations the model
/// reads, and its overrides replace macros, context values, vars and env vars.
#[derive(Debug, Clone, Default)]
pub struct Mocks {
    /// Model or seed name to the relation holding its mocked rows.
    pub refs: BTreeMap<String, String>,
    /// `(source, table)` to the relation holding its mocked rows.
    pub sources: BTreeMap<(String, String), String>,
    /// What `{{ this }}` names: the mocked `this` input, else the model itself.
    pub this: Option<String>,
    /// `overrides.macros`: a macro (or context value such as `invocation_id`) to what it returns.
    pub macros: BTreeMap<String, Value>,
    /// `overrides.vars`.
    pub vars: BTreeMap<String, Value>,
    /// `overrides.env_vars`.
    pub env_vars: BTreeMap<String, String>,
}

/// Names of the render context's values (not callables) a unit test may override.
const CONTEXT_VALUES: &[&str] = &["invocation_id", "run_started_at"];

/// A YAML value as a Jinja value.
fn jinja_value(value: &Value) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(value.clone()))
}

/// Whether an override value is true as Jinja would see it (`is_incremental: true`).
fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"),
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::Null => false,
        _ => true,
    }
}

impl Mocks {
    /// Jinja that rebinds overridden project macros at the top of the model (on its first line,
    /// so error lines stay right): a macro named `x` becomes a function returning the value.
    fn prologue(&self) -> String {
        self.macros
            .keys()
            .filter(|name| {
                !name.contains('.')
                    && name.as_str() != "is_incremental"
                    && !CONTEXT_VALUES.contains(&name.as_str())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit())
            })
            .map(|name| format!("{{% set {name} = __dbt_unit_override('{name}') %}}"))
            .collect()
    }
}

/// Renders one model.
pub fn compile(
    project: &DbtProject,
    model: &Model,
    ctx: &RenderContext,
    ephemeral: &std::collections::BTreeSet<String>,
) -> Result<Compiled> {
    compile_inner(project, model, ctx, ephemeral, None)
}

/// Renders a model for a unit test: `ref()` and `source()` name the mocked inputs (an input
/// the test does not give is an error), and the overrides apply.
pub fn compile_mocked(
    project: &DbtProject,
    model: &Model,
    ctx: &RenderContext,
    mocks: &Mocks,
) -> Result<Compiled> {
    compile_inner(project, model, ctx, &Default::default(), Some(mocks))
}

fn compile_inner(
    project: &DbtProject,
    model: &Model,
    ctx: &RenderContext,
    ephemeral: &std::collections::BTreeSet<String>,
    mocks: Option<&Mocks>,
) -> Result<Compiled> {
    let refs = Arc::new(Mutex::new(Vec::<String>::new()));
    let sources = Arc::new(Mutex::new(Vec::<String>::new()));
    let config = Arc::new(Mutex::new(model.config.clone()));
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    {
        let refs = refs.clone();
        let ephemeral = ephemeral.clone();
        let mocked = mocks.map(|m| m.refs.clone());
        env.add_function(
            "ref",
            move |args: Rest<String>| -> std::result::Result<String, minijinja::Error> {
                let name = args
                    .last()
                    .cloned()
                    .ok_or_else(|| jinja_error("ref() needs a model name".into()))?;
                lock(&refs).push(name.clone());
                if let Some(mocked) = &mocked {
                    return mocked.get(&name).cloned().ok_or_else(|| {
                        jinja_error(format!(
                            "the model reads `ref('{name}')`, which is not a `given` input of \
                             the unit test; add `- input: ref('{name}')` with its rows \
                             (`rows: []` for none)"
                        ))
                    });
                }
                Ok(if ephemeral.contains(&name) {
                    cte_name(&name)
                } else {
                    name
                })
            },
        );
    }
    {
        let sources = sources.clone();
        let declared = project.sources.clone();
        let mocked = mocks.map(|m| m.sources.clone());
        env.add_function(
            "source",
            move |source: String, table: String| -> std::result::Result<String, minijinja::Error> {
                let found = declared
                    .iter()
                    .find(|s| s.source == source && s.table == table);
                let Some(found) = found else {
                    let known: Vec<String> = declared
                        .iter()
                        .map(|s| format!("{}.{}", s.source, s.table))
                        .collect();
                    let hint = crate::graph::closest(
                        &format!("{source}.{table}"),
                        known.iter().map(String::as_str),
                    )
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                    return Err(jinja_error(format!(
                        "unknown source `{source}.{table}`; {hint}declared sources: {}",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    )));
                };
                lock(&sources).push(found.identifier.clone());
                if let Some(mocked) = &mocked {
                    return mocked
                        .get(&(source.clone(), table.clone()))
                        .cloned()
                        .ok_or_else(|| {
                            jinja_error(format!(
                                "the model reads `source('{source}', '{table}')`, which is not a \
                             `given` input of the unit test; add `- input: source('{source}', \
                             '{table}')` with its rows (`rows: []` for none)"
                            ))
                        });
                }
                Ok(found.identifier.clone())
            },
        );
    }
    {
        let config = config.clone();
        env.add_function(
            "config",
            move |kwargs: Kwargs| -> std::result::Result<String, minijinja::Error> {
                for key in kwargs.args() {
                    let value: minijinja::Value = kwargs.get(key)?;
                    let yaml =
                        serde_yaml_ng::to_value(&value).map_err(|e| jinja_error(e.to_string()))?;
                    lock(&config).apply(key, &yaml);
                }
                Ok(String::new())
            },
        );
    }
    {
        let mut vars = project.vars.clone();
        vars.extend(ctx.vars.clone());
        if let Some(mocks) = mocks {
            vars.extend(mocks.vars.clone());
        }
        env.add_function(
            "var",
            move |name: String, default: Option<minijinja::Value>| -> std::result::Result<minijinja::Value, minijinja::Error> {
                match (vars.get(&name), default) {
                    (Some(value), _) => Ok(minijinja::Value::from(minijinja::value::Serde(value.clone()))),
                    (None, Some(default)) => Ok(default),
                    (None, None) => Err(jinja_error(format!(
                        "required var `{name}` is not set (set it in dbt_project.yml `vars:` or with --vars)"
                    ))),
                }
            },
        );
    }
    let mocked_env = mocks.map(|m| m.env_vars.clone()).unwrap_or_default();
    env.add_function(
        "env_var",
        move |name: String,
              default: Option<String>|
              -> std::result::Result<String, minijinja::Error> {
            if let Some(value) = mocked_env.get(&name) {
                return Ok(value.clone());
            }
            match (std::env::var(&name), default) {
                (Ok(value), _) => Ok(value),
                (Err(_), Some(default)) => Ok(default),
                (Err(_), None) => Err(jinja_error(format!(
                    "env_var `{name}` is not set and has no default"
                ))),
            }
        },
    );
    {
        let config = config.clone();
        let exists = ctx.existing_tables.contains(&model.name);
        let full_refresh = ctx.full_refresh;
        // A unit test runs the model as a full build unless it overrides is_incremental.
        let mocked = mocks.map(|m| m.macros.get("is_incremental").is_some_and(truthy));
        env.add_function("is_incremental", move || match mocked {
            Some(incremental) => incremental,
            None => lock(&config).materialized == "incremental" && exists && !full_refresh,
        });
    }
    if let Some(mocks) = mocks {
        let macros = mocks.macros.clone();
        env.add_function(
            "__dbt_unit_override",
            move |name: String| -> std::result::Result<minijinja::Value, minijinja::Error> {
                let value = macros.get(&name).map(jinja_value).unwrap_or_default();
                Ok(minijinja::Value::from_function(
                    move |_: Rest<minijinja::Value>| -> minijinja::Value { value.clone() },
                ))
            },
        );
    }
    let misses: crate::introspect::Misses = Arc::default();
    // Overrides of dbt's and dbt_utils' macros, by bare name (`dbt_utils.star` and `star`).
    let overrides = mocks
        .map(|m| {
            m.macros
                .iter()
                .map(|(name, value)| {
                    let bare = name.rsplit('.').next().unwrap_or(name).to_string();
                    (bare, jinja_value(value))
                })
                .collect()
        })
        .unwrap_or_default();
    let builtins = Arc::new(crate::macros::CrossDbMacros {
        introspection: ctx.introspection.clone(),
        misses: misses.clone(),
        overrides,
    });
    let cross_db = minijinja::Value::from_dyn_object(builtins.clone());
    env.add_global("dbt", cross_db.clone());
    env.add_global("dbt_utils", cross_db);
    crate::adapter::install(
        &mut env,
        crate::adapter::Adapter {
            builtins,
            introspection: ctx.introspection.clone(),
            misses: misses.clone(),
        },
    );

    let offset = project.macros.lines().count();
    let prologue = mocks.map(Mocks::prologue).unwrap_or_default();
    let source = format!("{}{prologue}{}", project.macros, model.raw_sql);
    let context_value = |name: &str, default: &str| -> minijinja::Value {
        match mocks.and_then(|m| m.macros.get(name)) {
            Some(value) => jinja_value(value),
            None => minijinja::Value::from(default),
        }
    };
    let this = mocks
        .and_then(|m| m.this.clone())
        .unwrap_or_else(|| model.name.clone());
    let rendered = env
        .render_str(
            &source,
            context! {
                this => this,
                run_started_at => context_value("run_started_at", &ctx.run_started_at),
                invocation_id => context_value("invocation_id", &ctx.invocation_id),
                target => context! { name => "dev", type => "datafusion", schema => "lake" },
            },
        )
        .map_err(|e| {
            let mut detail = e
                .detail()
                .map(str::to_string)
                .unwrap_or_else(|| e.kind().to_string());
            // `dbt_date.x(...)` with `dbt_date` undefined: a package we do not have.
            if let Some(name) = detail
                .split('`')
                .nth(1)
                .filter(|_| detail.ends_with("is undefined)") || detail.ends_with("is undefined"))
                .filter(|name| source.contains(&format!("{name}.")))
            {
                detail.push_str(&format!(
                    "; `{name}` looks like a dbt package: dataflow has `dbt` and `dbt_utils` \
                     built in and does not install dbt packages"
                ));
            }
            let (path, line, text) = match e.line() {
                // Inside a macro: name the macro file and line, and the model that called it.
                Some(line) if line > 0 && line <= offset => {
                    let (file, start) = project
                        .macro_sources
                        .iter()
                        .rev()
                        .find(|(_, start)| *start < line)
                        .cloned()
                        .unwrap_or_else(|| (model.path.clone(), 0));
                    let text = project.macros.lines().nth(line - 1).unwrap_or_default();
                    let called = format!(" (rendering {})", model.path.display());
                    (file, line - start, format!("{text}{called}"))
                }
                Some(line) => {
                    let line = line - offset;
                    let text = model.raw_sql.lines().nth(line.saturating_sub(1));
                    (
                        model.path.clone(),
                        line,
                        text.unwrap_or_default().to_string(),
                    )
                }
                None => (model.path.clone(), 0, String::new()),
            };
            let snippet = if text.trim().is_empty() {
                String::new()
            } else {
                format!("\n  | {}", text.trim_end())
            };
            Error::Render {
                path,
                line,
                message: format!("{detail}{snippet}"),
            }
        })?;
    let config = lock(&config).clone();
    let materialization =
        Materialization::parse(&config.materialized).map_err(|message| Error::Render {
            path: model.path.clone(),
            line: 0,
            message,
        })?;
    crate::incremental::validate_config(&config).map_err(|message| Error::Render {
        path: model.path.clone(),
        line: 0,
        message,
    })?;
    let refs = lock(&refs).clone();
    let sources = lock(&sources).clone();
    Ok(Compiled {
        name: model.name.clone(),
        path: model.path.clone(),
        sql: rendered.trim().trim_end_matches(';').to_string(),
        refs,
        sources,
        config,
        materialization,
        pending: {
            let mut pending = lock(&misses).clone();
            pending.sort();
            pending.dedup();
            pending
        },
        render_error: None,
        unit_tests: Vec::new(),
    })
}

/// Whether a seed is enabled: its `+enabled` is a boolean or Jinja rendered with `var()` (the
/// project's `vars:` under `--vars`), e.g. `"{{ var('load_source_data', false) }}"`.
pub fn seed_enabled(
    project: &DbtProject,
    seed: &crate::project::Seed,
    vars: &BTreeMap<String, Value>,
) -> Result<bool> {
    let text = match &seed.enabled {
        None => return Ok(true),
        Some(Value::Bool(enabled)) => return Ok(*enabled),
        Some(Value::String(text)) => text.clone(),
        Some(other) => {
            return Err(Error::Project {
                path: project.dir.join("dbt_project.yml"),
                message: format!(
                    "seed `{}`: +enabled must be true, false or Jinja, got {other:?}",
                    seed.name
                ),
            });
        }
    };
    let mut all = project.vars.clone();
    all.extend(vars.clone());
    let mut env = Environment::new();
    env.add_function(
        "var",
        move |name: String,
              default: Option<minijinja::Value>|
              -> std::result::Result<minijinja::Value, minijinja::Error> {
            match (all.get(&name), default) {
                (Some(value), _) => Ok(minijinja::Value::from(minijinja::value::Serde(
                    value.clone(),
                ))),
                (None, Some(default)) => Ok(default),
                (None, None) => Err(jinja_error(format!("required var `{name}` is not set"))),
            }
        },
    );
    let rendered = env.render_str(&text, ()).map_err(|e| Error::Project {
        path: project.dir.join("dbt_project.yml"),
        message: format!("seed `{}`: +enabled `{text}`: {e}", seed.name),
    })?;
    Ok(matches!(
        rendered.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes"
    ))
}
