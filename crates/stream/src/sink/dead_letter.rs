//! The dead-letter sink: rejected events are published, unchanged (key and payload), to the
//! dead-letter topic with headers saying why and where they came from. A batch's dead letters
//! are delivered (acknowledged by the broker) before the batch's lake commit, so a crash can
//! publish a dead letter twice but never lose one; each carries its source topic, partition and
//! offset, which identify it.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::error::{Error, Result};
use crate::event::Invalid;
use crate::kafka::KafkaSettings;

/// Header: what was wrong (`malformed_json` or `invalid_field`).
pub const HEADER_ERROR_KIND: &str = "dataflow.error.kind";
/// Header: the error message.
pub const HEADER_ERROR: &str = "dataflow.error.message";
/// Header: the invalid field, for invalid fields.
pub const HEADER_FIELD: &str = "dataflow.error.field";
/// Header: the topic the event was read from.
pub const HEADER_TOPIC: &str = "dataflow.source.topic";
/// Header: its partition.
pub const HEADER_PARTITION: &str = "dataflow.source.partition";
/// Header: its offset.
pub const HEADER_OFFSET: &str = "dataflow.source.offset";
/// Header: the stream that rejected it.
pub const HEADER_STREAM: &str = "dataflow.stream";

const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// A rejected event.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Its original key.
    pub key: Option<Vec<u8>>,
    /// Its original payload.
    pub payload: Option<Vec<u8>>,
    /// Why it was rejected.
    pub error: Invalid,
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
}

/// Publishes dead letters.
pub struct DeadLetterSink {
    producer: FutureProducer,
    topic: String,
    stream: String,
}

impl DeadLetterSink {
    /// A producer for `topic`.
    pub fn new(settings: &KafkaSettings, topic: &str, stream: &str) -> Result<DeadLetterSink> {
        let producer: FutureProducer = settings
            .client_config()
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "30000")
            .create()
            .map_err(Error::kafka_config)?;
        Ok(DeadLetterSink {
            producer,
            topic: topic.to_string(),
            stream: stream.to_string(),
        })
    }

    /// Publishes the letters and waits until the broker has acknowledged every one.
    pub async fn send(&self, letters: &[DeadLetter]) -> Result<()> {
        let deliveries = letters.iter().map(|letter| {
            let partition = letter.partition.to_string();
            let offset = letter.offset.to_string();
            let message = letter.error.message.clone();
            let mut headers = OwnedHeaders::new_with_capacity(7)
                .insert(Header {
                    key: HEADER_ERROR_KIND,
                    value: Some(letter.error.kind.as_str()),
                })
                .insert(Header {
                    key: HEADER_ERROR,
                    value: Some(&message),
                })
                .insert(Header {
                    key: HEADER_TOPIC,
                    value: Some(&letter.topic),
                })
                .insert(Header {
                    key: HEADER_PARTITION,
                    value: Some(&partition),
                })
                .insert(Header {
                    key: HEADER_OFFSET,
                    value: Some(&offset),
                })
                .insert(Header {
                    key: HEADER_STREAM,
                    value: Some(&self.stream),
                });
            if let Some(field) = &letter.error.field {
                headers = headers.insert(Header {
                    key: HEADER_FIELD,
                    value: Some(field),
                });
            }
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&self.topic).headers(headers);
            if let Some(key) = &letter.key {
                record = record.key(key.as_slice());
            }
            if let Some(payload) = &letter.payload {
                record = record.payload(payload.as_slice());
            }
            self.producer.send(record, DELIVERY_TIMEOUT)
        });
        let results = futures::future::join_all(deliveries).await;
        for result in results {
            if let Err((err, _)) = result {
                return Err(Error::Kafka {
                    context: format!("publishing a dead letter to `{}`", self.topic),
                    source: err,
                });
            }
        }
        Ok(())
    }
}
