//! One micro-batch through the processor and the sinks, in the order that makes a crash at any
//! point harmless:
//!
//! 1. per partition, the offsets the sinks already hold: the lake's `txn` version and
//!    PostgreSQL's applied offset (lake >= PostgreSQL, as the lake is written first), and how
//!    far its dead letters are acknowledged (recorded in the lake, trailing its rows);
//! 2. state of the batch's customers loaded from PostgreSQL (once per process);
//! 3. each event in offset order: at or below PostgreSQL's offset it is skipped; above it, it
//!    updates the customer's state; above the lake's offset its row is written; a rejected
//!    event above the acknowledged offset gets a dead letter;
//! 4. dead letters handed to the producer, then the lake commits, then the PostgreSQL
//!    transaction started in the background ([`PgWrites`]) once the previous batch's has
//!    committed: it overlaps the next batch's steps 1-4 up to its lake commit;
//! 5. the caller awaits the dead letters' acknowledgements and the PostgreSQL commit
//!    ([`Pending`]), then commits the Kafka offsets; all may overlap the next batches
//!    ([`Pipeline::apply`] awaits the dead letters before the lake commit, and the PostgreSQL
//!    commit, instead).
//!
//! A replay after a crash therefore writes nothing twice, loses no dead letter (one may be
//! published twice), and rebuilds the state exactly: the state loaded from PostgreSQL is the
//! state after its applied offset, and the replay continues from there in the same order. A
//! crash while a batch's transaction is under way leaves the lake up to one batch further on
//! than PostgreSQL: the replay updates the state from those events without writing their rows
//! again, exactly as after a crash between a batch's lake commit and its transaction.
//!
//! [`PgWrites`]: super::pg_writes

use std::collections::{BTreeMap, HashMap, HashSet};

use super::acks::{Acknowledged, Pending};
use super::pg_writes::PgWrites;
use crate::error::{Error, Result};
use crate::event::{parse_customer_event, parse_transaction};
use crate::metrics::{BatchRecord, StreamMetrics, TopicCounts};
use crate::process::{ActivityState, Processor, StateCache, TransactionState};
use crate::sink::{
    AlertSink, CustomerEventRow, DeadLetter, DeadLetterSink, Deliveries, LakeSink, PgBatch, PgSink,
    TransactionRow, WindowDelta, customer_events_batch, transactions_batch,
};

/// Which of the stream's input topics a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The transactions topic.
    Transactions,
    /// The customer events topic.
    CustomerEvents,
}

/// A message read from Kafka (copied out of the client's buffer).
#[derive(Debug, Clone)]
pub struct Message {
    /// Its input topic.
    pub source: Source,
    /// Topic name.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub payload: Option<Vec<u8>>,
    /// When it was produced (the Kafka timestamp, milliseconds since the epoch).
    pub timestamp_ms: Option<i64>,
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchCounts {
    /// Messages in the batch.
    pub messages: u64,
    /// Messages already fully applied by an earlier run (skipped).
    pub replayed: u64,
    /// Valid transactions written to the lake.
    pub transactions: u64,
    /// Valid customer events written to the lake.
    pub customer_events: u64,
    /// Events sent to the dead-letter topic (a replay sends again those not known to be
    /// acknowledged).
    pub dead_letters: u64,
    /// High-value transactions written.
    pub high_value: u64,
    /// Anomalies written (either rule).
    pub anomalies: u64,
    /// Transactions older than their partition's watermark (counted apart in their window).
    pub late: u64,
    /// Anomaly alerts delivered to the webhook.
    pub alerts_sent: u64,
    /// Anomaly alerts over the rate limit (reported to the webhook as a count).
    pub alerts_suppressed: u64,
    /// Anomaly alerts whose delivery failed.
    pub alerts_failed: u64,
}

impl BatchCounts {
    /// Adds another batch's counts.
    pub fn add(&mut self, other: &BatchCounts) {
        self.messages += other.messages;
        self.replayed += other.replayed;
        self.transactions += other.transactions;
        self.customer_events += other.customer_events;
        self.dead_letters += other.dead_letters;
        self.high_value += other.high_value;
        self.anomalies += other.anomalies;
        self.late += other.late;
        self.alerts_sent += other.alerts_sent;
        self.alerts_suppressed += other.alerts_suppressed;
        self.alerts_failed += other.alerts_failed;
    }
}

/// Where a test asks the process to die (`DATAFLOW_STREAM_ABORT_AFTER=<stage>:<batch>`), like
/// a `kill -9` at a chosen point: after the dead letters, the lake commits or PostgreSQL of the
/// n-th batch with messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    DeadLetters,
    Lake,
    Postgres,
}

fn abort_point() -> Option<(Stage, u64)> {
    let text = std::env::var("DATAFLOW_STREAM_ABORT_AFTER").ok()?;
    let (stage, batch) = text.split_once(':')?;
    let stage = match stage {
        "dead_letters" => Stage::DeadLetters,
        "lake" => Stage::Lake,
        "postgres" => Stage::Postgres,
        _ => return None,
    };
    Some((stage, batch.parse().ok()?))
}

/// The processor, its per-customer state and the sinks.
pub struct Pipeline {
    stream: String,
    processor: Processor,
    lake: LakeSink,
    postgres: Option<PgWrites>,
    dead_letters: Option<DeadLetterSink>,
    alerts: Option<AlertSink>,
    transactions: StateCache<TransactionState>,
    activity: StateCache<ActivityState>,
    /// Most customers kept in each state cache (only with PostgreSQL, which holds them too).
    cache_limit: usize,
    /// The last offset per partition already in the in-memory state (which starts as what
    /// PostgreSQL holds, or empty without it).
    state_done: HashMap<(Source, i32), i64>,
    /// The latest event time per partition in the in-memory state (the window watermark is
    /// this minus the allowed lateness), loaded with `state_done`.
    max_event: HashMap<(Source, i32), Option<i64>>,
    /// How far each partition's dead letters are acknowledged (kept over resets: it only
    /// ever states what the broker confirmed).
    acknowledged: Acknowledged,
    batches: u64,
    abort: Option<(Stage, u64)>,
    metrics: StreamMetrics,
}

impl Pipeline {
    /// A pipeline over opened sinks.
    pub fn new(
        stream: &str,
        processor: Processor,
        lake: LakeSink,
        postgres: Option<PgSink>,
        dead_letters: Option<DeadLetterSink>,
    ) -> Pipeline {
        Pipeline {
            stream: stream.to_string(),
            processor,
            lake,
            postgres: postgres.map(PgWrites::new),
            dead_letters,
            alerts: None,
            transactions: StateCache::default(),
            activity: StateCache::default(),
            cache_limit: usize::MAX,
            state_done: HashMap::new(),
            max_event: HashMap::new(),
            acknowledged: Acknowledged::default(),
            batches: 0,
            abort: abort_point(),
            metrics: StreamMetrics::new(),
        }
    }

    /// Posts each batch's new anomalies to a webhook.
    pub fn with_alerts(mut self, alerts: Option<AlertSink>) -> Pipeline {
        self.alerts = alerts;
        self
    }

    /// Keeps at most `customers` in each state cache when PostgreSQL holds the state.
    pub fn with_state_cache_limit(mut self, customers: usize) -> Pipeline {
        self.cache_limit = customers.max(1);
        self
    }

    /// Records each durable batch into `metrics`.
    pub fn with_metrics(mut self, metrics: StreamMetrics) -> Pipeline {
        self.metrics = metrics;
        self
    }

    /// Forgets every cached offset and customer state; they are read again from the sinks
    /// (once the PostgreSQL transaction under way has committed: its error otherwise).
    /// Called after a rebalance or a failed batch.
    pub async fn reset(&mut self) -> Result<()> {
        self.forget_state();
        if let Some(pg) = &mut self.postgres {
            pg.sink().await?.refresh();
        }
        self.lake.refresh().await
    }

    /// Waits until the last batch's PostgreSQL transaction has committed (its error
    /// otherwise) and the lake's compactions under way have ended, as before closing the
    /// stream.
    pub async fn settle(&mut self) -> Result<()> {
        self.lake.settle().await;
        let result = match &mut self.postgres {
            Some(pg) => pg.settle().await,
            None => Ok(()),
        };
        if result.is_err() {
            self.forget_state();
        }
        result
    }

    fn abort_if(&self, stage: Stage) {
        if self.abort == Some((stage, self.batches)) {
            tracing::warn!(
                ?stage,
                batch = self.batches,
                "aborting as asked by DATAFLOW_STREAM_ABORT_AFTER"
            );
            std::process::abort();
        }
    }

    /// Processes and writes one batch, its dead letters acknowledged before its lake commit.
    /// On error nothing is cached any more that a retry could trust: the caller resets the
    /// pipeline and replays from the committed offsets.
    pub async fn apply(&mut self, batch: &[Message]) -> Result<BatchCounts> {
        let (counts, pending) = self.run(batch, true).await?;
        // Nothing left to await: acknowledged before the lake commit.
        pending.acknowledge().await?;
        Ok(counts)
    }

    /// Processes and writes one batch to the lake and PostgreSQL, with its dead letters
    /// handed to the producer but not awaited: the batch's offsets may be committed once the
    /// returned [`Pending`] is acknowledged (in batch order). Errors as [`Pipeline::apply`].
    pub async fn write(&mut self, batch: &[Message]) -> Result<(BatchCounts, Pending)> {
        self.run(batch, false).await
    }

    /// Records in the lake how far the dead letters are acknowledged, when that moved past
    /// the last commit (at the end of a session, once every [`Pending`] is acknowledged, so
    /// that a later replay publishes none of them again).
    pub async fn record_dead_letters(&mut self) -> Result<()> {
        let none = BTreeMap::new();
        for (source, table) in [
            (Source::Transactions, &mut self.lake.transactions),
            (Source::CustomerEvents, &mut self.lake.customer_events),
        ] {
            let acknowledged = self.acknowledged.of(source);
            if let Some(version) = table
                .commit(None, &none, &acknowledged, &self.stream)
                .await?
            {
                tracing::debug!(table = table.name(), version, "dead letters recorded");
            }
        }
        Ok(())
    }

    async fn run(&mut self, batch: &[Message], wait: bool) -> Result<(BatchCounts, Pending)> {
        let result = match super::repeats::without_repeats(batch) {
            None => self.apply_inner(batch, wait).await,
            Some((kept, dropped)) => {
                tracing::info!(
                    messages = dropped,
                    "dropped messages delivered twice in one batch (fetched again after a rebalance)"
                );
                self.apply_inner(&kept, wait)
                    .await
                    .map(|(mut counts, pending)| {
                        counts.messages += dropped;
                        counts.replayed += dropped;
                        (counts, pending)
                    })
            }
        };
        if result.is_err() {
            // The in-memory state may be ahead of what was written.
            self.forget_state();
        }
        result
    }

    fn forget_state(&mut self) {
        self.transactions.clear();
        self.activity.clear();
        self.state_done.clear();
        self.max_event.clear();
    }

    async fn apply_inner(
        &mut self,
        batch: &[Message],
        wait: bool,
    ) -> Result<(BatchCounts, Pending)> {
        let mut counts = BatchCounts {
            messages: batch.len() as u64,
            ..BatchCounts::default()
        };
        if batch.is_empty() {
            let pending = Pending::new(Deliveries::none(), Vec::new(), self.acknowledged.clone());
            return Ok((counts, pending));
        }
        let batch_started = std::time::Instant::now();
        self.batches += 1;
        self.transactions.next_batch();
        self.activity.next_batch();
        // 1. What the sinks and the in-memory state hold already, per partition: (lake,
        // state, PostgreSQL, dead letters).
        let mut done: HashMap<(Source, i32), (i64, i64, i64, i64)> = HashMap::new();
        for message in batch {
            let key = (message.source, message.partition);
            if done.contains_key(&key) {
                continue;
            }
            let table = match message.source {
                Source::Transactions => &mut self.lake.transactions,
                Source::CustomerEvents => &mut self.lake.customer_events,
            };
            let lake = table.applied_offset(message.partition).await?;
            // Messages of a partition arrive in offset order: this is its first here.
            self.acknowledged.start(key, message.offset);
            let dead_letters = table
                .dead_letters_offset(message.partition)
                .await?
                .max(self.acknowledged.get(key).unwrap_or(-1));
            // With PostgreSQL, the state is its applied offset, or the batch whose transaction
            // is under way, which commits before the next one starts (or fails, and the
            // state is dropped): only a partition new to the state is read from it.
            let (pg, state) = match (&mut self.postgres, self.state_done.get(&key)) {
                (Some(_), Some(state)) => (*state, *state),
                (Some(pg), None) => {
                    let sink = pg.sink().await?;
                    let (pg, max_event) = sink.applied(&message.topic, message.partition).await?;
                    self.state_done.insert(key, pg);
                    self.max_event.insert(key, max_event);
                    (pg, pg)
                }
                (None, state) => {
                    let state = *state.unwrap_or(&-1);
                    self.state_done.entry(key).or_insert(state);
                    self.max_event.entry(key).or_insert(None);
                    (-1, state)
                }
            };
            done.insert(key, (lake, state, pg, dead_letters));
        }
        // 2. Parse, and load the state of customers not seen yet.
        enum Parsed {
            Transaction(crate::event::Transaction),
            Customer(crate::event::CustomerEvent),
            Rejected(crate::event::Invalid),
        }
        let parsed: Vec<Parsed> = batch
            .iter()
            .map(|m| {
                let payload = m.payload.as_deref().unwrap_or_default();
                let result = match m.source {
                    Source::Transactions => parse_transaction(payload).map(Parsed::Transaction),
                    Source::CustomerEvents => parse_customer_event(payload).map(Parsed::Customer),
                };
                result.unwrap_or_else(Parsed::Rejected)
            })
            .collect();
        let loading = std::time::Instant::now();
        let mut loaded_customers = 0;
        if let Some(pg) = &self.postgres {
            let mut need_txn = HashSet::new();
            let mut need_activity = HashSet::new();
            for (message, event) in batch.iter().zip(&parsed) {
                let (_, state_done, _, _) = done[&(message.source, message.partition)];
                if message.offset <= state_done {
                    continue;
                }
                match event {
                    Parsed::Transaction(t) if !self.transactions.contains(t.customer_id) => {
                        need_txn.insert(t.customer_id);
                    }
                    Parsed::Customer(e) if !self.activity.contains(e.customer_id) => {
                        need_activity.insert(e.customer_id);
                    }
                    _ => {}
                }
            }
            loaded_customers = need_txn.len() + need_activity.len();
            // Both reads go out at once: the client pipelines them on its connection.
            let txn_ids: Vec<i64> = need_txn.into_iter().collect();
            let activity_ids: Vec<i64> = need_activity.into_iter().collect();
            let states = pg.states();
            let (mut txn_loaded, mut activity_loaded) = tokio::try_join!(
                async {
                    if txn_ids.is_empty() {
                        Ok(HashMap::new())
                    } else {
                        states.transaction_states(&txn_ids).await
                    }
                },
                async {
                    if activity_ids.is_empty() {
                        Ok(HashMap::new())
                    } else {
                        states.activity_states(&activity_ids).await
                    }
                },
            )?;
            for id in txn_ids {
                let state = txn_loaded.remove(&id).unwrap_or_default();
                self.transactions.insert(id, state);
            }
            for id in activity_ids {
                let state = activity_loaded.remove(&id).unwrap_or_default();
                self.activity.insert(id, state);
            }
        }
        let load_us = loading.elapsed().as_micros() as u64;
        // 3. Process in offset order.
        let mut transaction_rows = Vec::new();
        let mut customer_rows = Vec::new();
        let mut letters = Vec::new();
        let mut dirty_txn = HashSet::new();
        let mut dirty_activity = HashSet::new();
        let mut last_offsets: BTreeMap<(Source, i32), (String, i64)> = BTreeMap::new();
        let mut windows: BTreeMap<(i64, String, String), WindowDelta> = BTreeMap::new();
        let windowed = self.postgres.is_some();
        // Per source (the two input topics), named by the first message of each.
        let mut by_source = [TopicCounts::default(); 2];
        let mut topic_names: [Option<&str>; 2] = [None, None];
        let mut produced_ms = Vec::new();
        for (message, event) in batch.iter().zip(parsed) {
            let (lake_done, state_done, _, letters_done) =
                done[&(message.source, message.partition)];
            let entry = last_offsets
                .entry((message.source, message.partition))
                .or_insert_with(|| (message.topic.clone(), message.offset));
            entry.1 = entry.1.max(message.offset);
            let index = message.source as usize;
            topic_names[index].get_or_insert(message.topic.as_str());
            let topic_counts = &mut by_source[index];
            let to_dead_letters = message.offset > letters_done;
            if message.offset <= state_done && message.offset <= lake_done {
                counts.replayed += 1;
                topic_counts.replayed += 1;
                if let (true, Parsed::Rejected(error)) = (to_dead_letters, event) {
                    // Written before, but its dead letter was not known to be acknowledged.
                    topic_counts.dead_letters += 1;
                    letters.push(dead_letter(message, error));
                }
                continue;
            }
            topic_counts.events += 1;
            produced_ms.extend(message.timestamp_ms);
            let to_lake = message.offset > lake_done;
            let to_state = message.offset > state_done;
            match event {
                Parsed::Rejected(error) => {
                    if to_dead_letters {
                        topic_counts.dead_letters += 1;
                        letters.push(dead_letter(message, error));
                    }
                }
                Parsed::Transaction(txn) => {
                    let state = self.transactions.entry(txn.customer_id);
                    let flags = if to_state {
                        dirty_txn.insert(txn.customer_id);
                        let max_event = self
                            .max_event
                            .entry((message.source, message.partition))
                            .or_default();
                        if windowed
                            && let Some(slot) =
                                self.processor.window(txn.event_time_micros, max_event)
                        {
                            let category = txn.category.clone().unwrap_or_else(|| "unknown".into());
                            let delta = windows
                                .entry((slot.start_micros, txn.status.clone(), category.clone()))
                                .or_insert_with(|| WindowDelta {
                                    start_micros: slot.start_micros,
                                    end_micros: slot.end_micros,
                                    status: txn.status.clone(),
                                    category,
                                    ..WindowDelta::default()
                                });
                            if slot.late {
                                delta.late_transactions += 1;
                                delta.late_amount_cents += txn.amount_cents;
                                counts.late += 1;
                                topic_counts.late += 1;
                            } else {
                                delta.transactions += 1;
                                delta.amount_cents += txn.amount_cents;
                            }
                        }
                        self.processor.transaction(state, &txn)
                    } else {
                        // Already in PostgreSQL but not in the lake (the lake is written
                        // first, so only when the lake was reset): flag against a copy.
                        let mut copy = *state;
                        self.processor.transaction(&mut copy, &txn)
                    };
                    if to_lake {
                        counts.transactions += 1;
                        counts.high_value += u64::from(flags.is_high_value);
                        counts.anomalies += u64::from(flags.is_anomaly());
                        topic_counts.high_value += u64::from(flags.is_high_value);
                        topic_counts.fixed_anomalies += u64::from(flags.is_fixed_anomaly);
                        topic_counts.statistical_anomalies +=
                            u64::from(flags.is_statistical_anomaly);
                        transaction_rows.push(TransactionRow {
                            txn,
                            flags,
                            partition: message.partition,
                            offset: message.offset,
                        });
                    }
                }
                Parsed::Customer(event) => {
                    if to_state {
                        let state = self.activity.entry(event.customer_id);
                        self.processor.customer_event(state, &event);
                        dirty_activity.insert(event.customer_id);
                    }
                    if to_lake {
                        counts.customer_events += 1;
                        customer_rows.push(CustomerEventRow {
                            event,
                            partition: message.partition,
                            offset: message.offset,
                        });
                    }
                }
            }
        }
        // 4. Dead letters, lake, PostgreSQL.
        counts.dead_letters = letters.len() as u64;
        let process_us = batch_started.elapsed().as_micros() as u64 - load_us;
        let started = std::time::Instant::now();
        let deliveries = match (&self.dead_letters, letters.is_empty()) {
            (_, true) => Deliveries::none(),
            (Some(sink), false) => sink.enqueue(&letters).await?,
            (None, false) => {
                return Err(Error::Internal(
                    "rejected events but no dead-letter sink".to_string(),
                ));
            }
        };
        let through = last_offsets
            .iter()
            .map(|(key, (_, offset))| (*key, *offset))
            .collect();
        let mut pending = Pending::new(deliveries, through, self.acknowledged.clone());
        if wait {
            pending.acknowledge().await?;
            pending = Pending::new(Deliveries::none(), Vec::new(), self.acknowledged.clone());
        }
        self.abort_if(Stage::DeadLetters);
        if let Some(alerts) = &mut self.alerts
            && !transaction_rows.is_empty()
        {
            let topic = batch
                .iter()
                .find(|m| m.source == Source::Transactions)
                .map(|m| m.topic.as_str())
                .unwrap_or_default();
            let sent = alerts.send(&transaction_rows, topic).await;
            counts.alerts_sent = sent.sent;
            counts.alerts_suppressed = sent.suppressed;
            counts.alerts_failed = sent.failed;
        }
        let dead_letters_ms = started.elapsed().as_millis() as u64;
        let processed_at = now_micros();
        for source in [Source::Transactions, Source::CustomerEvents] {
            let offsets: BTreeMap<i32, i64> = last_offsets
                .iter()
                .filter(|((s, _), _)| *s == source)
                .map(|((_, partition), (_, offset))| (*partition, *offset))
                .collect();
            let (table, batch) = match source {
                Source::Transactions => (
                    &mut self.lake.transactions,
                    (!transaction_rows.is_empty())
                        .then(|| transactions_batch(&transaction_rows, processed_at))
                        .transpose()?,
                ),
                Source::CustomerEvents => (
                    &mut self.lake.customer_events,
                    (!customer_rows.is_empty())
                        .then(|| customer_events_batch(&customer_rows, processed_at))
                        .transpose()?,
                ),
            };
            let acknowledged = self.acknowledged.of(source);
            if let Some(version) = table
                .commit(batch, &offsets, &acknowledged, &self.stream)
                .await?
            {
                tracing::debug!(table = table.name(), version, "lake commit");
            }
        }
        self.abort_if(Stage::Lake);
        let lake_ms = started.elapsed().as_millis() as u64 - dead_letters_ms;
        // The batch's metrics, recorded once it is in every sink (its latencies then).
        let mut record = BatchRecord::default();
        for (name, counts) in topic_names.iter().zip(by_source) {
            if let Some(name) = name {
                record.topics.insert((*name).to_string(), counts);
            }
        }
        record.alerts_sent = counts.alerts_sent;
        record.alerts_suppressed = counts.alerts_suppressed;
        record.alerts_failed = counts.alerts_failed;
        let metrics = self.metrics.clone();
        let record_batch = move || {
            let now_ms = now_micros() as f64 / 1_000.0;
            record.latencies = produced_ms
                .into_iter()
                .map(|ms| (now_ms - ms as f64) / 1_000.0)
                .collect();
            if let Some(max) = record.latencies.iter().copied().reduce(f64::max) {
                let min = record.latencies.iter().copied().fold(max, f64::min);
                tracing::debug!(
                    events = record.latencies.len(),
                    min_latency_ms = (min * 1_000.0) as i64,
                    max_latency_ms = (max * 1_000.0) as i64,
                    "batch visible in every sink"
                );
            }
            metrics.record_batch(&record);
        };
        let mut build_us = 0;
        let mut postgres_wait_us = 0;
        if let Some(pg) = &mut self.postgres {
            let building = std::time::Instant::now();
            let mut pg_batch = PgBatch::default();
            for ((source, partition), (topic, offset)) in &last_offsets {
                if *offset > done[&(*source, *partition)].2 {
                    let max_event = self
                        .max_event
                        .get(&(*source, *partition))
                        .copied()
                        .flatten();
                    pg_batch
                        .offsets
                        .push((topic.clone(), *partition, *offset, max_event));
                }
            }
            pg_batch.windows = windows.into_values().collect();
            pg_batch.transactions = dirty_txn
                .iter()
                .map(|c| (*c, self.transactions.get(*c).unwrap_or_default()))
                .collect();
            pg_batch.activity = dirty_activity
                .iter()
                .map(|c| (*c, self.activity.get(*c).unwrap_or_default()))
                .collect();
            build_us = building.elapsed().as_micros() as u64;
            // The previous batch's transaction, under way since its lake commit.
            let waiting = std::time::Instant::now();
            pg.sink().await?;
            postgres_wait_us = waiting.elapsed().as_micros() as u64;
            // PostgreSQL holds every state of the earlier batches now: the cold ones can go
            // (this batch's stay until the next batch finds its transaction committed).
            let dropped = self.transactions.evict_over(self.cache_limit)
                + self.activity.evict_over(self.cache_limit);
            if dropped > 0 {
                tracing::debug!(dropped, "customer states dropped from the cache");
            }
            let abort = self.abort == Some((Stage::Postgres, self.batches));
            let batches = self.batches;
            let committed = pg.start(pg_batch, move || {
                if abort {
                    tracing::warn!(
                        stage = ?Stage::Postgres,
                        batch = batches,
                        "aborting as asked by DATAFLOW_STREAM_ABORT_AFTER"
                    );
                    std::process::abort();
                }
                record_batch();
            })?;
            if wait {
                pg.settle().await?;
            }
            pending = pending.with_commit(Some(committed));
        } else {
            record_batch();
        }
        tracing::debug!(
            dead_letters_ms,
            dead_letters = counts.dead_letters,
            lake_ms,
            loaded_customers,
            load_us,
            process_us,
            build_us,
            postgres_wait_us,
            "batch written; its PostgreSQL transaction started"
        );
        for (key, (_, offset)) in last_offsets {
            let done = self.state_done.entry(key).or_insert(offset);
            *done = (*done).max(offset);
        }
        Ok((counts, pending))
    }
}

fn dead_letter(message: &Message, error: crate::event::Invalid) -> DeadLetter {
    DeadLetter {
        key: message.key.clone(),
        payload: message.payload.clone(),
        error,
        topic: message.topic.clone(),
        partition: message.partition,
        offset: message.offset,
    }
}

pub(super) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
