//! The dead-letter sink: rejected events are published, unchanged (key and payload), to the
//! dead-letter topic with headers saying why and where they came from. Publishing is split in
//! two: [`DeadLetterSink::enqueue`] hands a batch's letters to the producer and returns their
//! [`Deliveries`], which are awaited later, while the stream writes the next batch. How far
//! the dead letters are acknowledged is recorded in the lake (see `sink::lake`), and the Kafka
//! offsets are committed only past acknowledged ones, so a crash can publish a dead letter
//! twice but never lose one; each carries its source topic, partition and offset, which
//! identify it.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

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
/// How long to wait before offering a letter again when the producer's queue is full.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(20);

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
        self.enqueue(letters).await?.wait().await
    }

    /// Hands the letters to the producer, in order, and returns their pending deliveries
    /// without waiting for the broker. Waits only while the producer's queue is full (for at
    /// most the delivery timeout).
    pub async fn enqueue(&self, letters: &[DeadLetter]) -> Result<Deliveries> {
        let mut futures = Vec::with_capacity(letters.len());
        for letter in letters {
            let partition = letter.partition.to_string();
            let offset = letter.offset.to_string();
            let mut headers = OwnedHeaders::new_with_capacity(7)
                .insert(Header {
                    key: HEADER_ERROR_KIND,
                    value: Some(letter.error.kind.as_str()),
                })
                .insert(Header {
                    key: HEADER_ERROR,
                    value: Some(&letter.error.message),
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
            let started = std::time::Instant::now();
            let future = loop {
                match self.producer.send_result(record) {
                    Ok(future) => break future,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if started.elapsed() < DELIVERY_TIMEOUT =>
                    {
                        record = back;
                        tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                    }
                    Err((err, _)) => return Err(self.failed(err)),
                }
            };
            futures.push(future);
        }
        Ok(Deliveries {
            futures,
            topic: self.topic.clone(),
        })
    }

    fn failed(&self, source: KafkaError) -> Error {
        Error::Kafka {
            context: format!("publishing a dead letter to `{}`", self.topic),
            source,
        }
    }
}

/// Dead letters handed to the producer, not yet known to be acknowledged.
#[must_use = "dead letters are only durable once their deliveries are awaited"]
pub struct Deliveries {
    futures: Vec<DeliveryFuture>,
    topic: String,
}

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliveries")
            .field("letters", &self.futures.len())
            .field("topic", &self.topic)
            .finish()
    }
}

impl Deliveries {
    /// No letters.
    pub fn none() -> Deliveries {
        Deliveries {
            futures: Vec::new(),
            topic: String::new(),
        }
    }

    /// How many letters.
    pub fn len(&self) -> usize {
        self.futures.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.futures.is_empty()
    }

    /// Waits until the broker acknowledged every letter; the first failure is the error.
    pub async fn wait(self) -> Result<()> {
        let topic = self.topic;
        let failed = |source| Error::Kafka {
            context: format!("publishing a dead letter to `{topic}`"),
            source,
        };
        for result in futures::future::join_all(self.futures).await {
            match result {
                Ok(Ok(_)) => {}
                Ok(Err((err, _))) => return Err(failed(err)),
                Err(_canceled) => return Err(failed(KafkaError::Canceled)),
            }
        }
        Ok(())
    }
}
