//! How capls starts. On a small machine a whole `capls -a` takes about two milliseconds, and the usual start
//! of a Rust program costs a tenth of that: before `main`, std reads /proc/self/maps to find the main
//! thread's stack guard and sets up a signal stack, and the dynamic loader loads libgcc_s for std's
//! unwinder, whose constructor probes the CPU with `cpuid` (about 4 µs each in a virtual machine). capls
//! needs neither: its stack is shallow, and its release build aborts on panic (profile.release) and never
//! unwinds. So it has its own C `main`, and its release build links a pure-Rust unwinder that provides the
//! symbols std refers to, so the linker leaves libgcc_s out. The measurements are in docs/capls.md.

use std::os::raw::{c_char, c_int};
use std::process::ExitCode;

use capcli::{EXIT_FAILURE, EXIT_FINDINGS, EXIT_OK};

// Debug and test builds unwind on panic: they keep libgcc_s's unwinder.
#[cfg(not(debug_assertions))]
use unwinding as _;

/// The C entry point, in place of std's runtime setup (see the module doc).
#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    ignore_sigpipe();
    status(crate::run_program())
}

/// What std's setup does that capls relies on: with SIGPIPE ignored, a write to a closed pipe fails with
/// EPIPE, which ends the program quietly with 0 (capcli::run), instead of killing it.
fn ignore_sigpipe() {
    // SAFETY: SIG_IGN installs no handler code, and no other thread exists yet to race with.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// The number a C `main` returns for the exit code capcli decided.
fn status(code: ExitCode) -> c_int {
    [EXIT_OK, EXIT_FINDINGS, EXIT_FAILURE]
        .into_iter()
        .find(|n| ExitCode::from(*n) == code)
        .map_or(c_int::from(EXIT_FAILURE), c_int::from)
}
