complete -c capdecode -l mask -d 'Decode HEX as a capability mask' -r
complete -c capdecode -l names -d 'Decode LIST as capability names or numbers (cap_net_raw,SYS_ADMIN,13; 0x0d and 015 are 13 too)' -r
complete -c capdecode -l libcap -d 'Decode TEXT as libcap text, with exactly cap_from_text\'s grammar' -r
complete -c capdecode -l xattr -d 'Decode HEX as a security.capability value (as `getfattr -e hex` prints it, 0x optional)' -r
complete -c capdecode -l status -d 'Decode LINE as a /proc/PID/status line (CapEff:, NoNewPrivs:, Seccomp: …)' -r
complete -c capdecode -l securebits -d 'Decode VALUE as securebits: a number (0x2f, 47, 057) or names (noroot,noroot_locked)' -r
complete -c capdecode -l as -d 'Decode every INPUT and standard-input line as KIND instead of recognising its form' -r -f -a "mask\t''
names\t''
libcap\t''
xattr\t''
status\t''
securebits\t''"
complete -c capdecode -l color -d 'When to colour: root-equivalent capabilities stand out' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set to anything but the empty string'
always\t'Always colour, also into a pipe'
never\t'Never colour'"
complete -c capdecode -l json -d 'Print one JSON object per input (NDJSON)'
complete -c capdecode -l explain -d 'Show what each capability (or securebit) grants'
complete -c capdecode -l text -d 'Print sets in libcap text form (as getcap and getpcaps do) instead of hex and names'
complete -c capdecode -s h -l help -d 'Print help (see more with \'--help\')'
complete -c capdecode -s V -l version -d 'Print version'
