#!/usr/bin/env bash
# deploy/mosquitto/make-passwords.sh DIR [USER...]
#
# Makes the broker's password files (mosquitto_passwd's hashed format):
#   DIR/passwd         the partners' accounts (listener 8883, where the client id is the account name)
#   DIR/passwd-intake  the ingest accounts, ioc-ingest* (listener 1883 only)
# and keeps each account's password in DIR/<user>.password (mode 600) to hand
# over to that partner or to the ingest role (IOC_MQTT_PASSWORD). Nothing here
# is ever committed: DIR lives outside the repository or under the git-ignored
# .local/.
#
#   USER defaults to: ioc-ingest viettel vnpt   (the users of deploy/mosquitto/acl)
#   Names starting with "ioc-" are the pipeline's own: only ioc-ingest* is
#   made, into passwd-intake, so no partner account can carry ingest's name
#   (its client id on 8883) or sign in on the intake listener.
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
partners="$(mktemp "$dir/.passwd.XXXXXX")"
intake="$(mktemp "$dir/.passwd-intake.XXXXXX")"
trap 'rm -f "$partners" "$intake"' EXIT
for u in "${users[@]}"; do
    [[ $u =~ ^[A-Za-z0-9._-]+$ ]] || { echo "bad user name: $u" >&2; exit 1; }
    out="$partners"
    if [[ ${u,,} == ioc-ingest* ]]; then
        out="$intake"
    elif [[ ${u,,} == ioc-* ]]; then
        echo "user name $u: names starting with ioc- are reserved for the pipeline (only ioc-ingest* accounts exist)" >&2
        exit 1
    fi
    f="$dir/$u.password"
    [[ -s $f ]] || head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$f"
    printf '%s:%s\n' "$u" "$(<"$f")" >>"$out"
done
for f in "$partners" "$intake"; do
    [[ -s $f ]] && mosquitto_passwd -U "$f"
done
mv "$partners" "$dir/passwd"
mv "$intake" "$dir/passwd-intake"
trap - EXIT
echo "wrote $dir/passwd and $dir/passwd-intake for: ${users[*]} (passwords in $dir/<user>.password)"
