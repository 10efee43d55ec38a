# bash completion for jobnik-worker(1), the generic Jobnik worker.
#
# Completes every option, file names after --config, --plugin and --cwd, the values of
# --log-format, and after "--" the program (a command name or a path) and its arguments
# (file names).

_jobnik_worker()
{
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}

    # After "--": the program, then its arguments.
    local i
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == -- ]]; then
            compopt -o filenames 2>/dev/null
            if ((i == COMP_CWORD - 1)); then
                mapfile -t COMPREPLY < <(compgen -c -- "$cur")
            else
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            fi
            return
        fi
    done

    case $prev in
        -c | --config | --plugin | --ca-file | --client-cert | --client-key)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return
            ;;
        --cwd)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            return
            ;;
        --log-format)
            mapfile -t COMPREPLY < <(compgen -W 'text json' -- "$cur")
            return
            ;;
        --user)
            mapfile -t COMPREPLY < <(compgen -u -- "$cur")
            return
            ;;
        --url | --token | -t | --stage-type | -n | --concurrency | --timeout | --kill-grace | \
            --retry-exit-code | --retry-after | --plugin-config | --env | --shutdown-timeout | --heartbeat-interval | \
            --lease-seconds | --wait-seconds | --listen)
            # A free-form value: nothing to offer.
            COMPREPLY=()
            return
            ;;
    esac

    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W '-h --help -V --version -c --config --url --token --ca-file --client-cert --client-key -t --stage-type
            -n --concurrency --timeout --kill-grace --retry-exit-code --retry-after --plugin --plugin-config --shell --env --cwd
            --user --shutdown-timeout --heartbeat-interval --lease-seconds --wait-seconds --idempotent-claims --no-combine-requests --listen
            --log-format --print-config --' \
            -- "$cur")
    fi
}
complete -F _jobnik_worker jobnik-worker
