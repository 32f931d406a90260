//! Ctrl-C and its kind, caught for the whole run: captrace must outlive COMMAND to report and to remove
//! its cgroup, so it never dies of them itself. A signal typed at the terminal already reached COMMAND
//! (same process group) and is not sent twice; one sent to captrace alone (`kill PID`) is passed on.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use signal_hook::low_level::siginfo::Cause;

/// The signals caught, and where they go.
pub struct Signals {
    stopped: Arc<AtomicBool>,
    child: Arc<AtomicU32>,
}

impl Signals {
    /// Catches SIGINT, SIGTERM, SIGHUP and SIGQUIT on a thread of their own.
    pub fn install() -> io::Result<Signals> {
        let stopped = Arc::new(AtomicBool::new(false));
        let child = Arc::new(AtomicU32::new(0));
        let mut caught = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])?;
        let (flag, target) = (Arc::clone(&stopped), Arc::clone(&child));
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for origin in &mut caught {
                    flag.store(true, Ordering::SeqCst);
                    let pid = target.load(Ordering::SeqCst);
                    if pid != 0 && !matches!(origin.cause, Cause::Kernel) {
                        pass_on(pid, origin.signal);
                    }
                }
            })?;
        Ok(Signals { stopped, child })
    }

    /// Where signals go from now on; 0: nowhere.
    pub fn forward_to(&self, pid: u32) {
        self.child.store(pid, Ordering::SeqCst);
    }

    /// Whether any of the signals came.
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

fn pass_on(pid: u32, signal: i32) {
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
        return;
    };
    if let Some(signal) = rustix::process::Signal::from_named_raw(signal) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}
