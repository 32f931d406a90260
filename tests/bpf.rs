//! capbpf alone: the committed BPF object is what its source builds, and the tracer, attached to this test
//! process's own pid tree, counts the checks it makes with the right caller, options and namespace.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use capbpf::{Options, Scope, Tracer};
use capcore::cap::Cap;
use capcore::needs::NsPlace;

use crate::util::{have, skipped};

#[test]
fn the_committed_bpf_object_is_what_its_source_builds() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/capbpf/bpf/build.sh");
    if !have("clang")
        || !have("llvm-strip")
        || !Path::new("/usr/include/bpf/bpf_helpers.h").exists()
    {
        skipped("clang, llvm-strip or the libbpf headers are missing (apt-get install clang libbpf-dev)");
        return;
    }
    // The object is byte-reproducible with the compiler it was built with, Debian 12's clang 14; another
    // clang makes other (equally valid) bytes.
    let version = Command::new("clang")
        .arg("--version")
        .output()
        .expect("clang --version");
    if !String::from_utf8_lossy(&version.stdout).contains("clang version 14.") {
        skipped("the committed BPF object is built with clang 14, and this clang is another");
        return;
    }
    let out = Command::new("sh")
        .arg(&script)
        .arg("--check")
        .output()
        .expect("run build.sh");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The user namespace of this process: (inode, level).
fn own_userns() -> (u32, u32) {
    capsys::cgroup::userns_of(std::process::id()).expect("own user namespace")
}

fn start(scope: Scope) -> Option<Tracer> {
    if !crate::util::is_root() {
        skipped("tracing needs root");
        return None;
    }
    let options = Options {
        scope,
        base_ns: own_userns(),
        gate_on_exec: false,
        only: None,
        map_keys: None,
    };
    match Tracer::start(&options) {
        Ok(tracer) => Some(tracer),
        Err(why) => {
            skipped(&format!("the kernel refuses the tracer: {why}"));
            None
        }
    }
}

#[test]
fn a_bind_below_1024_is_counted_granted_audited_with_its_caller() {
    let Some(tracer) = start(Scope::Pids(vec![std::process::id()])) else {
        return;
    };
    // Port 1 needs cap_net_bind_service; the test runs as root, so it is granted.
    let low = TcpListener::bind("127.0.0.1:1");
    let collected = tracer.collect().expect("collect");
    drop(tracer);
    let Ok(_low) = low else {
        skipped("127.0.0.1:1 is taken");
        return;
    };
    let bind: Vec<_> = collected
        .checks
        .iter()
        .filter(|c| c.cap == Cap::NET_BIND_SERVICE)
        .collect();
    assert!(
        !bind.is_empty(),
        "no cap_net_bind_service check: {:#?}",
        collected.checks
    );
    let first = bind[0];
    assert!(first.granted);
    assert_eq!(first.pid, std::process::id());
    assert_eq!(first.noaudit, Some(false));
    assert_eq!(first.ns, NsPlace::Base);
    assert!(
        first.caller.as_deref().is_some_and(|f| f.contains("bind")),
        "the caller should be the bind path: {first:#?}"
    );
}

#[test]
fn the_memory_accounting_check_is_noaudit_and_named() {
    let Some(tracer) = start(Scope::Pids(vec![std::process::id()])) else {
        return;
    };
    // A fresh anonymous writable mapping is accounted: security_vm_enough_memory_mm asks for
    // cap_sys_admin without auditing.
    let mapping = vec![1u8; 64 << 20];
    let collected = tracer.collect().expect("collect");
    drop(tracer);
    drop(mapping);
    let probe = collected.checks.iter().find(|c| {
        c.cap == Cap::SYS_ADMIN && c.caller.as_deref() == Some("security_vm_enough_memory_mm")
    });
    let probe = probe.unwrap_or_else(|| panic!("no accounting check: {:#?}", collected.checks));
    assert_eq!(probe.noaudit, Some(true));
}

#[test]
fn checks_outside_the_scope_are_not_counted() {
    // A pid that cannot be ours: nothing this process does is counted.
    let Some(tracer) = start(Scope::Pids(vec![u32::MAX - 1])) else {
        return;
    };
    let low = TcpListener::bind("127.0.0.1:2");
    let collected = tracer.collect().expect("collect");
    drop((tracer, low));
    assert!(
        collected.checks.iter().all(|c| c.pid != std::process::id()),
        "{:#?}",
        collected.checks
    );
}
