//! capcore: Linux capabilities as data. Names and numbers, sets, hex masks, libcap's text form, securebits,
//! the `security.capability` xattr, /proc/PID/status, container ids, file-capability audits, baselines and
//! restore scripts, the `#!` line as binfmt_script reads it, systemd unit files as systemd reads them, and
//! the execve model.
//!
//! Nothing here does I/O: what the running kernel knows (how many capabilities, which namespace) comes in as
//! arguments, so every function can be tested and fuzzed alone.

pub mod audit;
pub mod baseline;
pub mod cap;
pub mod container;
pub mod docker;
pub mod exec;
pub mod getcap;
pub mod hex;
pub mod image_user;
pub mod k8s;
pub mod needs;
pub mod oci;
pub mod procstatus;
pub mod quote;
pub mod restore;
pub mod script;
pub mod securebits;
pub mod service;
pub mod set;
pub mod status;
pub mod text;
pub mod unit;
pub mod xattr;
mod yaml_depth;

pub use cap::{Cap, UnknownCap, CAP_BITS, NAMED_CAPS};
pub use container::{Container, Runtime};
pub use hex::{parse_mask, HexError};
pub use procstatus::{Ids, TaskStatus};
pub use securebits::Securebits;
pub use set::CapSet;
pub use status::{CapStatus, SeccompMode};
pub use text::{CapState, TextError};
pub use xattr::{ExecEffect, FileCaps, Revision, XattrError};
