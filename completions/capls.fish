complete -c capls -s u -l euid -d 'Only processes whose effective uid is one of these (names or numbers, comma separated), as pgrep -u' -r
complete -c capls -l cap -d 'Only processes holding any of these in permitted or effective (any case, cap_ optional, or numbers)' -r
complete -c capls -l container -d 'Only processes in a container whose id starts with PREFIX, or whose runtime is PREFIX' -r
complete -c capls -l userns -d 'Only processes in the host\'s user namespace, or in another' -r -f -a "host\t''
other\t''"
complete -c capls -l compare -d 'Summarise each process against a preset: e.g. `docker -net_raw +sys_admin`' -r -f -a "docker\t'Docker\'s 14 default capabilities'
oci\t'The OCI runtime spec\'s default: audit_write, kill, net_bind_service'
full\t'Every capability the kernel knows'
none\t'No capability'"
complete -c capls -l color -d 'When to colour the table, the long form and the tree' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set to anything but the empty string'
always\t'Always colour, also into a pipe'
never\t'Never colour'"
complete -c capls -s a -l all -d 'Show every process, also those without capabilities (kernel threads with -k, as pscap -a)'
complete -c capls -s k -l kernel -d 'Show kernel threads too (they hold the kernel\'s own credentials)'
complete -c capls -s l -l long -d 'All five sets, securebits, no_new_privs, seccomp, uids, user namespace, cgroup and container'
complete -c capls -s t -l threads -d 'One row per thread'
complete -c capls -l tree -d 'Draw the process tree, each process with its summary'
complete -c capls -l json -d 'NDJSON: one object per process (per thread with -t)'
complete -c capls -l ecs -d 'NDJSON in the Elastic Common Schema: one document per process (per thread with -t), for log pipelines'
complete -c capls -s h -l help -d 'Print help (see more with \'--help\')'
complete -c capls -s V -l version -d 'Print version'
