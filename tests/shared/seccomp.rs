//! The allow-all seccomp filter the test programs install (tests/child, tests/caps): one instruction,
//! enough to put the thread in seccomp filter mode. Without no_new_privs the kernel lets only a thread with
//! CAP_SYS_ADMIN (a no-audit check) install it.

use std::io;

pub fn install_allow_all_filter() -> io::Result<()> {
    let mut filter = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    }];
    let program = libc::sock_fprog {
        len: 1,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: `program` points at `filter`, which outlives the call; the kernel copies the filter before
    // returning. No crate we use wraps SECCOMP_MODE_FILTER.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &program as *const libc::sock_fprog,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
