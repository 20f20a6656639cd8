#!/usr/bin/env bash
#
# deploy/clickhouse/backup.sh — logical backup of the pipeline's ClickHouse
# database: every table's rows in ClickHouse's Native format (gzip), with
# the column list, the row count and the CREATE statement of each. Works on
# ClickHouse 18.16 and on current releases, on a running server, from any
# host that reaches its native port. Restore with restore.sh beside it.
#
#   deploy/clickhouse/backup.sh OUTDIR
#
# Connection (the same variables as the ioc binary):
#   IOC_CLICKHOUSE_ADDR       host:port of the native protocol (default 127.0.0.1:9000; the first if a list)
#   IOC_CLICKHOUSE_DATABASE   database (default ioc)
#   IOC_CLICKHOUSE_USER       user (default default)
#   IOC_CLICKHOUSE_PASSWORD_FILE  a file holding the password (read first), or
#   IOC_CLICKHOUSE_PASSWORD   the password (default none); never on the command line
#   CLICKHOUSE_CLIENT         the client program (default clickhouse-client)
#
# Consistency: a table's backup holds the rows inserted up to one second
# before the backup started (inserted_at <= start - 1 s); rows inserted
# later are in the next backup. The views are not dumped (the schema of the
# binary recreates them); in cluster mode, run it against one replica of
# each shard (the Distributed *_all tables are skipped).
# docs/operations.md ("Backups") explains when to use this, FREEZE, or
# BACKUP ... TO Disk on current releases.
set -euo pipefail

out="${1:?usage: backup.sh OUTDIR}"
# shellcheck source=client.sh
source "$(dirname "${BASH_SOURCE[0]}")/client.sh"
db="${IOC_CLICKHOUSE_DATABASE:-ioc}"

[[ $db =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { echo "backup.sh: database name '$db' is not a plain identifier" >&2; exit 2; }
mkdir -p "$out"
[[ -z "$(ls -A "$out")" ]] || { echo "backup.sh: $out is not empty" >&2; exit 2; }

start="$(q "SELECT toString(now() - 1)")"
server="$(q "SELECT version()")"
tables="$(q "SELECT name FROM system.tables WHERE database = '$db' AND (engine LIKE '%MergeTree' OR engine IN ('TinyLog', 'Log', 'StripeLog')) ORDER BY name")"
[[ -n $tables ]] || { echo "backup.sh: no tables in database $db on $addr" >&2; exit 1; }

{
    echo "database=$db"
    echo "server=$server"
    echo "source=$addr"
    echo "taken_until=$start"
} >"$out/MANIFEST"

for t in $tables; do
    cols="$(q "SELECT name FROM system.columns WHERE database = '$db' AND table = '$t' AND default_kind NOT IN ('MATERIALIZED', 'ALIAS')" | paste -sd, -)"
    where=""
    if q "SELECT name FROM system.columns WHERE database = '$db' AND table = '$t' AND name = 'inserted_at'" | grep -q .; then
        where="WHERE inserted_at <= toDateTime('$start')"
    fi
    q "SHOW CREATE TABLE $db.$t" >"$out/$t.sql"
    echo "$cols" >"$out/$t.columns"
    q "SELECT count() FROM $db.$t $where" >"$out/$t.count"
    q "SELECT $cols FROM $db.$t $where FORMAT Native" | gzip -c >"$out/$t.native.gz"
    echo "table=$t rows=$(<"$out/$t.count")" >>"$out/MANIFEST"
    echo "backup.sh: $db.$t: $(<"$out/$t.count") rows"
done
echo "backup.sh: $db on $addr (ClickHouse $server) → $out"
