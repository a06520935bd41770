//! JSON log lines with the OpenTelemetry trace and span ids.
//!
//! tracing-subscriber's JSON format writes the line (timestamp, level, fields, the current span
//! and the span list, which holds the `run` span's run id and an attempt's task id); this
//! wrapper adds `"trace_id"` and `"span_id"` at the top level, where Elasticsearch, Loki or
//! Grafana look to jump from a line to its trace. The ids are those of the innermost span of
//! the event that the OpenTelemetry layer knows (`tracing_opentelemetry::get_otel_context`),
//! spliced in before the object's closing brace, so the rest of the line is the standard
//! format unchanged. Without tracing the inner format is used as is.

use opentelemetry::trace::TraceContextExt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// An event format that adds the trace and span ids to another (JSON) format's object.
pub struct WithTraceIds<F> {
    inner: F,
    traced: bool,
}

impl<F> WithTraceIds<F> {
    /// Wraps `inner`; `traced` says whether an OpenTelemetry layer is installed.
    pub fn new(inner: F, traced: bool) -> Self {
        WithTraceIds { inner, traced }
    }
}

/// The trace and span ids of the innermost span of the event that has an OpenTelemetry span.
fn trace_ids<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<(String, String)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let ids: Vec<tracing::span::Id> = ctx.event_scope()?.map(|span| span.id()).collect();
    tracing::dispatcher::get_default(|dispatch| {
        ids.iter().find_map(|id| {
            let cx = tracing_opentelemetry::get_otel_context(id, dispatch)?;
            let sc = cx.span().span_context().clone();
            sc.is_valid()
                .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
        })
    })
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let ids = if self.traced { trace_ids(ctx) } else { None };
        let Some((trace_id, span_id)) = ids else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        match line.trim_end().strip_suffix('}') {
            Some(open) => writeln!(
                writer,
                "{open},\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"}}"
            ),
            None => writer.write_str(&line),
        }
    }
}
