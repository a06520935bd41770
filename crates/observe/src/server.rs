//! The HTTP listener of `dataflow serve`: `/metrics` (Prometheus text, or OpenMetrics when
//! asked), `/health` (the process answers) and `/ready` (the metadata store answers and, when
//! hosted, the scheduler runs).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dataflow_orchestrator::store::Store;

use crate::catalog;
use crate::collect;
use crate::endpoint;
use crate::exposition::Family;
use crate::process;

/// What the handlers share.
#[derive(Clone)]
pub struct ServerState {
    /// The metadata store the metrics come from.
    pub store: Store,
    /// The version reported by `dataflow_build_info`.
    pub version: &'static str,
    /// Heartbeat age after which a scheduler no longer counts as alive.
    pub scheduler_timeout: Duration,
    /// Set while a scheduler hosted by this process runs; `None` when none is hosted.
    pub scheduler_running: Option<Arc<AtomicBool>>,
    /// Families of components hosted in the process with in-memory counters (streams).
    pub hosted: Option<crate::endpoint::FamilySource>,
}

/// The routes.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/health", get(endpoint::health))
        .route("/ready", get(ready))
        .with_state(Arc::new(state))
}

/// Serves `router(state)` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn index() -> &'static str {
    "dataflow serve\n\n/metrics  Prometheus metrics (OpenMetrics with Accept: application/openmetrics-text)\n/health   liveness\n/ready    readiness: metadata store reachable, hosted scheduler running\n"
}

async fn ready(State(state): State<Arc<ServerState>>) -> Response {
    if let Err(e) = state.store.db.query("SELECT 1", &[]).await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: metadata store {}: {e}\n",
                state.store.db.target()
            ),
        )
            .into_response();
    }
    if let Some(running) = &state.scheduler_running
        && !running.load(Ordering::SeqCst)
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the hosted scheduler is not running\n",
        )
            .into_response();
    }
    (StatusCode::OK, "ready\n").into_response()
}

async fn metrics(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    endpoint::scrape_response(&headers, &gather(&state).await)
}

/// Every family of one scrape. A store that cannot be read still gives a scrape: the process
/// families and `dataflow_metadata_store_up 0`, which the `MetadataStoreDown` alert watches.
pub async fn gather(state: &ServerState) -> Vec<Family> {
    let started = Instant::now();
    let mut out = vec![endpoint::build_info(state.version)];
    let backend = state.store.db.backend().name();
    let stored = collect::from_store(&state.store, chrono::Utc::now(), state.scheduler_timeout)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "metrics: the metadata store cannot be read"));
    let mut up = Family::new(catalog::METADATA_STORE_UP);
    up.push(&[backend], if stored.is_ok() { 1.0 } else { 0.0 });
    out.push(up);
    out.extend(stored.unwrap_or_default());
    if let Some(hosted) = &state.hosted {
        out.extend(hosted());
    }
    out.extend(process::families());
    let mut took = Family::new(catalog::SCRAPE_DURATION);
    took.push(&[], started.elapsed().as_secs_f64());
    out.push(took);
    out
}
