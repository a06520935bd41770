//! Messages a consumer delivers twice within one batch. After a rebalance the consumer fetches
//! each partition it is assigned again from the group's committed offset, while messages of
//! that partition fetched before it may still be in the open batch, waiting to be written:
//! the batch then holds them twice. The pipeline expects each partition's messages once and in
//! offset order (it decides per partition what is new from the first one), so the repeats are
//! dropped; everything at or below the batch's last offset of a partition was delivered
//! before, in this batch or in one already written.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::pipeline::{Message, Source};

/// `batch` without its repeats (a message at or below an earlier message's offset of the same
/// partition), or `None` when it has none. Also returns how many were dropped.
pub(super) fn without_repeats(batch: &[Message]) -> Option<(Vec<Message>, u64)> {
    let mut last: HashMap<(Source, i32), i64> = HashMap::new();
    let mut first_repeat = None;
    for (index, message) in batch.iter().enumerate() {
        if is_repeat(&mut last, message) {
            first_repeat = Some(index);
            break;
        }
    }
    let first_repeat = first_repeat?;
    let mut kept = batch[..first_repeat].to_vec();
    let mut dropped = 0;
    for message in &batch[first_repeat..] {
        if is_repeat(&mut last, message) {
            dropped += 1;
        } else {
            kept.push(message.clone());
        }
    }
    Some((kept, dropped))
}

/// Whether `message` is at or below its partition's last offset in `last`; records it if not.
fn is_repeat(last: &mut HashMap<(Source, i32), i64>, message: &Message) -> bool {
    match last.entry((message.source, message.partition)) {
        Entry::Occupied(entry) if *entry.get() >= message.offset => true,
        Entry::Occupied(mut entry) => {
            entry.insert(message.offset);
            false
        }
        Entry::Vacant(entry) => {
            entry.insert(message.offset);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(source: Source, partition: i32, offset: i64) -> Message {
        Message {
            source,
            topic: format!("{source:?}"),
            partition,
            offset,
            key: None,
            payload: None,
            timestamp_ms: None,
        }
    }

    fn offsets(batch: &[Message]) -> Vec<(Source, i32, i64)> {
        batch
            .iter()
            .map(|m| (m.source, m.partition, m.offset))
            .collect()
    }

    #[test]
    fn a_batch_in_offset_order_is_kept_as_it_is() {
        let batch = [
            message(Source::Transactions, 0, 5),
            message(Source::CustomerEvents, 0, 5),
            message(Source::Transactions, 1, 2),
            message(Source::Transactions, 0, 9),
        ];
        assert!(without_repeats(&batch).is_none());
    }

    /// Partition 0 of the transactions was fetched again from its committed offset (3) after
    /// a rebalance, while 5 and 6 were already in the batch.
    #[test]
    fn a_partition_fetched_again_keeps_only_its_new_messages() {
        let t = Source::Transactions;
        let batch = [
            message(t, 0, 5),
            message(t, 0, 6),
            message(Source::CustomerEvents, 0, 6),
            message(t, 0, 3),
            message(t, 0, 4),
            message(t, 0, 5),
            message(t, 0, 6),
            message(t, 1, 0),
            message(t, 0, 7),
        ];
        let (kept, dropped) = without_repeats(&batch).unwrap();
        assert_eq!(dropped, 4);
        assert_eq!(
            offsets(&kept),
            [
                (t, 0, 5),
                (t, 0, 6),
                (Source::CustomerEvents, 0, 6),
                (t, 1, 0),
                (t, 0, 7)
            ]
        );
    }
}
