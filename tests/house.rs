//! One house style across the six tools: what a user sees of one tool holds of every other.

use crate::util::run;

const TOOLS: [&str; 6] = [
    "capls",
    "capscan",
    "capnet",
    "capdecode",
    "capsim",
    "captrace",
];

/// clap's errors too are one line that names the tool and says where to read more, with exit 2.
#[test]
fn every_usage_error_is_one_line_naming_the_tool() {
    for tool in TOOLS {
        for args in [
            &["--no-such-flag"][..],
            &["--color"][..],
            &["--color", "\x1b[2Jx"][..],
        ] {
            let out = run(tool, args, None);
            assert_eq!(out.code, 2, "{tool} {args:?}: {}", out.stderr);
            assert_eq!(
                out.stderr.lines().count(),
                1,
                "{tool} {args:?}: {}",
                out.stderr
            );
            assert!(
                out.stderr.starts_with(&format!("{tool}: ")),
                "{tool} {args:?}: {}",
                out.stderr
            );
            assert!(
                out.stderr.contains(&format!("'{tool} --help'")),
                "{tool} {args:?}: {}",
                out.stderr
            );
            assert!(
                !out.stderr.contains('\x1b'),
                "{tool} {args:?}: {:?}",
                out.stderr
            );
            assert!(out.stdout.is_empty(), "{tool} {args:?}: {}", out.stdout);
        }
        let help = run(tool, &["--help"], None);
        assert_eq!(help.code, 0, "{tool} --help: {}", help.stderr);
        assert!(help.stdout.contains("Usage:"), "{tool} --help");
    }
}
