_capsim() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="capsim"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        capsim)
            opts="-h -V --pid --uid --gid --groups --inh --prm --eff --bnd --amb --secbits --no-new-privs --traced --fs-shared --userns-map --file-caps --file-xattr --mode --owner --group --nosuid --rootid --docker --oci --cap-add --cap-drop --user --privileged --no-new-privileges --systemd --unit-path --k8s --container --runtime --kernel-rules --explain --json --color --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --pid)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --uid)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --gid)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --groups)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --inh)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --prm)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --eff)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bnd)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --amb)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --secbits)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --traced)
                    COMPREPLY=($(compgen -W "yes capable" -- "${cur}"))
                    return 0
                    ;;
                --userns-map)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --file-caps)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --file-xattr)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --mode)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --owner)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --group)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rootid)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --oci)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cap-add)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cap-drop)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --user)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --systemd)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --k8s)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --container)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime)
                    COMPREPLY=($(compgen -W "containerd cri-o" -- "${cur}"))
                    return 0
                    ;;
                --kernel-rules)
                    COMPREPLY=($(compgen -W "current legacy" -- "${cur}"))
                    return 0
                    ;;
                --color)
                    COMPREPLY=($(compgen -W "auto always never" -- "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _capsim -o nosort -o bashdefault -o default capsim
else
    complete -F _capsim -o bashdefault -o default capsim
fi
