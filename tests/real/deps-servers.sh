#!/bin/sh
# deps-servers.sh: install the real servers that tests/85-real-servers.bats
# and `make check-real` run (and iproute2, the ip(8) of `make netcheck`),
# each server from a config of its own in a temp folder,
# WITHOUT starting or enabling their system services: a temporary policy-rc.d
# that says no (101) during the install (any previous one is put back), then
# `systemctl disable --now` (or update-rc.d disable) for the services this run
# installed, and a stop of any daemon a postinst started anyway. Never installs
# an MTA (postfix, exim4, opensmtpd...) nor anything that removes a package.
# Quiet and quick when all is there; apt-get update only when something is missing.
set -eu

# PKG or PKG|ALT...: one of them installed is enough; the first is installed
PKGS="nginx|nginx-light|nginx-core|nginx-full|nginx-extras dovecot-imapd dovecot-pop3d
	python3-aiosmtpd python3 openssl socat gnutls-bin util-linux iproute2"

installed() {
	dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed'
}

missing=
for spec in $PKGS; do
	ok=
	for p in $(echo "$spec" | tr '|' ' '); do
		if installed "$p"; then ok=1; break; fi
	done
	[ -n "$ok" ] || missing="$missing ${spec%%|*}"
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps-servers: missing:$missing; run sudo make deps-servers" >&2
	exit 1
fi
echo "installing:$missing"

# the system services the packages bring, for those this run installs
svcs=
case " $missing " in *" nginx "*) svcs="$svcs nginx" ;; esac
case " $missing " in *" dovecot-"*) installed dovecot-core || svcs="$svcs dovecot" ;; esac

apt-get update -qq
# shellcheck disable=SC2086 # word splitting wanted
sim=$(apt-get -s install --no-install-recommends $missing)
mta=$(echo "$sim" | sed -n 's/^Inst \(postfix\|exim4[^ ]*\|opensmtpd\|sendmail[^ ]*\|nullmailer\|msmtp-mta\|dma\|courier-mta\|citadel-mta\|masqmail\|esmtp-run\) .*/\1/p')
if [ -n "$mta" ]; then
	echo "deps-servers: refusing: this would install a mail transport agent: $(echo "$mta" | paste -sd' ')" >&2
	exit 1
fi
if echo "$sim" | grep -q '^Remv '; then
	echo "deps-servers: refusing: this would remove:" >&2
	echo "$sim" | sed -n 's/^Remv \([^ ]*\) .*/  \1/p' >&2
	exit 1
fi

# no service starts during the install
policy=/usr/sbin/policy-rc.d
saved=
restore() {
	rm -f "$policy"
	if [ -n "$saved" ]; then mv -f "$saved" "$policy"; fi
}
if [ -e "$policy" ] || [ -L "$policy" ]; then
	saved=$(mktemp "$policy.tlspipe-saved.XXXXXX")
	mv -f "$policy" "$saved"
fi
trap restore EXIT
trap 'exit 1' INT TERM HUP
printf '#!/bin/sh\n# tlspipe make deps-servers: no service starts during this install\nexit 101\n' >"$policy"
chmod 755 "$policy"

log=$(mktemp)
# shellcheck disable=SC2086
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >"$log" 2>&1; then
	cat "$log" >&2
	rm -f "$log"
	exit 1
fi
rm -f "$log"

# not enabled, and not running even if a postinst started it anyway
for s in $svcs; do
	if [ -d /run/systemd/system ]; then
		systemctl disable --now "$s" >/dev/null 2>&1 || true
	elif [ -x "/etc/init.d/$s" ]; then
		update-rc.d "$s" disable >/dev/null 2>&1 || true
	fi
	case $s in
	nginx) pidfile=/run/nginx.pid exe=/usr/sbin/nginx ;;
	dovecot) pidfile=/run/dovecot/master.pid exe=/usr/sbin/dovecot ;;
	esac
	if [ -s "$pidfile" ]; then
		start-stop-daemon --stop --quiet --retry=TERM/5/KILL/2 --pidfile "$pidfile" --exec "$exe" || true
	fi
done
