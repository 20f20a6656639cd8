#!/usr/bin/env bash
# deploy/mosquitto/make-passwords.sh DIR [USER...]
#
# Makes the broker's password file DIR/passwd (mosquitto_passwd's hashed
# format) with one account per partner and one for ingest, and keeps each
# account's password in DIR/<user>.password (mode 600) to hand over to that
# partner or to the ingest role (IOC_MQTT_PASSWORD). Nothing here is ever
# committed: DIR lives outside the repository or under the git-ignored .local/.
#
#   USER defaults to: ioc-ingest viettel vnpt   (the users of deploy/mosquitto/acl)
#   An existing DIR/<user>.password is kept; delete it to rotate that password,
#   then run this again and restart (or SIGHUP) mosquitto.
#
# Passwords never appear on a command line: they are written to a temporary
# plain-text file that `mosquitto_passwd -U` hashes in place.
set -euo pipefail
dir="${1:?usage: make-passwords.sh DIR [USER...]}"
shift
users=("$@")
(( ${#users[@]} > 0 )) || users=(ioc-ingest viettel vnpt)
command -v mosquitto_passwd >/dev/null || { echo "mosquitto_passwd not found (Debian: apt-get install mosquitto)" >&2; exit 1; }
umask 077
mkdir -p "$dir"
tmp="$(mktemp "$dir/.passwd.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
for u in "${users[@]}"; do
    [[ $u =~ ^[A-Za-z0-9._-]+$ ]] || { echo "bad user name: $u" >&2; exit 1; }
    f="$dir/$u.password"
    [[ -s $f ]] || head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$f"
    printf '%s:%s\n' "$u" "$(<"$f")" >>"$tmp"
done
mosquitto_passwd -U "$tmp"
mv "$tmp" "$dir/passwd"
trap - EXIT
echo "wrote $dir/passwd for: ${users[*]} (passwords in $dir/<user>.password)"
