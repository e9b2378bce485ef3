//! One file per subcommand: each parses nothing itself (clap did) and calls the library.

pub(crate) mod cv;
pub(crate) mod evaluate;
pub(crate) mod export;
pub(crate) mod predict;
pub(crate) mod prepare;
pub(crate) mod run_args;
pub(crate) mod stats;
pub(crate) mod train;
