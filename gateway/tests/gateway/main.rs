//! Integration tests of the gateway: real SQLite files, real TLS with
//! rcgen certificates, servers on 127.0.0.1:0.

mod cli;
mod dashboard;
mod dp;
mod intake;
mod merge;
mod support;
