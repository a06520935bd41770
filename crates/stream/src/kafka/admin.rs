//! Topic creation through the admin API (the test broker, like many production clusters, does
//! not create topics on first use) and message counts from the partition watermarks.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::client::{KafkaSettings, OPERATION_TIMEOUT};
use crate::error::{Error, Result};

/// Creates each topic that does not exist yet with `partitions` partitions. Returns the topics
/// it created. Existing topics are left as they are (their partition count is not changed).
pub async fn ensure_topics(
    settings: &KafkaSettings,
    topics: &[&str],
    partitions: i32,
    replication_factor: i32,
) -> Result<Vec<String>> {
    let admin: AdminClient<DefaultClientContext> = settings
        .client_config()
        .create()
        .map_err(Error::kafka_config)?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication_factor)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(OPERATION_TIMEOUT));
    let results = tokio::time::timeout(
        OPERATION_TIMEOUT + std::time::Duration::from_secs(5),
        admin.create_topics(new_topics.iter(), &options),
    )
    .await
    .map_err(|_| {
        Error::Broker(format!(
            "creating topics {} on {}: no answer within {}s",
            topics.join(", "),
            settings.broker_list(),
            OPERATION_TIMEOUT.as_secs()
        ))
    })?
    .map_err(Error::kafka(format!(
        "creating topics on {}",
        settings.broker_list()
    )))?;
    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(topic) => created.push(topic),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(Error::Broker(format!("creating topic `{topic}`: {code}")));
            }
        }
    }
    Ok(created)
}

/// The number of messages in each partition of `topic` (high minus low watermark), by
/// partition. Blocking: call it from a blocking thread or a test.
pub fn topic_message_counts(settings: &KafkaSettings, topic: &str) -> Result<Vec<(i32, i64)>> {
    let consumer: BaseConsumer = settings
        .client_config()
        .create()
        .map_err(Error::kafka_config)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), OPERATION_TIMEOUT)
        .map_err(Error::kafka(format!("reading the metadata of `{topic}`")))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    drop(metadata);
    let mut counts = Vec::new();
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, OPERATION_TIMEOUT)
            .map_err(Error::kafka(format!("reading the watermarks of `{topic}`")))?;
        counts.push((partition, high - low));
    }
    Ok(counts)
}

/// A message read back from a topic, for tools and tests.
#[derive(Debug, Clone)]
pub struct ReadMessage {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub payload: Option<Vec<u8>>,
    /// Headers with UTF-8 values.
    pub headers: Vec<(String, String)>,
}

/// Reads every message of `topic` from the beginning, without a consumer group. Blocking.
pub fn read_topic(settings: &KafkaSettings, topic: &str) -> Result<Vec<ReadMessage>> {
    let counts = topic_message_counts(settings, topic)?;
    let expected: i64 = counts.iter().map(|(_, n)| n).sum();
    let consumer: BaseConsumer = settings
        .client_config()
        .set("group.id", "dataflow-read-topic")
        .set("enable.auto.commit", "false")
        .create()
        .map_err(Error::kafka_config)?;
    let mut list = TopicPartitionList::new();
    for (partition, _) in &counts {
        list.add_partition_offset(topic, *partition, Offset::Beginning)
            .map_err(Error::kafka("assigning partitions"))?;
    }
    let assigned = consumer.assign(&list);
    drop(list);
    assigned.map_err(Error::kafka("assigning partitions"))?;
    let deadline = std::time::Instant::now() + OPERATION_TIMEOUT;
    let mut messages = Vec::new();
    while (messages.len() as i64) < expected && std::time::Instant::now() < deadline {
        match consumer.poll(std::time::Duration::from_millis(200)) {
            Some(Ok(message)) => messages.push(ReadMessage {
                partition: message.partition(),
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                payload: message.payload().map(<[u8]>::to_vec),
                headers: message
                    .headers()
                    .map(|headers| {
                        headers
                            .iter()
                            .map(|h| {
                                let value = h
                                    .value
                                    .map(|v| String::from_utf8_lossy(v).into_owned())
                                    .unwrap_or_default();
                                (h.key.to_string(), value)
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Some(Err(err)) => return Err(Error::kafka(format!("reading `{topic}`"))(err)),
            None => {}
        }
    }
    if (messages.len() as i64) < expected {
        return Err(Error::Broker(format!(
            "read {} of the {expected} messages of `{topic}` within {}s",
            messages.len(),
            OPERATION_TIMEOUT.as_secs()
        )));
    }
    Ok(messages)
}
