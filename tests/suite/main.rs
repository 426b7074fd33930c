//! The integration suite: one test binary, a module per area, each test with the real
//! application on a free port and a database of its own (see `common`).

#[macro_use]
mod common;

mod api_bulk_verify;
mod api_issue;
mod api_lifecycle;
mod api_receipts;
mod api_search;
mod bounds;
mod browser_procurement;
mod browser_scan;
mod cache_control;
mod cli;
mod cli_receipts;
mod compression;
mod connections;
mod database_urls;
mod fuzz_findings;
mod gs1;
mod harness;
mod honest_scans;
mod independent_vectors;
mod issuing_rules;
mod layering;
mod log_origin;
mod mark_digests;
mod marks;
mod metrics;
mod metrics_documented;
mod openssl_interop;
mod pages;
mod pages_procurement;
mod postgres_app;
mod postgres_outage;
mod problem_types;
mod rate_limits;
mod read_path;
mod readiness;
mod redis_tls;
mod scan_counts;
mod search_index;
mod served_registry;
mod signed_formats;
mod store_contract;
mod store_integrity;
mod store_migrations;
mod store_postgres;
mod store_scans;
mod tampering;
mod tampering_paths;
mod tlog_api;
mod tlog_audit;
mod tlog_interop;
mod tlog_startup;
mod token_logs;
