//! Starmark: the public registry of commodity after-sales service certificates (GB/T 27922-2011).
//!
//! The folders are the layers of `DESIGN.md`: [`http`] on top, [`registry`] as the only writer,
//! [`domain`] pure rules at the bottom, with [`crypto`], [`store`] and [`tlog`] (the transparency
//! log) beside it.

pub mod cache;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod limits;
pub mod mark;
pub mod registry;
pub mod startup;
pub mod store;
pub mod tlog;
