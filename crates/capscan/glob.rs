//! `--exclude` patterns: a small shell glob matcher over path bytes (paths need not be UTF-8).
//!
//! `*` matches within one path component, `**` across components, `?` one byte other than `/`,
//! `[abc]`, `[a-z]` and `[!abc]` a byte from (or not from) a set, `\x` the byte `x`. A pattern without
//! `/` is matched against each entry's name (`--exclude '*.cache'`); a pattern with `/` against the whole
//! path as it is printed (`--exclude '/home/**'`, `--exclude '**/node_modules'`).

/// One compiled pattern.
#[derive(Clone, Debug)]
pub struct Glob {
    pattern: Vec<u8>,
    whole_path: bool,
}

impl Glob {
    pub fn new(pattern: &[u8]) -> Glob {
        Glob {
            pattern: pattern.to_vec(),
            whole_path: pattern.contains(&b'/'),
        }
    }

    /// Whether the entry at `path`, whose last component is `name`, is excluded.
    pub fn matches(&self, path: &[u8], name: &[u8]) -> bool {
        let subject = if self.whole_path { path } else { name };
        match_from(&self.pattern, subject)
    }
}

fn match_from(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*` (single component) failed to match further.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() || p < pattern.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' if pattern.get(p + 1) == Some(&b'*') => {
                    // `**`: any bytes at all; try every split, shortest first.
                    let mut rest = p + 2;
                    while pattern.get(rest) == Some(&b'*') {
                        rest += 1;
                    }
                    return (t..=text.len()).any(|i| match_from(&pattern[rest..], &text[i..]));
                }
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' if t < text.len() && text[t] != b'/' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' if t < text.len() => {
                    if let Some((hit, next)) = class(&pattern[p..], text[t]) {
                        if hit && text[t] != b'/' {
                            p += next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == b'[' {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() && t < text.len() && text[t] == pattern[p + 1] => {
                    p += 2;
                    t += 1;
                    continue;
                }
                c if c != b'*'
                    && c != b'?'
                    && c != b'['
                    && c != b'\\'
                    && t < text.len()
                    && text[t] == c =>
                {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        // Mismatch: let the last `*` swallow one more byte, unless that byte is a `/`.
        match star {
            Some((sp, st)) if st < text.len() && text[st] != b'/' => {
                star = Some((sp, st + 1));
                p = sp + 1;
                t = st + 1;
            }
            _ => return false,
        }
    }
    true
}

/// Matches `byte` against the class at the start of `pattern` (`[...]`): whether it is in the class and
/// the class's length, or `None` if the class is not closed.
fn class(pattern: &[u8], byte: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = matches!(pattern.get(i), Some(b'!') | Some(b'^'));
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < pattern.len() {
        let c = pattern[i];
        if c == b']' && !first {
            return Some((hit != negated, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&e| e != b']') {
            let end = pattern[i + 2];
            hit |= (c..=end).contains(&byte);
            i += 3;
        } else {
            hit |= c == byte;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(pattern: &str, name: &str) -> bool {
        Glob::new(pattern.as_bytes()).matches(b"/x/y", name.as_bytes())
    }

    fn path(pattern: &str, path: &str) -> bool {
        Glob::new(pattern.as_bytes()).matches(path.as_bytes(), b"")
    }

    #[test]
    fn names() {
        assert!(name("*.cache", "a.cache"));
        assert!(!name("*.cache", "a.cachex"));
        assert!(name("node_modules", "node_modules"));
        assert!(name("f?o", "foo"));
        assert!(name("[a-c]x", "bx"));
        assert!(!name("[!a-c]x", "bx"));
        assert!(name("[]]", "]"));
        assert!(name("a\\*", "a*"));
        assert!(!name("a\\*", "ab"));
        assert!(name("*", ""));
        assert!(name("[x", "[x"));
    }

    #[test]
    fn paths() {
        assert!(path("/home/**", "/home/a/b/c"));
        assert!(path("/home/*", "/home/a"));
        assert!(!path("/home/*", "/home/a/b"));
        assert!(path("**/node_modules", "/srv/app/node_modules"));
        assert!(path("/srv/*/cache", "/srv/x/cache"));
        assert!(!path("/srv/*/cache", "/srv/x/y/cache"));
        assert!(path("**", "/anything/at/all"));
    }
}
