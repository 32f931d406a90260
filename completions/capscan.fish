complete -c capscan -l baseline -d 'Compare with an earlier `--json` or `--getcap` output and print what was added, removed or changed; exit 1 on any drift' -r -F
complete -c capscan -l exclude -d 'Skip paths that match GLOB (a name, or a whole path if it holds `/`; `**` as a whole component crosses directories; `{a,b}` alternatives). Matched in linear time' -r
complete -c capscan -s j -l threads -d 'Number of threads, 1 to 64 (default: two per core, which keeps the disk busy when the cache is cold). More would only cost time to start and memory: a walk never waits on more than a few disk requests at once' -r
complete -c capscan -l generate-completions -d 'Print a completion script for SHELL and exit' -r -f -a "bash\t''
zsh\t''
fish\t''"
complete -c capscan -l getcap -d 'Print exactly what `getcap -r` prints (PATH TEXT), sorted by path: names as raw bytes into a pipe or a file, byte for byte getcap\'s; escaped on a terminal'
complete -c capscan -s n -l rootid -d 'With --getcap: append ` [rootid=N]` to v3 values, as `getcap -n` does (signed, as getcap prints it: a rootid of 2^31 or more comes out negative)'
complete -c capscan -l json -d 'Print one JSON object per file (NDJSON)'
complete -c capscan -l ecs -d 'Print one Elastic Common Schema document per file (NDJSON), for log pipelines'
complete -c capscan -l restore -d 'Print a shell script that recreates every value found, byte for byte (setcap; setfattr from the attr package where setcap cannot), and names each one it cannot restore'
complete -c capscan -l audit -d 'Mark dangerous hits (root-equivalent capabilities, interpreters and shells, files others can replace, malformed values); exit 1 if there is any'
complete -c capscan -l setuid -d 'Also list set-uid and set-gid files, with their owner'
complete -c capscan -s x -l one-file-system -d 'Stay on the filesystem of each starting path'
complete -c capscan -l all-fs -d 'Also enter pseudo (proc, sysfs, …) and remote (nfs, cifs, fuse.*, …) filesystems'
complete -c capscan -l progress -d 'Show a live progress line on stderr (only when it is a terminal)'
complete -c capscan -s h -l help -d 'Print help (see more with \'--help\')'
complete -c capscan -s V -l version -d 'Print version'
