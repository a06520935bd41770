//! The `/metrics` endpoint of a process that has no metadata store to read at scrape time —
//! a `dataflow stream` consumer: its families come from the caller's in-memory counters,
//! followed by the build and process families every dataflow endpoint has.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::catalog;
use crate::exposition::{Family, Format, encode};
use crate::process;

/// Gives the process's own families at each scrape.
pub type FamilySource = Arc<dyn Fn() -> Vec<Family> + Send + Sync>;

struct Endpoint {
    what: String,
    version: &'static str,
    source: FamilySource,
}

/// `/` (what serves), `/metrics` and `/health` for `what` (e.g. `dataflow stream orders`).
pub fn router(what: &str, version: &'static str, source: FamilySource) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(Arc::new(Endpoint {
            what: what.to_string(),
            version,
            source,
        }))
}

/// Serves [`router`] on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn index(State(endpoint): State<Arc<Endpoint>>) -> String {
    format!(
        "{}\n\n/metrics  Prometheus metrics (OpenMetrics with Accept: application/openmetrics-text)\n/health   liveness\n",
        endpoint.what
    )
}

/// `/health`: the process answers.
pub(crate) async fn health() -> &'static str {
    "ok\n"
}

/// `dataflow_build_info{version} 1`, the first family of every dataflow endpoint.
pub(crate) fn build_info(version: &str) -> Family {
    let mut build = Family::new(catalog::BUILD_INFO);
    build.push(&[version], 1.0);
    build
}

/// `families` in the format the scraper's `Accept` header asks for.
pub(crate) fn scrape_response(headers: &HeaderMap, families: &[Family]) -> Response {
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    (
        [(header::CONTENT_TYPE, format.content_type())],
        encode(families, format),
    )
        .into_response()
}

async fn metrics(State(endpoint): State<Arc<Endpoint>>, headers: HeaderMap) -> Response {
    let mut families = vec![build_info(endpoint.version)];
    families.extend((endpoint.source)());
    families.extend(process::families());
    scrape_response(&headers, &families)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scrapes_give_the_source_families_then_the_process_ones() {
        let source: FamilySource = Arc::new(|| {
            let mut f = Family::new(catalog::STREAM_BATCHES);
            f.push(&["orders"], 3.0);
            vec![f]
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            router("dataflow stream orders", "0.0.0", source),
            async {
                let _ = stopped.await;
            },
        ));
        let body = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            body.contains("dataflow_build_info{version=\"0.0.0\"} 1.0"),
            "{body}"
        );
        assert!(
            body.contains("dataflow_stream_batches_total{stream=\"orders\"} 3.0"),
            "{body}"
        );
        assert!(
            body.contains("dataflow_process_resident_memory_bytes"),
            "{body}"
        );
        let index = reqwest::get(format!("http://{addr}/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(index.starts_with("dataflow stream orders"), "{index}");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}
