//! Logging and tracing setup: `tracing` to stderr, pretty or one JSON object per line, filtered
//! by `RUST_LOG`-style directives; optionally also JSON lines to a size-rotated file; and, when
//! the standard `OTEL_EXPORTER_OTLP_*` variables ask for it, OpenTelemetry spans exported over
//! OTLP. Every line carries the `run` span and so the run id; with tracing on, JSON lines also
//! carry `trace_id` and `span_id`.
//!
//! Three layers on one registry, each with its own filter: the log filter for stderr and the
//! file, and for OpenTelemetry every `dataflow*` span at info or above (so `--log-level warn`
//! quiets the terminal without emptying the traces) with warnings and errors as span events.

mod json;
mod otel;
mod rotate;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;

use clap::ValueEnum;
use tracing::{Level, Metadata};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry, fmt};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line (for Elasticsearch, Loki, ...).
    Json,
}

/// What the command line asks of logging.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// The stderr format.
    pub format: LogFormat,
    /// `--log-level`, which wins over `RUST_LOG`.
    pub level: Option<String>,
    /// Also write JSON lines to this file.
    pub file: Option<PathBuf>,
    /// Rotate the file at this size.
    pub file_max_bytes: u64,
    /// Rotated files kept.
    pub file_keep: u32,
}

/// Our crates at info (a target matches every module path it starts, so `dataflow` covers
/// `dataflow_stream` too), others at warn; delta-rs's commit loop only at error: it warns on
/// every commit that meets another writer's (an append beside a compaction, two stream
/// processes), which its conflict check then resolves, and a commit it cannot resolve fails
/// with an error the caller logs.
const DEFAULT_FILTER: &str = "warn,dataflow=info,dataflow_core=info,dataflow_engine=info,dataflow_ingest=info,dataflow_datagen=info,deltalake_core::kernel::transaction=error";

/// What `init` set up; `finish` flushes the spans at exit.
pub struct Telemetry {
    tracer: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Makes `span` (the process's root `run` span) a child of the span named by `TRACEPARENT`
    /// (set by the orchestrator for each attempt), so this process's spans join the DAG run's
    /// trace under the attempt. Does nothing when tracing is off or the variable is absent.
    pub fn adopt_parent(&self, span: &tracing::Span) {
        if self.tracer.is_none() {
            return;
        }
        if let Some(parent) = otel::parent_from_env()
            && let Err(e) = span.set_parent(parent)
        {
            tracing::warn!(error = %e, "cannot join the trace named by TRACEPARENT");
        }
    }

    /// Exports the spans still buffered (call after the root span has closed).
    pub fn finish(self) {
        if let Some(provider) = self.tracer
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: OpenTelemetry spans not all exported: {e}");
        }
    }
}

/// Installs the global subscriber. With OTLP gRPC export, call it inside the tokio runtime's
/// context (the channel's background task lives there) and keep the runtime until `finish`.
pub fn init(options: &LogOptions) -> anyhow::Result<Telemetry> {
    let directives = match &options.level {
        Some(level) => level.clone(),
        None => std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT_FILTER.to_string()),
    };
    let filter = || {
        EnvFilter::try_new(&directives)
            .map_err(|e| anyhow::anyhow!("invalid log filter `{directives}`: {e}"))
    };
    // An unusable OpenTelemetry setting must not stop the pipeline: say so and run untraced.
    let (provider, otel_warning) = match otel::Settings::from_env(|k| std::env::var(k).ok()) {
        Ok(None) => (None, None),
        Ok(Some(settings)) => match otel::start(&settings) {
            Ok(provider) => (Some(provider), None),
            Err(e) => (None, Some(e)),
        },
        Err(e) => (None, Some(e)),
    };
    let traced = provider.is_some();

    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = Vec::with_capacity(3);
    layers.push(match options.format {
        LogFormat::Pretty => fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .compact()
            .with_filter(filter()?)
            .boxed(),
        LogFormat::Json => json_layer(std::io::stderr, traced)
            .with_filter(filter()?)
            .boxed(),
    });
    if let Some(path) = &options.file {
        let writer = rotate::RotatingFile::open(path, options.file_max_bytes, options.file_keep)
            .map_err(|e| anyhow::anyhow!("cannot open the log file {}: {e}", path.display()))?;
        layers.push(
            json_layer(Mutex::new(writer), traced)
                .with_filter(filter()?)
                .boxed(),
        );
    }
    if let Some(provider) = &provider {
        use opentelemetry::trace::TracerProvider as _;
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("dataflow"))
                .with_threads(false)
                .with_filter(FilterFn::new(exported))
                .boxed(),
        );
    }
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))?;
    if let Some(warning) = otel_warning {
        tracing::warn!("OpenTelemetry traces are off: {warning}");
    }
    Ok(Telemetry { tracer: provider })
}

/// What the OpenTelemetry layer sees: the platform's spans, and warnings and errors as events.
fn exported(meta: &Metadata<'_>) -> bool {
    if meta.is_span() {
        meta.target().starts_with("dataflow") && *meta.level() <= Level::INFO
    } else {
        *meta.level() <= Level::WARN
    }
}

/// One JSON object per line, with the current span, the span list and, when traced, the
/// trace and span ids.
fn json_layer<W>(writer: W, traced: bool) -> impl Layer<Registry> + Send + Sync
where
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let format = fmt::format()
        .json()
        .with_target(false)
        .with_current_span(true)
        .with_span_list(true);
    fmt::layer()
        .with_writer(writer)
        .fmt_fields(JsonFields::new())
        .event_format(json::WithTraceIds::new(format, traced))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::Context;

    use super::*;

    /// Records each event's target and level.
    struct Capture(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let meta = event.metadata();
            if let Ok(mut seen) = self.0.lock() {
                seen.push(format!("{} {}", meta.target(), meta.level()));
            }
        }
    }

    #[test]
    fn the_default_filter_keeps_our_info_and_quiets_delta_commit_retries() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let filter = EnvFilter::try_new(DEFAULT_FILTER).unwrap();
        let subscriber =
            tracing_subscriber::registry().with(Capture(Arc::clone(&seen)).with_filter(filter));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "dataflow_stream::runner", "partitions assigned");
            tracing::info!(target: "dataflow_orchestrator::scheduler", "run started");
            tracing::warn!(target: "deltalake_core::kernel::transaction", "table updated");
            tracing::error!(target: "deltalake_core::kernel::transaction", "conflict");
            tracing::info!(target: "rdkafka::client", "noise");
            tracing::warn!(target: "rdkafka::client", "broker down");
        });
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "dataflow_stream::runner INFO",
                "dataflow_orchestrator::scheduler INFO",
                "deltalake_core::kernel::transaction ERROR",
                "rdkafka::client WARN",
            ]
        );
    }
}
