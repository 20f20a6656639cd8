# Sourced by the clickhouse-server image's entrypoint when the data volume is
# first initialised (docker-entrypoint-initdb.d; the server listens on
# 127.0.0.1 only meanwhile). It creates one account per role from the
# passwords docker-compose.yml mounts as secrets, stored as SHA-256 hashes:
#
#   ioc_pipeline    stream: read and insert the data database ioc; nothing
#                   of ioc_security, no DDL
#   ioc_dashboard   the wall: read ioc; read and insert ioc_security (sign-in,
#                   accounts and kiosk tokens of the admin pages, audit log)
#   ioc_analyst     analysts: read ioc only, read-only settings
#
# The administrative account (CLICKHOUSE_USER, ioc_admin, access management)
# is the image's own and belongs to the migrate service alone. Grants on the
# databases before they exist are allowed; the migration creates them.
ioc_account() { # name secret-file
    local name=$1 file=$2 pw
    [[ -r $file ]] || { echo "ioc accounts: $file is missing (deploy/docker/make-secrets.sh)" >&2; exit 1; }
    pw="$(<"$file")"
    [[ ${#pw} -ge 12 ]] || { echo "ioc accounts: $file holds a password shorter than 12 characters" >&2; exit 1; }
    printf "CREATE USER IF NOT EXISTS %s IDENTIFIED WITH sha256_hash BY '%s';\n" \
        "$name" "$(printf '%s' "$pw" | sha256sum | cut -d' ' -f1)"
}
{
    ioc_account ioc_pipeline /run/secrets/clickhouse-pipeline-password
    ioc_account ioc_dashboard /run/secrets/clickhouse-dashboard-password
    ioc_account ioc_analyst /run/secrets/clickhouse-analyst-password
    cat <<'SQL'
GRANT SELECT, INSERT ON ioc.* TO ioc_pipeline;
GRANT SELECT ON ioc.* TO ioc_dashboard;
GRANT SELECT, INSERT ON ioc_security.* TO ioc_dashboard;
GRANT SELECT ON ioc.* TO ioc_analyst;
ALTER USER ioc_analyst SETTINGS readonly = 1;
SQL
} | "${clickhouseclient[@]}"
echo "ioc accounts: ioc_pipeline, ioc_dashboard, ioc_analyst created"
