#!/usr/bin/env bash
# deploy/docker/make-secrets.sh DIR
#
# Makes the secret files docker-compose.yml mounts (compose `secrets:`), one
# per account and key, each a random value, in DIR (outside the repository,
# or under the git-ignored .local/). Then: IOC_SECRETS_DIR=DIR in .env.
#
#   clickhouse-admin-password       ioc_admin: the migrate service only (schema, grants, accounts)
#   clickhouse-pipeline-password    ioc_pipeline: stream (the data database ioc)
#   clickhouse-dashboard-password   ioc_dashboard: the wall (reads ioc; signs in, audit in ioc_security)
#   clickhouse-analyst-password     ioc_analyst: analysts (reads ioc only)
#   clickhouse-notify-password      ioc_notify: the notifier (ioc.notification_log, reads alert_events_raw)
#   mqtt-ingest-password            ingest's MQTT account ioc-ingest
#   session-key                     the key that signs the wall's session cookies
#
# An existing file is kept (delete it to rotate, then restart the services
# that use it: the clickhouse service sets the accounts' passwords from these
# files at every start). DIR is made mode 700; the
# files are 644 so that the containers' non-root users can read them (Compose
# bind-mounts each file; nobody else on the host can reach it through DIR).
# For the partner broker (deploy/mosquitto/compose.partners.yml), give
# deploy/mosquitto/make-passwords.sh the same ingest password:
#   cp DIR/mqtt-ingest-password MQTT_DIR/ioc-ingest.password before running it.
set -euo pipefail
dir="${1:?usage: make-secrets.sh DIR}"
mkdir -p "$dir"
chmod 700 "$dir"
for name in clickhouse-admin-password clickhouse-pipeline-password clickhouse-dashboard-password \
    clickhouse-analyst-password clickhouse-notify-password mqtt-ingest-password session-key; do
    f="$dir/$name"
    if [[ ! -s $f ]]; then
        if [[ $name == session-key ]]; then
            head -c 48 /dev/urandom | base64 | tr -d '\n' >"$f"
        else
            head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$f"
        fi
    fi
    chmod 644 "$f"
done
echo "secrets in $dir; set IOC_SECRETS_DIR=$dir in .env (next to docker-compose.yml)"
