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

/// The shortest sleep between events at a fixed rate: shorter ones cost more in wake-ups than
/// they gain in evenness.
const MIN_WAIT: Duration = Duration::from_millis(1);

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
    // Defaults for a load generator; the stream file's `kafka_properties` win.
    let producer: BaseProducer<DeliveryCounter> = options
        .settings
        .client_config_with_defaults(&[
            ("acks", "all"),
            ("linger.ms", "5"),
            ("batch.num.messages", "10000"),
            ("queue.buffering.max.messages", "200000"),
            ("message.timeout.ms", "60000"),
        ])
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
                // Not `poll(due - now)`: rdkafka polls until the deadline with the remaining
                // time in whole milliseconds, so it spins through every last fraction of a
                // millisecond, and events 200 µs apart (5,000 a second) kept a core busy.
                // Deliveries are served without waiting, then the thread sleeps, at least 1 ms,
                // and sends what fell due meanwhile together.
                producer.poll(Duration::ZERO);
                std::thread::sleep((due - now).max(MIN_WAIT));
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

#[cfg(test)]
mod tests {
    use rdkafka::mocking::MockCluster;

    use super::*;

    /// CPU time (user + system) the calling thread has used, in clock ticks.
    fn thread_cpu_ticks() -> u64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // Fields after the command name: state is the 3rd field, utime the 14th, stime the 15th.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// At a fixed rate the producer waits for each event's turn: it cannot finish before
    /// `count / rate`, and it sleeps meanwhile. Waiting in rdkafka's `poll(timeout)`, which
    /// spins through the sub-millisecond rest of every timeout, kept a core busy for the run.
    #[test]
    fn a_fixed_rate_is_kept_by_waiting_not_spinning() {
        let mock = MockCluster::new(1).unwrap();
        for topic in ["tx", "cust"] {
            mock.create_topic(topic, 1, 1).unwrap();
        }
        let options = ProduceOptions {
            settings: KafkaSettings::brokers(&mock.bootstrap_servers()),
            transactions_topic: "tx".to_string(),
            customer_events_topic: "cust".to_string(),
            create_topics: None,
            events: EventOptions {
                seed: 3,
                customers: 20,
                products: 10,
                customer_event_share: 0.3,
                defect_rate: 0.0,
                start_millis: 1_714_564_800_000,
                step_millis: 1,
            },
            count: 2_000,
            rate: Some(4_000.0),
        };
        let cpu_before = thread_cpu_ticks();
        let summary = produce_blocking(&options, &AtomicBool::new(false)).unwrap();
        let cpu = Duration::from_millis((thread_cpu_ticks() - cpu_before) * 10);
        assert_eq!(summary.delivered, 2_000);
        assert!(
            summary.elapsed >= Duration::from_millis(490),
            "2,000 events at 4,000/s took {:?}",
            summary.elapsed
        );
        assert!(
            cpu < summary.elapsed / 2,
            "the producer thread used {cpu:?} of CPU in {:?}: it spins instead of waiting",
            summary.elapsed
        );
    }
}
