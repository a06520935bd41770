//! The stream's processing and sinks without the broker: generated events (1.5% defects) in
//! micro-batches through [`Pipeline::write`] into a real lake (Delta tables in a scratch directory)
//! and, when `DATAFLOW_BENCH_POSTGRES_URL` is set, real PostgreSQL tables, with dead letters
//! published to librdkafka's in-process mock cluster and acknowledged (with each batch's PostgreSQL
//! commit) in the background, as the stream's committer does. It measures what one
//! `dataflow stream` process can do when the broker is not the limit.
//!
//! `cargo bench -p dataflow-stream --bench pipeline -- [EVENTS] [BATCH] [CUSTOMERS]`
//! (defaults 1,000,000, 20,000 and 100,000); with `DATAFLOW_BENCH_LOG=1` each batch's timings
//! (state loads, processing, lake, each PostgreSQL statement) go to stderr.

use std::collections::HashMap;
use std::time::Instant;

use dataflow_datagen::stream_events::{EventGenerator, EventOptions, EventTopic};
use dataflow_engine::Lake;
use dataflow_stream::config::{LakeSinkConfig, ProcessorConfig};
use dataflow_stream::kafka::KafkaSettings;
use dataflow_stream::process::Processor;
use dataflow_stream::runner::{Message, Pending, Pipeline, Source};
use dataflow_stream::sink::{DeadLetterSink, LakeSink, PgSink};
use rdkafka::mocking::MockCluster;

const PARTITIONS: i32 = 3;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .filter(|a| !a.starts_with('-'))
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("DATAFLOW_BENCH_LOG").is_some() {
        tracing::subscriber::set_global_default(Printer)?;
    }
    let events = arg(1, 1_000_000);
    let batch_size = arg(2, 20_000) as usize;
    let customers = arg(3, 100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(events, batch_size, customers))
}

/// Prints the stream's debug events (`DATAFLOW_BENCH_LOG=1`: each batch's timings of state
/// loads, processing, lake and each PostgreSQL statement) to stderr as `message key=value ...`
/// lines. Hand-written on `tracing` alone: `tracing-subscriber` as a dependency of this crate
/// changes the features of shared dependencies, which rebuilds DataFusion for the benchmark.
struct Printer;

impl tracing::Subscriber for Printer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::DEBUG
            && metadata.target().starts_with("dataflow_stream")
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Line(String);
        impl tracing::field::Visit for Line {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0.insert_str(0, &format!("{value:?}"));
                } else {
                    self.0.push_str(&format!(" {}={value:?}", field.name()));
                }
            }
        }
        let mut line = Line(String::new());
        event.record(&mut line);
        eprintln!("{} {}", event.metadata().target(), line.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

async fn run(
    events: u64,
    batch_size: usize,
    customers: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    // Generated up front, so only processing and sinks are timed.
    let mut generator = EventGenerator::new(EventOptions {
        seed: 42,
        customers,
        products: 1_000,
        customer_event_share: 0.3,
        defect_rate: 0.015,
        start_millis: 1_714_521_600_000,
        step_millis: 5,
    })?;
    let mut next_offset: HashMap<(Source, i32), i64> = HashMap::new();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let messages: Vec<Message> = (0..events)
        .map(|_| {
            let event = generator.next_event();
            let (source, topic) = match event.topic {
                EventTopic::Transactions => (Source::Transactions, "tx"),
                EventTopic::CustomerEvents => (Source::CustomerEvents, "cust"),
            };
            let partition =
                (event.key.bytes().map(u32::from).sum::<u32>() % PARTITIONS as u32) as i32;
            let offset = next_offset.entry((source, partition)).or_insert(0);
            *offset += 1;
            Message {
                source,
                topic: topic.to_string(),
                partition,
                offset: *offset - 1,
                key: Some(event.key.into_bytes()),
                payload: Some(event.payload),
                timestamp_ms: Some(now_ms),
            }
        })
        .collect();
    let mock = MockCluster::new(1)?;
    mock.create_topic("dlq", 1, 1)?;
    let dir = tempfile::tempdir()?;
    let lake = Lake::open(dir.path().to_str().unwrap_or("."), HashMap::new())?;
    let sink = LakeSink::open(&lake, &LakeSinkConfig::default(), "tx", "cust").await?;
    let tag = std::process::id();
    let postgres = match std::env::var("DATAFLOW_BENCH_POSTGRES_URL") {
        Ok(url) => Some(
            PgSink::connect(
                &url,
                &format!("bench_metrics_{tag}"),
                &format!("bench_windows_{tag}"),
            )
            .await?,
        ),
        Err(_) => None,
    };
    let with_pg = postgres.is_some();
    let mut pipeline = Pipeline::new(
        "bench",
        Processor::new(&ProcessorConfig::default())?,
        sink,
        postgres,
        Some(DeadLetterSink::new(
            &KafkaSettings::brokers(&mock.bootstrap_servers()),
            "dlq",
            "bench",
        )?),
    );
    let started = Instant::now();
    let mut written = 0u64;
    let mut dead = 0u64;
    let (pending, mut to_acknowledge) = tokio::sync::mpsc::unbounded_channel::<Pending>();
    let acknowledging = tokio::spawn(async move {
        while let Some(batch) = to_acknowledge.recv().await {
            batch.acknowledge().await?;
        }
        Ok::<_, dataflow_stream::Error>(())
    });
    for chunk in messages.chunks(batch_size) {
        let (counts, letters) = pipeline.write(chunk).await?;
        pending.send(letters)?;
        written += counts.transactions + counts.customer_events;
        dead += counts.dead_letters;
    }
    pipeline.settle().await?;
    drop(pending);
    acknowledging.await??;
    pipeline.record_dead_letters().await?;
    let took = started.elapsed().as_secs_f64();
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0;
    println!(
        "{events} events in batches of {batch_size} ({customers} customers), lake{}: {took:.2} s, \
         {:.0} events/s ({written} written, {dead} dead-lettered), peak RSS {rss:.0} MB \
         (incl. the {events} generated messages)",
        if with_pg { " + PostgreSQL" } else { "" },
        events as f64 / took
    );
    Ok(())
}
