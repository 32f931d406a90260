//! How every capkit binary starts. A whole `capls -a` or `capdecode MASK` takes about a millisecond on a
//! small machine, and the usual start of a Rust program costs a fifth of that: before `main`, std reads
//! /proc/self/maps to find the main thread's stack guard and sets up a signal stack, and the dynamic loader
//! loads libgcc_s for std's unwinder, whose constructor probes the CPU with `cpuid` (about 4 µs each in a
//! virtual machine). The tools need neither: their stacks are shallow, and their release builds abort on
//! panic (profile.release) and never unwind. So each binary has a C `main` made by `c_main!`, and release
//! builds link a pure-Rust unwinder that provides the symbols std refers to, so the linker leaves libgcc_s
//! out. Measured in docs/capls.md (`--version` 0.81 → 0.68 ms).

use std::os::raw::c_int;
use std::process::ExitCode;

use crate::EXIT_FAILURE;

// Debug and test builds unwind on panic: they keep libgcc_s's unwinder.
#[cfg(not(debug_assertions))]
use unwinding as _;

/// Defines the binary's C `main`, which runs `$program` (a `fn() -> ExitCode`). The binary says
/// `#![cfg_attr(not(test), no_main)]`; test builds keep the test harness's own `main`.
#[macro_export]
macro_rules! c_main {
    ($program:path) => {
        #[cfg(not(test))]
        #[no_mangle]
        pub extern "C" fn main(
            _argc: ::std::os::raw::c_int,
            _argv: *const *const ::std::os::raw::c_char,
        ) -> ::std::os::raw::c_int {
            $crate::start::enter($program)
        }
    };
}

/// What std's setup does that the tools rely on, then the program, and its exit code as a C `main`
/// returns it.
pub fn enter(program: fn() -> ExitCode) -> c_int {
    ignore_sigpipe();
    status(program())
}

/// With SIGPIPE ignored, a write to a closed pipe fails with EPIPE, which ends the program quietly with 0
/// (`crate::run`), instead of killing it.
fn ignore_sigpipe() {
    // SAFETY: SIG_IGN installs no handler code, and no other thread exists yet to race with.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// The number a C `main` returns for the exit code the program decided: any of 0 to 255, since captrace
/// passes its COMMAND's status on.
fn status(code: ExitCode) -> c_int {
    (0..=u8::MAX)
        .find(|n| ExitCode::from(*n) == code)
        .map_or(c_int::from(EXIT_FAILURE), c_int::from)
}
