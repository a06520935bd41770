//! Exit codes: 0 success, 1 the job ran and failed (bad data, an external system), 2 usage or
//! configuration error.

use dataflow_core::ErrorKind;

/// A job that ran to the end and failed (for example, some sources could not be loaded).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JobFailed(pub String);

/// The exit code for an error, from the classification of the first known error in its chain.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<JobFailed>().is_some() {
            return 1;
        }
        let kind = if let Some(e) = cause.downcast_ref::<dataflow_core::Error>() {
            Some(e.kind())
        } else if let Some(e) = cause.downcast_ref::<dataflow_engine::Error>() {
            Some(e.kind())
        } else if let Some(e) = cause.downcast_ref::<dataflow_ingest::Error>() {
            Some(e.kind())
        } else if let Some(e) = cause.downcast_ref::<dataflow_models::Error>() {
            Some(e.kind())
        } else if let Some(e) = cause.downcast_ref::<dataflow_quality::Error>() {
            Some(e.kind())
        } else if let Some(e) = cause.downcast_ref::<dataflow_orchestrator::Error>() {
            Some(e.kind())
        } else if let Some(e) = cause.downcast_ref::<dataflow_stream::Error>() {
            Some(e.kind())
        } else {
            cause
                .downcast_ref::<dataflow_datagen::Error>()
                .map(|e| e.kind())
        };
        if let Some(kind) = kind {
            return kind.exit_code();
        }
    }
    ErrorKind::Internal.exit_code()
}
