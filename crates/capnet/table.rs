//! The human table: a process line, then one line per socket that starts with the same PID, so that into a
//! pipe every line is a whole record (`capnet | grep :443` finds the socket with its owner). Nothing wraps
//! into a pipe; on a terminal a line that would pass `capcli::term::width()` continues on an indented line.
//! The socket columns are as wide as their widest cell, so the whole listing is built before it is printed.

use capcli::term::{self, Style};

/// The process columns before CAPABILITIES: PID, PPID, USER, COMMAND, NETNS.
const PROCESS_COLUMNS: [(&str, usize); 5] = [
    ("PID", 7),
    ("PPID", 7),
    ("USER", 9),
    ("COMMAND", 16),
    ("NETNS", 12),
];

/// The socket columns after the PID.
const SOCKET_HEADERS: [&str; 5] = ["PROTO", "STATE", "LOCAL", "REMOTE", "NEEDS"];

/// Where a socket line's first column starts: after the PID, indented to show it belongs to the process.
const SOCKET_INDENT: usize = 10;

/// On a terminal with fewer than this many columns left after the process columns, capabilities that do
/// not fit in what is left continue on lines indented by `NARROW_INDENT`, not in a narrow column.
const MIN_CAPS_ROOM: usize = 40;
const NARROW_INDENT: usize = 8;

/// Space between socket columns.
const GAP: usize = 2;

/// One process and the sockets shown under it, every cell already escaped (and painted).
pub struct Block {
    /// PID, PPID, USER, COMMAND, NETNS.
    pub process: [String; 5],
    /// The capability summary's pieces, each ending in its comma: the line may break after any of them.
    pub caps: Vec<String>,
    /// The `unneeded:` set's pieces, the first beginning with the label; empty when nothing is unneeded.
    pub unneeded: Vec<String>,
    /// PROTO, STATE, LOCAL, REMOTE, NEEDS of each socket.
    pub sockets: Vec<[String; 5]>,
}

/// Renders the header and every block for a terminal of `width` columns (`usize::MAX`: never wrap).
/// The table's lines: none at all when no process is listed (the house rule: nothing found prints
/// nothing, as grep does).
pub fn render(blocks: &[Block], width: usize) -> Vec<String> {
    if blocks.is_empty() {
        return Vec::new();
    }
    let widths = socket_widths(blocks);
    let mut lines = header(&widths, width);
    for block in blocks {
        lines.push(process_line(block, width));
        let pid = &block.process[0];
        for socket in &block.sockets {
            lines.push(socket_line(pid, socket, &widths, width));
        }
    }
    lines
}

/// The two header lines, laid out as the lines under them and bold on a colour terminal.
fn header(widths: &[usize; 5], width: usize) -> Vec<String> {
    let process = Block {
        process: PROCESS_COLUMNS.map(|(name, _)| name.to_string()),
        caps: vec!["CAPABILITIES".to_string()],
        unneeded: Vec::new(),
        sockets: Vec::new(),
    };
    let sockets = socket_line("", &SOCKET_HEADERS.map(str::to_string), widths, width);
    [process_line(&process, width), sockets]
        .iter()
        .map(|line| {
            line.lines()
                .map(|part| term::paint(Style::Header, part).into_owned())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

/// Each socket column's width: its widest cell or its header.
fn socket_widths(blocks: &[Block]) -> [usize; 5] {
    let mut widths = SOCKET_HEADERS.map(str::len);
    for socket in blocks.iter().flat_map(|b| &b.sockets) {
        for (width, cell) in widths.iter_mut().zip(socket) {
            *width = (*width).max(term::display_width(cell));
        }
    }
    widths
}

fn process_line(block: &Block, width: usize) -> String {
    let mut fixed = String::new();
    for ((_, column), cell) in PROCESS_COLUMNS.iter().zip(&block.process) {
        let pad = column.saturating_sub(term::display_width(cell));
        fixed.push_str(cell);
        fixed.push_str(&" ".repeat(pad + 1));
    }
    let at = term::display_width(&fixed);
    let room = width.saturating_sub(at);
    let cell: usize = block
        .caps
        .iter()
        .chain(&block.unneeded)
        .map(|piece| term::display_width(piece))
        .sum::<usize>()
        + 2;
    let indent = if room >= MIN_CAPS_ROOM || cell <= room {
        at
    } else {
        NARROW_INDENT
    };
    let mut line = Wrapped::new(fixed, at, indent, width);
    for piece in &block.caps {
        line.push("", piece);
    }
    for (i, piece) in block.unneeded.iter().enumerate() {
        line.push(if i == 0 { "  " } else { "" }, piece);
    }
    line.finish()
}

fn socket_line(pid: &str, cells: &[String; 5], widths: &[usize; 5], width: usize) -> String {
    let start = format!("{pid:<SOCKET_INDENT$}");
    let column = term::display_width(&start);
    let mut line = Wrapped::new(start, column, SOCKET_INDENT, width);
    let mut target = SOCKET_INDENT;
    for (cell, cell_width) in cells.iter().zip(widths) {
        line.cell(target, cell);
        target += cell_width + GAP;
    }
    line.finish()
}

/// One logical line being built: a piece that would pass the width starts a continuation line at
/// `indent`, unless it is the first thing after the indent (a piece wider than the room overflows rather
/// than loops).
struct Wrapped {
    text: String,
    column: usize,
    indent: usize,
    width: usize,
    broken: bool,
}

impl Wrapped {
    fn new(text: String, column: usize, indent: usize, width: usize) -> Wrapped {
        Wrapped {
            text,
            column,
            indent,
            width,
            broken: false,
        }
    }

    /// Appends `piece` after `gap`, or at the indent of a new line when it does not fit.
    fn push(&mut self, gap: &str, piece: &str) {
        let piece_width = term::display_width(piece);
        let fits = self.column.saturating_add(gap.len() + piece_width) <= self.width;
        if fits || self.column <= self.indent {
            self.text.push_str(gap);
            self.column += gap.len();
        } else {
            self.break_line();
        }
        self.text.push_str(piece);
        self.column += piece_width;
    }

    /// Appends a table cell that starts at column `target` on the first line, or two spaces after the
    /// previous cell on a continuation line.
    fn cell(&mut self, target: usize, piece: &str) {
        let gap = if self.broken {
            GAP
        } else if self.column < target {
            target - self.column
        } else if self.text.ends_with(' ') {
            0
        } else {
            1
        };
        self.push(&" ".repeat(gap), piece);
    }

    fn break_line(&mut self) {
        let kept = self.text.trim_end_matches(' ').len();
        self.text.truncate(kept);
        self.text.push('\n');
        self.text.push_str(&" ".repeat(self.indent));
        self.column = self.indent;
        self.broken = true;
    }

    fn finish(mut self) -> String {
        let kept = self.text.trim_end_matches(' ').len();
        self.text.truncate(kept);
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(caps: &str, unneeded: &str, sockets: usize) -> Block {
        let pieces = |s: &str| -> Vec<String> {
            if s.is_empty() {
                Vec::new()
            } else {
                s.split_inclusive(',').map(str::to_string).collect()
            }
        };
        let mut unneeded_pieces = pieces(unneeded);
        if let Some(first) = unneeded_pieces.first_mut() {
            first.insert_str(0, "unneeded: ");
        }
        Block {
            process: ["4242", "1", "root", "sshd", "host"].map(str::to_string),
            caps: pieces(caps),
            unneeded: unneeded_pieces,
            sockets: (0..sockets)
                .map(|i| {
                    [
                        "tcp".to_string(),
                        "LISTEN".to_string(),
                        format!("127.0.0.1:{}", 440 + i),
                        "-".to_string(),
                        "net_bind_service".to_string(),
                    ]
                })
                .collect(),
        }
    }

    const MANY: &str =
        "chown,dac_override,dac_read_search,fowner,fsetid,kill,setgid,setuid,setpcap,\
                        net_bind_service,net_admin,net_raw,ipc_lock,sys_chroot";

    #[test]
    fn into_a_pipe_every_line_is_a_whole_record() {
        let lines = render(&[block(MANY, "net_admin", 2)], usize::MAX);
        assert_eq!(lines.len(), 5, "{lines:#?}");
        assert!(lines[2].starts_with("4242 ") && lines[2].ends_with("unneeded: net_admin"));
        assert!(lines[2].contains("sys_chroot"));
        assert_eq!(
            lines[3],
            "4242      tcp    LISTEN  127.0.0.1:440  -       net_bind_service"
        );
        assert_eq!(
            lines[1],
            "          PROTO  STATE   LOCAL          REMOTE  NEEDS"
        );
    }

    #[test]
    fn on_a_terminal_lines_fit_the_width() {
        for width in [40, 60, 80, 100] {
            for line in render(&[block(MANY, "net_admin,net_raw", 1)], width) {
                for part in line.lines().skip(1) {
                    assert!(part.len() <= width, "{width}: {part:?}");
                }
                if width >= 80 {
                    assert!(line.lines().all(|l| l.len() <= width), "{width}: {line}");
                }
            }
        }
        let narrow = render(&[block(MANY, "", 0)], 60);
        assert!(narrow[2]
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("        chown,")));
    }

    #[test]
    fn a_short_line_is_not_broken() {
        let lines = render(&[block("net_bind_service", "", 1)], 80);
        assert_eq!(
            lines[2],
            "4242    1       root      sshd             host         net_bind_service"
        );
        assert!(!lines[3].contains('\n'));
    }
}
