//! OpenTelemetry traces over OTLP, set up only when the standard variables ask for it: an
//! endpoint in `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`, the
//! protocol in `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc` or
//! `http/protobuf`, the default as the specification says), the service name in
//! `OTEL_SERVICE_NAME` (default `dataflow`). The exporter itself reads the rest (headers,
//! timeout, `OTEL_RESOURCE_ATTRIBUTES`, the batch settings). Without an endpoint nothing here
//! runs.
//!
//! Spans leave through a batch processor on its own thread: HTTP through reqwest's blocking
//! client (no runtime needed), gRPC through a tonic channel whose connection task runs on the
//! command's tokio runtime.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, SdkTracerProvider, SpanData, SpanExporter,
};

/// The service name when `OTEL_SERVICE_NAME` is not set.
const DEFAULT_SERVICE_NAME: &str = "dataflow";

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `http/protobuf`: POST /v1/traces.
    HttpProtobuf,
    /// `grpc`: the TraceService.
    Grpc,
}

/// What the environment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The transport.
    pub transport: Transport,
    /// The `service.name` resource attribute.
    pub service_name: String,
}

impl Settings {
    /// Reads the variables through `var`. `Ok(None)`: tracing is off (no endpoint, or
    /// `OTEL_SDK_DISABLED=true`, or `OTEL_TRACES_EXPORTER=none`). An unsupported protocol is an
    /// error naming the variable and the valid choices.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Settings>, String> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let endpoint = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"));
        let disabled = set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim() == "true")
            || set("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim() == "none");
        if endpoint.is_none() || disabled {
            return Ok(None);
        }
        let (name, protocol) = match set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") {
            Some(p) => ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", Some(p)),
            None => (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                set("OTEL_EXPORTER_OTLP_PROTOCOL"),
            ),
        };
        let transport = match protocol.as_deref().map(str::trim) {
            None | Some("http/protobuf") => Transport::HttpProtobuf,
            Some("grpc") => Transport::Grpc,
            Some(other) => {
                return Err(format!(
                    "{name}=`{other}` is not supported; use `grpc` or `http/protobuf`"
                ));
            }
        };
        let service_name =
            set("OTEL_SERVICE_NAME").unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string());
        Ok(Some(Settings {
            transport,
            service_name,
        }))
    }
}

/// Ids from the orchestrator when it emits a run or attempt span whose ids are derived from the
/// run (see `dataflow_orchestrator::trace`), random ones otherwise.
#[derive(Debug, Default)]
struct PlannedOrRandom(RandomIdGenerator);

impl IdGenerator for PlannedOrRandom {
    fn new_trace_id(&self) -> TraceId {
        dataflow_orchestrator::trace::take_planned_trace_id()
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        dataflow_orchestrator::trace::take_planned_span_id().unwrap_or_else(|| self.0.new_span_id())
    }
}

/// The OTLP exporter, saying once (as a warning in the log) when spans cannot be delivered:
/// the exporter itself fails silently, and a wrong endpoint should not go unnoticed.
#[derive(Debug)]
struct WarnOnFailure<E> {
    inner: E,
    warned: AtomicBool,
}

impl<E: SpanExporter> SpanExporter for WarnOnFailure<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        if let Err(e) = &result
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(error = %e, spans, "cannot export OpenTelemetry spans (further failures are not logged)");
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Builds the exporter and the tracer provider, and makes it the global one (which the
/// orchestrator's run and attempt spans go through).
pub fn start(settings: &Settings) -> Result<SdkTracerProvider, String> {
    let exporter = match settings.transport {
        Transport::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build(),
        Transport::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build(),
    }
    .map_err(|e| format!("cannot build the OTLP exporter: {e}"))?;
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    let exporter = WarnOnFailure {
        inner: exporter,
        warned: AtomicBool::new(false),
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_id_generator(PlannedOrRandom::default())
        .with_resource(resource)
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(provider)
}

/// The parent named by `TRACEPARENT` (and `TRACESTATE`), the W3C trace context that the
/// orchestrator gives each attempt's process; `None` when absent or malformed.
pub fn parent_from_env() -> Option<opentelemetry::Context> {
    let mut carrier = HashMap::new();
    carrier.insert(
        "traceparent".to_string(),
        std::env::var("TRACEPARENT").ok()?,
    );
    if let Ok(state) = std::env::var("TRACESTATE") {
        carrier.insert("tracestate".to_string(), state);
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    cx.span().span_context().is_valid().then_some(cx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<Settings>, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_env(|k| vars.get(k).cloned())
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        assert_eq!(settings(&[]), Ok(None));
        assert_eq!(
            settings(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]),
            Ok(None)
        );
        assert_eq!(settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), Ok(None));
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        assert_eq!(
            settings(&[endpoint, ("OTEL_SDK_DISABLED", "true")]),
            Ok(None)
        );
        assert_eq!(
            settings(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]),
            Ok(None)
        );
    }

    #[test]
    fn protocol_and_service_name() {
        let endpoint = (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://collector:4318/v1/traces",
        );
        assert_eq!(
            settings(&[endpoint]),
            Ok(Some(Settings {
                transport: Transport::HttpProtobuf,
                service_name: "dataflow".into()
            }))
        );
        let grpc = settings(&[
            endpoint,
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "etl"),
        ]);
        assert_eq!(
            grpc,
            Ok(Some(Settings {
                transport: Transport::Grpc,
                service_name: "etl".into()
            }))
        );
        let bad = settings(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
        let message = bad.expect_err("unsupported protocol");
        assert!(
            message.contains("OTEL_EXPORTER_OTLP_PROTOCOL=`http/json`"),
            "{message}"
        );
        assert!(message.contains("grpc") && message.contains("http/protobuf"));
    }
}
