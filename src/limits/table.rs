//! The clients' state: for each client network, one TAT per class (see [`super::gcra`]), in a
//! table bounded in entries and split into shards, each behind a lock of its own, so that
//! requests of different clients rarely wait for each other and no lock is global.
//!
//! A full shard makes room before it takes a new client: first it forgets every client that
//! owes nothing (forgetting one loses nothing: a new entry would be the same); if every client
//! still owes time, it forgets the one that owes least and raises the shard's floor to what that
//! client owed. New entries start at the floor, so a forgotten client that comes back, or anyone
//! who arrives in its place, never gets more than the quota: being forgotten is never a gain.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

use super::CLASSES;

/// The TATs of one client, one per class.
pub type Tats = [u64; CLASSES];

/// Shards of the table: enough that worker threads seldom meet on one lock.
const SHARDS: usize = 64;

/// One shard, padded to its own cache lines so that its lock does not share one with another's.
#[repr(align(128))]
struct Shard {
    state: Mutex<ShardState>,
}

struct ShardState {
    clients: HashMap<u128, Tats, foldhash::fast::RandomState>,
    /// What new entries start from (see the module documentation).
    floor: Tats,
}

/// A bounded table of clients' TATs.
pub struct Table {
    shards: Box<[Shard]>,
    per_shard: usize,
    hasher: foldhash::fast::RandomState,
}

impl Table {
    /// A table of at most about `max_clients` clients (at least one a shard).
    pub fn new(max_clients: usize) -> Self {
        let per_shard = max_clients.div_ceil(SHARDS).max(1);
        let shards = (0..SHARDS)
            .map(|_| Shard {
                state: Mutex::new(ShardState {
                    // Room for the bound from the start, so the table does not grow with the
                    // first clients; the space forgotten clients leave may make it grow once
                    // more (to twice this) when it is reused, never beyond.
                    clients: HashMap::with_capacity_and_hasher(per_shard, Default::default()),
                    floor: [0; CLASSES],
                }),
            })
            .collect();
        Self { shards, per_shard, hasher: Default::default() }
    }

    /// The most clients the table holds at once.
    pub fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }

    /// Clients held now (locks every shard in turn; for tests and figures, not requests).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).clients.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `f` on the TATs of `key` at `now`, making an entry for a client not held.
    pub fn with<R>(&self, key: u128, now: u64, f: impl FnOnce(&mut Tats) -> R) -> R {
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let mut state = lock(shard);
        if let Some(tats) = state.clients.get_mut(&key) {
            return f(tats);
        }
        if state.clients.len() >= self.per_shard {
            state.make_room(now, self.per_shard);
        }
        let floor = state.floor;
        f(state.clients.entry(key).or_insert(floor))
    }

    /// The TATs of `key` as they stand, without making an entry.
    pub fn get(&self, key: u128) -> Tats {
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let state = lock(shard);
        state.clients.get(&key).copied().unwrap_or(state.floor)
    }
}

impl ShardState {
    fn make_room(&mut self, now: u64, per_shard: usize) {
        self.clients.retain(|_, tats| tats.iter().any(|&tat| tat > now));
        while self.clients.len() >= per_shard {
            let Some((&key, _)) = self.clients.iter().min_by_key(|(_, tats)| tats.iter().max().copied()) else {
                return;
            };
            if let Some(tats) = self.clients.remove(&key) {
                for (floor, tat) in self.floor.iter_mut().zip(tats) {
                    *floor = (*floor).max(tat);
                }
            }
        }
    }
}

/// A poisoned lock only means another thread panicked mid-update; the numbers are still usable.
fn lock(shard: &Shard) -> std::sync::MutexGuard<'_, ShardState> {
    shard.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_stays_bounded_under_many_clients() {
        let table = Table::new(1_000);
        let bound = table.capacity();
        assert!((1_000..1_000 + SHARDS).contains(&bound), "{bound}");
        // Many more clients than the bound, each still owing time when the next arrives.
        for key in 0..200_000u128 {
            table.with(key, 0, |tats| tats[0] = 10 + (key as u64 % 7));
            if key % 20_000 == 0 {
                assert!(table.len() <= bound, "{} clients held, bound {bound}", table.len());
            }
        }
        assert!(table.len() <= bound);
        assert!(table.len() >= bound - SHARDS, "a full table forgets one client at a time: {}", table.len());
    }

    #[test]
    fn clients_owing_nothing_are_forgotten_first() {
        let table = Table::new(SHARDS); // one client a shard
        let now = 1_000;
        table.with(1, now, |tats| tats[2] = now - 1); // owes nothing
        let shard_of = |key: u128| (table.hasher.hash_one(key) as usize) % SHARDS;
        let neighbour = (2..).find(|&key| shard_of(key) == shard_of(1)).unwrap();
        table.with(neighbour, now, |tats| assert_eq!(*tats, [0; CLASSES], "the floor is untouched"));
    }

    #[test]
    fn a_forgotten_client_never_comes_back_with_more_than_it_had() {
        let table = Table::new(SHARDS); // one client a shard
        let now = 1_000;
        table.with(1, now, |tats| tats[0] = now + 500);
        let shard_of = |key: u128| (table.hasher.hash_one(key) as usize) % SHARDS;
        let neighbour = (2..).find(|&key| shard_of(key) == shard_of(1)).unwrap();
        // The newcomer pushes the indebted client out, and inherits its debt as the floor.
        table.with(neighbour, now, |tats| assert_eq!(tats[0], now + 500));
        assert_eq!(table.get(1)[0], now + 500, "client 1, forgotten, still owes what it owed");
    }
}
