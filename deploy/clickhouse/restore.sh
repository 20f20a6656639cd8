#!/usr/bin/env bash
#
# deploy/clickhouse/restore.sh — load a backup made by backup.sh into a
# database (the original one after a loss, or a fresh one to inspect it).
#
#   deploy/clickhouse/restore.sh BACKUPDIR [TARGET_DATABASE]
#
# TARGET_DATABASE defaults to the database the backup was taken from. The
# schema comes from the ioc binary, not from the backup: restore.sh first
# runs `ioc migrate` on the target (IOC_BIN, default `ioc` on PATH; set
# IOC_CONFIG for the other settings), which creates every table and view of
# the current release; the backed-up rows are then inserted by column name,
# so a backup of an older schema loads into a newer one. schema_migrations
# is not restored (migrate wrote it). Every raw table of the target must be
# empty: the script refuses to double rows.
#
# Connection: the same IOC_CLICKHOUSE_* variables as backup.sh.
set -euo pipefail

in="${1:?usage: restore.sh BACKUPDIR [TARGET_DATABASE]}"
[[ -f $in/MANIFEST ]] || { echo "restore.sh: $in/MANIFEST missing: not a backup.sh directory" >&2; exit 2; }
src_db="$(sed -n 's/^database=//p' "$in/MANIFEST")"
db="${2:-$src_db}"
[[ $db =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { echo "restore.sh: database name '$db' is not a plain identifier" >&2; exit 2; }
# shellcheck source=client.sh
source "$(dirname "${BASH_SOURCE[0]}")/client.sh"

echo "restore.sh: creating the schema of database $db (ioc migrate)"
IOC_CLICKHOUSE_DATABASE="$db" "${IOC_BIN:-ioc}" migrate

tables=()
while read -r line; do
    tables+=("${line#table=}")
done < <(grep '^table=' "$in/MANIFEST" | sed 's/ rows=.*//')

for t in "${tables[@]}"; do
    [[ $t == schema_migrations ]] && continue
    exists="$(q "SELECT count() FROM system.tables WHERE database = '$db' AND name = '$t'")"
    if [[ $exists != 1 ]]; then
        echo "restore.sh: $db.$t does not exist in this release's schema: its backup ($in/$t.native.gz) is left out" >&2
        continue
    fi
    n="$(q "SELECT count() FROM $db.$t")"
    [[ $n == 0 ]] || { echo "restore.sh: $db.$t already holds $n rows; restore into an empty database" >&2; exit 1; }
done

status=0
for t in "${tables[@]}"; do
    [[ $t == schema_migrations ]] && continue
    [[ "$(q "SELECT count() FROM system.tables WHERE database = '$db' AND name = '$t'")" == 1 ]] || continue
    cols="$(<"$in/$t.columns")"
    # An empty table has an empty dump, which ClickHouse refuses as "No data to insert".
    [[ "$(<"$in/$t.count")" == 0 ]] && continue
    gzip -dc "$in/$t.native.gz" | q "INSERT INTO $db.$t ($cols) FORMAT Native"
    want="$(<"$in/$t.count")"
    got="$(q "SELECT count() FROM $db.$t")"
    if [[ $got != "$want" ]]; then
        echo "restore.sh: $db.$t: $got rows after the restore, the backup holds $want" >&2
        status=1
    else
        echo "restore.sh: $db.$t: $got rows"
    fi
done
exit "$status"
