//! Human output of records: the aligned table, the long form (`-l`) and the tree (`--tree`), each within
//! `capcli::render::WIDTH` columns. Every outside string (comm, command line, cgroup) is escaped here, at the
//! point it is rendered.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use capcli::render::WIDTH;
use capcli::{escape_bytes, escape_str, Output};
use capcore::{CapSet, SeccompMode};

use crate::record::{Context, Record};
use capcli::summary::FEW;

/// The capability column never gets narrower than this, even when a hostile name widens the others.
const MIN_CAPS_WIDTH: usize = 30;

/// Splits a capability list into lines of at most `width` characters, breaking after a comma or at a space.
pub fn wrap_caps(text: &str, width: usize) -> Vec<String> {
    wrap(text, width, &[',', ' '])
}

/// Splits `text` into lines of at most `width` characters, breaking after any of `breaks`; a piece longer
/// than a line is cut where it must be.
fn wrap(text: &str, width: usize, breaks: &[char]) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for piece in pieces(text, breaks) {
        if !line.is_empty() && line.chars().count() + piece.trim_end().chars().count() > width {
            lines.push(line.trim_end().to_string());
            line.clear();
        }
        let piece = if line.is_empty() {
            piece.trim_start()
        } else {
            piece
        };
        for c in piece.chars() {
            if line.chars().count() == width {
                lines.push(std::mem::take(&mut line));
            }
            line.push(c);
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// `a,b c` -> `a,` `b ` `c`: the places a line may break.
fn pieces<'a>(text: &'a str, breaks: &[char]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if breaks.contains(&c) {
            let end = i + c.len_utf8();
            out.push(&text[start..end]);
            start = end;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// One column of the table before CAPABILITIES: a header and a function from a record to its cell.
struct Column {
    header: &'static str,
    /// Ids are right-aligned, text left-aligned.
    right: bool,
    /// The widest the column is made; a longer cell (an escaped hostile name) pushes only its own row.
    max_width: usize,
    cell: fn(&Record) -> String,
}

const PID: Column = Column {
    header: "PID",
    right: true,
    max_width: usize::MAX,
    cell: |r| r.pid.to_string(),
};
const TID: Column = Column {
    header: "TID",
    right: true,
    max_width: usize::MAX,
    cell: |r| r.tid.to_string(),
};
const PPID: Column = Column {
    header: "PPID",
    right: true,
    max_width: usize::MAX,
    cell: |r| r.ppid.to_string(),
};
const USER: Column = Column {
    header: "USER",
    right: false,
    max_width: usize::MAX,
    cell: |r| r.user.clone().unwrap_or_else(|| r.euid.to_string()),
};
const FLAGS: Column = Column {
    header: "FLAGS",
    right: false,
    max_width: usize::MAX,
    cell: |r| r.flags.letters(),
};
/// A comm is at most 15 bytes; sized for that, one more for a backslash escape.
const COMMAND: Column = Column {
    header: "COMMAND",
    right: false,
    max_width: 16,
    cell: |r| r.comm.escaped(),
};

/// One row per record: PID, [TID,] PPID, USER, FLAGS, COMMAND, then CAPABILITIES, wrapped under itself.
pub fn table(out: &mut Output, records: &[Record], show_tid: bool) -> io::Result<()> {
    let columns: Vec<&Column> = if show_tid {
        vec![&PID, &TID, &PPID, &USER, &FLAGS, &COMMAND]
    } else {
        vec![&PID, &PPID, &USER, &FLAGS, &COMMAND]
    };
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| columns.iter().map(|c| (c.cell)(r)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
                .min(column.max_width)
                .max(column.header.len())
        })
        .collect();
    let caps_column: usize = widths.iter().map(|w| w + 1).sum();
    let caps_width = WIDTH.saturating_sub(caps_column).max(MIN_CAPS_WIDTH);
    let headers: Vec<String> = columns.iter().map(|c| c.header.to_string()).collect();
    out.line(&join_row(&columns, &headers, &widths, "CAPABILITIES"))?;
    for (row, record) in rows.iter().zip(records) {
        let lines = wrap_caps(&record.caps_text(), caps_width);
        out.line(&join_row(&columns, row, &widths, &lines[0]))?;
        for more in &lines[1..] {
            out.line(&format!("{}{more}", " ".repeat(caps_column)))?;
        }
    }
    Ok(())
}

/// The cells padded to their widths, one space between, then the last cell unpadded.
fn join_row(columns: &[&Column], cells: &[String], widths: &[usize], last: &str) -> String {
    let mut line = String::new();
    for ((column, cell), width) in columns.iter().zip(cells).zip(widths) {
        let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
        if column.right {
            line.push_str(&pad);
            line.push_str(cell);
        } else {
            line.push_str(cell);
            line.push_str(&pad);
        }
        line.push(' ');
    }
    line.push_str(last);
    line.trim_end().to_string()
}

/// The label column of the long form.
const LABEL: usize = 15;

/// One block per record with every set, the ids, the namespace, the cgroup and the container.
pub fn long(out: &mut Output, records: &[Record], ctx: &Context) -> io::Result<()> {
    let width = WIDTH - 2 - LABEL;
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.line("")?;
        }
        let what = if r.is_thread() {
            format!("thread {} of process {}", r.tid, r.pid)
        } else {
            format!("process {}", r.pid)
        };
        out.line(&format!("{what}: {}", r.comm.escaped()))?;
        let mut fields: Vec<(&str, Vec<String>)> = vec![
            ("command", wrap(&command_text(r), width, &[' '])),
            ("ppid", vec![r.ppid.to_string()]),
            ("uids", wrap(&uids_text(r, ctx), width, &[' '])),
        ];
        for (label, set) in [
            ("effective", r.effective),
            ("permitted", r.permitted),
            ("inheritable", r.inheritable),
            ("bounding", r.bounding),
            ("ambient", r.ambient),
        ] {
            fields.push((label, set_lines(set, ctx.known)));
        }
        if let Some(cmp) = &r.compare {
            fields.push(("compared", wrap_caps(&cmp.text(), width)));
        }
        fields.extend([
            ("securebits", vec![securebits_text(r, ctx)]),
            ("no_new_privs", vec![yes_no(r.no_new_privs)]),
            ("seccomp", vec![seccomp_text(r)]),
            ("user namespace", vec![userns_text(r)]),
            ("cgroup", wrap(&cgroup_text(r), width, &['/'])),
            ("container", wrap(&container_text(r), width, &[' '])),
            ("threads", vec![threads_text(r)]),
        ]);
        for (label, lines) in fields {
            for (i, line) in lines.iter().enumerate() {
                let label = if i == 0 { label } else { "" };
                out.line(&format!("  {label:<LABEL$}{line}"))?;
            }
        }
    }
    Ok(())
}

fn command_text(r: &Record) -> String {
    match &r.cmdline {
        None => "unknown (not readable)".to_string(),
        Some(args) if args.is_empty() && r.kernel_thread => "(none: kernel thread)".to_string(),
        Some(args) if args.is_empty() => "(none: a zombie, or exiting)".to_string(),
        // An empty argument would print as nothing: quote it (a process exec'd with an empty argv).
        Some(args) => args
            .iter()
            .map(|a| {
                if a.0.is_empty() {
                    "\"\"".to_string()
                } else {
                    a.escaped()
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn uids_text(r: &Record, ctx: &Context) -> String {
    let name = |uid: u32| format!("{uid} ({})", ctx.users.name_or_id(uid));
    format!(
        "ruid {}, euid {}, suid {}, fsuid {}",
        name(r.ruid),
        name(r.euid),
        name(r.suid),
        name(r.fsuid)
    )
}

fn securebits_text(r: &Record, ctx: &Context) -> String {
    match r.securebits {
        Some(bits) => bits.to_string(),
        None if r.tid == ctx.own_pid => "unknown (prctl failed)".to_string(),
        None => "unknown (the kernel shows securebits to a process itself only)".to_string(),
    }
}

fn seccomp_text(r: &Record) -> String {
    match (r.seccomp, r.seccomp_filters) {
        (Some(SeccompMode::Filter), Some(1)) => "filter (1 filter)".to_string(),
        (Some(SeccompMode::Filter), Some(n)) => format!("filter ({n} filters)"),
        (Some(SeccompMode::Filter), None) => "filter".to_string(),
        (Some(SeccompMode::Strict), _) => "strict".to_string(),
        (Some(SeccompMode::Disabled), _) => "disabled".to_string(),
        (None, _) => "unknown".to_string(),
    }
}

fn userns_text(r: &Record) -> String {
    match (r.userns.inode, r.userns.is_host) {
        (Some(inode), Some(true)) => format!("{inode} (host)"),
        (Some(inode), Some(false)) => format!("{inode} (not the host's)"),
        (Some(inode), None) => format!("{inode} (host's unknown)"),
        (None, _) => "unknown (hidden: not permitted to read the namespace link)".to_string(),
    }
}

fn cgroup_text(r: &Record) -> String {
    r.cgroup
        .as_deref()
        .map_or_else(|| "unknown".to_string(), escape_str)
}

fn container_text(r: &Record) -> String {
    let Some(c) = &r.container else {
        return "none".to_string();
    };
    let mut text = format!("{} {}", c.runtime.name(), escape_str(&c.id));
    if let Some(pod) = &c.pod {
        text.push_str(&format!(" (pod {})", escape_str(pod)));
    }
    text
}

fn threads_text(r: &Record) -> String {
    if r.is_thread() {
        let sets = if r.threads_differ {
            "differ from the leader's"
        } else {
            "match the leader's"
        };
        format!("{} in the process; this one's sets {sets}", r.threads)
    } else if r.threads_differ {
        format!(
            "{} (some differ from the leader: see their blocks)",
            r.threads
        )
    } else {
        r.threads.to_string()
    }
}

/// `000001ffffffffff full (all 41)`, or the hex and the libcap names wrapped under each other.
fn set_lines(set: Option<CapSet>, known: u32) -> Vec<String> {
    let Some(set) = set else {
        return vec!["unknown".to_string()];
    };
    let hex = set.hex();
    if set == CapSet::first_n(known) {
        return vec![format!("{hex} full (all {known})")];
    }
    if set.is_empty() {
        return vec![format!("{hex} (none)")];
    }
    let all = CapSet::first_n(known);
    let absent = all - set;
    if set.is_subset(all) && absent.len() <= FEW {
        return vec![format!("{hex} full -{absent} ({} of {known})", set.len())];
    }
    let indent = 2 + LABEL + hex.len() + 1;
    let names = set.names().join(", ");
    let lines = wrap_caps(&names, WIDTH - indent);
    let mut out = vec![format!("{hex} {}", lines[0])];
    for more in &lines[1..] {
        out.push(format!("{}{more}", " ".repeat(hex.len() + 1)));
    }
    out
}

fn yes_no(flag: Option<bool>) -> String {
    match flag {
        Some(true) => "yes".to_string(),
        Some(false) => "no".to_string(),
        None => "unknown".to_string(),
    }
}

/// The process tree: every listed record under its parent, with the ancestors needed to reach it.
pub fn tree(
    out: &mut Output,
    records: &[Record],
    ancestors: &BTreeMap<u32, Record>,
) -> io::Result<()> {
    let listed: BTreeSet<u32> = records.iter().map(|r| r.pid).collect();
    let mut nodes: BTreeMap<u32, Vec<&Record>> = BTreeMap::new();
    for r in records {
        nodes.entry(r.pid).or_default().push(r);
    }
    for (pid, r) in ancestors {
        nodes.entry(*pid).or_insert_with(|| vec![r]);
    }
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let mut roots = Vec::new();
    for (pid, rs) in &nodes {
        let ppid = rs[0].ppid;
        if ppid != *pid && nodes.contains_key(&ppid) {
            children.entry(ppid).or_default().push(*pid);
        } else {
            roots.push(*pid);
        }
    }
    let tree = Tree {
        nodes: &nodes,
        children: &children,
        listed: &listed,
    };
    for root in roots {
        tree.draw(out, root, "", "")?;
    }
    Ok(())
}

struct Tree<'a> {
    nodes: &'a BTreeMap<u32, Vec<&'a Record>>,
    children: &'a BTreeMap<u32, Vec<u32>>,
    listed: &'a BTreeSet<u32>,
}

impl Tree<'_> {
    fn draw(&self, out: &mut Output, pid: u32, first: &str, rest: &str) -> io::Result<()> {
        let Some(records) = self.nodes.get(&pid) else {
            return Ok(());
        };
        let leader = records[0];
        let context_only = !self.listed.contains(&pid);
        let kids = self.children.get(&pid).map(Vec::as_slice).unwrap_or(&[]);
        let threads = &records[1..];
        let label = node_label(leader, context_only);
        let below = !kids.is_empty() || !threads.is_empty();
        self.node_lines(out, first, rest, below, &label)?;
        let total = threads.len() + kids.len();
        let mut index = 0;
        for thread in threads {
            index += 1;
            let last = index == total;
            let (branch, cont) = branches(rest, last);
            let label = format!(
                "{{{}}} {} {}",
                thread.tid,
                thread.comm.escaped(),
                caps_with_flags(thread)
            );
            self.node_lines(out, &branch, &cont, false, &label)?;
        }
        for kid in kids {
            index += 1;
            let last = index == total;
            let (branch, cont) = branches(rest, last);
            self.draw(out, *kid, &branch, &cont)?;
        }
        Ok(())
    }

    /// One node, wrapped to the width with continuation lines under its text.
    fn node_lines(
        &self,
        out: &mut Output,
        first: &str,
        rest: &str,
        has_children: bool,
        label: &str,
    ) -> io::Result<()> {
        let indent = rest.chars().count() + 2;
        let lines = wrap(
            label,
            WIDTH.saturating_sub(indent).max(MIN_CAPS_WIDTH),
            &[',', ' '],
        );
        out.line(&format!("{first}{}", lines[0]))?;
        let bar = if has_children { "│ " } else { "  " };
        for more in &lines[1..] {
            out.line(&format!("{rest}{bar}{more}"))?;
        }
        Ok(())
    }
}

fn branches(rest: &str, last: bool) -> (String, String) {
    if last {
        (format!("{rest}└─"), format!("{rest}  "))
    } else {
        (format!("{rest}├─"), format!("{rest}│ "))
    }
}

fn node_label(r: &Record, context_only: bool) -> String {
    let name = escape_bytes(&r.comm.0);
    if context_only {
        format!("{name}({})", r.pid)
    } else {
        format!("{name}({}) {}", r.pid, caps_with_flags(r))
    }
}

fn caps_with_flags(r: &Record) -> String {
    let flags = r.flags.letters();
    if flags.is_empty() {
        r.caps_text()
    } else {
        format!("{} [{flags}]", r.caps_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_what_cannot_break() {
        assert_eq!(wrap("abcdefgh", 3, &[' ']), vec!["abc", "def", "gh"]);
        assert_eq!(
            wrap("/kubepods/burstable/pod1234", 12, &['/']),
            vec!["/kubepods/", "burstable/", "pod1234"]
        );
    }

    #[test]
    fn wraps_after_commas() {
        assert_eq!(wrap_caps("a,b,c", 4), vec!["a,b,", "c"]);
        assert_eq!(wrap_caps("full -x,y", 100), vec!["full -x,y"]);
        assert_eq!(wrap_caps("", 10), vec![""]);
        let long = "chown,dac_override,dac_read_search,fowner,fsetid,kill,setgid,setuid";
        for line in wrap_caps(long, 20) {
            assert!(line.len() <= 20, "{line}");
        }
    }
}
