//! `dataflow produce`: publishes generated transaction and customer events (the generator's
//! world and defects, malformed JSON included) at a fixed rate or as fast as the broker takes
//! them, and returns the generator's manifest: what a correct processor must find.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dataflow_datagen::stream_events::{EventGenerator, EventManifest, EventOptions, EventTopic};
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

use crate::error::{Error, Result};
use crate::kafka::{KafkaSettings, ensure_topics};

/// What to publish, and where.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    /// Brokers and client properties.
    pub settings: KafkaSettings,
    /// The transactions topic.
    pub transactions_topic: String,
    /// The customer events topic.
    pub customer_events_topic: String,
    /// Create missing topics first with (partitions, replication factor).
    pub create_topics: Option<(i32, i32)>,
    /// The generator's options.
    pub events: EventOptions,
    /// Events to publish.
    pub count: u64,
    /// Events per second; `None` for as fast as possible.
    pub rate: Option<f64>,
}

/// What was published.
#[derive(Debug, Clone)]
pub struct ProduceSummary {
    /// The generator's manifest of the published events.
    pub manifest: EventManifest,
    /// Events acknowledged by the broker.
    pub delivered: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// Counts deliveries and failures (shared with the producer's context).
#[derive(Clone, Default)]
struct DeliveryCounter(Arc<Deliveries>);

#[derive(Default)]
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.0.delivered.fetch_add(1, Ordering::Relaxed),
            Err((err, _)) => {
                tracing::warn!(error = %err, "event not delivered");
                self.0.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// Publishes `options.count` events; stops early (after flushing) when `stop` is raised.
/// Fails if any event was not delivered.
pub async fn produce(options: ProduceOptions, stop: Arc<AtomicBool>) -> Result<ProduceSummary> {
    if let Some((partitions, replication)) = options.create_topics {
        let topics = [
            options.transactions_topic.as_str(),
            options.customer_events_topic.as_str(),
        ];
        ensure_topics(&options.settings, &topics, partitions, replication).await?;
    }
    tokio::task::spawn_blocking(move || produce_blocking(&options, &stop))
        .await
        .map_err(|e| Error::Internal(format!("the producer thread failed: {e}")))?
}

fn produce_blocking(options: &ProduceOptions, stop: &AtomicBool) -> Result<ProduceSummary> {
    let counter = DeliveryCounter::default();
    let producer: BaseProducer<DeliveryCounter> = options
        .settings
        .client_config()
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .set("message.timeout.ms", "60000")
        .create_with_context(counter.clone())
        .map_err(Error::kafka_config)?;
    let mut generator = EventGenerator::new(options.events.clone())?;
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < options.count && !stop.load(Ordering::Relaxed) {
        if let Some(rate) = options.rate {
            let due = started + Duration::from_secs_f64(sent as f64 / rate);
            let now = Instant::now();
            if due > now {
                producer.poll(due - now);
                continue;
            }
        }
        let event = generator.next_event();
        let topic = match event.topic {
            EventTopic::Transactions => &options.transactions_topic,
            EventTopic::CustomerEvents => &options.customer_events_topic,
        };
        let mut record = BaseRecord::to(topic)
            .key(event.key.as_bytes())
            .payload(event.payload.as_slice());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((err, _)) => {
                    return Err(Error::Kafka {
                        context: format!("publishing to `{topic}`"),
                        source: err,
                    });
                }
            }
        }
        sent += 1;
        if sent.is_multiple_of(1024) {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .map_err(Error::kafka("flushing the producer"))?;
    let failed = counter.0.failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(Error::Broker(format!(
            "{failed} of {sent} events were not delivered"
        )));
    }
    Ok(ProduceSummary {
        manifest: generator.manifest().clone(),
        delivered: counter.0.delivered.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    })
}
