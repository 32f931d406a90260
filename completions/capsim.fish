complete -c capsim -l pid -d 'Start from a live process\'s state' -r -f -a "(__fish_complete_pids)"
complete -c capsim -l uid -d 'Real, effective, saved and filesystem uid (names or numbers; missing ones copy the last given)' -r
complete -c capsim -l gid -d 'Real, effective, saved and filesystem gid' -r
complete -c capsim -l groups -d 'Supplementary groups (an empty value for none)' -r
complete -c capsim -l inh -d 'Inheritable set' -r -f -a "cap_chown cap_dac_override cap_dac_read_search cap_fowner cap_fsetid cap_kill cap_setgid cap_setuid cap_setpcap cap_linux_immutable cap_net_bind_service cap_net_broadcast cap_net_admin cap_net_raw cap_ipc_lock cap_ipc_owner cap_sys_module cap_sys_rawio cap_sys_chroot cap_sys_ptrace cap_sys_pacct cap_sys_admin cap_sys_boot cap_sys_nice cap_sys_resource cap_sys_time cap_sys_tty_config cap_mknod cap_lease cap_audit_write cap_audit_control cap_setfcap cap_mac_override cap_mac_admin cap_syslog cap_wake_alarm cap_block_suspend cap_audit_read cap_perfmon cap_bpf cap_checkpoint_restore"
complete -c capsim -l prm -d 'Permitted set' -r -f -a "cap_chown cap_dac_override cap_dac_read_search cap_fowner cap_fsetid cap_kill cap_setgid cap_setuid cap_setpcap cap_linux_immutable cap_net_bind_service cap_net_broadcast cap_net_admin cap_net_raw cap_ipc_lock cap_ipc_owner cap_sys_module cap_sys_rawio cap_sys_chroot cap_sys_ptrace cap_sys_pacct cap_sys_admin cap_sys_boot cap_sys_nice cap_sys_resource cap_sys_time cap_sys_tty_config cap_mknod cap_lease cap_audit_write cap_audit_control cap_setfcap cap_mac_override cap_mac_admin cap_syslog cap_wake_alarm cap_block_suspend cap_audit_read cap_perfmon cap_bpf cap_checkpoint_restore"
complete -c capsim -l eff -d 'Effective set' -r -f -a "cap_chown cap_dac_override cap_dac_read_search cap_fowner cap_fsetid cap_kill cap_setgid cap_setuid cap_setpcap cap_linux_immutable cap_net_bind_service cap_net_broadcast cap_net_admin cap_net_raw cap_ipc_lock cap_ipc_owner cap_sys_module cap_sys_rawio cap_sys_chroot cap_sys_ptrace cap_sys_pacct cap_sys_admin cap_sys_boot cap_sys_nice cap_sys_resource cap_sys_time cap_sys_tty_config cap_mknod cap_lease cap_audit_write cap_audit_control cap_setfcap cap_mac_override cap_mac_admin cap_syslog cap_wake_alarm cap_block_suspend cap_audit_read cap_perfmon cap_bpf cap_checkpoint_restore"
complete -c capsim -l bnd -d 'Bounding set' -r -f -a "cap_chown cap_dac_override cap_dac_read_search cap_fowner cap_fsetid cap_kill cap_setgid cap_setuid cap_setpcap cap_linux_immutable cap_net_bind_service cap_net_broadcast cap_net_admin cap_net_raw cap_ipc_lock cap_ipc_owner cap_sys_module cap_sys_rawio cap_sys_chroot cap_sys_ptrace cap_sys_pacct cap_sys_admin cap_sys_boot cap_sys_nice cap_sys_resource cap_sys_time cap_sys_tty_config cap_mknod cap_lease cap_audit_write cap_audit_control cap_setfcap cap_mac_override cap_mac_admin cap_syslog cap_wake_alarm cap_block_suspend cap_audit_read cap_perfmon cap_bpf cap_checkpoint_restore"
complete -c capsim -l amb -d 'Ambient set' -r -f -a "cap_chown cap_dac_override cap_dac_read_search cap_fowner cap_fsetid cap_kill cap_setgid cap_setuid cap_setpcap cap_linux_immutable cap_net_bind_service cap_net_broadcast cap_net_admin cap_net_raw cap_ipc_lock cap_ipc_owner cap_sys_module cap_sys_rawio cap_sys_chroot cap_sys_ptrace cap_sys_pacct cap_sys_admin cap_sys_boot cap_sys_nice cap_sys_resource cap_sys_time cap_sys_tty_config cap_mknod cap_lease cap_audit_write cap_audit_control cap_setfcap cap_mac_override cap_mac_admin cap_syslog cap_wake_alarm cap_block_suspend cap_audit_read cap_perfmon cap_bpf cap_checkpoint_restore"
complete -c capsim -l secbits -d 'Securebits: a number (0x2f) or names (noroot,noroot_locked), as capsh --secbits sets them' -r
complete -c capsim -l traced -d 'The caller is traced; `=capable` when the tracer holds CAP_SYS_PTRACE (with --pid, instead of what /proc shows)' -r -f -a "yes\t''
capable\t''"
complete -c capsim -l userns-map -d 'The caller is in a user namespace with this uid and gid map line (repeatable)' -r
complete -c capsim -l file-caps -d 'The file\'s capabilities as libcap text (cap_net_raw+ep), instead of its xattr' -r
complete -c capsim -l file-xattr -d 'The raw security.capability value in hex (as `getfattr -e hex` prints it; empty for zero bytes)' -r
complete -c capsim -l mode -d 'The file\'s mode in octal (4755)' -r
complete -c capsim -l owner -d 'The file\'s owner (kernel uid or name)' -r -f -a "(__fish_complete_users)"
complete -c capsim -l group -d 'The file\'s group (kernel gid or name)' -r
complete -c capsim -l rootid -d 'Make the file capabilities v3 with this rootid (namespaced file capabilities)' -r -f -a "(__fish_complete_users)"
complete -c capsim -l oci -d 'Start from an OCI runtime config (a bundle\'s config.json) as runc applies it; FILE defaults to process.args[0] inside the bundle\'s rootfs' -r -F
complete -c capsim -l cap-add -d 'With --docker: add a capability (repeatable; `all`)' -r -f -a "cap_chown cap_dac_override cap_dac_read_search cap_fowner cap_fsetid cap_kill cap_setgid cap_setuid cap_setpcap cap_linux_immutable cap_net_bind_service cap_net_broadcast cap_net_admin cap_net_raw cap_ipc_lock cap_ipc_owner cap_sys_module cap_sys_rawio cap_sys_chroot cap_sys_ptrace cap_sys_pacct cap_sys_admin cap_sys_boot cap_sys_nice cap_sys_resource cap_sys_time cap_sys_tty_config cap_mknod cap_lease cap_audit_write cap_audit_control cap_setfcap cap_mac_override cap_mac_admin cap_syslog cap_wake_alarm cap_block_suspend cap_audit_read cap_perfmon cap_bpf cap_checkpoint_restore"
complete -c capsim -l cap-drop -d 'With --docker: drop a capability (repeatable; `all`)' -r -f -a "cap_chown cap_dac_override cap_dac_read_search cap_fowner cap_fsetid cap_kill cap_setgid cap_setuid cap_setpcap cap_linux_immutable cap_net_bind_service cap_net_broadcast cap_net_admin cap_net_raw cap_ipc_lock cap_ipc_owner cap_sys_module cap_sys_rawio cap_sys_chroot cap_sys_ptrace cap_sys_pacct cap_sys_admin cap_sys_boot cap_sys_nice cap_sys_resource cap_sys_time cap_sys_tty_config cap_mknod cap_lease cap_audit_write cap_audit_control cap_setfcap cap_mac_override cap_mac_admin cap_syslog cap_wake_alarm cap_block_suspend cap_audit_read cap_perfmon cap_bpf cap_checkpoint_restore"
complete -c capsim -l user -d 'With --docker: run as USER[:GROUP], each a name or a number, resolved in the image (--rootfs) as Docker resolves it' -r -f -a "(__fish_complete_users)"
complete -c capsim -l group-add -d 'With --docker: a supplementary group, a name in the image\'s /etc/group or a number (repeatable)' -r
complete -c capsim -l docker-version -d 'With --docker: the Docker (moby) release whose rules apply, X.Y; default: the newest modelled' -r
complete -c capsim -l security-opt -d 'With --docker: a docker run security option (repeatable), checked as the docker client and dockerd of --docker-version check it' -r
complete -c capsim -l systemd -d 'Start from the state systemd gives this service\'s main process; FILE defaults to ExecStart=' -r -F
complete -c capsim -l unit-path -d 'With --systemd: look for drop-ins in these directories (highest priority first) instead of the unit file\'s own directory and systemd\'s search path (repeatable)' -r -F
complete -c capsim -l k8s -d 'Start from the state a Kubernetes container runtime gives a container of this manifest' -r -F
complete -c capsim -l rootfs -d 'With --docker or --k8s: the image\'s root filesystem; FILE is then the path the container sees' -r -F
complete -c capsim -l image-user -d 'With --docker or --k8s: the image\'s USER (its config\'s `User`, as `docker image inspect -f \'{{.Config.User}}\'` shows it), which the image\'s root filesystem does not hold' -r -f -a "(__fish_complete_users)"
complete -c capsim -l runtime-bounding -d 'The bounding set of the runtime that starts the container (dockerd, containerd, runc), which no container can exceed; default: capsim\'s own, which a note names' -r -f -a "cap_chown cap_dac_override cap_dac_read_search cap_fowner cap_fsetid cap_kill cap_setgid cap_setuid cap_setpcap cap_linux_immutable cap_net_bind_service cap_net_broadcast cap_net_admin cap_net_raw cap_ipc_lock cap_ipc_owner cap_sys_module cap_sys_rawio cap_sys_chroot cap_sys_ptrace cap_sys_pacct cap_sys_admin cap_sys_boot cap_sys_nice cap_sys_resource cap_sys_time cap_sys_tty_config cap_mknod cap_lease cap_audit_write cap_audit_control cap_setfcap cap_mac_override cap_mac_admin cap_syslog cap_wake_alarm cap_block_suspend cap_audit_read cap_perfmon cap_bpf cap_checkpoint_restore"
complete -c capsim -l container -d 'With --k8s: the container (a name, or KIND/WORKLOAD/NAME); needed when there are several' -r
complete -c capsim -l runtime -d 'With --k8s: the runtime whose translation and defaults apply: containerd (Docker\'s 14 capabilities) or cri-o (9)' -r -f -a "containerd\t''
cri-o\t''"
complete -c capsim -l runtime-version -d 'With --k8s and containerd: its release, X.Y (1.6 or later); default: the newest modelled (2.x)' -r
complete -c capsim -l kernel-rules -d 'Which kernel rules to apply: current (Linux 6.16+) or legacy; default: the running kernel\'s' -r -f -a "current\t''
legacy\t''"
complete -c capsim -l color -d 'When to colour: auto (a terminal, and NO_COLOR unset), always or never' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set to anything but the empty string'
always\t'Always colour, also into a pipe'
never\t'Never colour'"
complete -c capsim -l no-new-privs -d 'The caller has set no_new_privs'
complete -c capsim -l fs-shared -d 'Another process shares the caller\'s fs (created with CLONE_FS)'
complete -c capsim -l nosuid -d 'The file is on a nosuid mount'
complete -c capsim -l docker -d 'Start from the state Docker gives a container\'s first process'
complete -c capsim -l privileged -d 'With --docker: a privileged container (every capability)'
complete -c capsim -l no-new-privileges -d 'With --docker: --security-opt no-new-privileges'
complete -c capsim -l explain -d 'The kernel rules in order, and why each capability is in each set or gone'
complete -c capsim -l json -d 'Print one JSON object'
complete -c capsim -s h -l help -d 'Print help (see more with \'--help\')'
complete -c capsim -s V -l version -d 'Print version'
