# bash completion for tlspipe(1)
# Installed as share/bash-completion/completions/tlspipe. Works with or
# without the bash-completion package: it reads COMP_WORDS itself.

_tlspipe()
{
	local cur prev i opt prefix=
	local -a args

	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}

	# bash splits "--io=bio" at "=" (COMP_WORDBREAKS): put the pieces back
	if [[ $cur == = ]]; then
		cur=
	elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	elif [[ $cur == --*=* ]]; then
		# no split (COMP_WORDBREAKS without "="): complete after the "="
		prev=${cur%%=*}
		prefix=$prev=
		cur=${cur#*=}
	fi

	case $prev in
	--io)
		COMPREPLY=($(compgen -W 'socket bio-pair' -- "$cur")) ;;
	--min-tls | --max-tls)
		COMPREPLY=($(compgen -W '1.0 1.1 1.2 1.3' -- "$cur")) ;;
	--on-eof)
		COMPREPLY=($(compgen -W 'auto notify wait exit' -- "$cur")) ;;
	--cafile | --cert | --key | --keylog)
		compopt -o filenames 2>/dev/null || :
		COMPREPLY=($(compgen -f -- "$cur")) ;;
	--stats)
		# a file, or - for stderr
		compopt -o filenames 2>/dev/null || :
		COMPREPLY=($(compgen -f -- "$cur"))
		[[ -z $cur ]] && COMPREPLY+=(-) ;;
	--capath)
		compopt -o filenames 2>/dev/null || :
		COMPREPLY=($(compgen -d -- "$cur")) ;;
	--key-pass)
		compopt -o nospace 2>/dev/null || :
		COMPREPLY=($(compgen -W 'pass: env: file: fd:' -- "$cur")) ;;
	--pin)
		compopt -o nospace 2>/dev/null || :
		COMPREPLY=($(compgen -W 'sha256//' -- "$cur")) ;;
	--ciphersuites)
		COMPREPLY=($(compgen -W 'TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256
			TLS_AES_128_GCM_SHA256 TLS_AES_128_CCM_SHA256 TLS_AES_128_CCM_8_SHA256' -- "$cur")) ;;
	-s | --write-size | -w | --timeout | --idle-timeout | --eof-grace | --servername | --ciphers | \
	--alpn | --key-update-every | --renegotiate-every)
		;;	# free text: nothing to offer
	*)
		prefix=
		case $cur in
		-*)
			COMPREPLY=($(compgen -W '-b --blocking -P --partial-write
				--auto-retry -R --no-auto-retry --io= -s --write-size=
				--cafile= --capath= --servername= -k --insecure --pin=
				--cert= --key= --key-pass= --allow-expired --verify-client
				--min-tls= --max-tls= --ciphers= --ciphersuites= --alpn= --no-sandbox
				--key-update-every= --renegotiate-every=
				--allow-client-renegotiation --no-renegotiation
				-l --listen -4 -6 --on-eof= --eof-grace= --send-only --recv-only --crlf
				-w --timeout= --idle-timeout= -v --verbose --trace
				--stats= --progress --keylog= -h --help
				-V --version' -- "$cur"))
			[[ ${COMPREPLY[*]} == *= ]] && { compopt -o nospace 2>/dev/null || :; }
			;;
		*)
			# the first operand is a host name (or, with -l, an address)
			args=()
			for ((i = 1; i < COMP_CWORD; i++)); do
				opt=${COMP_WORDS[i]}
				case $opt in
				=)	# "--opt" "=" "value": skip the value
					i=$((i + 1)) ;;
				-s | -w | --io | --write-size | --cafile | --capath | --servername | \
				--pin | --cert | --key | --key-pass | --min-tls | --max-tls | --ciphers | \
				--ciphersuites | --alpn | --key-update-every | --renegotiate-every | \
				--on-eof | --eof-grace | --timeout | --idle-timeout | --stats | --keylog)
					[[ ${COMP_WORDS[i + 1]-} == = ]] || i=$((i + 1)) ;;
				-*) ;;
				*) args+=("$opt") ;;
				esac
			done
			# /etc/hosts may name a host twice (localhost on 127.0.0.1 and ::1)
			((${#args[@]} == 0)) && COMPREPLY=($(compgen -A hostname -- "$cur" | sort -u))
			;;
		esac
		return 0
		;;
	esac
	if [[ -n $prefix ]]; then
		for i in "${!COMPREPLY[@]}"; do
			COMPREPLY[i]=$prefix${COMPREPLY[i]}
		done
	fi
	return 0
}
complete -F _tlspipe tlspipe
