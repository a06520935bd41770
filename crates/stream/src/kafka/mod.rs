//! Kafka plumbing: client settings (brokers plus the file's librdkafka properties, secrets from
//! the environment), topic creation with the admin API, and the consumer context that notices
//! rebalances.

mod admin;
mod client;
mod context;

pub use admin::{ReadMessage, ensure_topics, read_topic, topic_message_counts};
pub use client::KafkaSettings;
pub use context::{RebalanceFlag, StreamContext, consumer_lag};
