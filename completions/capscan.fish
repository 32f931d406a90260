complete -c capscan -l baseline -d 'Compare with an earlier `--json` or `--getcap` output; exit 1 on any drift' -r -F
complete -c capscan -l exec-as -d 'Predict the exec of every file found as a container\'s (or a service\'s) first process would run it' -r
complete -c capscan -l exclude -d 'Skip paths that match GLOB (repeatable)' -r
complete -c capscan -s j -l jobs -d 'Number of threads, 1 to 64 (default: two per core)' -r
complete -c capscan -l color -d 'When to colour the table and the drift report' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set to anything but the empty string'
always\t'Always colour, also into a pipe'
never\t'Never colour'"
complete -c capscan -l getcap -d 'Print exactly what `getcap -r` prints (PATH TEXT), sorted by path'
complete -c capscan -s n -l show-rootid -d 'With --getcap: append ` [rootid=N]` to v3 values, as `getcap -n` does'
complete -c capscan -l json -d 'Print one JSON object per file (NDJSON)'
complete -c capscan -l ecs -d 'Print one Elastic Common Schema document per file (NDJSON), for log pipelines'
complete -c capscan -l restore -d 'Print a shell script that recreates every value found, byte for byte'
complete -c capscan -l audit -d 'Mark dangerous hits; exit 1 if there is any'
complete -c capscan -l setuid -d 'Also list set-uid and set-gid files, with their owner'
complete -c capscan -s x -l one-file-system -d 'Stay on the filesystem of each starting path'
complete -c capscan -l all-fs -d 'Also enter pseudo (proc, sysfs, …) and remote (nfs, cifs, fuse.*, …) filesystems'
complete -c capscan -l progress -d 'Show a live progress line on stderr (only when it is a terminal)'
complete -c capscan -s h -l help -d 'Print help (see more with \'--help\')'
complete -c capscan -s V -l version -d 'Print version'
