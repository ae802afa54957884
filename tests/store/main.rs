//! The tests that need a database and no machine-learning model: the store, the REST API, the
//! job queue, the web pages and the README's examples, each on SQLite and, when
//! `DDALKKAK_TEST_DATABASE_URL` is set, on PostgreSQL (`.ci/run`'s PostgreSQL pass runs this
//! binary whole). One binary for all of them: linking it dominates a warm `cargo test`.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod api;
mod doc_examples;
mod job_queue;
mod postgres_rls;
mod schema_parity;
mod session_sweeper;
mod sqlite_durability;
mod store_contract;
mod web_pages;
