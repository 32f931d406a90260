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
complete -c capnet -l pid -d 'The same as PID operands, kept for scripts: `--pid 1,2` is `1 2`' -r
complete -c capnet -l cap -d 'Only processes holding one of these capabilities (permitted or effective)' -r
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
