#!/bin/bash
# mkcerts.sh DIR: make the test PKI for tlspipe's tests (EC P-256, no prompts).
#
#   ca.pem/.key            test CA
#   server.pem/.key        leaf from the CA: CN=localhost, SAN localhost, 127.0.0.1, ::1; 10 days
#   wrongname.pem/.key     leaf from the CA for wrong.example only
#   expired.pem/.key       leaf from the CA for localhost/127.0.0.1, expired in 2020
#   selfsigned.pem/.key    self-signed localhost/127.0.0.1 (untrusted)
#   client.pem/.key        client cert from the CA, CN=tlspipe-test-client
#   other-ca.pem/.key      a second, unrelated CA
#   client-other.pem/.key  client cert from the other CA
#   enc.key                server.key as PKCS#8, AES-256, passphrase "sekrit"
#   enc-legacy.key         server.key as a legacy encrypted PEM (Proc-Type), AES-256, "sekrit"
#   intermediate.pem/.key  intermediate CA from the CA
#   inter-server.pem/.key  leaf from the intermediate, the names of server.pem (no chain in
#                          the file: a test appends intermediate.pem to serve leaf + intermediate)
#   inter-client.pem/.key  client cert from the intermediate, CN=tlspipe-test-inter-client
#   forged.pem/.key        a forgery of inter-server.pem: its issuer name and key id are the
#                          intermediate's, but another key signed it
#   openssl.cnf            the config these were made with, for tests that make certificates
#                          of their own (46-hostile): -extensions ca_ext, server_ext, ...; it
#                          ends with [ server_names ], server_ext's names, so a copy with more
#                          DNS.N lines appended makes a leaf for more names
#
# Idempotent: once DIR/.complete holds this script's hash the script does
# nothing; a changed script makes the set again, so new files appear in a
# DIR kept from an older one. Concurrent runs on the same DIR are serialised
# with flock. Quiet unless something fails.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
mkdir -p "$dir"
stamp=$(sha256sum "$0" | cut -d' ' -f1)
made() { [ -f "$dir/ca.pem" ] && [ "$(cat "$dir/.complete" 2>/dev/null)" = "$stamp" ]; }
made && exit 0

# Serialise parallel test jobs; a second job waits, then sees .complete.
exec 9>"$dir/.lock"
flock 9
made && exit 0

# Work in a scratch dir and move the results in at the end, so DIR never
# holds a half-made set (e.g. a server.pem from one CA next to another ca.pem).
work=$(mktemp -d "$dir/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$work/log

# Run a command silently; on failure show its output and stop.
run() {
    if ! "$@" >"$log" 2>&1; then
        echo "mkcerts.sh: failed: $*" >&2
        cat "$log" >&2
        exit 1
    fi
}

# One config for everything: no system openssl.cnf defaults leak in. Its
# sections of extensions become DIR/openssl.cnf; "openssl ca" and the forger
# use a copy with sections of their own (paths in $work) appended.
shared=$work/openssl.cnf
cat >"$shared" <<EOF
[ req ]
distinguished_name = dn
prompt             = no
[ dn ]
CN = unused

[ ca_ext ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ server_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = @server_names
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ wrongname_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:wrong.example
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ inter_ext ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ selfsigned_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash

[ client_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

# last: a test appends DNS.N lines to a copy
[ server_names ]
DNS.1 = localhost
IP.1  = 127.0.0.1
IP.2  = ::1
EOF
cnf=$work/all.cnf
cp "$shared" "$cnf"
cat >>"$cnf" <<EOF

# "openssl ca" is the only 3.0 tool that takes a notBefore in the past.
[ ca ]
default_ca = expired_ca
[ expired_ca ]
database         = $work/index.txt
new_certs_dir    = $work
certificate      = $work/ca.pem
private_key      = $work/ca.key
rand_serial      = yes
default_md       = sha256
policy           = any_policy
unique_subject   = no
email_in_dn      = no
x509_extensions  = expired_ext
[ any_policy ]
commonName = supplied
[ expired_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
EOF
: >"$work/index.txt"

key() { run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$1.key"; }

# ca NAME CN: a self-signed CA.
ca() {
    key "$1"
    run openssl req -config "$cnf" -new -x509 -key "$work/$1.key" -subj "/CN=$2" \
        -days 3650 -sha256 -extensions ca_ext -out "$work/$1.pem"
}

# leaf NAME CN EXT DAYS [CA]: a key and a certificate signed by CA (default ca).
leaf() {
    key "$1"
    run openssl req -config "$cnf" -new -key "$work/$1.key" -subj "/CN=$2" \
        -CA "$work/${5:-ca}.pem" -CAkey "$work/${5:-ca}.key" \
        -days "$4" -sha256 -extensions "$3" -out "$work/$1.pem"
}

ca ca "tlspipe test CA"
ca other-ca "tlspipe other test CA"
leaf server localhost server_ext 10
leaf wrongname wrong.example wrongname_ext 10
leaf client tlspipe-test-client client_ext 10
leaf client-other tlspipe-test-client client_ext 10 other-ca

# An intermediate CA (a CA signed by the CA) and leaves under it.
key intermediate
run openssl req -config "$cnf" -new -key "$work/intermediate.key" -subj "/CN=tlspipe test intermediate CA" \
    -CA "$work/ca.pem" -CAkey "$work/ca.key" -days 3650 -sha256 -extensions inter_ext -out "$work/intermediate.pem"
leaf inter-server localhost server_ext 10 intermediate
leaf inter-client tlspipe-test-inter-client client_ext 10 intermediate

# The forgery: a CA of the forger's own that copies the intermediate's name
# and subject key id, so the leaf it signs names the intermediate as issuer
# in every field; only the signature gives it away.
skid=$(openssl x509 -in "$work/intermediate.pem" -noout -ext subjectKeyIdentifier | sed -n 's/^ *\([0-9A-F:]*\)$/\1/p')
[ -n "$skid" ] || { echo "mkcerts.sh: no subject key id in intermediate.pem" >&2; exit 1; }
cat >>"$cnf" <<EOF

[ forger_ext ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = $skid
EOF
key forger
run openssl req -config "$cnf" -new -x509 -key "$work/forger.key" -subj "/CN=tlspipe test intermediate CA" \
    -days 3650 -sha256 -extensions forger_ext -out "$work/forger.pem"
leaf forged localhost server_ext 10 forger

key selfsigned
run openssl req -config "$cnf" -new -x509 -key "$work/selfsigned.key" -subj /CN=localhost \
    -days 10 -sha256 -extensions selfsigned_ext -out "$work/selfsigned.pem"

key expired
run openssl req -config "$cnf" -new -key "$work/expired.key" -subj /CN=localhost -out "$work/expired.csr"
run openssl ca -config "$cnf" -batch -notext -startdate 20200101000000Z -enddate 20200201000000Z \
    -in "$work/expired.csr" -out "$work/expired.pem"

run openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$work/server.key" -passout pass:sekrit -out "$work/enc.key"
run openssl pkey -traditional -aes256 -in "$work/server.key" -passout pass:sekrit -out "$work/enc-legacy.key"

for f in ca other-ca server wrongname expired selfsigned client client-other \
    intermediate inter-server inter-client forged; do
    mv -f "$work/$f.pem" "$work/$f.key" "$dir/"
done
mv -f "$work/enc.key" "$work/enc-legacy.key" "$shared" "$dir/"
echo "$stamp" >"$dir/.complete"
