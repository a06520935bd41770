//! The `dataflow` binary: parses the command line, sets up logging and hands each command to
//! the library crates. No data logic lives here.

mod cli;
mod commands;
mod exit;
mod logging;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let run_id = dataflow_core::ids::RunId::new();
    if let Err(err) = logging::init(cli.log_format, cli.log_level.as_deref()) {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
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
    let span = tracing::info_span!("run", run_id = %run_id);
    let result = {
        let _entered = span.enter();
        runtime.block_on(commands::run(cli, &run_id))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = exit::code_for(&err);
            eprintln!("error: {err:#}");
            ExitCode::from(code)
        }
    }
}
