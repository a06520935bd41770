//! Client settings shared by the consumer, the producers and the admin client.

use std::time::Duration;

use rdkafka::ClientConfig;

use crate::config::StreamSpec;
use crate::error::{Error, Result};

/// How long a Kafka operation (metadata, topic creation, commit, flush) may take.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Brokers and librdkafka properties, with the values of `kafka_properties_env` resolved.
/// Its `Debug` shows property names only: values may be secrets.
#[derive(Clone)]
pub struct KafkaSettings {
    brokers: String,
    properties: Vec<(String, String)>,
}

impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.properties.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("properties", &keys)
            .finish()
    }
}

impl KafkaSettings {
    /// The settings of a stream; `brokers` (from the command line) replaces the file's.
    pub fn from_spec(spec: &StreamSpec, brokers: Option<&str>) -> Result<KafkaSettings> {
        let mut properties: Vec<(String, String)> = spec
            .kafka_properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, var) in &spec.kafka_properties_env {
            let value = std::env::var(var).map_err(|_| {
                Error::Usage(format!(
                    "the environment variable {var} (kafka_properties_env.{key}) is not set"
                ))
            })?;
            properties.push((key.clone(), value));
        }
        Ok(KafkaSettings {
            brokers: brokers
                .map(str::to_string)
                .unwrap_or_else(|| spec.brokers.join(",")),
            properties,
        })
    }

    /// Settings with only brokers (tests, tools).
    pub fn brokers(brokers: &str) -> KafkaSettings {
        KafkaSettings {
            brokers: brokers.to_string(),
            properties: Vec::new(),
        }
    }

    /// The bootstrap brokers, comma-separated.
    pub fn broker_list(&self) -> &str {
        &self.brokers
    }

    /// A client configuration with the brokers and the passthrough properties.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }

    /// [`KafkaSettings::client_config`] with `defaults` for the properties the passthrough
    /// ones leave unset (a stream file's `kafka_properties` win over them).
    pub fn client_config_with_defaults(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = self.client_config();
        for (key, value) in defaults {
            if config.get(key).is_none() {
                config.set(*key, *value);
            }
        }
        config
    }
}

impl Error {
    /// A librdkafka configuration error (a bad passthrough property) is the user's.
    pub(crate) fn kafka_config(source: rdkafka::error::KafkaError) -> Error {
        match source {
            rdkafka::error::KafkaError::ClientConfig(_, ref description, ref key, ref value) => {
                Error::Usage(format!(
                    "kafka property `{key}`: {description}{}",
                    if value.is_empty() {
                        String::new()
                    } else {
                        " (check kafka_properties in the stream file)".to_string()
                    }
                ))
            }
            other => Error::Kafka {
                context: "creating a client".to_string(),
                source: other,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_only_what_the_stream_file_leaves_unset() {
        let settings = KafkaSettings {
            brokers: "b:9092".to_string(),
            properties: vec![("linger.ms".to_string(), "50".to_string())],
        };
        let config = settings.client_config_with_defaults(&[("linger.ms", "5"), ("acks", "all")]);
        assert_eq!(config.get("linger.ms"), Some("50"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("bootstrap.servers"), Some("b:9092"));
    }
}
