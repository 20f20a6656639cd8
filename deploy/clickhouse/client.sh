# shellcheck shell=bash
# deploy/clickhouse/client.sh — sourced by backup.sh and restore.sh: the
# clickhouse-client command line for IOC_CLICKHOUSE_ADDR (first address),
# IOC_CLICKHOUSE_USER and the password, and q() to run one query.
#
# The password never goes on a command line, where `ps` and /proc/PID/cmdline
# show it to every user of the host: it is read from IOC_CLICKHOUSE_PASSWORD_FILE
# (or IOC_CLICKHOUSE_PASSWORD) into a client configuration file that only this
# user can read, removed when the script ends.
addr="${IOC_CLICKHOUSE_ADDR:-127.0.0.1:9000}"
addr="${addr%%,*}"
password=""
if [[ -n ${IOC_CLICKHOUSE_PASSWORD_FILE:-} ]]; then
    password="$(<"$IOC_CLICKHOUSE_PASSWORD_FILE")"
elif [[ -n ${IOC_CLICKHOUSE_PASSWORD:-} ]]; then
    password="$IOC_CLICKHOUSE_PASSWORD"
fi
client_dir="$(mktemp -d)"
trap 'rm -rf "$client_dir"' EXIT
password="${password//&/&amp;}"; password="${password//</&lt;}"; password="${password//>/&gt;}"
( umask 077; printf '<config>\n    <password>%s</password>\n</config>\n' "$password" >"$client_dir/client.xml" )
unset password
client=("${CLICKHOUSE_CLIENT:-clickhouse-client}" --config-file "$client_dir/client.xml" --host "${addr%:*}" --port "${addr##*:}" --user "${IOC_CLICKHOUSE_USER:-default}")

q() { "${client[@]}" --query "$1"; }
