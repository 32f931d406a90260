//! capkit-test-probe: the program the differential test execs. It reports what the kernel gave it: the id and
//! capability lines of /proc/self/status, PR_GET_SECUREBITS and getauxval(AT_SECURE), one `Key:\tvalue` per
//! line after an `AFTER` line. Test-only.

use std::io::Write;

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
    let _ = std::io::stdout().write_all(out.as_bytes());
}
