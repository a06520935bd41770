//! The `dataflow` binary: parses the command line, sets up logging and hands each command to
//! the library crates. No data logic lives here.

mod allocator;
mod cli;
mod commands;
mod exit;
mod logging;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: queries allocate per group and per row (hash
/// aggregates, sorts, windows), where glibc's malloc cost 12-15% of a models build.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if !matches!(
        cli.command,
        cli::Command::Serve(_) | cli::Command::Scheduler(_) | cli::Command::Stream(_)
    ) {
        allocator::tune_for_batch();
    }
    let run_id = dataflow_core::ids::RunId::new();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let options = logging::LogOptions {
        format: cli.log_format,
        level: cli.log_level.clone(),
        file: cli.log_file.clone(),
        file_max_bytes: cli.log_file_max_mb.saturating_mul(1024 * 1024),
        file_keep: cli.log_file_keep,
    };
    // Inside the runtime's context: an OTLP gRPC channel starts its connection task there.
    let telemetry = match runtime.block_on(async { logging::init(&options) }) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    // The root span of the command. Under the orchestrator, the attempt's task is recorded on
    // it, and with tracing on it joins the DAG run's trace (TRACEPARENT).
    let span = tracing::info_span!(
        "run",
        run_id = %run_id,
        dag_id = tracing::field::Empty,
        dag_run_id = tracing::field::Empty,
        task_id = tracing::field::Empty,
        attempt = tracing::field::Empty,
    );
    telemetry.adopt_parent(&span);
    for (field, var) in [
        ("dag_id", "DATAFLOW_DAG_ID"),
        ("dag_run_id", "DATAFLOW_RUN_ID"),
        ("task_id", "DATAFLOW_TASK_ID"),
        ("attempt", "DATAFLOW_TRY_NUMBER"),
    ] {
        if let Ok(value) = std::env::var(var) {
            span.record(field, value.as_str());
        }
    }
    let result = {
        let _entered = span.enter();
        runtime.block_on(commands::run(cli, &run_id))
    };
    // Close the root span before the last spans are flushed, while the runtime still runs.
    drop(span);
    telemetry.finish();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = exit::code_for(&err);
            eprintln!("error: {err:#}");
            ExitCode::from(code)
        }
    }
}
