//! capdecode: decodes capability masks, names, libcap text, `security.capability` xattr values,
//! /proc/PID/status blocks and securebits, the way `capsh --decode` does for masks, but exactly and for
//! every form people paste.

#![cfg_attr(not(test), no_main)]

mod decode;
mod detect;
mod human;

use std::error::Error;
use std::ffi::OsString;
use std::io::{self, BufRead, IsTerminal};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use capcli::term::{self, ColorChoice};
use capcli::{output, words, ExternalBytes, Output, EXIT_FAILURE, EXIT_OK};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};

use capcore::quote::{excerpt_bytes, trim_c_space};
use decode::{decode, decode_status, descriptions, reading, Decoded, Origin, Record};
use detect::{detect, status_label, Kind};
use human::Style;

const PROG: &str = "capdecode";

/// The longest input (argument or standard-input line) decoded. The longest real one, libcap text naming every
/// capability with its own flags, is under 2 KiB; a longer line is reported and skipped without being kept.
const MAX_INPUT: usize = 64 * 1024;

const ABOUT: &str = "Decode Linux capability masks, names, libcap text, file capability xattrs, \
/proc/PID/status lines and securebits";

const LONG_ABOUT: &str = "Decode Linux capability masks, capability names, libcap text, security.capability \
xattr values, /proc/PID/status lines and securebits, exactly: where `capsh --decode` reads garbage as 0, \
capdecode names the wrong character.\n\n\
Each INPUT is recognised by its form, by the first rule below that matches, and the output's `read as` row \
says how it was read. An option (--mask, --names, --libcap, --xattr, --status, --securebits) forces the \
kind of one value, and --as KIND the kind of every INPUT and standard-input line.\n\n\
With no INPUT, lines are read from standard input (blank lines and # comments are skipped); consecutive \
status lines form one block. An input (argument or line) may be at most 64 KiB.";

/// The end of `-h`.
const AFTER_HELP: &str =
    "Exit status: 0 every input decoded; 2 an input did not (the others are still \
decoded) or a usage error. --help shows how inputs are recognised, and examples.";

/// The end of `--help`: how inputs are read, exit status, then examples, last. Lists are built with
/// `concat!` because a `\` line continuation would eat their indentation.
const AFTER_LONG_HELP: &str = concat!(
    "Forms, in the order they are tried:\n",
    "  security.capability=0x…\n",
    "      An xattr value, as `getfattr -e hex` prints it (a bare value needs --xattr).\n",
    "  CapEff: 000001ffffffffff\n",
    "      A /proc/PID/status line, also after grep's `FILE:`; consecutive lines form one block.\n",
    "  cap_net_raw+ep, =ep cap_sys_admin-e\n",
    "      libcap text: anything with =, + or -.\n",
    "  3fffffffff, 0x3f, 20, 010\n",
    "      Hex digits are a hex mask, always, as `capsh --decode` reads them: 20 is cap_kill (0x20), \
never capability 20 (that is --names 20).\n",
    "  000001FF, FEFFFFFF\n",
    "      captest's two 32-bit words (8 hex digits each).\n",
    "  cap_net_raw,SYS_ADMIN\n",
    "      Capability names in any case, with or without cap_.\n",
    "\n",
    "Numbers other than masks (capability numbers in --names and libcap text, --securebits values) are \
read as libcap reads them, with C's strtoul in base 0: 0x1f is hex, 017 octal, 15 decimal. Only C's white \
space (space, \\t, \\n, \\v, \\f, \\r) around an input is skipped; U+00A0 and other Unicode spaces are \
rejected, as libcap rejects them.\n",
    "\n",
    "A set is shown as its hex and its names: `cap_chown, cap_setuid (2 of 41)`, `full (all 41)`, `full \
-cap_sys_resource (40 of 41)` or `none`; root-equivalent capabilities stand out in colour. Into a pipe or \
a file no line is wrapped; on a terminal lines are wrapped to its width.\n",
    "\n",
    "Exit status: 0 every input decoded; 2 an input did not decode, or a usage error. A bad input is \
reported on stderr in one line, and the other inputs are still decoded.\n",
    "\n",
    "Examples:\n",
    "  capdecode 3fffffffff\n",
    "      The capabilities in a hex mask, as `capsh --decode` prints them.\n",
    "  capdecode cap_net_raw,SYS_ADMIN\n",
    "      The mask of capability names (capability numbers: --names 13,21).\n",
    "  capdecode 'cap_net_raw+ep cap_sys_admin+p'\n",
    "      The effective, inheritable and permitted sets of libcap text, as setcap and capsh take it.\n",
    "  getfattr -n security.capability -e hex /usr/bin/ping | capdecode\n",
    "      A file's stored capabilities: version, sets, rootid, what getcap shows, what execve does.\n",
    "  grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/1/status | capdecode\n",
    "      The capabilities, no_new_privs and seccomp mode of process 1, as one block.\n",
    "  capdecode --explain cap_net_raw,cap_sys_admin\n",
    "      What each capability grants.",
);

#[derive(Parser)]
#[command(
    name = PROG,
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    after_long_help = AFTER_LONG_HELP
)]
struct Args {
    /// Inputs to decode; with none, lines are read from standard input.
    #[arg(value_name = "INPUT")]
    inputs: Vec<OsString>,

    /// Decode HEX as a capability mask.
    #[arg(long, value_name = "HEX")]
    mask: Vec<OsString>,
    /// Decode LIST as capability names or numbers (cap_net_raw,SYS_ADMIN,13; 0x0d and 015 are 13 too).
    #[arg(long, value_name = "LIST")]
    names: Vec<OsString>,
    /// Decode TEXT as libcap text, with exactly cap_from_text's grammar.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    libcap: Vec<OsString>,
    /// Decode HEX as a security.capability value (as `getfattr -e hex` prints it, 0x optional).
    ///
    /// A value that execve fails on (empty, shorter than its header, a size that is not its revision's,
    /// an unknown revision) is a bad input; one that getcap cannot read (v1, stray flag bits) is decoded,
    /// with what getcap says.
    #[arg(long, value_name = "HEX")]
    xattr: Vec<OsString>,
    /// Decode LINE as a /proc/PID/status line (CapEff:, NoNewPrivs:, Seccomp: …).
    #[arg(long, value_name = "LINE")]
    status: Vec<OsString>,
    /// Decode VALUE as securebits: a number (0x2f, 47, 057) or names (noroot,noroot_locked).
    #[arg(long, value_name = "VALUE")]
    securebits: Vec<OsString>,
    /// Decode every INPUT and standard-input line as KIND instead of recognising its form.
    #[arg(long = "as", value_enum, value_name = "KIND")]
    as_kind: Option<Kind>,

    /// Print one JSON object per input (NDJSON).
    ///
    /// Every record has `input` and `kind`; each set is `{"hex", "caps"}`. An xattr value's effective bit
    /// (not a set) is `effective_flag`.
    #[arg(long)]
    json: bool,
    /// Show what each capability (or securebit) grants.
    #[arg(long)]
    explain: bool,
    /// Print sets in libcap text form (as getcap and getpcaps do) instead of hex and names.
    #[arg(long)]
    text: bool,
    /// When to colour: root-equivalent capabilities stand out.
    ///
    /// auto colours on a terminal unless NO_COLOR is set; always colours into a pipe too. JSON and errors
    /// are never coloured.
    #[arg(long, value_enum, default_value_t, value_name = "WHEN")]
    color: ColorChoice,
}

/// The inputs in command-line order, each with the kind its option forces (none for a positional INPUT).
fn ordered_inputs(matches: &ArgMatches) -> Vec<(Option<Kind>, OsString)> {
    let options = [
        ("inputs", None),
        ("mask", Some(Kind::Mask)),
        ("names", Some(Kind::Names)),
        ("libcap", Some(Kind::Libcap)),
        ("xattr", Some(Kind::Xattr)),
        ("status", Some(Kind::Status)),
        ("securebits", Some(Kind::Securebits)),
    ];
    let mut inputs = Vec::new();
    for (id, kind) in options {
        if let (Some(values), Some(indices)) =
            (matches.get_many::<OsString>(id), matches.indices_of(id))
        {
            inputs.extend(
                indices
                    .zip(values)
                    .map(|(at, value)| (at, kind, value.clone())),
            );
        }
    }
    inputs.sort_by_key(|(at, ..)| *at);
    inputs
        .into_iter()
        .map(|(_, kind, value)| (kind, value))
        .collect()
}

capcli::c_main!(run_program);

/// The program, run from the C entry point (capcli::start).
#[cfg_attr(test, allow(dead_code))]
fn run_program() -> ExitCode {
    if let Some(code) = capcli::generate::intercept(PROG, Args::command) {
        return code;
    }
    capcli::run(PROG, real_main)
}

fn real_main() -> Result<u8, Box<dyn Error>> {
    let matches = capcli::args::matches(PROG, Args::command());
    let args = Args::from_arg_matches(&matches)?;
    let term = term::init(args.color);
    let known = capsys::kernel::known_caps_or_default();
    let mut decoder = Decoder {
        kind: args.as_kind,
        known,
        json: args.json,
        explain: args.explain,
        style: Style {
            explain: args.explain,
            text: args.text,
            known,
            width: term.width.unwrap_or(usize::MAX),
        },
        out: Output::new(),
        records: 0,
        failures: 0,
        block: StatusBlock::default(),
        interactive: false,
        from_stdin: false,
    };
    let inputs = ordered_inputs(&matches);
    if inputs.is_empty() {
        decoder.interactive = io::stdin().is_terminal();
        decoder.from_stdin = true;
        let mut stdin = io::stdin().lock();
        let mut line = Vec::new();
        loop {
            let length = match read_line(&mut stdin, &mut line, MAX_INPUT) {
                Ok(Some(length)) => length,
                Ok(None) => break,
                // What was read before still counts; the error names what could not be read.
                Err(err) => {
                    decoder.flush_block()?;
                    decoder.fail(b"standard input", &err.to_string());
                    break;
                }
            };
            if line.last() == Some(&b'\r') && length == line.len() {
                line.pop();
            }
            if length > MAX_INPUT {
                decoder.too_long(&line, length)?;
            } else {
                decoder.input(None, &line)?;
            }
        }
    } else {
        for (kind, input) in &inputs {
            let bytes = input.as_bytes();
            if bytes.len() > MAX_INPUT {
                decoder.too_long(bytes, bytes.len())?;
            } else {
                decoder.input(*kind, bytes)?;
            }
        }
    }
    decoder.finish()
}

/// Reads one line (without its newline) into `line`, keeping at most `max + 1` bytes of it and skipping the
/// rest; returns the line's whole length, or `None` at the end of the input.
fn read_line(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<usize>> {
    line.clear();
    let mut length = 0usize;
    let mut any = false;
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if buf.is_empty() {
            return Ok(any.then_some(length));
        }
        any = true;
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (&buf[..at], true),
            None => (buf, false),
        };
        let room = (max + 1).saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        length += chunk.len();
        let used = chunk.len() + usize::from(done);
        input.consume(used);
        if done {
            return Ok(Some(length));
        }
    }
}

/// Consecutive status lines waiting to be decoded as one block, and the file grep named for them.
#[derive(Default)]
struct StatusBlock {
    source: Vec<u8>,
    lines: Vec<String>,
}

struct Decoder {
    kind: Option<Kind>,
    known: u32,
    json: bool,
    explain: bool,
    style: Style,
    out: Output,
    records: usize,
    failures: usize,
    block: StatusBlock,
    /// Reading a terminal: show each result as soon as its line is entered.
    interactive: bool,
    /// Reading lines from standard input, where blank lines and comments are skipped.
    from_stdin: bool,
}

impl Decoder {
    fn input(&mut self, forced: Option<Kind>, raw: &[u8]) -> io::Result<()> {
        let Ok(text) = std::str::from_utf8(raw) else {
            self.flush_block()?;
            self.fail(raw, "not valid UTF-8");
            return Ok(());
        };
        // Only C's white space is skipped, as libcap and capsh skip it; a Unicode space is part of the input.
        let trimmed = trim_c_space(text);
        let kind = forced.or(self.kind);
        if self.from_stdin && (trimmed.is_empty() || trimmed.starts_with('#')) {
            return self.flush_block();
        }
        // Empty libcap text is the empty state, and an empty xattr value a value (a bad one); anything else
        // empty is nothing at all.
        if trimmed.is_empty() && !matches!(kind, Some(Kind::Libcap | Kind::Xattr)) {
            self.flush_block()?;
            self.fail(raw, "empty input");
            return Ok(());
        }
        let origin = if kind.is_some() {
            Origin::Asked
        } else {
            Origin::Recognised
        };
        let kind = kind.unwrap_or_else(|| detect(trimmed));
        if kind == Kind::Status {
            return self.status_line(trimmed);
        }
        self.flush_block()?;
        match decode(kind, text, self.known, origin) {
            Ok(decoded) => self.emit(raw, reading(kind, text, origin), decoded)?,
            // Say what the input was taken for, so a surprising reading shows in the error too.
            Err(why) if origin == Origin::Recognised => {
                self.fail(raw, &format!("read as {}: {why}", kind.reading()));
            }
            Err(why) => self.fail(raw, &why),
        }
        if self.interactive {
            self.out.flush()?;
        }
        Ok(())
    }

    /// Adds a status line to the current block, starting a new block when grep's file name changes or a
    /// label repeats (a second process's lines).
    fn status_line(&mut self, line: &str) -> io::Result<()> {
        let (source, labelled) = status_label(line).unwrap_or(("", line));
        let label = labelled.split(':').next().unwrap_or_default();
        let repeated = self.block.lines.iter().any(|l| {
            status_label(l).is_some_and(|(_, other)| other.split(':').next() == Some(label))
        });
        if !self.block.lines.is_empty() && (self.block.source != source.as_bytes() || repeated) {
            self.flush_block()?;
        }
        self.block.source = source.as_bytes().to_vec();
        self.block.lines.push(line.to_string());
        Ok(())
    }

    fn flush_block(&mut self) -> io::Result<()> {
        if self.block.lines.is_empty() {
            return Ok(());
        }
        let block = std::mem::take(&mut self.block);
        let lines: Vec<&str> = block.lines.iter().map(String::as_str).collect();
        let input = lines.join("\n");
        match decode_status(&lines, self.known) {
            Ok(record) => {
                let read_as = format!(
                    "/proc/PID/status ({})",
                    words::counted(lines.len() as u64, "line")
                );
                self.emit(input.as_bytes(), read_as, Decoded::Status(record))?;
            }
            Err(why) => {
                // Name the block by grep's file name, or else by its lines.
                let thing = if block.source.is_empty() {
                    input.into_bytes()
                } else {
                    block.source.clone()
                };
                self.fail(&thing, &why);
            }
        }
        if self.interactive {
            self.out.flush()?;
        }
        Ok(())
    }

    fn emit(&mut self, input: &[u8], read_as: String, decoded: Decoded) -> io::Result<()> {
        let record = Record {
            input: ExternalBytes(input.to_vec()),
            read_as,
            descriptions: self.explain.then(|| descriptions(decoded.all_caps())),
            decoded,
        };
        if self.json {
            self.out.json(&record)?;
        } else {
            if self.records > 0 {
                self.out.line("")?;
            }
            let text = human::render(&record, self.style);
            self.out.line(text.trim_end_matches('\n'))?;
        }
        self.records += 1;
        Ok(())
    }

    /// Reports an input longer than MAX_INPUT, of which `kept` is the start.
    fn too_long(&mut self, kept: &[u8], length: usize) -> io::Result<()> {
        self.flush_block()?;
        let why = format!("longer than the {MAX_INPUT} bytes an input may have");
        self.report(kept, length, &why);
        Ok(())
    }

    fn fail(&mut self, input: &[u8], why: &str) {
        self.report(input, input.len(), why);
    }

    /// Reports a bad input of `length` bytes, of which `input` is the start, quoting at most an excerpt.
    fn report(&mut self, input: &[u8], length: usize, why: &str) {
        self.failures += 1;
        // Flush first so that errors and results stay in input order on a shared terminal.
        let _ = self.out.flush();
        let (kept, cut) = excerpt_bytes(input);
        let mut thing = capcli::escape_bytes(kept);
        if cut.is_some() || length > input.len() {
            thing.push_str(&format!("… ({})", words::counted(length as u64, "byte")));
        }
        output::warn(PROG, &thing, &why);
    }

    fn finish(mut self) -> Result<u8, Box<dyn Error>> {
        self.flush_block()?;
        self.out.flush()?;
        Ok(if self.failures > 0 {
            EXIT_FAILURE
        } else {
            EXIT_OK
        })
    }
}
