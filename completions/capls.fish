complete -c capls -s u -l euid -d 'Only processes whose effective uid is one of these (names or numbers, comma separated), as pgrep -u' -r -f -a "(__fish_complete_users)"
complete -c capls -l cap -d 'Only processes holding any of these in permitted or effective (any case, cap_ optional, or numbers)' -r -f -a "cap_chown cap_dac_override cap_dac_read_search cap_fowner cap_fsetid cap_kill cap_setgid cap_setuid cap_setpcap cap_linux_immutable cap_net_bind_service cap_net_broadcast cap_net_admin cap_net_raw cap_ipc_lock cap_ipc_owner cap_sys_module cap_sys_rawio cap_sys_chroot cap_sys_ptrace cap_sys_pacct cap_sys_admin cap_sys_boot cap_sys_nice cap_sys_resource cap_sys_time cap_sys_tty_config cap_mknod cap_lease cap_audit_write cap_audit_control cap_setfcap cap_mac_override cap_mac_admin cap_syslog cap_wake_alarm cap_block_suspend cap_audit_read cap_perfmon cap_bpf cap_checkpoint_restore"
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
complete -c capls -f -a "(__fish_complete_pids)"
