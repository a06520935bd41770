//! `dataflow produce`: publishes generated events to a stream's topics and prints (and
//! optionally writes) the manifest of what was published.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dataflow_datagen::stream_events::EventOptions;
use dataflow_stream::config::{STREAMS_DIR, TopicsConfig, find_stream};
use dataflow_stream::kafka::KafkaSettings;
use dataflow_stream::{ProduceOptions, produce};

use crate::cli::ProduceArgs;

/// Publishes the events.
pub async fn run(project_dir: &Path, args: ProduceArgs) -> anyhow::Result<()> {
    // The stream file gives brokers, client properties and topics; without a streams/ folder,
    // --brokers and the default topic names do.
    let (settings, topics) = if args.stream.is_some() || project_dir.join(STREAMS_DIR).is_dir() {
        let stream = find_stream(project_dir, args.stream.as_deref())?;
        let settings = KafkaSettings::from_spec(&stream.spec, args.brokers.as_deref())?;
        (settings, stream.spec.topics)
    } else {
        let brokers = args.brokers.as_deref().ok_or_else(|| {
            dataflow_core::Error::Usage(
                "no streams/*.yml in the project: give the brokers with --brokers".to_string(),
            )
        })?;
        (KafkaSettings::brokers(brokers), TopicsConfig::default())
    };
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        return Err(
            dataflow_core::Error::Usage(format!("--rate must be above 0, got {rate}")).into(),
        );
    }
    let start_millis = match &args.start_time {
        Some(text) => dataflow_core::time::parse_timestamp_micros(text.as_bytes())
            .map(|micros| micros / 1000)
            .ok_or_else(|| {
                dataflow_core::Error::Usage(format!("--start-time `{text}` is not a timestamp"))
            })?,
        None => chrono::Utc::now().timestamp_millis(),
    };
    let step_millis = args.rate.map_or(1, |rate| ((1000.0 / rate) as i64).max(1));
    let stop = Arc::new(AtomicBool::new(false));
    let mut signals = super::scheduler::stop_on_signals(None);
    let flag = Arc::clone(&stop);
    tokio::spawn(async move {
        if signals.changed().await.is_ok() {
            flag.store(true, Ordering::Relaxed);
        }
    });
    let summary = produce(
        ProduceOptions {
            settings,
            transactions_topic: topics.transactions.clone(),
            customer_events_topic: topics.customer_events.clone(),
            create_topics: topics
                .create
                .then_some((topics.partitions, topics.replication_factor)),
            events: EventOptions {
                seed: args.seed,
                customers: args.customers,
                products: args.products,
                customer_event_share: args.customer_event_share,
                defect_rate: args.defect_rate,
                start_millis,
                step_millis,
            },
            count: args.count,
            rate: args.rate,
        },
        stop,
    )
    .await?;
    let manifest = &summary.manifest;
    if let Some(path) = &args.manifest {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(manifest)?)?;
    }
    let secs = summary.elapsed.as_secs_f64();
    let (t, c) = (&manifest.transactions, &manifest.customer_events);
    println!(
        "published {} events in {secs:.2}s ({:.0}/s): {} transactions to {} ({} invalid), \
         {} customer events to {} ({} invalid)",
        summary.delivered,
        summary.delivered as f64 / secs.max(1e-9),
        t.events,
        topics.transactions,
        t.dead_letter,
        c.events,
        topics.customer_events,
        c.dead_letter,
    );
    Ok(())
}
