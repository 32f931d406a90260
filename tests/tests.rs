//! The integration tests: every binary run for real against the live kernel.

mod capls;
mod spawn;
