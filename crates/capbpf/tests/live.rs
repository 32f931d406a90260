//! The tracer against the real kernel: checks made by this test process itself, traced as a pid tree.
//! Needs root and a kernel that lets BPF attach to cap_capable; says why and passes otherwise (the
//! integration tests in the root package count such skips).

use std::net::TcpListener;

use capbpf::{Options, Scope, Tracer};
use capcore::cap::Cap;

fn own_userns() -> (u32, u32) {
    let inum = std::fs::metadata("/proc/self/ns/user")
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m) as u32)
        .unwrap_or(0);
    // The test runs in the initial namespace when it can trace at all.
    (inum, 0)
}

#[test]
fn a_bind_below_1024_is_counted_with_its_caller() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: not root");
        return;
    }
    let options = Options {
        scope: Scope::Pids(vec![std::process::id()]),
        base_ns: own_userns(),
        gate_on_exec: false,
        only: None,
    };
    let tracer = match Tracer::start(&options) {
        Ok(tracer) => tracer,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let listener = TcpListener::bind("127.0.0.1:0");
    let low = TcpListener::bind("127.0.0.1:1"); // port 1: needs cap_net_bind_service
    let collected = tracer.collect().expect("collect");
    drop((listener, low));
    let bind: Vec<_> = collected
        .checks
        .iter()
        .filter(|c| c.cap == Cap::NET_BIND_SERVICE)
        .collect();
    assert!(
        !bind.is_empty(),
        "no cap_net_bind_service check in {:#?}",
        collected.checks
    );
    assert!(bind
        .iter()
        .all(|c| c.granted && c.pid == std::process::id()));
    assert_eq!(bind[0].noaudit, Some(false));
    assert!(
        bind.iter()
            .any(|c| c.caller.as_deref().is_some_and(|f| f.contains("bind"))),
        "{bind:#?}"
    );
    let probes: Vec<_> = collected
        .checks
        .iter()
        .filter(|c| c.cap == Cap::SYS_ADMIN && c.noaudit == Some(true))
        .collect();
    eprintln!("{:#?}", collected.checks);
    let _ = probes;
}
