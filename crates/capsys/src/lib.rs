//! capsys: what capkit reads from the live system. capcore models capabilities as data; this crate asks the
//! running kernel (procfs, sysctl, xattrs, capget) and hands capcore the answers.

pub mod cgroup;
pub mod creds;
pub mod exec_file;
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
