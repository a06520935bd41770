//! OpenTelemetry spans of DAG runs and task attempts.
//!
//! Runs and attempts outlive processes: a run is started by one scheduler and may be finished by
//! another after a restart, and each attempt of a process task runs in a child process. So their
//! ids are derived, not remembered: the trace id hashes `(dag_id, run_id)`, the run's span id
//! `(dag_id, run_id, "run")`, an attempt's span id `(dag_id, run_id, task_id, attempt)`. An
//! attempt's process gets `TRACEPARENT` (W3C trace context) naming its attempt span, so the
//! child's own spans (its `run` span, then ingest, suite or model spans) join the trace under it;
//! the attempt span itself is emitted when the attempt ends, and the run span when the run ends,
//! by whichever scheduler ends them, with the recorded start and end times.
//!
//! Only the `opentelemetry` API is used, through [`opentelemetry::global`]: without a tracer
//! provider (no `OTEL_EXPORTER_OTLP_*` variables in the binary) every call here is a no-op.
//! The API's span builder takes no ids, so the wanted ids are handed to the provider's id
//! generator through [`take_planned_trace_id`] and [`take_planned_span_id`], which the binary's
//! generator asks first (a provider that does not ask still gets well-formed spans, with random
//! ids).

use std::cell::Cell;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use opentelemetry::trace::{
    SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer,
};
use opentelemetry::{Context, KeyValue, global};
use sha2::{Digest, Sha256};

use crate::store::{Finish, Recovered};

/// The instrumentation scope of the orchestrator's spans.
const SCOPE: &str = "dataflow-orchestrator";

/// Name of the span of a DAG run.
pub const RUN_SPAN: &str = "dag_run";

/// Name of the span of a task attempt.
pub const ATTEMPT_SPAN: &str = "task_attempt";

/// The environment variable carrying the W3C trace context to an attempt's process.
pub const TRACEPARENT: &str = "TRACEPARENT";

thread_local! {
    static PLANNED: Cell<(Option<TraceId>, Option<SpanId>)> = const { Cell::new((None, None)) };
}

/// The trace id wanted for the span being built on this thread, if any (taken: asked once).
pub fn take_planned_trace_id() -> Option<TraceId> {
    PLANNED.with(|p| {
        let (trace, span) = p.get();
        p.set((None, span));
        trace
    })
}

/// The span id wanted for the span being built on this thread, if any (taken: asked once).
pub fn take_planned_span_id() -> Option<SpanId> {
    PLANNED.with(|p| {
        let (trace, span) = p.get();
        p.set((trace, None));
        span
    })
}

/// Runs `build` with these ids planned for the span it starts, and clears them afterwards
/// (a no-op provider never asks).
fn with_planned<T>(trace: Option<TraceId>, span: SpanId, build: impl FnOnce() -> T) -> T {
    PLANNED.with(|p| p.set((trace, Some(span))));
    let out = build();
    PLANNED.with(|p| p.set((None, None)));
    out
}

/// SHA-256 of the parts, each length-prefixed so that no two tuples hash alike.
fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The trace of a DAG run.
pub fn trace_id(dag_id: &str, run_id: &str) -> TraceId {
    let hash = digest(&[b"trace", dag_id.as_bytes(), run_id.as_bytes()]);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    // All zeros is the invalid id; a hash that short of luck gets one bit set.
    if bytes == [0; 16] {
        bytes[15] = 1;
    }
    TraceId::from_bytes(bytes)
}

fn span_id(parts: &[&[u8]]) -> SpanId {
    let hash = digest(parts);
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash[..8]);
    if bytes == [0; 8] {
        bytes[7] = 1;
    }
    SpanId::from_bytes(bytes)
}

/// The span of a DAG run (the root of its trace).
pub fn run_span_id(dag_id: &str, run_id: &str) -> SpanId {
    span_id(&[b"span", dag_id.as_bytes(), run_id.as_bytes(), b"run"])
}

/// The span of one attempt of a task instance.
pub fn attempt_span_id(dag_id: &str, run_id: &str, task_id: &str, attempt: i64) -> SpanId {
    span_id(&[
        b"span",
        dag_id.as_bytes(),
        run_id.as_bytes(),
        task_id.as_bytes(),
        &attempt.to_be_bytes(),
    ])
}

/// A remote, sampled span context with these ids.
fn remote(trace: TraceId, span: SpanId) -> SpanContext {
    SpanContext::new(
        trace,
        span,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    )
}

/// One attempt of a task instance, as the trace knows it.
#[derive(Debug, Clone, Copy)]
pub struct AttemptIds<'a> {
    /// The DAG.
    pub dag_id: &'a str,
    /// The DAG run.
    pub run_id: &'a str,
    /// The task.
    pub task_id: &'a str,
    /// The attempt number, from 1.
    pub attempt: i64,
}

impl AttemptIds<'_> {
    /// The attempt span's context.
    pub fn span_context(&self) -> SpanContext {
        remote(
            trace_id(self.dag_id, self.run_id),
            attempt_span_id(self.dag_id, self.run_id, self.task_id, self.attempt),
        )
    }

    /// The attempt span as the parent of what is created while the returned context is
    /// attached (`Context::attach`), e.g. the scheduler's own `task` span.
    pub fn context(&self) -> Context {
        Context::new().with_remote_span_context(self.span_context())
    }

    /// The `TRACEPARENT` value for the attempt's process: version 00, sampled.
    pub fn traceparent(&self) -> String {
        let sc = self.span_context();
        format!("00-{}-{}-01", sc.trace_id(), sc.span_id())
    }

    /// Emits the attempt span, a child of the run span, from `started` to `ended`; `state` is
    /// how it ended (success, failed, up_for_retry, skipped, ...) and `error` why it failed.
    pub fn emit(
        &self,
        started: DateTime<Utc>,
        ended: DateTime<Utc>,
        state: &str,
        error: Option<&str>,
    ) {
        let parent = Context::new().with_remote_span_context(remote(
            trace_id(self.dag_id, self.run_id),
            run_span_id(self.dag_id, self.run_id),
        ));
        let builder = SpanBuilder::from_name(ATTEMPT_SPAN)
            .with_kind(SpanKind::Internal)
            .with_start_time(SystemTime::from(started))
            .with_attributes([
                KeyValue::new("dag_id", self.dag_id.to_string()),
                KeyValue::new("run_id", self.run_id.to_string()),
                KeyValue::new("task_id", self.task_id.to_string()),
                KeyValue::new("attempt", self.attempt),
                KeyValue::new("state", state.to_string()),
            ]);
        let span_id = attempt_span_id(self.dag_id, self.run_id, self.task_id, self.attempt);
        end(
            with_planned(None, span_id, || {
                global::tracer(SCOPE).build_with_context(builder, &parent)
            }),
            ended,
            error,
        );
    }
}

/// Emits the span of a finished DAG run: the root of its trace, from `started` to `ended`.
pub fn emit_run(
    dag_id: &str,
    run_id: &str,
    run_type: &str,
    started: DateTime<Utc>,
    ended: DateTime<Utc>,
    state: &str,
) {
    let builder = SpanBuilder::from_name(RUN_SPAN)
        .with_kind(SpanKind::Internal)
        .with_start_time(SystemTime::from(started))
        .with_attributes([
            KeyValue::new("dag_id", dag_id.to_string()),
            KeyValue::new("run_id", run_id.to_string()),
            KeyValue::new("run_type", run_type.to_string()),
            KeyValue::new("state", state.to_string()),
        ]);
    let failed = (state == "failed").then_some("the run failed");
    end(
        with_planned(
            Some(trace_id(dag_id, run_id)),
            run_span_id(dag_id, run_id),
            || global::tracer(SCOPE).build_with_context(builder, &Context::new()),
        ),
        ended,
        failed,
    );
}

/// The attempt span's `state` attribute for how the attempt ended, and its error if it failed.
pub(crate) fn finish_state(finish: &Finish) -> (&'static str, Option<&str>) {
    match finish {
        Finish::Success => ("success", None),
        Finish::Skipped { .. } => ("skipped", None),
        Finish::Failed {
            error, retry_at, ..
        } => (
            if retry_at.is_some() {
                "up_for_retry"
            } else {
                "failed"
            },
            Some(error),
        ),
        Finish::Reschedule { .. } => ("up_for_reschedule", None),
    }
}

/// Emits the span of an attempt taken back from a stopped scheduler (now `orphaned`), so the
/// spans its process sent before it was stopped still have their parent.
pub(crate) fn emit_orphaned(recovered: &Recovered, now: DateTime<Utc>) {
    if let Some((attempt, started)) = recovered.orphaned {
        let ids = AttemptIds {
            dag_id: &recovered.dag_id,
            run_id: &recovered.run_id,
            task_id: &recovered.task_id,
            attempt,
        };
        let error = format!(
            "scheduler {} stopped while the attempt ran",
            recovered.owner
        );
        ids.emit(started, now, "orphaned", Some(&error));
    }
}

fn end(mut span: impl opentelemetry::trace::Span, ended: DateTime<Utc>, error: Option<&str>) {
    if let Some(error) = error {
        span.set_status(Status::error(error.to_string()));
    }
    span.end_with_timestamp(SystemTime::from(ended));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = AttemptIds {
            dag_id: "d",
            run_id: "r",
            task_id: "t",
            attempt: 1,
        };
        assert_eq!(a.traceparent(), a.traceparent());
        let again = AttemptIds { attempt: 2, ..a };
        assert_ne!(a.span_context().span_id(), again.span_context().span_id());
        assert_eq!(a.span_context().trace_id(), trace_id("d", "r"));
        assert_ne!(trace_id("d", "r"), trace_id("dr", ""));
        assert_ne!(run_span_id("d", "r"), a.span_context().span_id());
        let tp = a.traceparent();
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(
            (parts[0], parts[1].len(), parts[2].len(), parts[3]),
            ("00", 32, 16, "01")
        );
    }

    #[test]
    fn planned_ids_are_taken_once_and_cleared() {
        let span = run_span_id("d", "r");
        let seen = with_planned(Some(trace_id("d", "r")), span, || {
            (take_planned_span_id(), take_planned_span_id())
        });
        assert_eq!(seen, (Some(span), None));
        assert_eq!(take_planned_trace_id(), None);
        // Without a provider, emitting is a no-op.
        emit_run("d", "r", "manual", Utc::now(), Utc::now(), "success");
    }
}
