//! capsys: what capkit reads from the live system. capcore models capabilities as data; this crate asks the
//! running kernel (procfs, sysctl, xattrs, capget) and hands capcore the answers.

pub mod cgroup;
pub mod creds;
pub mod docker_client;
pub mod exec_file;
pub mod image;
pub mod kernel;
pub mod launch;
pub mod mounts;
pub mod net;
pub mod presets;
pub mod proc;
pub mod recheck;
pub mod rootfs;
pub mod sockdiag;
pub mod systemd;
pub mod trace;
pub mod users;
pub mod walk;

use std::io::{self, Read};
use std::path::Path;

/// Reads a file of the live system as text, at most `limit` bytes of it: nothing is read without a bound.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(limit)
        .read_to_string(&mut text)?;
    Ok(text)
}
