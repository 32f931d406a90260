//! `capls --ecs`: each record as an Elastic Common Schema document, for fleets that ship NDJSON to
//! Elastic, Splunk, Vector or Fluent Bit. ECS (8.10+) has fields for the permitted and effective sets;
//! the other three sets and what else capls knows go under `capkit.process`, in `--json`'s form.
//!
//! The document is built from the same `Record` as every other output, so it cannot disagree with them.

use std::io;
use std::time::SystemTime;

use capcli::ecs::{self, Header};
use capcli::summary::Comparison;
use capcli::{ExternalBytes, Output};
use capcore::{CapSet, SeccompMode, Securebits};
use serde::Serialize;

use crate::record::{Record, Userns};

/// Writes one document per record. A thread's document names its process after the leader, whose record
/// comes first among its process's records.
pub fn print(out: &mut Output, records: &[Record], read_at: SystemTime) -> io::Result<()> {
    let header = Header::state("capls", "process", read_at);
    let mut leader: Option<&Record> = None;
    for r in records {
        if !r.is_thread() || leader.is_none_or(|l| l.pid != r.pid) {
            leader = Some(r);
        }
        let name = leader.map_or(&r.comm, |l| &l.comm);
        out.json(&document(&header, r, name))?;
    }
    Ok(())
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    header: &'a Header,
    process: Process,
    user: User<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<Container<'a>>,
    capkit: Capkit<'a>,
}

#[derive(Serialize)]
struct Process {
    pid: u32,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args_count: Option<usize>,
    parent: Parent,
    thread: Thread,
    real_user: Id,
    saved_user: Id,
}

#[derive(Serialize)]
struct Parent {
    pid: u32,
}

#[derive(Serialize)]
struct Thread {
    id: u32,
    name: String,
    capabilities: Capabilities,
}

/// ECS's two sets, as `CAP_*` names; a set that could not be read is left out.
#[derive(Serialize)]
struct Capabilities {
    #[serde(skip_serializing_if = "Option::is_none")]
    effective: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permitted: Option<Vec<String>>,
}

#[derive(Serialize)]
struct Id {
    id: String,
}

/// The effective user, which is the one the kernel checks.
#[derive(Serialize)]
struct User<'a> {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(Serialize)]
struct Container<'a> {
    id: &'a str,
    runtime: &'static str,
}

#[derive(Serialize)]
struct Capkit<'a> {
    process: CapkitProcess<'a>,
}

/// What ECS has no field for, named as in `capls --json`.
#[derive(Serialize)]
struct CapkitProcess<'a> {
    /// The exact bytes of `process.name`, `process.thread.name` and `process.args` when they are not
    /// UTF-8 (the ECS fields then hold U+FFFD in their place).
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<ExternalBytes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread_name: Option<ExternalBytes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cmdline: Option<&'a [ExternalBytes]>,
    fsuid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    inheritable: Option<CapSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bounding: Option<CapSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ambient: Option<CapSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    no_new_privs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seccomp: Option<SeccompMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seccomp_filters: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    securebits: Option<Securebits>,
    userns: &'a Userns,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pod: Option<&'a str>,
    threads: u32,
    threads_differ: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    compare: Option<Comparison>,
}

fn document<'a>(header: &'a Header, r: &'a Record, name: &ExternalBytes) -> Document<'a> {
    let args = r
        .cmdline
        .as_deref()
        .map(|args| args.iter().map(|a| ecs::text(&a.0)).collect::<Vec<_>>());
    let args_exact = r
        .cmdline
        .as_deref()
        .filter(|args| args.iter().any(|a| ecs::exact(&a.0).is_some()));
    Document {
        header,
        process: Process {
            pid: r.pid,
            name: ecs::text(&name.0),
            args_count: args.as_ref().map(Vec::len),
            args,
            parent: Parent { pid: r.ppid },
            thread: Thread {
                id: r.tid,
                name: ecs::text(&r.comm.0),
                capabilities: Capabilities {
                    effective: r.effective.map(ecs::cap_names),
                    permitted: r.permitted.map(ecs::cap_names),
                },
            },
            real_user: Id {
                id: r.ruid.to_string(),
            },
            saved_user: Id {
                id: r.suid.to_string(),
            },
        },
        user: User {
            id: r.euid.to_string(),
            name: r.user.as_deref(),
        },
        container: r.container.as_ref().map(|c| Container {
            id: &c.id,
            runtime: c.runtime.name(),
        }),
        capkit: Capkit {
            process: CapkitProcess {
                name: ecs::exact(&name.0),
                thread_name: ecs::exact(&r.comm.0),
                cmdline: args_exact,
                fsuid: r.fsuid,
                inheritable: r.inheritable,
                bounding: r.bounding,
                ambient: r.ambient,
                no_new_privs: r.no_new_privs,
                seccomp: r.seccomp,
                seccomp_filters: r.seccomp_filters,
                securebits: r.securebits,
                userns: &r.userns,
                cgroup: r.cgroup.as_deref(),
                pod: r.container.as_ref().and_then(|c| c.pod.as_deref()),
                threads: r.threads,
                threads_differ: r.threads_differ,
                compare: r.compare,
            },
        },
    }
}
