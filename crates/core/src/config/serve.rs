//! The `serve:` section of `dataflow.yml`: where `dataflow serve` listens, whether it hosts
//! the scheduler, and which streams it runs.

use serde::{Deserialize, Serialize};

/// Settings of the long-running `dataflow serve` process.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// The HTTP listener (`/metrics`, `/health`, `/ready`): `host:port`. Loopback by default;
    /// set `0.0.0.0:9464` to let a Prometheus on another host scrape it.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Whether `serve` also runs the scheduler (one process for everything). Turn off to scrape
    /// a store that separate `dataflow scheduler` processes write to.
    #[serde(default = "default_scheduler")]
    pub scheduler: bool,
    /// Streams (`streams/NAME.yml`) to run in the same process, their metrics on its
    /// `/metrics`; `dataflow serve --stream NAME` replaces the list.
    #[serde(default)]
    pub streams: Vec<String>,
}

fn default_listen() -> String {
    "127.0.0.1:9464".to_string()
}

fn default_scheduler() -> bool {
    true
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: default_listen(),
            scheduler: default_scheduler(),
            streams: Vec::new(),
        }
    }
}
