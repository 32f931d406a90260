complete -c captrace -l pid -d 'Trace a running process and its descendants, until Ctrl-C or --duration' -r -f -a "(__fish_complete_pids)"
complete -c captrace -l cgroup -d 'Trace every process in a cgroup v2 directory and its sub-cgroups' -r -F
complete -c captrace -l unit -d 'Trace a systemd unit\'s cgroup (its ControlGroup), sub-cgroups included' -r
complete -c captrace -l container -d 'Trace a container (docker, containerd, cri-o or podman), found by its cgroup; a unique prefix of its id is enough' -r
complete -c captrace -l duration -d 'Stop tracing a running target after this long: `10s`, `5m`, `500ms`, `1h`, or plain seconds' -r
complete -c captrace -l user -d 'Run COMMAND as this user (and group: its primary group by default), holding every capability in its ambient set, as systemd\'s AmbientCapabilities= would give it' -r -f -a "(__fish_complete_users)"
complete -c captrace -s o -l output -d 'Write the report to FILE (made or truncated before COMMAND starts) instead of standard error' -r -F
complete -c captrace -l color -d 'When to colour: auto (a terminal, and NO_COLOR unset), always or never' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set to anything but the empty string'
always\t'Always colour, also into a pipe'
never\t'Never colour'"
complete -c captrace -l verify -d 'Run COMMAND a second time under the recommended set (as the same user, bounding and ambient sets cut to it) and report whether it behaves the same'
complete -c captrace -l minimize -d 'Prove the needed set minimal: run COMMAND again once for each needed capability, without it, and drop it when COMMAND then exits the same way and is refused nothing else'
complete -c captrace -l checks -d 'List every check row one by one: probes and user-namespace checks too, with their result, no-audit flag, namespace, process and kernel caller. (`-a` means every process in capls and capnet, so it is not a short form here; `--all` is the old spelling.)'
complete -c captrace -l json -d 'Print NDJSON records instead of the report (schema in the README)'
complete -c captrace -s h -l help -d 'Print help (see more with \'--help\')'
complete -c captrace -s V -l version -d 'Print version'
complete -c captrace -x -a "(__fish_complete_subcommand)"
