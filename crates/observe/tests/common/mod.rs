//! Shared by the observe tests: a store on PostgreSQL in a schema of its own.

use dataflow_orchestrator::store::{Db, Store};

/// Errors of test code.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A store in a fresh schema `name` on `DATAFLOW_TEST_POSTGRES_URL`, and the admin connection
/// to drop it with; `None` (with a note) when the variable is unset, an error when `CI=true`.
pub async fn postgres_store(name: &str) -> TestResult<Option<(Store, Db, String)>> {
    let base = match std::env::var("DATAFLOW_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            return Err("DATAFLOW_TEST_POSTGRES_URL must be set in CI".into());
        }
        _ => {
            eprintln!("note: DATAFLOW_TEST_POSTGRES_URL is not set, so this test is skipped");
            return Ok(None);
        }
    };
    let admin = Db::connect(&base).await?;
    let schema = format!("{name}_{}", std::process::id());
    admin
        .execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"), &[])
        .await?;
    admin
        .execute(&format!("CREATE SCHEMA {schema}"), &[])
        .await?;
    let separator = if base.contains('?') { '&' } else { '?' };
    let store = Store::open(&format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
    .await?;
    Ok(Some((store, admin, schema)))
}

/// Drops the schema made by [`postgres_store`].
pub async fn drop_schema(admin: &Db, schema: &str) -> TestResult {
    admin
        .execute(&format!("DROP SCHEMA {schema} CASCADE"), &[])
        .await?;
    Ok(())
}
