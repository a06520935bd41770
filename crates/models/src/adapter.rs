//! The parts of dbt's Jinja context that real projects lean on beyond `ref` and `source`:
//! `adapter.dispatch` (a macro's `datafusion__` or `default__` implementation, or the built-in
//! one), `adapter.quote`, `adapter.get_columns_in_relation`, `return()`, `log()`, `execute`, and dbt's
//! own macros callable without the `dbt.` prefix (`{{ type_string() }}`).

use std::sync::Arc;

use minijinja::value::{Object, Rest, Value};
use minijinja::{Environment, Error, ErrorKind, State};

use crate::introspect::{Introspection, Misses};
use crate::macros::CrossDbMacros;
use crate::relation_macros::quote;

/// The `adapter` object.
#[derive(Debug)]
pub struct Adapter {
    /// The `dbt` / `dbt_utils` namespace, for dispatch to built-in macros.
    pub builtins: Arc<CrossDbMacros>,
    /// Answers for `get_columns_in_relation`.
    pub introspection: Arc<Introspection>,
    /// What this render could not be told yet.
    pub misses: Misses,
}

/// dbt's macros that projects call without a namespace.
const GLOBAL_MACROS: &[&str] = &[
    "type_string",
    "type_int",
    "type_bigint",
    "type_float",
    "type_numeric",
    "type_boolean",
    "type_timestamp",
    "safe_cast",
    "cast",
    "concat",
    "hash",
    "datediff",
    "dateadd",
    "date_trunc",
    "last_day",
    "split_part",
    "listagg",
    "any_value",
    "bool_or",
    "current_timestamp",
    "current_timestamp_backcompat",
    "string_literal",
    "safe_add",
    "safe_subtract",
];

fn argument(args: &[Value], name: &str) -> Result<String, Error> {
    args.first()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::MissingArgument,
                format!("adapter.{name}() needs an argument"),
            )
        })
}

impl Adapter {
    fn dispatch(&self, state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let name = argument(args, "dispatch")?;
        // dbt looks for <adapter>__name, then default__name, in the project and packages.
        for prefix in ["datafusion__", "default__"] {
            if let Some(found) = state.lookup(&format!("{prefix}{name}"))
                && !found.is_undefined()
            {
                return Ok(found);
            }
        }
        let builtins = self.builtins.clone();
        let method = name.clone();
        // A dbt built-in (dispatch('datediff', 'dbt')): call our implementation.
        if builtins.has(&method) {
            return Ok(Value::from_function(
                move |args: Rest<Value>| -> Result<Value, Error> {
                    builtins.render_macro(&method, &args)
                },
            ));
        }
        Err(Error::new(
            ErrorKind::UnknownFunction,
            format!(
                "adapter.dispatch('{name}'): no macro named datafusion__{name} or default__{name}"
            ),
        ))
    }

    fn columns(&self, args: &[Value]) -> Result<Value, Error> {
        let relation = argument(args, "get_columns_in_relation")?;
        let columns = self
            .introspection
            .columns(&relation, &self.misses)
            .unwrap_or_default();
        Ok(Value::from(
            columns
                .into_iter()
                .map(|(name, data_type)| {
                    Value::from(minijinja::value::Serde(serde_json::json!({
                        "name": name, "column": name, "quoted": quote(&name),
                        "data_type": data_type, "dtype": data_type,
                    })))
                })
                .collect::<Vec<_>>(),
        ))
    }
}

impl Object for Adapter {
    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "dispatch" => self.dispatch(state, args),
            "quote" => Ok(Value::from(quote(&argument(args, "quote")?))),
            "get_columns_in_relation" => self.columns(args),
            other => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("adapter.{other}() is not available in dataflow"),
            )),
        }
    }
}

/// Adds `adapter`, `return`, `execute` and the namespace-free dbt macros to `env`.
pub fn install(env: &mut Environment<'_>, adapter: Adapter) {
    let builtins = adapter.builtins.clone();
    env.add_global("adapter", Value::from_object(adapter));
    env.add_global("execute", Value::from(true));
    // dbt's return() ends a macro with a value; a macro's output here is its text, so return()
    // renders the value and the caller receives it as text (which is what SQL-building
    // macros return).
    env.add_function("return", |value: Value| value);
    // dbt's log(): to the log (info=True at info level), rendering nothing.
    env.add_function("log", |message: Value, info: Option<bool>| -> Value {
        if info.unwrap_or(false) {
            tracing::info!(target: "dbt", "{message}");
        } else {
            tracing::debug!(target: "dbt", "{message}");
        }
        Value::from("")
    });
    for name in GLOBAL_MACROS {
        let builtins = builtins.clone();
        env.add_function(*name, move |args: Rest<Value>| -> Result<Value, Error> {
            builtins.render_macro(name, &args)
        });
    }
}
