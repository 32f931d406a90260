//! capkit-test-probe: the program the differential test execs. It reports what the kernel gave it: the id and
//! capability lines of /proc/self/status, PR_GET_SECUREBITS and getauxval(AT_SECURE), one `Key:\tvalue` per
//! line after an `AFTER` line. With CAPKIT_PROBE_SETXATTR=PATH=HEX it first writes that
//! `security.capability` value, and with CAPKIT_PROBE_GETXATTR=PATH it reports the value getxattr shows
//! from where it runs (a user namespace, say). Test-only.

use std::ffi::CString;
use std::io::Write;

/// Calls an xattr syscall on `path` and `security.capability`: the length, or the errno.
fn xattr_call(
    path: &str,
    call: impl FnOnce(*const libc::c_char, *const libc::c_char) -> isize,
) -> Result<usize, i32> {
    let (Ok(path), Ok(name)) = (CString::new(path), CString::new("security.capability")) else {
        return Err(libc::EINVAL);
    };
    let ret = call(path.as_ptr(), name.as_ptr());
    if ret < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(ret as usize)
    }
}

fn main() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mut out = String::from("AFTER\n");
    for line in status.lines() {
        if [
            "Uid:",
            "Gid:",
            "Groups:",
            "CapInh:",
            "CapPrm:",
            "CapEff:",
            "CapBnd:",
            "CapAmb:",
            "NoNewPrivs:",
        ]
        .iter()
        .any(|key| line.starts_with(key))
        {
            out.push_str(line);
            out.push('\n');
        }
    }
    // SAFETY: PR_GET_SECUREBITS takes no pointers.
    let bits = unsafe { libc::prctl(libc::PR_GET_SECUREBITS, 0, 0, 0, 0) };
    // SAFETY: getauxval only reads the auxiliary vector.
    let secure = unsafe { libc::getauxval(libc::AT_SECURE) };
    out.push_str(&format!("Securebits:\t{bits}\nAtSecure:\t{secure}\n"));
    if let Ok(spec) = std::env::var("CAPKIT_PROBE_SETXATTR") {
        let (path, hex) = spec.rsplit_once('=').unwrap_or((spec.as_str(), ""));
        let value: Vec<u8> = (0..hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
            .collect();
        let result = xattr_call(path, |p, name| {
            // SAFETY: p and name are NUL-terminated; value is a live buffer of the given length.
            unsafe { libc::setxattr(p, name, value.as_ptr().cast(), value.len(), 0) as isize }
        });
        out.push_str(&format!(
            "Setxattr:\t{}\n",
            result.map_or_else(|e| format!("errno {e}"), |_| "ok".into())
        ));
    }
    if let Ok(path) = std::env::var("CAPKIT_PROBE_GETXATTR") {
        let mut buf = [0u8; 64];
        let result = xattr_call(&path, |p, name| {
            // SAFETY: p and name are NUL-terminated; buf is a live buffer of the given length.
            unsafe { libc::getxattr(p, name, buf.as_mut_ptr().cast(), buf.len()) }
        });
        let shown = match result {
            Ok(len) => buf[..len].iter().map(|b| format!("{b:02x}")).collect(),
            Err(errno) => format!("errno {errno}"),
        };
        out.push_str(&format!("Getxattr:\t{shown}\n"));
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
}
