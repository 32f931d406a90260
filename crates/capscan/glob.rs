//! `--exclude` patterns, compiled by globset into two matchers: one for patterns matched against an
//! entry's name, one for patterns matched against its whole path.
//!
//! globset turns every pattern into one regular expression and the whole set into one automaton, so a
//! path is matched in time linear in its length whatever the patterns hold. The hand-written matcher
//! this replaces backtracked on each `**`, and `**/**/**/x` over a 400-deep tree took seconds per path:
//! anyone who can make directories could stall a root scan.
//!
//! Semantics (globset's, with `*` kept inside a component): `*` matches within one path component,
//! `?` one character other than `/`, `[abc]`, `[a-z]` and `[!abc]` a character from (or not from) a
//! set, `{a,b}` either pattern, `\x` the character `x`. `**` crosses directories when it is a whole
//! component (`**/x`, `x/**`, `a/**/b`, or `**` alone); elsewhere it is the same as `*`. A pattern
//! without `/` is matched against each entry's name (`--exclude '*.cache'`); a pattern with `/` against
//! the whole path as it is printed (`--exclude '/home/**'`, `--exclude '**/node_modules'`).

use std::ffi::OsString;

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

/// The compiled `--exclude` patterns.
#[derive(Clone, Debug)]
pub struct Excludes {
    names: GlobSet,
    paths: GlobSet,
}

impl Excludes {
    /// Compiles the patterns; a pattern that is not UTF-8 or not a valid glob is an error naming it.
    pub fn new(patterns: &[OsString]) -> Result<Excludes, String> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        for pattern in patterns {
            let text = pattern.to_str().ok_or_else(|| {
                format!(
                    "--exclude {}: the pattern is not UTF-8 (match such names with `?` or `*`)",
                    capcli::escape_bytes(pattern.as_encoded_bytes())
                )
            })?;
            let glob = GlobBuilder::new(text)
                .literal_separator(true)
                .backslash_escape(true)
                .allow_unclosed_class(true)
                .build()
                .map_err(|err| format!("--exclude {}: {err}", capcli::escape_str(text)))?;
            if text.contains('/') {
                paths.add(glob);
            } else {
                names.add(glob);
            }
        }
        let build = |set: GlobSetBuilder| set.build().map_err(|err| format!("--exclude: {err}"));
        Ok(Excludes {
            names: build(names)?,
            paths: build(paths)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.paths.is_empty()
    }

    /// Whether the entry at `path`, whose last component is `name`, is excluded.
    pub fn matches(&self, path: &[u8], name: &[u8]) -> bool {
        (!self.names.is_empty() && self.names.is_match_candidate(&Candidate::from_bytes(name)))
            || (!self.paths.is_empty()
                && self.paths.is_match_candidate(&Candidate::from_bytes(path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pattern: &str) -> Excludes {
        Excludes::new(&[OsString::from(pattern)]).unwrap()
    }

    fn name(pattern: &str, name: &str) -> bool {
        set(pattern).matches(b"/x/y", name.as_bytes())
    }

    fn path(pattern: &str, path: &str) -> bool {
        set(pattern).matches(path.as_bytes(), b"")
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
        assert!(name("{a,b}.log", "b.log"));
    }

    #[test]
    fn paths() {
        assert!(path("/home/**", "/home/a/b/c"));
        assert!(path("/home/*", "/home/a"));
        assert!(!path("/home/*", "/home/a/b"));
        assert!(path("**/node_modules", "/srv/app/node_modules"));
        assert!(path("**/node_modules", "./node_modules"));
        assert!(path("/srv/*/cache", "/srv/x/cache"));
        assert!(!path("/srv/*/cache", "/srv/x/y/cache"));
        assert!(path("/srv/**/cache", "/srv/x/y/cache"));
        assert!(path("**", "/anything/at/all"));
        // `**` inside a component is `*`: it does not cross a `/`.
        assert!(path("/srv/a**", "/srv/abc"));
        assert!(!path("/srv/a**", "/srv/a/b"));
    }

    #[test]
    fn non_utf8_paths_and_bad_patterns() {
        assert!(path("/srv/*/x", "/srv/\u{fffd}/x"));
        assert!(set("/srv/*/x").matches(b"/srv/\xff\xfe/x", b"x"));
        assert!(Excludes::new(&[OsString::from("{a,b")]).is_err());
        assert!(set("").is_empty() || !set("").matches(b"/a", b"a"));
    }

    #[test]
    fn many_double_stars_stay_linear() {
        let deep = "/d".repeat(2000) + "/y";
        // The old matcher took minutes on these; the integration test bounds a whole scan.
        assert!(!path("**/**/**/**/**/**/**/**/x", &deep));
        assert!(path("**/**/**/**/**/**/**/**/y", &deep));
    }
}
