//! Tests of the pipeline and the stream loop against librdkafka's in-process mock cluster (fast;
//! the delivery-guarantee tests against a real broker are in the binary's integration tests).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use dataflow_datagen::stream_events::EventOptions;
use dataflow_engine::Lake;
use dataflow_engine::datafusion::arrow::array::{Array, Int64Array};
use rdkafka::mocking::MockCluster;

use super::*;
use crate::config::{LakeSinkConfig, ProcessorConfig, parse_stream};
use crate::kafka::topic_message_counts;
use crate::{ProduceOptions, produce};

const TXN: &str = r#"{"event_type":"transaction","transaction_id":"tID","customer_id":7,"amount":AMOUNT,"currency":"USD","status":"completed","category":"books","event_time":"2024-05-01T12:30:00Z"}"#;
const LOGIN: &str = r#"{"event_type":"login","event_id":"eID","customer_id":7,"event_time":"2024-05-01T13:00:00Z"}"#;

fn message(source: Source, partition: i32, offset: i64, payload: String) -> Message {
    Message {
        source,
        topic: match source {
            Source::Transactions => "tx".to_string(),
            Source::CustomerEvents => "cust".to_string(),
        },
        partition,
        offset,
        key: Some(b"7".to_vec()),
        payload: Some(payload.into_bytes()),
        timestamp_ms: Some(super::pipeline::now_micros() / 1_000 - 250),
    }
}

fn batch() -> Vec<Message> {
    let txn = |offset: i64, amount: &str| {
        message(
            Source::Transactions,
            0,
            offset,
            TXN.replace("ID", &offset.to_string())
                .replace("AMOUNT", amount),
        )
    };
    vec![
        txn(0, "12.50"),
        txn(1, "1500"),
        message(Source::CustomerEvents, 1, 0, LOGIN.replace("ID", "0")),
        txn(2, "20000"),
        message(Source::Transactions, 0, 3, "{\"event_type\":".to_string()),
        message(Source::CustomerEvents, 1, 1, LOGIN.replace("ID", "1")),
    ]
}

/// A mock cluster with the dead-letter topic `dlq`, its address, and an empty lake in a
/// temporary directory (the cluster and the directory live as long as the returned values).
fn mock_and_lake() -> (
    MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    String,
    tempfile::TempDir,
    Lake,
) {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("dlq", 1, 1).unwrap();
    let brokers = mock.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
    (mock, brokers, dir, lake)
}

async fn count(lake: &Lake, sql: &str) -> i64 {
    let ctx = dataflow_engine::new_session(lake).await.unwrap();
    let batches = dataflow_engine::collect_sql(&ctx, sql).await.unwrap();
    let column = batches[0].column(0);
    column
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}

async fn pipeline(lake: &Lake, brokers: &str) -> Pipeline {
    let sink = LakeSink::open(lake, &LakeSinkConfig::default(), "tx", "cust")
        .await
        .unwrap();
    let settings = KafkaSettings::brokers(brokers);
    Pipeline::new(
        "test",
        Processor::new(&ProcessorConfig::default()).unwrap(),
        sink,
        None,
        Some(DeadLetterSink::new(&settings, "dlq", "test").unwrap()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_batch_writes_nothing_twice() {
    let (_mock, brokers, dir, lake) = mock_and_lake();

    let metrics = crate::metrics::StreamMetrics::new();
    let mut first = pipeline(&lake, &brokers)
        .await
        .with_metrics(metrics.clone());
    let counts = first.apply(&batch()).await.unwrap();
    assert_eq!(
        counts,
        BatchCounts {
            messages: 6,
            replayed: 0,
            transactions: 3,
            customer_events: 2,
            dead_letters: 1,
            high_value: 2,
            anomalies: 1,
            ..BatchCounts::default()
        }
    );
    // The same batch again, in the same process and in a new one: all of it is skipped.
    let again = first.apply(&batch()).await.unwrap();
    assert_eq!(
        (again.replayed, again.transactions, again.dead_letters),
        (6, 0, 0)
    );
    // The metrics count each event once; the replay apart.
    let snapshot = metrics.snapshot();
    let tx = snapshot.topics["tx"];
    assert_eq!(
        (
            tx.events,
            tx.dead_letters,
            tx.high_value,
            tx.fixed_anomalies,
            tx.replayed
        ),
        (4, 1, 2, 1, 4)
    );
    assert_eq!(
        (
            snapshot.topics["cust"].events,
            snapshot.topics["cust"].replayed
        ),
        (2, 2)
    );
    assert_eq!(snapshot.latency.count, 6, "one latency per new event");
    assert!(
        snapshot.latency.sum >= 6.0 * 0.25,
        "produced 250 ms before: {}",
        snapshot.latency.sum
    );
    // A new process without PostgreSQL rebuilds its in-memory state from the replay, but
    // writes nothing.
    let mut restarted = pipeline(&lake, &brokers).await;
    let again = restarted.apply(&batch()).await.unwrap();
    assert_eq!(
        (
            again.transactions,
            again.customer_events,
            again.dead_letters
        ),
        (0, 0, 0)
    );

    assert_eq!(
        count(&lake, "select count(*) from stream_transactions").await,
        3
    );
    assert_eq!(
        count(&lake, "select count(*) from stream_customer_events").await,
        2
    );
    assert_eq!(
        count(
            &lake,
            "select count(*) from stream_transactions where is_high_value and is_fixed_anomaly \
             and event_date = date '2024-05-01' and event_hour = 12"
        )
        .await,
        1
    );
    let partition = dir
        .path()
        .join("stream_transactions/event_date=2024-05-01/event_hour=12");
    assert!(partition.is_dir(), "{}", partition.display());
    let table = lake.load("stream_transactions").await.unwrap().unwrap();
    assert_eq!(
        dataflow_engine::transaction_version(&table, "t", &crate::sink::app_id("tx", 0))
            .await
            .unwrap(),
        Some(3),
        "the malformed event's offset is recorded too"
    );
    assert_eq!(dead_letters_on_topic(&brokers).await, 1);
}

/// After a rebalance the consumer fetches a partition again from its committed offset while
/// its earlier messages are still in the open batch: each event is written, counted and
/// dead-lettered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_delivered_twice_in_one_batch_are_applied_once() {
    let (_mock, brokers, _dir, lake) = mock_and_lake();
    let mut twice = batch();
    twice.extend(batch());
    twice.push(message(
        Source::Transactions,
        0,
        4,
        TXN.replace("ID", "4").replace("AMOUNT", "30"),
    ));
    let counts = pipeline(&lake, &brokers).await.apply(&twice).await.unwrap();
    assert_eq!(
        counts,
        BatchCounts {
            messages: 13,
            replayed: 6,
            transactions: 4,
            customer_events: 2,
            dead_letters: 1,
            high_value: 2,
            anomalies: 1,
            ..BatchCounts::default()
        }
    );
    assert_eq!(
        count(
            &lake,
            "select count(distinct transaction_id) from stream_transactions"
        )
        .await,
        4
    );
    assert_eq!(
        count(&lake, "select count(*) from stream_transactions").await,
        4
    );
    assert_eq!(
        count(&lake, "select count(*) from stream_customer_events").await,
        2
    );
    assert_eq!(dead_letters_on_topic(&brokers).await, 1);
}

async fn dead_letters_on_topic(brokers: &str) -> i64 {
    let settings = KafkaSettings::brokers(brokers);
    let counts = tokio::task::spawn_blocking(move || topic_message_counts(&settings, "dlq"))
        .await
        .unwrap()
        .unwrap();
    counts.iter().map(|(_, n)| n).sum()
}

async fn recorded(lake: &Lake, app_id: &str) -> Option<i64> {
    let table = lake.load("stream_transactions").await.unwrap().unwrap();
    dataflow_engine::transaction_version(&table, "t", app_id)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_not_known_to_be_acknowledged_are_published_again() {
    let (_mock, brokers, _dir, lake) = mock_and_lake();
    let dead_letters_id = crate::sink::dead_letters_app_id("tx", 0);

    // Written, its dead letter handed to the producer, then a crash before the stream saw the
    // acknowledgement: the lake has the rows, and records no dead letter as acknowledged.
    let mut first = pipeline(&lake, &brokers).await;
    let (counts, pending) = first.write(&batch()).await.unwrap();
    assert_eq!((counts.transactions, counts.dead_letters), (3, 1));
    assert_eq!(pending.letters(), 1);
    drop(pending);
    assert_eq!(recorded(&lake, &dead_letters_id).await, Some(-1));

    // The replay writes no row but publishes the dead letter again.
    let mut replay = pipeline(&lake, &brokers).await;
    let (again, pending) = replay.write(&batch()).await.unwrap();
    assert_eq!((again.transactions, again.dead_letters), (0, 1));
    pending.acknowledge().await.unwrap();
    // Acknowledged now, and recorded at the end of the session: nothing to publish again.
    replay.record_dead_letters().await.unwrap();
    assert_eq!(recorded(&lake, &dead_letters_id).await, Some(3));
    let mut third = pipeline(&lake, &brokers).await;
    let counts = third.apply(&batch()).await.unwrap();
    assert_eq!((counts.transactions, counts.dead_letters), (0, 0));
    assert_eq!(dead_letters_on_topic(&brokers).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_without_the_dead_letter_record_stands_for_it_with_its_rows() {
    let (_mock, brokers, _dir, lake) = mock_and_lake();
    // As written before dead letters were recorded (then acknowledged before each commit):
    // the rows' offset only.
    LakeSink::open(&lake, &LakeSinkConfig::default(), "tx", "cust")
        .await
        .unwrap();
    let table = lake.load("stream_transactions").await.unwrap().unwrap();
    let transactions = [dataflow_engine::AppTransaction {
        app_id: crate::sink::app_id("tx", 0),
        version: 3,
    }];
    dataflow_engine::TableWriter::new("stream_transactions", table)
        .unwrap()
        .commit(&transactions, HashMap::new())
        .await
        .unwrap();
    let mut replay = pipeline(&lake, &brokers).await;
    let counts = replay.apply(&batch()).await.unwrap();
    assert_eq!((counts.transactions, counts.dead_letters), (0, 0));
    assert_eq!(dead_letters_on_topic(&brokers).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_consumes_what_was_produced() {
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    // The mock cluster does not answer the admin API's CreateTopics: create them directly.
    for topic in [
        "transaction_events",
        "customer_events",
        "dataflow_dead_letter",
    ] {
        mock.create_topic(topic, 2, 1).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap(), HashMap::new()).unwrap();
    let text = format!(
        "brokers: [{brokers}]\ntopics:\n  create: false\nbatch:\n  max_events: 300\n  max_wait_ms: 100\n"
    );
    let stream = parse_stream(std::path::Path::new("streams/mock.yml"), &text).unwrap();
    let settings = KafkaSettings::from_spec(&stream.spec, None).unwrap();
    let produced = produce(
        ProduceOptions {
            settings,
            transactions_topic: stream.spec.topics.transactions.clone(),
            customer_events_topic: stream.spec.topics.customer_events.clone(),
            create_topics: None,
            events: EventOptions {
                seed: 1,
                customers: 50,
                products: 20,
                customer_event_share: 0.3,
                defect_rate: 0.05,
                start_millis: 1_714_564_800_000,
                step_millis: 1,
            },
            count: 2_000,
            rate: None,
        },
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .unwrap();
    assert_eq!(produced.delivered, 2_000);
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let summary = tokio::time::timeout(
        Duration::from_secs(120),
        run_stream(
            RunOptions {
                stream,
                lake: lake.clone(),
                brokers: None,
                idle_exit: Some(Duration::from_secs(2)),
                metrics: crate::metrics::StreamMetrics::new(),
            },
            stopped,
        ),
    )
    .await
    .expect("the stream stops when idle")
    .unwrap();
    let m = &produced.manifest;
    assert_eq!(summary.counts.messages, 2_000);
    assert_eq!(summary.counts.transactions, m.transactions.valid);
    assert_eq!(summary.counts.customer_events, m.customer_events.valid);
    assert_eq!(
        summary.counts.dead_letters,
        m.transactions.dead_letter + m.customer_events.dead_letter
    );
    assert_eq!(
        count(&lake, "select count(*) from stream_transactions").await as u64,
        m.transactions.valid
    );
    assert_eq!(
        count(
            &lake,
            "select count(*) from stream_transactions where is_high_value"
        )
        .await as u64,
        m.transactions.high_value
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_rows_and_recorded_offsets() {
    let (_mock, brokers, dir, lake) = mock_and_lake();
    let config = LakeSinkConfig {
        compact_every_commits: 4,
        vacuum_retention_hours: 0,
        ..LakeSinkConfig::default()
    };
    let sink = LakeSink::open(&lake, &config, "tx", "cust").await.unwrap();
    let settings = KafkaSettings::brokers(&brokers);
    let mut compacting = Pipeline::new(
        "test",
        Processor::new(&ProcessorConfig::default()).unwrap(),
        sink,
        None,
        Some(DeadLetterSink::new(&settings, "dlq", "test").unwrap()),
    );
    // Eight one-event batches into one partition of one table: two compactions.
    for offset in 0..8 {
        let payload = TXN
            .replace("ID", &offset.to_string())
            .replace("AMOUNT", "10");
        let batch = [message(Source::Transactions, 0, offset, payload)];
        assert_eq!(compacting.apply(&batch).await.unwrap().transactions, 1);
    }
    // Compactions run in the background; a session's end waits for them.
    compacting.settle().await.unwrap();
    let info = lake.tables().await.unwrap();
    let transactions = info
        .iter()
        .find(|t| t.name == "stream_transactions")
        .unwrap();
    assert_eq!(transactions.rows, Some(8));
    assert!(transactions.files < 8, "{} files", transactions.files);
    // The vacuum after each compaction (no retention here) deleted the compacted files.
    let on_disk = walk_parquet(&dir.path().join("stream_transactions"));
    assert_eq!(
        on_disk, transactions.files,
        "parquet files on disk vs in the table"
    );
    let replay = [message(
        Source::Transactions,
        0,
        7,
        TXN.replace("ID", "7").replace("AMOUNT", "10"),
    )];
    let mut restarted = pipeline(&lake, &brokers).await;
    assert_eq!(restarted.apply(&replay).await.unwrap().transactions, 0);
    assert_eq!(
        count(&lake, "select count(*) from stream_transactions").await,
        8
    );
}

fn walk_parquet(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            n += walk_parquet(&path);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            n += 1;
        }
    }
    n
}

/// Generated events (1.5% defects) for `customers` customers over 3 partitions per topic, as
/// the stream reads them.
fn generated(events: u64, customers: u64) -> Vec<Message> {
    use dataflow_datagen::stream_events::{EventGenerator, EventTopic};
    let mut generator = EventGenerator::new(EventOptions {
        seed: 7,
        customers,
        products: 50,
        customer_event_share: 0.3,
        defect_rate: 0.015,
        start_millis: 1_714_521_600_000,
        step_millis: 5,
    })
    .unwrap();
    let mut next: HashMap<(Source, i32), i64> = HashMap::new();
    (0..events)
        .map(|_| {
            let event = generator.next_event();
            let source = match event.topic {
                EventTopic::Transactions => Source::Transactions,
                EventTopic::CustomerEvents => Source::CustomerEvents,
            };
            let partition = (event.key.bytes().map(u32::from).sum::<u32>() % 3) as i32;
            let offset = next.entry((source, partition)).or_insert(0);
            *offset += 1;
            let mut m = message(source, partition, *offset - 1, String::new());
            m.key = Some(event.key.into_bytes());
            m.payload = Some(event.payload);
            m
        })
        .collect()
}

/// Every column of the metrics and window tables but `updated_at`, as text in key order.
async fn pg_tables(client: &tokio_postgres::Client, metrics: &str, windows: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (table, key) in [
        (metrics, "customer_id"),
        (windows, "window_start, status, category"),
    ] {
        let rows = client
            .query(
                &format!("SELECT (to_jsonb(t) - 'updated_at')::text FROM {table} t ORDER BY {key}"),
                &[],
            )
            .await
            .unwrap();
        out.extend(rows.iter().map(|r| r.get::<_, String>(0)));
    }
    out
}

/// Each batch's PostgreSQL transaction runs while the next batch is processed, and states are
/// read meanwhile on another connection: with a state cache far smaller than the customers
/// (so customers are dropped and read back all the time), the tables must come out exactly as
/// when each batch is written and committed before the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapped_transactions_with_a_tiny_cache_equal_one_batch_at_a_time() {
    let Ok(url) = std::env::var("DATAFLOW_TEST_POSTGRES_URL") else {
        return;
    };
    if url.trim().is_empty() {
        return;
    }
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("dlq", 1, 1).unwrap();
    let brokers = mock.bootstrap_servers();
    let messages = generated(6_000, 400);
    let tag = format!(
        "{}_{}",
        std::process::id(),
        super::pipeline::now_micros() % 1_000_000
    );
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut tables = Vec::new();
    for (run, overlapped) in [("serial", false), ("overlapped", true)] {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
        let sink = LakeSink::open(&lake, &LakeSinkConfig::default(), "tx", "cust")
            .await
            .unwrap();
        let metrics = format!("stream_overlap_{run}_{tag}");
        let windows = format!("stream_overlap_windows_{run}_{tag}");
        let pg = PgSink::connect(&url, &metrics, &windows).await.unwrap();
        let mut pipeline = Pipeline::new(
            "test",
            Processor::new(&ProcessorConfig::default()).unwrap(),
            sink,
            Some(pg),
            Some(DeadLetterSink::new(&KafkaSettings::brokers(&brokers), "dlq", "test").unwrap()),
        );
        if overlapped {
            pipeline = pipeline.with_state_cache_limit(5);
        }
        let mut pendings = Vec::new();
        let mut written = 0;
        for chunk in messages.chunks(100) {
            let counts = if overlapped {
                let (counts, pending) = pipeline.write(chunk).await.unwrap();
                pendings.push(pending);
                counts
            } else {
                pipeline.apply(chunk).await.unwrap()
            };
            written += counts.transactions + counts.customer_events;
        }
        pipeline.settle().await.unwrap();
        for pending in pendings {
            pending.acknowledge().await.unwrap();
        }
        assert!(written > 5_000, "{run}: {written}");
        tables.push(pg_tables(&client, &metrics, &windows).await);
        client
            .batch_execute(&format!(
                "DROP TABLE {metrics}; DROP TABLE {windows};
                 DELETE FROM {} WHERE metrics_table = '{metrics}'",
                crate::sink::OFFSETS_TABLE
            ))
            .await
            .unwrap();
    }
    assert!(tables[0].len() > 400, "400 customers and their windows");
    assert_eq!(tables[0], tables[1]);
}
