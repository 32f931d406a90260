//! What shell completions offer for values clap cannot know: capability names for every option that
//! takes capabilities, user names where a user is taken, and the PIDs of running processes where a PID
//! is. clap_complete offers files for any value it has no list for; its scripts are generated from the
//! same clap definition, and the lines for these values are rewritten here, once for every tool. Which
//! values they are is read from the definition: a value named `CAP…` or `SET` (capabilities), `USER…` or
//! `UID…` (users), `PID` (processes); and a command line after `--` (clap's `CommandWithArguments` hint,
//! which only zsh's generator knows) completes a command, then its arguments as files.

use capcore::cap::NAMED_CAPS;
use capcore::Cap;

/// The kinds of value completed here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Caps,
    Users,
    Pids,
}

fn kind(value_name: &str) -> Option<Kind> {
    if value_name.starts_with("CAP") || value_name == "SET" {
        Some(Kind::Caps)
    } else if value_name.starts_with("USER") || value_name.starts_with("UID") {
        Some(Kind::Users)
    } else if value_name == "PID" {
        Some(Kind::Pids)
    } else {
        None
    }
}

/// Every capability name libcap knows, space separated.
fn cap_words() -> String {
    let names: Vec<&str> = (0..NAMED_CAPS)
        .filter_map(Cap::new)
        .filter_map(Cap::name)
        .collect();
    names.join(" ")
}

/// An argument of the command that takes one of the kinds: its long and short flags (none for an
/// operand), its id, and the kind.
struct Completed {
    long: Option<String>,
    short: Option<char>,
    id: String,
    kind: Kind,
}

fn completed(cmd: &clap::Command) -> Vec<Completed> {
    cmd.get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .filter_map(|arg| {
            let name = arg.get_value_names()?.first()?.to_string();
            Some(Completed {
                long: arg.get_long().map(str::to_string),
                short: arg.get_short(),
                id: arg.get_id().to_string(),
                kind: kind(&name)?,
            })
        })
        .collect()
}

/// `script`, a completion script clap_complete made for `cmd` in `shell`, with the values above offered.
pub fn extend(shell: clap_complete::Shell, cmd: &clap::Command, script: String) -> String {
    let args = completed(cmd);
    let runs_a_command = cmd
        .get_arguments()
        .any(|arg| arg.get_value_hint() == clap::ValueHint::CommandWithArguments);
    match shell {
        clap_complete::Shell::Bash => {
            let script = bash(cmd.get_name(), &args, script);
            if runs_a_command {
                bash_command(cmd.get_name(), script)
            } else {
                script
            }
        }
        clap_complete::Shell::Zsh => zsh(&args, script),
        clap_complete::Shell::Fish => {
            let mut script = fish(cmd.get_name(), &args, script);
            if runs_a_command {
                // fish's own helper completes the command after the tool's options, then its arguments.
                script.push_str(&format!(
                    "complete -c {} -x -a \"(__fish_complete_subcommand)\"\n",
                    cmd.get_name()
                ));
            }
            script
        }
        _ => script,
    }
}

/// After `--`, the first word is a command (`compgen -c`) and the rest its arguments (files).
fn bash_command(name: &str, script: String) -> String {
    let tail = bash_operands_tail(name);
    let command = "            local word after=-1\n            for word in \"${COMP_WORDS[@]:1:COMP_CWORD-1}\"; do\n                if [[ ${after} -ge 0 ]]; then after=$((after + 1)); elif [[ ${word} == -- ]]; then after=0; fi\n            done\n            if [[ ${after} -eq 0 ]]; then\n                COMPREPLY=( $(compgen -c -- \"${cur}\") )\n                return 0\n            elif [[ ${after} -gt 0 ]]; then\n                COMPREPLY=( $(compgen -f -- \"${cur}\") )\n                return 0\n            fi\n";
    script.replace(&tail, &format!("{command}{tail}"))
}

/// The end of clap_complete's bash function for `name`: where a word that is neither an option nor an
/// option's value is completed (from the options alone), up to the `complete` line that follows it.
fn bash_operands_tail(name: &str) -> String {
    format!(
        "            COMPREPLY=( $(compgen -W \"${{opts}}\" -- \"${{cur}}\") )\n            return 0\n            ;;\n    esac\n}}\n\nif [[ \"${{BASH_VERSINFO[0]}}\" -eq 4 && \"${{BASH_VERSINFO[1]}}\" -ge 4 || \"${{BASH_VERSINFO[0]}}\" -gt 4 ]]; then\n    complete -F _{name}"
    )
}

fn bash_words(kind: Kind) -> String {
    match kind {
        Kind::Caps => format!("$(compgen -W \"{}\" -- \"${{cur}}\")", cap_words()),
        Kind::Users => "$(compgen -u -- \"${cur}\")".to_string(),
        Kind::Pids => {
            "$(compgen -W \"$(ls /proc 2>/dev/null | grep -E '^[0-9]+$')\" -- \"${cur}\")"
                .to_string()
        }
    }
}

fn bash(name: &str, args: &[Completed], mut script: String) -> String {
    let files = "COMPREPLY=($(compgen -f \"${cur}\"))";
    for arg in args {
        let flags = arg
            .long
            .iter()
            .map(|l| format!("--{l}"))
            .chain(arg.short.map(|s| format!("-{s}")));
        let mut any_flag = false;
        for flag in flags {
            any_flag = true;
            let case = format!("{flag})\n                    {files}");
            let with = format!(
                "{flag})\n                    COMPREPLY=({})",
                bash_words(arg.kind)
            );
            script = script.replace(&case, &with);
        }
        if !any_flag && arg.kind == Kind::Pids {
            // An operand: offered when the word is not an option and follows no option that takes a value.
            let tail = bash_operands_tail(name);
            let with = tail.replacen(
                "COMPREPLY=( $(compgen -W \"${opts}\" -- \"${cur}\") )",
                &format!(
                    "COMPREPLY=( $(compgen -W \"${{opts}}\" -- \"${{cur}}\") {} )",
                    bash_words(Kind::Pids)
                ),
                1,
            );
            script = script.replace(&tail, &with);
        }
    }
    script
}

fn zsh_action(kind: Kind) -> String {
    match kind {
        Kind::Caps => format!("({})", cap_words()),
        Kind::Users => "_users".to_string(),
        Kind::Pids => "_pids".to_string(),
    }
}

fn zsh(args: &[Completed], script: String) -> String {
    let mut lines: Vec<String> = script.lines().map(str::to_string).collect();
    for arg in args {
        let markers: Vec<String> = match &arg.long {
            Some(long) => vec![format!("--{long}=[")],
            None => vec![format!("::{} -- ", arg.id)],
        };
        for line in lines.iter_mut() {
            if markers.iter().any(|m| line.contains(m.as_str())) {
                if let Some(at) = line.rfind(":_default'") {
                    line.replace_range(at + 1..at + ":_default".len(), &zsh_action(arg.kind));
                }
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn fish(name: &str, args: &[Completed], mut script: String) -> String {
    for arg in args {
        let what = match arg.kind {
            Kind::Caps => format!("-f -a \"{}\"", cap_words()),
            Kind::Users => "-f -a \"(__fish_complete_users)\"".to_string(),
            Kind::Pids => "-f -a \"(__fish_complete_pids)\"".to_string(),
        };
        let flag = match (&arg.long, arg.short) {
            (Some(long), _) => format!(" -l {long} "),
            (None, Some(short)) => format!(" -s {short} "),
            (None, None) => {
                script.push_str(&format!("complete -c {name} {what}\n"));
                continue;
            }
        };
        let lines: Vec<String> = script
            .lines()
            .map(|line| {
                if line.starts_with(&format!("complete -c {name} "))
                    && line.contains(&flag)
                    && line.ends_with(" -r")
                {
                    format!("{line} {what}")
                } else {
                    line.to_string()
                }
            })
            .collect();
        script = lines.join("\n") + "\n";
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_names_say_what_is_completed() {
        assert_eq!(kind("CAP[,CAP]"), Some(Kind::Caps));
        assert_eq!(kind("SET"), Some(Kind::Caps));
        assert_eq!(kind("USER[,USER]"), Some(Kind::Users));
        assert_eq!(kind("PID"), Some(Kind::Pids));
        assert_eq!(kind("FILE"), None);
        assert!(cap_words().starts_with("cap_chown cap_dac_override"));
    }
}
