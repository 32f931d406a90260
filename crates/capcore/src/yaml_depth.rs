//! How deeply a YAML text nests, asked of libyaml itself and stopped at a bound.
//!
//! libyaml's scanner keeps one possible simple key per open flow collection and walks them all for every
//! token, so `a: [[[[…` costs time quadratic in its depth: 128 KB took 40 s, and a 4 MiB manifest would
//! take half a day before serde_norway's own recursion limit (128) rejects it. Those events are all read
//! before the limit is checked, so the limit does not help.
//!
//! A textual pre-scan would have to agree with libyaml on quoted, plain and block scalars, comments and
//! indentation: wherever it disagreed, a hostile file could hide its nesting inside what the pre-scan took
//! for text. Instead the same parser runs once more, event by event, and stops at the first collection that
//! opens too deep. libyaml reads at most about 1,024 characters ahead of the event it returns (a simple key
//! goes stale after that), so the pass stops before the quadratic part has anything to work on, and on a
//! text within the bound it is linear. Syntax errors are left to the real parse, which reports them.

use std::mem::MaybeUninit;

use unsafe_libyaml_norway as unsafe_sys;

/// Where a collection opened deeper than the bound (1-based, as serde_norway reports positions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooDeep {
    pub line: u64,
    pub column: u64,
}

/// Reads the YAML stream `text` and fails at the first sequence or mapping nested deeper than `limit`.
pub fn check(text: &str, limit: usize) -> Result<(), TooDeep> {
    let mut parser = Parser::new(text);
    let mut depth = 0usize;
    while let Some(event) = parser.next() {
        match event {
            Event::Open(mark) => {
                depth += 1;
                if depth > limit {
                    return Err(mark);
                }
            }
            Event::Close => depth = depth.saturating_sub(1),
            Event::Other => {}
        }
    }
    Ok(())
}

enum Event {
    Open(TooDeep),
    Close,
    Other,
}

/// A libyaml parser over borrowed text. It lives on the heap behind a raw pointer (as serde_norway keeps
/// its own) because libyaml keeps a pointer to itself, the string reader's handler data: it must neither
/// move nor be reborrowed through a reference once the input is set.
struct Parser<'a> {
    sys: *mut unsafe_sys::yaml_parser_t,
    ready: bool,
    done: bool,
    _text: &'a str,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        let raw: *mut unsafe_sys::yaml_parser_t =
            Box::into_raw(Box::new(MaybeUninit::<unsafe_sys::yaml_parser_t>::uninit())).cast();
        // SAFETY: `raw` points to writable memory for a yaml_parser_t, which yaml_parser_initialize fills
        // in whole; on failure (out of memory) nothing else is called on it. The input stays borrowed for
        // the parser's lifetime ('a), and the box does not move while the parser points into it.
        let ready = unsafe {
            let ready = unsafe_sys::yaml_parser_initialize(raw).ok;
            if ready {
                unsafe_sys::yaml_parser_set_encoding(raw, unsafe_sys::YAML_UTF8_ENCODING);
                unsafe_sys::yaml_parser_set_input_string(raw, text.as_ptr(), text.len() as u64);
            }
            ready
        };
        Parser {
            sys: raw,
            ready,
            done: !ready,
            _text: text,
        }
    }

    /// The next event, or `None` at the end of the stream or at an error (which the real parse reports).
    fn next(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        let raw = self.sys;
        let mut event = MaybeUninit::<unsafe_sys::yaml_event_t>::uninit();
        // SAFETY: the parser was initialised (`done` is set otherwise) and its input outlives it; a
        // successfully parsed event is read, then freed once with yaml_event_delete.
        unsafe {
            let event = event.as_mut_ptr();
            if unsafe_sys::yaml_parser_parse(raw, event).fail {
                self.done = true;
                return None;
            }
            let kind = match (*event).type_ {
                unsafe_sys::YAML_SEQUENCE_START_EVENT | unsafe_sys::YAML_MAPPING_START_EVENT => {
                    let mark = (*event).start_mark;
                    Event::Open(TooDeep {
                        line: mark.line + 1,
                        column: mark.column + 1,
                    })
                }
                unsafe_sys::YAML_SEQUENCE_END_EVENT | unsafe_sys::YAML_MAPPING_END_EVENT => {
                    Event::Close
                }
                unsafe_sys::YAML_STREAM_END_EVENT => {
                    self.done = true;
                    Event::Other
                }
                _ => Event::Other,
            };
            unsafe_sys::yaml_event_delete(event);
            Some(kind)
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: `sys` came from Box::into_raw in `new` and is freed only here, once; it is deleted as a
        // parser only when yaml_parser_initialize succeeded.
        unsafe {
            if self.ready {
                unsafe_sys::yaml_parser_delete(self.sys);
            }
            drop(Box::from_raw(
                self.sys.cast::<MaybeUninit<unsafe_sys::yaml_parser_t>>(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_flow_and_block_collections() {
        assert_eq!(check("a: [[1]]\n", 3), Ok(()));
        assert_eq!(check("a: [[1]]\n", 2), Err(TooDeep { line: 1, column: 5 }));
        assert_eq!(check("a:\n  b:\n    - c\n", 3), Ok(()));
        assert!(check("a:\n  b:\n    - c\n", 2).is_err());
        // Brackets in quoted, plain, block scalars and comments are text, as libyaml reads them.
        let text = "a: '[[[['\nb: x[[[[\nc: |\n  [[[[\n# [[[[\nd: \"{{{{\"\n";
        assert_eq!(check(text, 1), Ok(()));
        // Depth is per document and closes count.
        assert_eq!(check("[[1]]\n---\n[[2]]\n", 2), Ok(()));
        assert_eq!(check("[[1], [2], [3]]", 2), Ok(()));
    }

    #[test]
    fn deep_nesting_stops_early() {
        // 4 MiB of '[' would take hours to parse whole; the check stops at the bound.
        let text = format!("a: {}", "[".repeat(4 << 20));
        assert_eq!(
            check(&text, 128),
            Err(TooDeep {
                line: 1,
                column: 131
            })
        );
        // A syntax error is left to the real parse.
        assert_eq!(check("a: [b: c: d", 128), Ok(()));
        assert_eq!(check("", 128), Ok(()));
    }
}
