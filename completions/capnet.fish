complete -c capnet -l proto -d 'Only these protocols, comma separated' -r -f -a "tcp\t''
tcp6\t''
udp\t''
udp6\t''
udplite\t''
udplite6\t''
raw\t''
raw6\t''
packet\t''
unix\t''"
complete -c capnet -l port -d 'Only sockets with this local port (repeatable)' -r
complete -c capnet -l pid -d 'The same as PID operands, kept for scripts: `--pid 1,2` is `1 2`' -r -f -a "(__fish_complete_pids)"
complete -c capnet -l cap -d 'Only processes holding one of these capabilities (permitted or effective)' -r -f -a "cap_chown cap_dac_override cap_dac_read_search cap_fowner cap_fsetid cap_kill cap_setgid cap_setuid cap_setpcap cap_linux_immutable cap_net_bind_service cap_net_broadcast cap_net_admin cap_net_raw cap_ipc_lock cap_ipc_owner cap_sys_module cap_sys_rawio cap_sys_chroot cap_sys_ptrace cap_sys_pacct cap_sys_admin cap_sys_boot cap_sys_nice cap_sys_resource cap_sys_time cap_sys_tty_config cap_mknod cap_lease cap_audit_write cap_audit_control cap_setfcap cap_mac_override cap_mac_admin cap_syslog cap_wake_alarm cap_block_suspend cap_audit_read cap_perfmon cap_bpf cap_checkpoint_restore"
complete -c capnet -l userns -d 'Only processes in the host\'s user namespace, or in another (whose capabilities count only there)' -r -f -a "host\t''
other\t''"
complete -c capnet -l color -d 'When to colour: root-equivalent capabilities and unneeded ones stand out' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set to anything but the empty string'
always\t'Always colour, also into a pipe'
never\t'Never colour'"
complete -c capnet -s a -l all -d 'Every process, not only those holding capabilities'
complete -c capnet -l unix -d 'Include unix sockets'
complete -c capnet -l listening -d 'Only listening sockets: TCP and unix listeners, and UDP, raw and packet sockets not connected'
complete -c capnet -l unneeded -d 'Only processes holding network capabilities that none of their sockets needs'
complete -c capnet -l json -d 'One JSON object per (process, socket) (NDJSON)'
complete -c capnet -s h -l help -d 'Print help (see more with \'--help\')'
complete -c capnet -s V -l version -d 'Print version'
complete -c capnet -f -a "(__fish_complete_pids)"
