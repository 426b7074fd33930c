//! The search index itself: pure data, no IO. It answers the store's search (see
//! [`crate::store::Store::search`]) with the same matches in the same order, from posting lists
//! rather than a scan:
//!
//! - certificates are kept in number order and a certificate's id is its position, so every
//!   posting list sorted by id is also in number order and the keyset cursor is a binary search;
//! - holder names (ASCII letters folded to lower case, as SQLite's `LIKE` and the PostgreSQL
//!   store's `translate` compare them) give a posting list per character and per pair of
//!   adjacent characters: a query walks the rarest list of its own pairs (or its one character)
//!   and checks each candidate against the full condition;
//! - a number prefix is a range of ids; a USCC, a level and a stored state each have a list.
//!
//! Each query walks one candidate source (the smallest that every match must come from) from the
//! cursor on, and stops at `limit` matches: its work is bounded by that source, never by the
//! registry's size.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::domain::SearchQuery;
use crate::domain::{CertificateRecord, Level, State};

/// What a search needs of one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Record version, so that an older copy never replaces a newer one.
    pub version: u32,
    uscc: Box<str>,
    /// Holder names with ASCII letters folded to lower case.
    name: Box<str>,
    name_en: Option<Box<str>>,
    level: Level,
    /// The stored state; expiry is judged per query against its `today`.
    state: State,
    valid_until: NaiveDate,
}

impl Entry {
    /// The searchable parts of a record.
    pub fn of(record: &CertificateRecord) -> Self {
        Self {
            version: record.version,
            uscc: record.holder.uscc.as_str().into(),
            name: record.holder.name.to_ascii_lowercase().into(),
            name_en: record.holder.name_en.as_deref().map(|n| n.to_ascii_lowercase().into()),
            level: record.level,
            state: record.status.state,
            valid_until: record.valid_until,
        }
    }

    fn grams(&self) -> Vec<u64> {
        let mut grams = Vec::new();
        for name in std::iter::once(&*self.name).chain(self.name_en.as_deref()) {
            push_grams(name, &mut grams);
        }
        grams.sort_unstable();
        grams.dedup();
        grams
    }

    fn matches(&self, number: &str, query: &Compiled) -> bool {
        let text = query.text.as_ref().map_or(true, |text| {
            number.starts_with(&*text.upper)
                || *self.uscc == *text.upper
                || self.name.contains(&*text.folded)
                || self.name_en.as_deref().is_some_and(|n| n.contains(&*text.folded))
        });
        text && query.uscc.as_deref().map_or(true, |uscc| *self.uscc == *uscc)
            && query.level.map_or(true, |level| self.level == level)
            && query.state.map_or(true, |state| state_matches(self.state, self.valid_until, state, query.today))
    }
}

/// Whether a certificate stored as `stored`, valid until `valid_until`, is in the effective
/// state `wanted` on `today` (the store's rule: valid and suspended ones past their end are
/// expired).
fn state_matches(stored: State, valid_until: NaiveDate, wanted: State, today: NaiveDate) -> bool {
    match wanted {
        State::Expired => matches!(stored, State::Valid | State::Suspended) && valid_until < today,
        State::Valid | State::Suspended => stored == wanted && valid_until >= today,
        other => stored == other,
    }
}

/// Whether `record` matches `query`: the same rule as the index's, for a record read afresh.
pub fn record_matches(record: &CertificateRecord, query: &SearchQuery) -> bool {
    Entry::of(record).matches(record.number.as_str(), &Compiled::of(query))
}

/// A gram key: a character and the one after it, or a lone character.
fn gram(first: char, second: Option<char>) -> u64 {
    // Code points take 21 bits; 0x11_0000 is none of them and marks a lone character.
    (u64::from(first) << 21) | second.map_or(0x11_0000, u64::from)
}

fn push_grams(text: &str, out: &mut Vec<u64>) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(gram(c, None));
        if let Some(&next) = chars.peek() {
            out.push(gram(c, Some(next)));
        }
    }
}

/// The grams every name containing `folded` has: its pairs, or its one character.
fn query_grams(folded: &str) -> Vec<u64> {
    let chars: Vec<char> = folded.chars().collect();
    match chars.as_slice() {
        [] => Vec::new(),
        [one] => vec![gram(*one, None)],
        _ => chars.windows(2).map(|pair| gram(pair[0], Some(pair[1]))).collect(),
    }
}

struct Text {
    /// For numbers and USCCs.
    upper: Box<str>,
    /// For names.
    folded: Box<str>,
}

/// A query prepared once for all its candidates.
struct Compiled {
    text: Option<Text>,
    uscc: Option<Box<str>>,
    level: Option<Level>,
    state: Option<State>,
    today: NaiveDate,
}

impl Compiled {
    fn of(query: &SearchQuery) -> Self {
        let text = query
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| Text { upper: t.to_ascii_uppercase().into(), folded: t.to_ascii_lowercase().into() });
        Self {
            text,
            uscc: query.uscc.as_ref().map(|u| u.as_str().into()),
            level: query.level,
            state: query.state,
            today: query.today,
        }
    }
}

/// Certificates in number order with their posting lists.
#[derive(Default)]
pub struct Index {
    /// Number order; a certificate's id is its position here.
    numbers: Vec<Box<str>>,
    entries: Vec<Entry>,
    grams: HashMap<u64, Vec<u32>>,
    usccs: HashMap<Box<str>, Vec<u32>>,
    levels: HashMap<Level, Vec<u32>>,
    states: HashMap<State, Vec<u32>>,
}

/// Where candidates come from: a range of ids and sorted lists, walked as one ascending stream.
struct Source<'a> {
    range: std::ops::Range<u32>,
    lists: Vec<&'a [u32]>,
}

impl Source<'_> {
    fn len(&self) -> usize {
        self.range.len() + self.lists.iter().map(|l| l.len()).sum::<usize>()
    }
}

impl Index {
    /// How many certificates the index holds.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    /// The version held for `number`, if any.
    pub fn version(&self, number: &str) -> Option<u32> {
        self.position(number).ok().map(|id| self.entries[id].version)
    }

    fn position(&self, number: &str) -> Result<usize, usize> {
        self.numbers.binary_search_by(|n| (**n).cmp(number))
    }

    /// Adds or replaces certificates (an older version than the one held is ignored). Numbers
    /// after the last one are appended; one that falls between others renumbers the index once
    /// for the whole call. Each record comes with the number of the row it was read from, which
    /// it is indexed under: a row holding another certificate's record is then still found by
    /// its own number, and refused when read.
    pub fn upsert<'a>(&mut self, rows: impl IntoIterator<Item = (&'a str, &'a CertificateRecord)>) {
        let mut renumber = false;
        for (number, record) in rows {
            let entry = Entry::of(record);
            match self.position(number) {
                Ok(id) if self.entries[id].version >= entry.version => {}
                Ok(id) => {
                    if !renumber {
                        self.unlist(id as u32);
                    }
                    self.entries[id] = entry;
                    if !renumber {
                        self.list(id as u32);
                    }
                }
                Err(at) if at == self.numbers.len() => {
                    self.numbers.push(number.into());
                    self.entries.push(entry);
                    if !renumber {
                        self.list(at as u32);
                    }
                }
                Err(at) => {
                    self.numbers.insert(at, number.into());
                    self.entries.insert(at, entry);
                    renumber = true;
                }
            }
        }
        if renumber {
            self.relist();
        }
    }

    /// Rebuilds every posting list from the entries.
    fn relist(&mut self) {
        self.grams.clear();
        self.usccs.clear();
        self.levels.clear();
        self.states.clear();
        for id in 0..self.entries.len() {
            self.list(id as u32);
        }
        self.grams.shrink_to_fit();
        self.usccs.shrink_to_fit();
    }

    /// Enters `id` in the lists its entry belongs to.
    fn list(&mut self, id: u32) {
        let entry = &self.entries[id as usize];
        for gram in entry.grams() {
            insert_sorted(self.grams.entry(gram).or_default(), id);
        }
        insert_sorted(self.usccs.entry(entry.uscc.clone()).or_default(), id);
        insert_sorted(self.levels.entry(entry.level).or_default(), id);
        insert_sorted(self.states.entry(entry.state).or_default(), id);
    }

    /// Takes `id` out of the lists its entry belongs to.
    fn unlist(&mut self, id: u32) {
        let entry = &self.entries[id as usize];
        for gram in entry.grams() {
            remove_sorted(&mut self.grams, &gram, id);
        }
        remove_sorted(&mut self.usccs, &entry.uscc, id);
        remove_sorted(&mut self.levels, &entry.level, id);
        remove_sorted(&mut self.states, &entry.state, id);
    }

    /// The numbers of the first `limit` matches of `query` after its cursor, in number order,
    /// and whether more follow.
    pub fn search(&self, query: &SearchQuery, limit: usize) -> (Vec<String>, bool) {
        let compiled = Compiled::of(query);
        let start = match &query.after {
            Some(after) => self.numbers.partition_point(|n| **n <= *after.as_str()),
            None => 0,
        } as u32;
        let Source { range, lists } = self.source(&compiled);
        let mut next_in_range = range.start.max(start);
        let mut at: Vec<usize> = lists.iter().map(|l| l.partition_point(|&id| id < start)).collect();
        let mut found = Vec::new();
        while found.len() <= limit {
            let from_lists = lists.iter().zip(&at).filter_map(|(list, &i)| list.get(i).copied()).min();
            let from_range = Some(next_in_range).filter(|id| *id < range.end);
            let Some(id) = from_lists.into_iter().chain(from_range).min() else { break };
            if from_range == Some(id) {
                next_in_range += 1;
            }
            for (list, i) in lists.iter().zip(at.iter_mut()) {
                if list.get(*i) == Some(&id) {
                    *i += 1;
                }
            }
            let number = &self.numbers[id as usize];
            if self.entries[id as usize].matches(number, &compiled) {
                found.push(number.to_string());
            }
        }
        let more = found.len() > limit;
        found.truncate(limit);
        (found, more)
    }

    /// The smallest candidate source every match of `query` is in.
    fn source(&self, query: &Compiled) -> Source<'_> {
        fn list(list: Option<&Vec<u32>>) -> &[u32] {
            list.map_or(&[][..], Vec::as_slice)
        }
        fn only(list: &[u32]) -> Source<'_> {
            Source { range: 0..0, lists: vec![list] }
        }
        let mut sources = Vec::new();
        if let Some(text) = &query.text {
            // A number prefix, the USCC, or a name: the union of the three.
            let from = self.numbers.partition_point(|n| **n < *text.upper);
            let to = from + self.numbers[from..].partition_point(|n| n.starts_with(&*text.upper));
            let names = query_grams(&text.folded)
                .iter()
                .map(|gram| list(self.grams.get(gram)))
                .min_by_key(|l| l.len())
                .unwrap_or(&[]);
            let usccs = list(self.usccs.get(&text.upper));
            sources.push(Source { range: from as u32..to as u32, lists: vec![usccs, names] });
        }
        if let Some(uscc) = &query.uscc {
            sources.push(only(list(self.usccs.get(uscc))));
        }
        if let Some(level) = &query.level {
            sources.push(only(list(self.levels.get(level))));
        }
        if let Some(state) = query.state {
            let stored = match state {
                State::Expired => vec![State::Valid, State::Suspended],
                other => vec![other],
            };
            sources.push(Source { range: 0..0, lists: stored.iter().map(|s| list(self.states.get(s))).collect() });
        }
        sources
            .into_iter()
            .min_by_key(Source::len)
            .unwrap_or(Source { range: 0..self.numbers.len() as u32, lists: Vec::new() })
    }
}

fn insert_sorted(list: &mut Vec<u32>, id: u32) {
    if let Err(at) = list.binary_search(&id) {
        list.insert(at, id);
    }
}

fn remove_sorted<K: std::hash::Hash + Eq>(lists: &mut HashMap<K, Vec<u32>>, key: &K, id: u32) {
    if let Some(list) = lists.get_mut(key) {
        if let Ok(at) = list.binary_search(&id) {
            list.remove(at);
        }
        if list.is_empty() {
            lists.remove(key);
        }
    }
}
