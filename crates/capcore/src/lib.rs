//! capcore: Linux capabilities as data. Names and numbers, sets, hex masks, libcap's text form, securebits,
//! the `security.capability` xattr, the capability lines of /proc/PID/status, and the execve model.
//!
//! Nothing here does I/O: what the running kernel knows (how many capabilities, which namespace) comes in as
//! arguments, so every function can be tested and fuzzed alone.

pub mod cap;
pub mod exec;
pub mod hex;
pub mod set;
pub mod text;

pub use cap::{Cap, UnknownCap, CAP_BITS, NAMED_CAPS};
pub use hex::{parse_mask, HexError};
pub use set::CapSet;
pub use text::{CapState, TextError};

pub mod container;
pub mod procstatus;
pub mod securebits;
pub mod status;
pub mod xattr;

pub use container::{Container, Runtime};
pub use procstatus::{Ids, TaskStatus};
pub use securebits::Securebits;
pub use status::{CapStatus, SeccompMode};
pub use xattr::{ExecEffect, FileCaps, Revision, XattrError};
