complete -c capnet -l proto -d 'Only these protocols (tcp, tcp6, udp, udp6, udplite, udplite6, raw, raw6, packet, unix; `tcp` also matches tcp6, and so on)' -r
complete -c capnet -l port -d 'Only sockets with this local port' -r
complete -c capnet -l pid -d 'Only these processes' -r
complete -c capnet -l cap -d 'Only processes holding one of these capabilities (permitted or effective)' -r
complete -c capnet -l generate-completions -d 'Print a completion script for a shell' -r -f -a "bash\t''
elvish\t''
fish\t''
powershell\t''
zsh\t''"
complete -c capnet -s a -l all -d 'Every process, not only those holding capabilities'
complete -c capnet -l unix -d 'Include unix sockets'
complete -c capnet -l listening -d 'Only listening sockets: TCP and unix listeners, and UDP, raw and packet sockets not connected'
complete -c capnet -l unneeded -d 'Only processes holding network capabilities that none of their sockets needs'
complete -c capnet -l json -d 'One JSON object per (process, socket) (NDJSON)'
complete -c capnet -s h -l help -d 'Print help'
complete -c capnet -s V -l version -d 'Print version'
