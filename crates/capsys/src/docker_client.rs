//! What the docker client does on the caller's machine before it asks dockerd: `--security-opt` values
//! are checked by [`capcore::docker::client_security_opt`], and a seccomp profile named by file is read
//! and checked here, as the client reads it (the one part of `docker run` that touches a file). capsim
//! and capscan's `--exec-as docker:` both go through here.

use capcore::docker::{ClientSecurityOpt, MobyVersion};
use std::io::Read;

/// The largest seccomp profile read (Docker's default profile is about 20 KiB).
pub const MAX_SECCOMP_PROFILE: u64 = 16 << 20;

/// What the client sends dockerd, and what could not be modelled.
#[derive(Debug, Default)]
pub struct Sent {
    pub opts: Vec<String>,
    pub notes: Vec<String>,
}

/// `opts` as the docker client of `version` sends them to dockerd; `Err` is the client's refusal, in its
/// words.
pub fn security_opts(version: MobyVersion, opts: &[String]) -> Result<Sent, String> {
    let mut sent = Sent::default();
    for opt in opts {
        match capcore::docker::client_security_opt(version, opt)? {
            ClientSecurityOpt::Send => sent.opts.push(opt.clone()),
            ClientSecurityOpt::Taken => {}
            ClientSecurityOpt::SeccompFile(file) => {
                if !read_seccomp_profile(&file)? {
                    sent.notes.push(format!(
                        "the seccomp profile in {} is larger than capkit reads ({} MiB): whether it \
                         holds JSON, as the docker client requires, was not checked",
                        shown(&file),
                        MAX_SECCOMP_PROFILE >> 20
                    ));
                }
                sent.notes.push(format!(
                    "the seccomp profile in {} is not modelled: a profile that refuses execve, capset or \
                     the runtime's own calls makes the container fail where this prediction has it run",
                    shown(&file)
                ));
                sent.opts
                    .push("seccomp=(the profile in the file)".to_string());
            }
        }
    }
    Ok(sent)
}

/// The client's checks on a seccomp profile file: it can be read, and it holds JSON. Errors are the
/// client's words, with the system's reason worded as Go words it; `Ok(false)` for a file too large to
/// check here, which the client would read all the same.
fn read_seccomp_profile(path: &str) -> Result<bool, String> {
    let file = shown(path);
    let failed = |verb: &str, e: std::io::Error| {
        format!(
            "opening seccomp profile ({file}) failed: {verb} {file}: {}",
            go_errno_text(&e)
        )
    };
    let opened = std::fs::File::open(path).map_err(|e| failed("open", e))?;
    let mut bytes = Vec::new();
    opened
        .take(MAX_SECCOMP_PROFILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| failed("read", e))?;
    if bytes.len() as u64 > MAX_SECCOMP_PROFILE {
        return Ok(false);
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
        .map(|_| true)
        .map_err(|e| format!("compacting json for seccomp profile ({file}) failed: {e}"))
}

/// A file name as the client prints it, unless it holds a character that must not reach a terminal raw:
/// then Go-quoted.
fn shown(file: &str) -> String {
    let quoted = capcore::docker::go_quote(file);
    if quoted[1..quoted.len() - 1] == *file {
        file.to_string()
    } else {
        quoted
    }
}

/// An OS error as Go's syscall.Errno words it: strerror, starting in lower case, without Rust's
/// `(os error N)`.
fn go_errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> MobyVersion {
        MobyVersion::parse(text).unwrap()
    }

    #[test]
    fn seccomp_files_are_read_as_the_client_reads_them() {
        let dir = std::env::temp_dir().join(format!("capsys-seccomp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        let bad = dir.join("bad.json");
        std::fs::write(&good, br#"{"defaultAction": "SCMP_ACT_ALLOW"}"#).unwrap();
        std::fs::write(&bad, b"notjson").unwrap();
        let opt = |file: &std::path::Path| vec![format!("seccomp={}", file.display())];
        let sent = security_opts(v("20.10"), &opt(&good)).unwrap();
        assert_eq!(sent.opts.len(), 1);
        assert_eq!(sent.notes.len(), 1);
        let err = security_opts(v("20.10"), &opt(&bad)).unwrap_err();
        assert!(
            err.starts_with("compacting json for seccomp profile ("),
            "{err}"
        );
        let missing = dir.join("missing.json");
        let err = security_opts(v("20.10"), &opt(&missing)).unwrap_err();
        assert_eq!(
            err,
            format!(
                "opening seccomp profile ({0}) failed: open {0}: no such file or directory",
                missing.display()
            )
        );
        // `builtin` is a file to 20.10's client and a profile's name to 25.0's.
        let builtin = vec!["seccomp=builtin".to_string()];
        assert!(security_opts(v("20.10"), &builtin).is_err());
        assert!(security_opts(v("25.0"), &builtin).unwrap().notes.is_empty());
        let taken = vec!["systempaths=unconfined".to_string()];
        assert!(security_opts(v("20.10"), &taken).unwrap().opts.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
