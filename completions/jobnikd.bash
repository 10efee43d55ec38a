# bash completion for jobnikd(8), the Jobnik daemon.
#
# Completes the commands (serve, migrate, sweep, prune, token create/list/revoke), every
# option, and the values of
# options where they are known: file names after --config, directories after
# --data-dir and --postgres-bin-dir, formats, levels and booleans. Works with or
# without the bash-completion package; with it, file names are completed by _filedir.

# Offers the words of $1 that start with $cur (both locals of _jobnikd).
_jobnikd_reply()
{
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
    if [[ -n $value_prefix ]]; then
        COMPREPLY=("${COMPREPLY[@]/#/$value_prefix}")
    fi
}

_jobnikd()
{
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    local value_prefix=

    # --option=value: with '=' in COMP_WORDBREAKS the line is split into
    # "--option" "=" "value"; without it, "--option=value" is one word.
    if [[ $cur == = ]]; then
        cur=
    elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
        prev=${COMP_WORDS[COMP_CWORD - 2]}
    elif [[ $cur == --*=* ]]; then
        prev=${cur%%=*}
        value_prefix=$prev=
        cur=${cur#*=}
    fi

    # Options that take a value (one per configuration key, plus --config).
    local value_opts='-c --config --listen --database-url --database-schema --pool-size --batch-max --batches-in-flight
        --data-dir --postgres-bin-dir --http-threads --max-connections --shed-idle-above --header-timeout
        --body-limit --keep-alive-timeout
        --allowed-hosts --allowed-origins --auth --metrics-auth --tls-cert --tls-key --tls-client-ca
        --claim-wakeup --claim-poll-interval --claim-max-waiters --stream-max-clients --stream-interval
        --shutdown-timeout --log-level --log-format --access-log --sweeper
        --sweeper-interval --stale-after --sweeper-batch --instance-heartbeat-interval --scheduler-interval-ms --lease-min --lease-max
        --lease-default --idempotency-retention --retain-completed --retain-failed --retain-aborted
        --prune-batch --prune-batch-tasks --otlp-endpoint --service-name --tracing-queue-size --ui'
    local global_opts="-h --help -V --version --print-config $value_opts"

    case $prev in
        -c | --config | --tls-cert | --tls-key | --tls-client-ca)
            if [[ -z $value_prefix ]] && declare -F _filedir >/dev/null; then
                _filedir
            else
                compopt -o filenames 2>/dev/null
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                COMPREPLY=("${COMPREPLY[@]/#/$value_prefix}")
            fi
            return
            ;;
        --data-dir | --postgres-bin-dir)
            if [[ -z $value_prefix ]] && declare -F _filedir >/dev/null; then
                _filedir -d
            else
                compopt -o filenames 2>/dev/null
                mapfile -t COMPREPLY < <(compgen -d -- "$cur")
                COMPREPLY=("${COMPREPLY[@]/#/$value_prefix}")
            fi
            return
            ;;
        --log-format)
            _jobnikd_reply 'text json'
            return
            ;;
        --log-level)
            _jobnikd_reply 'trace debug info warn error critical off'
            return
            ;;
        --retain-completed | --retain-failed | --retain-aborted)
            # A duration (90s, 15m, 12h, 30d) or off.
            _jobnikd_reply '1d 7d 30d 90d off'
            return
            ;;
        --access-log | --sweeper | --ui)
            _jobnikd_reply 'true false'
            return
            ;;
        --claim-wakeup)
            _jobnikd_reply 'notify poll'
            return
            ;;
        --auth)
            _jobnikd_reply 'auto required off'
            return
            ;;
        --metrics-auth)
            _jobnikd_reply 'open token'
            return
            ;;
        --role)
            _jobnikd_reply 'admin producer worker reader'
            return
            ;;
        -o | --output)
            _jobnikd_reply 'table json'
            return
            ;;
        --name | --expires)
            COMPREPLY=()
            return
            ;;
        --listen | --database-url | --database-schema | --pool-size | --batch-max | --batches-in-flight | --http-threads | \
            --max-connections | --shed-idle-above | --header-timeout | \
            --body-limit | --keep-alive-timeout | --shutdown-timeout | --sweeper-interval | --instance-heartbeat-interval | \
            --stale-after | --sweeper-batch | --scheduler-interval-ms | --otlp-endpoint | --service-name | \
            --tracing-queue-size | --allowed-hosts | --allowed-origins | --claim-poll-interval | \
            --claim-max-waiters | --stream-max-clients | --stream-interval | --lease-min | --lease-max | --lease-default | --idempotency-retention | \
            --prune-batch | --prune-batch-tasks)
            # A free-form value: nothing to offer.
            COMPREPLY=()
            return
            ;;
        -h | --help | -V | --version)
            COMPREPLY=()
            return
            ;;
    esac

    # The command given so far, skipping the values of options.
    local i word command='' subcommand=''
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        case $word in
            serve | migrate | sweep | prune | token)
                if [[ -z $command ]]; then
                    command=$word
                    [[ $word == token ]] || break
                fi
                ;;
            create | list | revoke)
                [[ $command == token ]] && subcommand=$word
                ;;
            --name | --role | --expires | -o | --output)
                ((i++))
                ;;
            --*=*) ;;
            -*)
                if [[ " ${value_opts//[[:space:]]/ } " == *" $word "* ]]; then
                    # Skip the value, also when written as "--option" "=" "value".
                    ((i++))
                    [[ ${COMP_WORDS[i]-} == = ]] && ((i++))
                fi
                ;;
        esac
    done

    if [[ $cur == -* ]]; then
        local opts=$global_opts
        case $command in
            serve) opts+=' --migrate' ;;
            sweep | prune) opts+=' --once' ;;
            token)
                case $subcommand in
                    create) opts+=' --name --role --expires' ;;
                    list) opts+=' --all -o --output' ;;
                esac
                ;;
        esac
        _jobnikd_reply "$opts"
    elif [[ -z $command ]]; then
        _jobnikd_reply 'serve migrate sweep prune token'
    elif [[ $command == token && -z $subcommand ]]; then
        _jobnikd_reply 'create list revoke'
    else
        COMPREPLY=()
    fi
} &&
    complete -F _jobnikd jobnikd
