//! One module per subcommand: its arguments and its `run`.

pub mod auditlog;
pub mod dp_sample;
pub mod keys;
pub mod outbox;
pub mod preview;
pub mod run;
pub mod sample;
pub mod submit;
