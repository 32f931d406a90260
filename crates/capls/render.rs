//! Human output of records: the aligned table, the long form (`-l`) and the tree (`--tree`). Into a pipe or
//! a file every record is one line, whole; on a terminal each is fitted to `capcli::term::width()`, and a
//! very long command line is cut. Every outside string (comm, command line, cgroup) is escaped here, at the
//! point it is rendered; colour codes are added to escaped text only.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use capcli::term::{self, display_width, Style};
use capcli::{escape_bytes, escape_str, summary, ExternalBytes, Output};
use capcore::{CapSet, SeccompMode};

use crate::record::{Context, Record};

/// The capability column is kept at least this wide for its continuation lines; on a narrower terminal
/// they hang from `HANG` columns in.
const MIN_CAPS_WIDTH: usize = 30;
/// Where continuation lines of a capability list start when its column is too narrow.
const HANG: usize = 8;
/// A row's first line carries at least this much of its capabilities, even past the terminal's edge.
const MIN_FIRST: usize = 10;

/// Splits a capability list into lines of at most `width` characters, breaking after a comma or at a space,
/// never inside a name: a name wider than a line has a line of its own, past the edge.
pub fn wrap_caps(text: &str, width: usize) -> Vec<String> {
    wrap_caps_hanging(text, width, width)
}

/// [`wrap_caps`] with a first line of `first` columns and the others of `rest`.
fn wrap_caps_hanging(text: &str, first: usize, rest: usize) -> Vec<String> {
    wrap_pieces(text, first, rest, &[',', ' '], false)
}

/// Splits `text` into lines of at most `width` columns on a terminal (colour codes take none), breaking
/// after any of `breaks`; a piece longer than a line is cut where it must be, never inside a colour code.
/// With the unbounded width of a pipe the text stays one line.
fn wrap(text: &str, width: usize, breaks: &[char]) -> Vec<String> {
    wrap_hanging(text, width, width, breaks)
}

/// `wrap` with a first line of `first` columns and the others of `rest`.
fn wrap_hanging(text: &str, first: usize, rest: usize, breaks: &[char]) -> Vec<String> {
    wrap_pieces(text, first, rest, breaks, true)
}

/// Lines of `text` broken after any of `breaks`; a piece wider than a line is cut where it must be when
/// `cut`, else it has a line of its own, past the edge.
fn wrap_pieces(text: &str, first: usize, rest: usize, breaks: &[char], cut: bool) -> Vec<String> {
    let (first, rest) = (first.max(1), rest.max(1));
    if display_width(text) <= first {
        return vec![text.trim_end().to_string()];
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for piece in pieces(text, breaks) {
        let width = if lines.is_empty() { first } else { rest };
        if !line.is_empty() && used + display_width(piece.trim_end()) > width {
            lines.push(line.trim_end().to_string());
            line.clear();
            used = 0;
        }
        let piece = if line.is_empty() {
            piece.trim_start()
        } else {
            piece
        };
        let mut in_escape = false;
        for c in piece.chars() {
            let visible = !in_escape && c != '\x1b';
            match (in_escape, c) {
                (false, '\x1b') => in_escape = true,
                (true, 'm') => in_escape = false,
                _ => {}
            }
            let width = if lines.is_empty() { first } else { rest };
            if cut && visible && used == width {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            line.push(c);
            used += usize::from(visible);
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
    /// How the cell is painted, after it was padded.
    style: Option<Style>,
}

const PID: Column = Column {
    header: "PID",
    right: true,
    max_width: usize::MAX,
    cell: |r| r.pid.to_string(),
    style: None,
};
const TID: Column = Column {
    header: "TID",
    right: true,
    max_width: usize::MAX,
    cell: |r| r.tid.to_string(),
    style: None,
};
const PPID: Column = Column {
    header: "PPID",
    right: true,
    max_width: usize::MAX,
    cell: |r| r.ppid.to_string(),
    style: None,
};
const USER: Column = Column {
    header: "USER",
    right: false,
    max_width: usize::MAX,
    cell: |r| r.user.clone().unwrap_or_else(|| r.euid.to_string()),
    style: None,
};
const FLAGS: Column = Column {
    header: "FLAGS",
    right: false,
    max_width: usize::MAX,
    cell: |r| r.flags.letters(),
    style: Some(Style::Dim),
};
/// A comm is at most 15 bytes; sized for that, one more for a backslash escape.
const COMMAND: Column = Column {
    header: "COMMAND",
    right: false,
    max_width: 16,
    cell: |r| r.comm.escaped(),
    style: None,
};

/// One row per record: PID, TID, PPID, USER, FLAGS, COMMAND, then CAPABILITIES, wrapped under itself.
/// The columns are the same whatever the rows are (a script cuts the same field every time), and nothing
/// at all is printed when no row is, as grep prints nothing when nothing matches.
pub fn table(out: &mut Output, records: &[Record]) -> io::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let columns: Vec<&Column> = vec![&PID, &TID, &PPID, &USER, &FLAGS, &COMMAND];
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| columns.iter().map(|c| (c.cell)(r)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            rows.iter()
                .map(|row| display_width(&row[i]))
                .max()
                .unwrap_or(0)
                .min(column.max_width)
                .max(column.header.len())
        })
        .collect();
    let caps_column: usize = widths.iter().map(|w| w + 1).sum();
    // Continuation lines go under the column when it has room, else they hang from the left margin.
    let width = term::width();
    let room = width.saturating_sub(caps_column);
    let (first, indent) = if room >= MIN_CAPS_WIDTH {
        (room, caps_column)
    } else {
        (room.max(MIN_FIRST), HANG)
    };
    let rest = width.saturating_sub(indent).max(MIN_FIRST);
    let headers: Vec<String> = columns.iter().map(|c| c.header.to_string()).collect();
    let header = join_row(&columns, &headers, &widths, "CAPABILITIES", false);
    out.line(&term::paint(Style::Header, &header))?;
    for (row, record) in rows.iter().zip(records) {
        let lines = wrap_caps_hanging(&record.caps_text(), first, rest);
        out.line(&join_row(&columns, row, &widths, &lines[0], true))?;
        for more in &lines[1..] {
            out.line(&format!("{}{more}", " ".repeat(indent)))?;
        }
    }
    Ok(())
}

/// The cells padded to their widths, one space between, then the last cell unpadded; `styled` paints the
/// cells of the columns that have a style.
fn join_row(
    columns: &[&Column],
    cells: &[String],
    widths: &[usize],
    last: &str,
    styled: bool,
) -> String {
    let mut line = String::new();
    for ((column, cell), width) in columns.iter().zip(cells).zip(widths) {
        let pad = " ".repeat(width.saturating_sub(display_width(cell)));
        let cell = match column.style {
            Some(style) if styled => term::paint(style, cell),
            _ => cell.into(),
        };
        let cell = cell.as_ref();
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
    let width = term::width().saturating_sub(2 + LABEL).max(MIN_CAPS_WIDTH);
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.line("")?;
        }
        let what = if r.is_thread() {
            format!("thread {} of process {}", r.tid, r.pid)
        } else {
            format!("process {}", r.pid)
        };
        let title = format!("{what}: {}", r.comm.escaped());
        out.line(&term::paint(Style::Header, &title))?;
        let mut fields: Vec<(&str, Vec<String>)> = vec![
            ("command", command_lines(r, width)),
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
            fields.push((label, set_lines(set, ctx.known, width)));
        }
        if let Some(cmp) = &r.compare {
            fields.push(("compared", wrap_caps(&cmp.text(), width)));
        }
        fields.extend([
            ("securebits", wrap(&securebits_text(r, ctx), width, &[' '])),
            ("no_new_privs", wrap(&yes_no(r.no_new_privs), width, &[' '])),
            ("seccomp", wrap(&seccomp_text(r), width, &[' '])),
            ("user namespace", wrap(&userns_text(r), width, &[' '])),
            ("cgroup", wrap(&cgroup_text(r), width, &['/'])),
            ("container", wrap(&container_text(r), width, &[' '])),
            ("threads", wrap(&threads_text(r), width, &[' '])),
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

/// On a terminal, a command line is cut after this many lines' worth: a 2 MB one would fill 24,000 lines.
const COMMAND_LINES: usize = 4;

/// The command line's lines: whole on one line into a pipe; on a terminal wrapped, and cut after
/// `COMMAND_LINES` lines with a note of how many bytes were left out.
fn command_lines(r: &Record, width: usize) -> Vec<String> {
    let args = match &r.cmdline {
        None => return vec!["unknown (not readable)".to_string()],
        Some(args) if args.is_empty() && r.kernel_thread => {
            return vec!["(none: kernel thread)".to_string()]
        }
        Some(args) if args.is_empty() => return vec!["(none: a zombie, or exiting)".to_string()],
        Some(args) => args,
    };
    let Some(term_width) = term::current().width else {
        return vec![command_text(args, usize::MAX).0];
    };
    let budget = COMMAND_LINES * width.min(term_width);
    let (text, left_out) = command_text(args, budget);
    if left_out == 0 {
        return wrap(&text, width, &[' ']);
    }
    // Cut again to leave room for the note on the last line.
    let note = format!("… ({})", more_bytes(left_out));
    let (text, left_out) = command_text(args, budget.saturating_sub(note.chars().count() + 1));
    let note = format!("… ({})", more_bytes(left_out));
    wrap(
        &format!("{text} {}", term::paint(Style::Dim, &note)),
        width,
        &[' '],
    )
}

/// The escaped arguments, space separated, cut to at most `budget` columns, and how many bytes of the
/// command line (counting the NUL between arguments) were left out. An empty argument would print as
/// nothing: it is quoted (a process exec'd with an empty argv).
fn command_text(args: &[ExternalBytes], budget: usize) -> (String, usize) {
    let total: usize = args.iter().map(|a| a.0.len()).sum::<usize>() + args.len().saturating_sub(1);
    let mut text = String::new();
    let mut used = 0;
    let mut shown = 0;
    for (i, arg) in args.iter().enumerate() {
        let sep = usize::from(i > 0);
        let room = budget.saturating_sub(used + sep);
        let (piece, bytes) = if arg.0.is_empty() {
            ("\"\"".to_string(), 0)
        } else {
            escaped_prefix(&arg.0, room)
        };
        let piece_width = display_width(&piece);
        if piece_width > room || (bytes == 0 && !arg.0.is_empty()) {
            break;
        }
        if i > 0 {
            text.push(' ');
        }
        text.push_str(&piece);
        used += sep + piece_width;
        shown += sep + bytes;
        if bytes < arg.0.len() {
            break;
        }
    }
    (text, total - shown)
}

/// The escaped form of the longest prefix of `bytes` (whole characters) that fits in `room` columns, and
/// the prefix's length. An escape never takes fewer columns than a quarter of its bytes (a four-byte
/// character is one column), which bounds the search: a huge argument is never escaped whole.
fn escaped_prefix(bytes: &[u8], room: usize) -> (String, usize) {
    let fits = |n: usize| display_width(&escape_bytes(&bytes[..n])) <= room;
    let limit = bytes.len().min(room.saturating_mul(4));
    if limit == bytes.len() {
        let whole = escape_bytes(bytes);
        if display_width(&whole) <= room {
            return (whole, bytes.len());
        }
    }
    let (mut lo, mut hi) = (0, limit);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    // Not in the middle of a UTF-8 character, which would show as bytes.
    let mut n = lo;
    while n > 0 && n < bytes.len() && bytes[n] & 0xc0 == 0x80 && lo - n < 3 {
        n -= 1;
    }
    (escape_bytes(&bytes[..n]), n)
}

/// `1 more byte`, `1,998,000 more bytes`.
fn more_bytes(n: usize) -> String {
    let unit = if n == 1 { "byte" } else { "bytes" };
    format!("{} more {unit}", thousands(n))
}

/// `1998000` -> `1,998,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
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

/// The hex mask and the suite's long form (`000001ffffffffff full (all 41)`, `... cap_chown, cap_kill (2 of
/// 41)`, `0000000000000000 none`), its words wrapped under each other on a terminal.
fn set_lines(set: Option<CapSet>, known: u32, width: usize) -> Vec<String> {
    let Some(set) = set else {
        return vec!["unknown".to_string()];
    };
    let hex = set.hex();
    let indent = hex.len() + 1;
    let mut text = format!("{hex} ");
    capcli::render::wrap_into(
        &mut text,
        summary::long_words(set, known),
        " ",
        indent,
        indent,
        width,
    );
    text.split('\n').map(str::to_string).collect()
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
            term::width().saturating_sub(indent).max(MIN_CAPS_WIDTH),
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
    fn counts_bytes_left_out_in_words() {
        assert_eq!(more_bytes(1), "1 more byte");
        assert_eq!(more_bytes(999), "999 more bytes");
        assert_eq!(more_bytes(1_998_000), "1,998,000 more bytes");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(0), "0");
    }

    #[test]
    fn cuts_command_lines_at_whole_characters() {
        let args = |list: &[&[u8]]| -> Vec<ExternalBytes> {
            list.iter().map(|a| ExternalBytes(a.to_vec())).collect()
        };
        assert_eq!(
            command_text(&args(&[b"ls", b"", b"-l"]), usize::MAX),
            ("ls \"\" -l".to_string(), 0)
        );
        // 10 columns: `ls ` and 7 of the 20 `é`s (two bytes each); 1 + 26 bytes are left.
        let e = "é".repeat(20);
        let (text, left) = command_text(&args(&[b"ls", e.as_bytes()]), 10);
        assert_eq!(text, format!("ls {}", "é".repeat(7)));
        assert_eq!(left, 26);
        // Escapes are wider than their bytes, and are never split.
        let (text, left) = command_text(&args(&[b"\x1b\x1b\x1b"]), 9);
        assert_eq!(text, "\\x1b\\x1b");
        assert_eq!(left, 1);
        // A huge argument is searched, not escaped whole.
        let huge = vec![b'a'; 2_000_000];
        let (text, left) = command_text(&args(&[&huge]), 300);
        assert_eq!(text.len(), 300);
        assert_eq!(left, 2_000_000 - 300);
    }

    #[test]
    fn colour_codes_take_no_columns_and_are_never_split() {
        let red = "\x1b[1;31msys_admin\x1b[0m";
        let text = format!("chown,{red},kill");
        assert_eq!(
            wrap_caps(&text, 16),
            vec![format!("chown,{red},"), "kill".to_string()]
        );
        assert_eq!(wrap_caps(&text, usize::MAX), vec![text.clone()]);
    }

    #[test]
    fn a_capability_name_is_never_cut() {
        let text = "net_bind_service,net_raw";
        assert_eq!(wrap_caps(text, 10), vec!["net_bind_service,", "net_raw"]);
        assert_eq!(
            wrap_caps_hanging("chown,net_bind_service", 10, 30),
            vec!["chown,", "net_bind_service"]
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
