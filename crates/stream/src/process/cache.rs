//! The per-customer state a stream keeps in memory, bounded: entries carry the batch that last
//! used them, and once the cache outgrows its limit the least recently used tenth is dropped.
//! Only state PostgreSQL already holds is ever dropped (eviction runs once the earlier
//! batches' transactions have committed, and never drops a state the current batch used, as
//! its transaction is still to come), so a dropped customer is simply loaded again the next
//! time one of its events arrives.

use std::collections::HashMap;

/// Customer id to state, with recency.
#[derive(Debug, Clone)]
pub struct StateCache<S> {
    entries: HashMap<i64, (S, u64)>,
    /// The current batch, stamped on every entry it touches.
    tick: u64,
}

impl<S> Default for StateCache<S> {
    fn default() -> Self {
        StateCache {
            entries: HashMap::new(),
            tick: 0,
        }
    }
}

impl<S: Default + Copy> StateCache<S> {
    /// Whether `id`'s state is cached.
    pub fn contains(&self, id: i64) -> bool {
        self.entries.contains_key(&id)
    }

    /// Caches `id`'s state (loaded from the sink).
    pub fn insert(&mut self, id: i64, state: S) {
        self.entries.insert(id, (state, self.tick));
    }

    /// `id`'s state for updating (default when unknown), marked as used by this batch.
    pub fn entry(&mut self, id: i64) -> &mut S {
        let tick = self.tick;
        let entry = self
            .entries
            .entry(id)
            .or_insert_with(|| (S::default(), tick));
        entry.1 = tick;
        &mut entry.0
    }

    /// A copy of `id`'s state, if cached.
    pub fn get(&self, id: i64) -> Option<S> {
        self.entries.get(&id).map(|(state, _)| *state)
    }

    /// Cached customers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Starts a new batch (for recency).
    pub fn next_batch(&mut self) {
        self.tick += 1;
    }

    /// When over `max` entries, drops the least recently used down to 90% of `max`, but none
    /// the current batch used (which may stay over `max`); returns how many were dropped. Only
    /// call when every entry of the earlier batches is durable elsewhere.
    pub fn evict_over(&mut self, max: usize) -> usize {
        if self.entries.len() <= max {
            return 0;
        }
        let keep = max - max / 10;
        let tick = self.tick;
        let mut ticks: Vec<u64> = self
            .entries
            .values()
            .map(|(_, t)| *t)
            .filter(|t| *t < tick)
            .collect();
        let drop = (self.entries.len() - keep).min(ticks.len());
        if drop == 0 {
            return 0;
        }
        let (_, cutoff, _) = ticks.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        // Everything strictly older than the cutoff goes, then entries at the cutoff until
        // enough are gone (ties are arbitrary).
        let mut dropped = 0;
        self.entries.retain(|_, (_, t)| {
            if *t < cutoff {
                dropped += 1;
                false
            } else {
                true
            }
        });
        if dropped < drop {
            let mut at_cutoff = drop - dropped;
            self.entries.retain(|_, (_, t)| {
                if at_cutoff > 0 && *t == cutoff {
                    at_cutoff -= 1;
                    false
                } else {
                    true
                }
            });
            dropped = drop - at_cutoff;
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_first() {
        let mut cache: StateCache<i64> = StateCache::default();
        for id in 0..100 {
            cache.next_batch();
            *cache.entry(id) += id;
        }
        // Customer 0 is used again: it is recent now.
        cache.next_batch();
        *cache.entry(0) += 1;
        assert_eq!(cache.evict_over(200), 0);
        let dropped = cache.evict_over(50);
        assert_eq!(dropped, 100 - 45);
        assert_eq!(cache.len(), 45);
        assert!(cache.contains(0), "recently used");
        assert!(!cache.contains(1) && !cache.contains(55));
        assert!(cache.contains(56) && cache.contains(99));
        assert_eq!(cache.get(99), Some(99));
    }

    #[test]
    fn the_current_batch_is_kept() {
        let mut cache: StateCache<i64> = StateCache::default();
        cache.next_batch();
        for id in 0..10 {
            *cache.entry(id) += 1;
        }
        cache.next_batch();
        for id in 10..20 {
            *cache.entry(id) += 1;
        }
        // Only the earlier batch's ten can go, though 5 is the limit.
        assert_eq!(cache.evict_over(5), 10);
        assert!((10..20).all(|id| cache.contains(id)));
        assert_eq!(cache.evict_over(5), 0);
    }

    #[test]
    fn ties_are_dropped_only_as_far_as_needed() {
        let mut cache: StateCache<i64> = StateCache::default();
        for id in 0..10 {
            cache.insert(id, id);
        }
        cache.next_batch();
        assert_eq!(cache.evict_over(5), 10 - 5);
        assert_eq!(cache.len(), 5);
        assert!(cache.evict_over(1) > 0);
        assert_eq!(cache.len(), 1);
    }
}
