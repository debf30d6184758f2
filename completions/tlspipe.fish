# fish completion for tlspipe(1); installed as
# share/fish/vendor_completions.d/tlspipe.fish

complete -c tlspipe -f

# write modes
complete -c tlspipe -s b -l blocking -d 'SSL_write on a blocking socket'
complete -c tlspipe -s P -l partial-write -d 'SSL_MODE_ENABLE_PARTIAL_WRITE: one record per call'
complete -c tlspipe -l auto-retry -d 'Set SSL_MODE_AUTO_RETRY (the default)'
complete -c tlspipe -s R -l no-auto-retry -d 'Clear SSL_MODE_AUTO_RETRY'
complete -c tlspipe -l io -x -a 'socket bio-pair' -d 'OpenSSL talks to the socket, or to a BIO pair'
complete -c tlspipe -s s -l write-size -x -d 'At most N bytes per SSL_write (1..1048576)'

# security
complete -c tlspipe -l cafile -r -F -d 'Trust these CAs instead of the system store'
complete -c tlspipe -l capath -x -a '(__fish_complete_directories)' -d 'Trust a hashed CA directory'
complete -c tlspipe -l servername -x -a '(__fish_print_hostnames)' -d 'SNI and the name to verify'
complete -c tlspipe -s k -l insecure -d 'Do not verify the server (warns)'
complete -c tlspipe -l pin -x -a 'sha256//' -d 'Accept the server by its public key (repeatable)'
complete -c tlspipe -l cert -r -F -d 'Certificate chain (PEM)'
complete -c tlspipe -l key -r -F -d 'Its private key (default: in --cert)'
complete -c tlspipe -l key-pass -x -a 'pass: env: file: fd:' -d 'Passphrase from pass:, env:VAR, file:PATH or fd:N'
complete -c tlspipe -l allow-expired -d 'Use an expired --cert anyway'
complete -c tlspipe -l verify-client -d 'Server: require a client certificate (--cafile)'
complete -c tlspipe -l min-tls -x -a '1.0 1.1 1.2 1.3' -d 'Lowest TLS version (default 1.2)'
complete -c tlspipe -l max-tls -x -a '1.0 1.1 1.2 1.3' -d 'Highest TLS version'
complete -c tlspipe -l ciphers -x -d 'TLS 1.2 cipher list'
complete -c tlspipe -l ciphersuites -x -a 'TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256 TLS_AES_128_GCM_SHA256 TLS_AES_128_CCM_SHA256 TLS_AES_128_CCM_8_SHA256' -d 'TLS 1.3 cipher suites'
complete -c tlspipe -l alpn -x -d 'Comma-separated protocols to offer (or accept)'

# rekeying (SIGUSR1: one now)
complete -c tlspipe -l key-update-every -x -d 'TLS 1.3 key update after every BYTES moved'
complete -c tlspipe -l renegotiate-every -x -d 'TLS 1.2 renegotiation after every BYTES'
complete -c tlspipe -l allow-client-renegotiation -d "Server: accept a client's renegotiation"
complete -c tlspipe -l no-renegotiation -d 'Refuse renegotiation in either role'

# data and connection
complete -c tlspipe -s l -l listen -d 'Server: accept one connection'
complete -c tlspipe -s 4 -d 'IPv4 only'
complete -c tlspipe -s 6 -d 'IPv6 only'
complete -c tlspipe -l on-eof -x -a 'auto\t"close_notify once the peer is quiet (client default)" notify\t"close_notify at once and read on" wait\t"never send it first (server default)" exit\t"close_notify at once and exit"' -d 'What to do at stdin EOF'
complete -c tlspipe -l eof-grace -x -d "auto: the peer's quiet time before our close_notify (default 1 s)"
complete -c tlspipe -l send-only -d 'Discard what the peer sends'
complete -c tlspipe -l recv-only -d 'Do not read stdin'
complete -c tlspipe -l crlf -d 'Send a lone LF as CRLF'
complete -c tlspipe -s w -l timeout -x -d 'Lookup + connect + handshake limit in seconds (0 = none)'
complete -c tlspipe -l idle-timeout -x -d 'Give up after SECS without data (0 = off)'

# diagnostics (stderr)
complete -c tlspipe -s v -l verbose -d 'Connection summary on stderr'
complete -c tlspipe -l trace -d 'Every TLS call, its result, and TLS events'
complete -c tlspipe -l stats -r -F -a '-' -d 'JSON counters at exit (- = stderr)'
complete -c tlspipe -l progress -d 'A progress line when stderr is a terminal'
complete -c tlspipe -l keylog -r -F -d 'NSS key log for Wireshark'
complete -c tlspipe -l no-sandbox -d 'Stay unconfined after the handshake'
complete -c tlspipe -s h -l help -d 'Show the options'
complete -c tlspipe -s V -l version -d 'Show tlspipe and OpenSSL versions'

# operands: a host (or, with -l, an address), then a port
function __tlspipe_no_operand_yet
    set -l skip 0
    for w in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case -s -w --io --write-size --cafile --capath --servername --pin --cert --key \
                --key-pass --min-tls --max-tls --ciphers --ciphersuites --alpn \
                --key-update-every --renegotiate-every --on-eof --eof-grace --timeout \
                --idle-timeout --stats --keylog
                set skip 1
            case '-*'
            case '*'
                return 1
        end
    end
    return 0
end
complete -c tlspipe -n __tlspipe_no_operand_yet -a '(__fish_print_hostnames)' -d Host
