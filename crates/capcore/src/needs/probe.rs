//! Which no-audit capability checks are probes. The kernel passes CAP_OPT_NOAUDIT when a failed check must
//! not fill the audit log, not when the answer does not matter: the memory-accounting check every mmap makes
//! changes nothing a program asked for, but the no-audit check in seccomp refuses a filter. So a no-audit
//! check is a probe only when the kernel function that made it is one of the sites listed here, each read in
//! the kernel source (Linux 6.18: security/commoncap.c, mm/, fs/proc/, kernel/, lib/vsprintf.c) and each
//! known not to decide whether the operation happens. Anything else stays a check that counts.

use super::Check;

/// No-audit sites whose answer never decides whether the program's operation happens, by the function the
/// trace names as the caller (the first frame above the capability plumbing). Where the kernel inlines a
/// helper, the frame is the function it was inlined into, so both are listed.
const PROBE_SITES: &[&str] = &[
    // Memory accounting: cap_vm_enough_memory asks CAP_SYS_ADMIN (NOAUDIT, init_user_ns) and
    // __vm_enough_memory uses the answer only to keep the admin reserve under vm.overcommit_memory=2; the
    // mapping, brk, fork or write goes ahead either way unless memory really is short.

    // the LSM entry every accounting path calls; calls cap_capable itself
    "security_vm_enough_memory_mm",
    // commoncap's hook: the CAP_SYS_ADMIN NOAUDIT check itself
    "cap_vm_enough_memory",
    // the overcommit arithmetic that takes the answer
    "__vm_enough_memory",
    // brk() growing the heap (mm/vma.c)
    "do_brk_flags",
    // the ELF loader's bss and brk set-up at exec
    "vm_brk_flags",
    // brk(2), when do_brk_flags is inlined into it
    "__do_sys_brk",
    // mmap() of a private writable mapping (mm/vma.c)
    "__mmap_prepare",
    // the same, when __mmap_prepare is inlined
    "__mmap_region",
    // the same, in kernels before the mm/vma.c split
    "mmap_region",
    // the same, when everything below it is inlined
    "do_mmap",
    // mprotect() making a private mapping writable
    "mprotect_fixup",
    // the stack growing into its guard gap
    "acct_stack_growth",
    // the same, acct_stack_growth inlined (x86, arm64)
    "expand_downwards",
    // the same on upward-growing stacks
    "expand_upwards",
    // the same, one level up
    "expand_stack_locked",
    // exec's initial stack mapping (VM_ACCOUNT)
    "insert_vm_struct",
    // fork() copying accounted mappings
    "dup_mmap",
    // mremap() growing or moving an accounted mapping (6.16+)
    "vrm_charge",
    // the same
    "vrm_calc_charge",
    // mremap() moving an accounted mapping, the charge helper inlined
    "move_vma",
    // mremap() growing an accounted mapping (before 6.16)
    "vma_to_resize",
    // mremap() growing an accounted mapping where it lies (6.16+)
    "expand_vma_in_place",
    // the same, when expand_vma_in_place is inlined
    "expand_vma",
    // mremap() to a fixed address, when the above are inlined
    "mremap_to",
    // mremap(2), when the above are inlined
    "do_mremap",
    // the same, one level up
    "__do_sys_mremap",
    // mprotect(2), when mprotect_fixup is inlined
    "do_mprotect_pkey",
    // tmpfs/shm object created without MAP_NORESERVE
    "shmem_acct_size",
    // tmpfs pages charged one by one (VM_NORESERVE objects)
    "shmem_acct_blocks",
    // the same, one level up
    "shmem_inode_acct_blocks",
    // the same, when the helpers are inlined into the page allocation
    "shmem_alloc_and_add_folio",
    // the same, one level further up
    "shmem_get_folio_gfp",
    // a tmpfs/shm object resized
    "shmem_reacct_size",
    // the same, shmem_reacct_size inlined (its other checks are audited)
    "shmem_setattr",
    // shmget(), memfd_create() and MAP_SHARED|MAP_ANONYMOUS set-up
    "__shmem_file_setup",
    // swapoff() re-charging the pages it brings back (after its own check)
    "__do_sys_swapoff",
    // Views: the no-audit answer only chooses what a read shows; the read succeeds either way.

    // /proc/PID/stat: PTRACE_MODE_NOAUDIT decides whether addresses are shown or zeros
    "do_task_stat",
    // the same, do_task_stat inlined
    "proc_tgid_stat",
    // the same for /proc/PID/task/TID/stat
    "proc_tid_stat",
    // NOAUDIT only under PTRACE_MODE_NOAUDIT, which only do_task_stat's view passes
    "ptrace_has_cap",
    // the same, ptrace_has_cap inlined
    "__ptrace_may_access",
    // the same, one level up
    "ptrace_may_access",
    // CAP_SYSLOG: real addresses or zeros in /proc/kallsyms, /proc/modules, BPF info
    "kallsyms_show_value",
    // %pK under kptr_restrict=1: CAP_SYSLOG picks address or zeros in /proc files
    "restricted_pointer",
    // GETFSMAP: CAP_SYS_ADMIN only picks the detailed reverse-map report
    "xfs_getfsmap",
    // /proc/PID/oom_score_adj: CAP_SYS_RESOURCE only moves oom_score_adj_min along
    "__set_oom_adj",
    // Hardening choices: the answer picks how something is built, and it is built either way.

    // x86 BPF JIT: a classic BPF program (a seccomp or socket filter) loaded without CAP_SYS_ADMIN gets a
    // Spectre-BHB barrier (ns_capable_noaudit(&init_user_ns, CAP_SYS_ADMIN) in do_jit's epilogue)
    "do_jit",
    // Someone else's credentials, checked in the program's context: never a need of the program.

    // at exec: does the *tracer* hold CAP_SYS_PTRACE (decides the unsafe-exec downgrade)
    "ptracer_capable",
    // its only check is ptracer_capable's, when that frame is skipped as plumbing
    "cap_bprm_creds_from_file",
];

/// A no-audit check that changes nothing the program asked for: made with CAP_OPT_NOAUDIT by one of the
/// kernel's non-gating sites ([`PROBE_SITES`]). Every other check counts: a no-audit check from any other
/// site (seccomp_prepare_filter refuses a filter without no_new_privs on a no-audit CAP_SYS_ADMIN check), a
/// check whose caller is unknown (no stack was taken), and a check that was never classified
/// (`noaudit: None`).
pub fn is_probe(check: &Check) -> bool {
    check.noaudit == Some(true)
        && check
            .caller
            .as_deref()
            .is_some_and(|caller| PROBE_SITES.contains(&function_name(caller)))
}

/// The bare function name of a caller as a symbolizer may print it: `do_brk_flags+0x1a/0x40`,
/// `mprotect_fixup.isra.0`, `xfs_getfsmap [xfs]` all name the function before the first `+`, `.`, space or
/// `[`. (Kernel function names never contain those characters.)
fn function_name(caller: &str) -> &str {
    let caller = caller.trim();
    let end = caller
        .find(|c: char| matches!(c, '+' | '.' | '[') || c.is_whitespace())
        .unwrap_or(caller.len());
    &caller[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::needs::NsPlace;
    use crate::Cap;

    fn check(cap: Cap, noaudit: Option<bool>, caller: Option<&str>) -> Check {
        Check {
            cap,
            granted: false,
            noaudit,
            insetid: false,
            ns: NsPlace::Base,
            ns_inum: 4026531837,
            ns_level: 0,
            pid: 100,
            comm: b"prog".to_vec(),
            caller: caller.map(str::to_string),
            count: 1,
            first_seen_ns: 0,
            recovered: false,
        }
    }

    #[test]
    fn memory_accounting_is_a_probe() {
        for caller in [
            "security_vm_enough_memory_mm",
            "do_brk_flags",
            "__mmap_region",
            "mprotect_fixup",
            "expand_downwards",
            "dup_mmap",
        ] {
            assert!(
                is_probe(&check(Cap::SYS_ADMIN, Some(true), Some(caller))),
                "{caller}"
            );
        }
    }

    #[test]
    fn seccomp_and_unknown_no_audit_sites_are_not_probes() {
        for caller in [
            "seccomp_prepare_filter",
            "do_seccomp",
            "__do_sys_seccomp",
            "prctl_set_seccomp",
            "some_new_function",
            "",
        ] {
            assert!(
                !is_probe(&check(Cap::SYS_ADMIN, Some(true), Some(caller))),
                "{caller}"
            );
        }
        // No stack taken: the site is unknown, so the check counts.
        assert!(!is_probe(&check(Cap::SYS_ADMIN, Some(true), None)));
    }

    #[test]
    fn only_no_audit_checks_can_be_probes() {
        // The same site, audited or never classified, counts.
        assert!(!is_probe(&check(
            Cap::SYS_ADMIN,
            Some(false),
            Some("do_brk_flags")
        )));
        assert!(!is_probe(&check(
            Cap::SYS_ADMIN,
            None,
            Some("do_brk_flags")
        )));
        assert!(!is_probe(&check(
            Cap::SYS_PTRACE,
            Some(false),
            Some("__ptrace_may_access")
        )));
    }

    #[test]
    fn views_and_other_credentials_are_probes() {
        assert!(is_probe(&check(
            Cap::SYS_PTRACE,
            Some(true),
            Some("do_task_stat")
        )));
        assert!(is_probe(&check(
            Cap::SYSLOG,
            Some(true),
            Some("kallsyms_show_value")
        )));
        assert!(is_probe(&check(
            Cap::SYS_PTRACE,
            Some(true),
            Some("ptracer_capable")
        )));
    }

    #[test]
    fn symbolizer_decorations_are_ignored() {
        for caller in [
            "do_brk_flags+0x1a/0x40",
            "mprotect_fixup.isra.0",
            "xfs_getfsmap [xfs]",
            "  __mmap_region.constprop.0 ",
        ] {
            assert!(
                is_probe(&check(Cap::SYS_ADMIN, Some(true), Some(caller))),
                "{caller}"
            );
        }
        // A prefix of a listed name is another function.
        assert!(!is_probe(&check(
            Cap::SYS_ADMIN,
            Some(true),
            Some("do_brk")
        )));
        assert!(!is_probe(&check(
            Cap::SYS_ADMIN,
            Some(true),
            Some("do_brk_flags_x")
        )));
        assert_eq!(function_name("a+b.c d"), "a");
    }

    #[test]
    fn site_names_are_bare_function_names() {
        for site in PROBE_SITES {
            assert_eq!(function_name(site), *site);
            assert!(!site.is_empty());
        }
    }
}
