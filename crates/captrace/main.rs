//! captrace: which capabilities a program really uses, traced with eBPF, and the smallest configuration
//! that runs it, checked against the execve model.
//!
//! PLACEHOLDER: the lead's main.rs (orchestration: launch, signals, --verify) replaces this file on merge.
//! It exists so that args.rs and render.rs build and their tests run in the front end's worktree.

#![cfg_attr(not(test), no_main)]

mod args;
// Filled by the real main.rs; here only its tests use it.
#[allow(dead_code)]
mod render;

use std::error::Error;
use std::process::ExitCode;

use capcli::term::ColorChoice;
use clap::{CommandFactory, Parser};

const PROG: &str = "captrace";

capcli::c_main!(run_program);

/// The program, run from the C entry point (capcli::start).
#[cfg_attr(test, allow(dead_code))]
fn run_program() -> ExitCode {
    if let Some(code) = capcli::generate::intercept(PROG, args::Args::command) {
        return code;
    }
    capcli::run(PROG, real_main)
}

fn real_main() -> Result<u8, Box<dyn Error>> {
    let args = args::Args::parse();
    capcli::term::init(if args.json {
        ColorChoice::Never
    } else {
        args.color
    });
    Err("tracing is not wired in yet (placeholder main.rs)".into())
}
