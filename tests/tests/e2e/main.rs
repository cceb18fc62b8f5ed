//! End-to-end tests: real TLS (a local rcgen CA), real SQLite files, servers
//! on `127.0.0.1:0`, agents driven through the agent library or run as the
//! real `municipality-agent` binary, the gateway in-process or as the real
//! `gateway serve` binary. One test binary, so the crates link once.

mod configs;
mod demo;
mod keys;
mod kill;
mod leaks;
mod national;
mod refusals;
mod secure;
mod world;
