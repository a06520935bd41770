//! Stream configuration: the `streams/*.yml` files of a project, loaded strictly (unknown keys,
//! wrong types and missing fields are errors naming file, line and the valid keys) and checked
//! (broker addresses, topic names, thresholds, sinks) with the line of each problem.

mod load;
mod spec;
#[cfg(test)]
mod tests;

pub use load::{
    STREAMS_DIR, Stream, amount_cents, find_stream, is_postgres_url, load_stream_file,
    load_streams, parse_stream,
};
pub use spec::{
    AlertSinkConfig, BatchConfig, ConsumerConfig, LakeSinkConfig, OffsetReset, PostgresSinkConfig,
    ProcessorConfig, SinksConfig, StatisticalConfig, StreamSpec, TopicsConfig, WindowConfig,
};

impl PostgresSinkConfig {
    /// The server URL: `url`, or the value of the variable `url_env` names.
    pub fn resolve_url(&self) -> crate::Result<String> {
        if let Some(url) = &self.url {
            return Ok(url.clone());
        }
        let var = self.url_env.as_deref().unwrap_or_default();
        match std::env::var(var) {
            Ok(url) if is_postgres_url(url.trim()) => Ok(url.trim().to_string()),
            Ok(_) => Err(crate::Error::Usage(format!(
                "the environment variable {var} (sinks.postgres.url_env) does not hold a \
                 postgres:// URL"
            ))),
            Err(_) => Err(crate::Error::Usage(format!(
                "the environment variable {var} (sinks.postgres.url_env) is not set"
            ))),
        }
    }
}
