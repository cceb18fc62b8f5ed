//! One module per subcommand: its arguments and its `run`.

pub mod dp_sample;
pub mod journal;
pub mod keys;
pub mod outbox;
pub mod policy;
pub mod preview;
pub mod run;
pub mod submit;
#[cfg(feature = "synthetic")]
pub mod synthetic;
