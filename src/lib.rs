//! Starmark: the public registry of commodity after-sales service certificates (GB/T 27922-2011).
//!
//! The crate's layout, top to bottom (docs/architecture.md tells the write, read and scan paths):
//!
//! - [`cli`]: the `starmark` subcommands; [`startup`] wires configuration ([`config`]), store,
//!   keys, registry and HTTP server the same way for `serve`, `demo` and the tests.
//! - [`http`]: routes, problem+json errors, auth, pages and the accept loop. It renders; every
//!   read and write goes through the registry, and it names no store or cache type.
//! - [`registry`]: the application service, the only writer, and where verdicts are decided.
//! - [`cache`] (L1 in process, L2 in Redis), [`store`] (SQLite and PostgreSQL behind one trait),
//!   [`tlog`] (the transparency log), [`mark`] (QR and star-mark artwork) and [`crypto`] (keys,
//!   canonical bytes, signatures): what the registry builds on.
//! - [`domain`]: pure rules with no I/O, types that can only hold valid values.

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
