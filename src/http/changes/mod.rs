//! The change feed: `GET /api/v1/changes` (JSON, for integrators who follow every change in log
//! order) and `GET /changes.atom` (the latest changes, optionally of one holder, for people's
//! feed readers). Both read [`Registry::changes_after`](crate::registry::Registry::changes_after)
//! and [`Registry::recent_changes`](crate::registry::Registry::recent_changes), which hand out
//! only events that match the signed log.

pub mod atom;
pub mod list;
