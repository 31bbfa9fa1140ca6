//! The `source-100ms` binary: parse the command line, run, and turn the outcome into an exit
//! code. A failure is printed once, as a TRACE ERROR, and exits 1; a closed stdout means the
//! reader is gone and exits quietly.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use source_100ms::cli::Cli;
use source_100ms::commands;
use source_100ms::output::{report, Output};
use source_100ms::protocol::{FailureType, Message, Trace, TraceError};
use source_100ms::read::Outcome;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = Arc::new(Output::stdout());
    source_100ms::logging::init(output.clone(), cli.debug);
    install_panic_report(output.clone());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report_system_error(&output, format!("could not start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(commands::run(cli.command, output.clone()));
    let code = match result {
        Ok(Outcome::Complete) => ExitCode::SUCCESS,
        Ok(Outcome::Incomplete) => ExitCode::FAILURE,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            report(&output, &e, None);
            ExitCode::FAILURE
        }
    };
    let _ = output.flush();
    code
}

fn report_system_error(output: &Output, message: String) {
    let _ = output.message(&Message::Trace {
        trace: Trace::error(TraceError {
            message,
            internal_message: None,
            failure_type: FailureType::SystemError,
            stream_descriptor: None,
        }),
    });
}

/// A bug still ends in a TRACE ERROR the orchestrator can show, not just a dead process.
fn install_panic_report(output: Arc<Output>) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report_system_error(&output, format!("internal error: {info}"));
        default(info);
    }));
}
