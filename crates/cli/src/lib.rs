//! capcli: what every capkit binary shares, so that all five behave alike: escaping of outside strings,
//! NDJSON and line output, error messages, and the mapping of outcomes to exit codes.

pub mod args;
pub mod complete;
pub mod ecs;
pub mod escape;
pub mod generate;
pub mod json;
pub mod manpage;
pub mod output;
pub mod render;
pub mod start;
pub mod summary;
pub mod term;
pub mod words;

pub use escape::{escape_bytes, escape_str, ExternalBytes};
pub use output::{run, Output, EXIT_FAILURE, EXIT_FINDINGS, EXIT_OK};
