# Sourced by the clickhouse-server image's entrypoint before the server
# starts for good (docker-entrypoint-initdb.d; meanwhile the server listens on
# 127.0.0.1 only). docker-compose.yml sets CLICKHOUSE_ALWAYS_RUN_INITDB_SCRIPTS,
# so this runs at every start: the accounts always exist and always have the
# passwords of the secret files (edit a file and restart clickhouse to rotate
# it). One account per role, passwords stored as SHA-256 hashes:
#
#   ioc_pipeline    stream: read and insert the data database ioc; nothing
#                   of ioc_security, no DDL
#   ioc_dashboard   the wall: read ioc; read and insert ioc_security (sign-in,
#                   accounts and kiosk tokens of the admin pages, audit log)
#   ioc_analyst     analysts: read ioc only, read-only settings
#   ioc_notify      the notifier: read and append ioc.notification_log, read
#                   ioc.alert_events_raw; nothing else
#
# The administrative account (CLICKHOUSE_USER, ioc_admin, access management)
# is the image's own and belongs to the migrate service alone. Grants on the
# databases before they exist are allowed; the migration creates them.
# Every file is checked before anything is sent: a missing or short password
# stops the container with the reason, having changed nothing.
ioc_secrets="${IOC_ACCOUNTS_SECRETS:-/run/secrets}" # (a test points it elsewhere)
ioc_sql=""
for ioc_acct in ioc_pipeline:clickhouse-pipeline-password ioc_dashboard:clickhouse-dashboard-password \
    ioc_analyst:clickhouse-analyst-password ioc_notify:clickhouse-notify-password; do
    ioc_name="${ioc_acct%%:*}" ioc_file="$ioc_secrets/${ioc_acct#*:}"
    if [[ ! -r $ioc_file ]]; then
        echo "ioc accounts: $ioc_file is missing (deploy/docker/make-secrets.sh)" >&2
        exit 1
    fi
    ioc_pw="$(<"$ioc_file")"
    if [[ ${#ioc_pw} -lt 12 ]]; then
        echo "ioc accounts: $ioc_file holds a password shorter than 12 characters" >&2
        exit 1
    fi
    ioc_hash="$(printf '%s' "$ioc_pw" | sha256sum | cut -d' ' -f1)"
    ioc_sql+="CREATE USER IF NOT EXISTS $ioc_name IDENTIFIED WITH sha256_hash BY '$ioc_hash';
ALTER USER $ioc_name IDENTIFIED WITH sha256_hash BY '$ioc_hash';
"
done
unset ioc_pw ioc_hash
ioc_sql+="GRANT SELECT, INSERT ON ioc.* TO ioc_pipeline;
GRANT SELECT ON ioc.* TO ioc_dashboard;
GRANT SELECT, INSERT ON ioc_security.* TO ioc_dashboard;
GRANT SELECT ON ioc.* TO ioc_analyst;
GRANT SELECT, INSERT ON ioc.notification_log TO ioc_notify;
GRANT SELECT ON ioc.alert_events_raw TO ioc_notify;
ALTER USER ioc_analyst SETTINGS readonly = 1;
"
"${clickhouseclient[@]}" <<<"$ioc_sql"
unset ioc_sql
echo "ioc accounts: ioc_pipeline, ioc_dashboard, ioc_analyst, ioc_notify up to date"
