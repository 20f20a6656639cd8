#!/usr/bin/env bash
#
# deploy/local/services.sh — run the three backing services of the pipeline
# (ClickHouse, Mosquitto, Apache Kafka) on THIS machine, for development, tests and CI.
#
#   * No Docker, no systemd: each service is a plain background process.
#   * Everything listens on loopback only (127.0.0.1).
#   * Everything the services write (data, logs, pid files, generated config) lives
#     under $REPO/.local/ (git-ignored).  Override with IOC_LOCAL_DIR=/some/dir.
#   * Missing software is installed: ClickHouse and Mosquitto from Debian packages
#     (apt-get), Kafka's jars from Maven Central (mvn, see deploy/local/kafka/pom.xml).
#
# Usage:
#   IOC_TOPOLOGY=cluster services.sh ...   the cluster topology instead (deploy/local/cluster.sh)
#   services.sh up      [svc...]   install what is missing, start, wait until each answers
#   services.sh down    [svc...]   stop what WE started (SIGTERM, then SIGKILL after a timeout)
#   services.sh restart [svc...]   down + up
#   services.sh status  [svc...]   show each service's state (exit 1 if one is not running)
#   services.sh env                print `export IOC_...=...` lines:  eval "$(services.sh env)"
#   services.sh start / stop       aliases of up / down
#   services.sh kill    svc...     SIGKILL (crash simulation for fault-injection tests)
#   services.sh pause   svc...     SIGSTOP (freeze: the port stays open but nothing answers)
#   services.sh resume  svc...     SIGCONT
#   services.sh pid     svc        print the pid we recorded (exit 1 if not running)
#   services.sh reset   svc...     stop and DELETE the service's data under .local (asks no questions)
#   services.sh kafka-tool NAME [args...]   run a Kafka CLI class against our broker:
#        NAME = topics | producer | consumer | groups | storage   (e.g. `kafka-tool topics --list`)
#
#   svc = clickhouse | mosquitto | kafka   (aliases: ch, mqtt); no svc = all three.
#
# Ports (all overridable through the environment):
#   IOC_CH_PORT=9000            ClickHouse native protocol (what clickhouse-go uses)
#   IOC_CH_HTTP_PORT=8123       ClickHouse HTTP
#   IOC_MQTT_PORT=1883          Mosquitto MQTT
#   IOC_KAFKA_PORT=9092         Kafka broker (PLAINTEXT)
#   IOC_KAFKA_CONTROLLER_PORT=9093   Kafka KRaft controller
#
# ClickHouse accounts besides the passwordless loopback 'default' (the administrative account that runs
# migrations; no role runs as it), docs/security.md: users.xml also gets ioc_pipeline (stream: insert/select
# in IOC_CH_DATABASE, no DDL, no access to IOC_CH_DATABASE_security), ioc_dashboard (sign-in, accounts,
# kiosk tokens, audit log and reading the data; no DDL), ioc_ingest (the audit log of refused posts only)
# and ioc_analyst (read-only, database IOC_CH_DATABASE only, time/memory limits and an hourly quota);
# their passwords are generated once into
# $IOC_LOCAL_DIR/clickhouse/secrets/<user>.password (mode 600, never in the repository).
# Knobs: IOC_CH_DATABASE (ioc), IOC_CH_ANALYST_QUERIES_PER_HOUR (1000), IOC_CH_ANALYST_MAX_MEMORY (4000000000),
# IOC_CH_ANALYST_MAX_EXECUTION_TIME (60 s), IOC_CH_ANALYST_READ_ROWS_PER_HOUR (20000000000).
#
# Other knobs: IOC_LOCAL_DIR, IOC_STOP_TIMEOUT (s, default 30), IOC_MQTT_MAX_INFLIGHT (default 1000), IOC_MQTT_MAX_QUEUED (default
# 1000000), IOC_MQTT_AUTOSAVE (s, default 10), IOC_KAFKA_HEAP_OPTS (default "-Xms512m -Xmx1g").
#
# Behaviour worth knowing:
#   * `up` is idempotent: a service already running from our pid file is left alone; a port that
#     already answers but was NOT started by us is reported and reused as it is.
#   * `down`/`kill`/`pause` only ever signal the pids recorded in OUR pid files, after checking the
#     process is really ours (its command line mentions our .local folder).  Never anything else.
#   * Data survives `down`/`up`: Kafka's storage is formatted only once (first start), with a
#     cluster id from `kafka-storage random-uuid` saved in .local/kafka/cluster.id; a saved id the
#     tools cannot take (an older script made ids beginning with '-') is replaced, with a line saying so.
#
set -euo pipefail

# ----------------------------------------------------------------------------------------------
# Locations and settings
# ----------------------------------------------------------------------------------------------
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
LOCAL="$(realpath -m "${IOC_LOCAL_DIR:-$REPO/.local}")"
RUN_DIR="$LOCAL/run"            # pid files

HOST=127.0.0.1
CH_PORT="${IOC_CH_PORT:-9000}"
CH_HTTP_PORT="${IOC_CH_HTTP_PORT:-8123}"
MQTT_PORT="${IOC_MQTT_PORT:-1883}"
KAFKA_PORT="${IOC_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${IOC_KAFKA_CONTROLLER_PORT:-9093}"

STOP_TIMEOUT="${IOC_STOP_TIMEOUT:-30}"
MQTT_MAX_QUEUED="${IOC_MQTT_MAX_QUEUED:-1000000}"
MQTT_MAX_INFLIGHT="${IOC_MQTT_MAX_INFLIGHT:-1000}"
MQTT_AUTOSAVE="${IOC_MQTT_AUTOSAVE:-10}"
KAFKA_HEAP_OPTS="${IOC_KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}"

# How long `up` waits for each service to answer (seconds).
CH_START_TIMEOUT=60
MQTT_START_TIMEOUT=30
KAFKA_START_TIMEOUT=120

ALL_SERVICES=(clickhouse mosquitto kafka)   # start order; stop order is the reverse

# ----------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------
say()  { printf '%s\n' "$*"; }
warn() { printf 'services.sh: %s\n' "$*" >&2; }
die()  { warn "$*"; exit 1; }

# Monotonic-enough seconds counter for timeouts.
now() { date +%s; }

# Is something accepting TCP connections on 127.0.0.1:$1 ?  (bash's /dev/tcp, no extra tools)
port_open() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# Install Debian packages (root is needed; `apt-get update` once per run).
APT_UPDATED=0
apt_install() {
    [[ $EUID -eq 0 ]] || die "need to install $* but not root: run 'sudo apt-get install -y $*'"
    if [[ $APT_UPDATED -eq 0 ]]; then
        say "apt-get update ..."
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    say "apt-get install $* ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Find a program even when /usr/sbin is not on PATH (clickhouse-server lives there).
find_prog() {
    local p
    p="$(command -v "$1" 2>/dev/null)" && { echo "$p"; return 0; }
    for p in "/usr/sbin/$1" "/usr/bin/$1" "/usr/local/bin/$1"; do
        [[ -x $p ]] && { echo "$p"; return 0; }
    done
    return 1
}

# Canonical service name (accepts a few aliases).
canon() {
    case "$1" in
        clickhouse|ch)          echo clickhouse ;;
        mosquitto|mqtt)         echo mosquitto ;;
        kafka)                  echo kafka ;;
        *) die "unknown service '$1' (expected: clickhouse, mosquitto, kafka)" ;;
    esac
}

# ----------------------------------------------------------------------------------------------
# Process bookkeeping: pid files, "is it ours", start in background, stop
# ----------------------------------------------------------------------------------------------
pidfile() { echo "$RUN_DIR/$1.pid"; }

# Process state letter from /proc (R, S, D, T = stopped/paused, Z = zombie), empty if gone.
proc_state() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
    stat="${stat##*) }"        # drop "pid (comm) " — comm may contain spaces
    echo "${stat%% *}"
}

# A pid counts as alive if it exists and is not a zombie.
pid_alive() {
    local st
    st="$(proc_state "$1")"
    [[ -n $st && $st != Z ]]
}

# After a process ends, wait (up to 15 s) until it is fully gone and its ports are closed.
# Trap: a multi-threaded process (the JVM, ClickHouse) shows as zombie while its other threads
# are still exiting, and its listening sockets stay open for that moment.  Starting again too
# early would see "port in use" and mistake the dying process for someone else's server.
wait_gone() {
    local svc="$1" pid="$2" i p busy
    for i in $(seq 75); do
        busy=0
        [[ -d /proc/$pid/task && "$(proc_state "$pid")" != Z ]] && busy=1
        [[ "$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" -gt 1 ]] && busy=1
        for p in $(all_ports "$svc"); do port_open "$p" && busy=1; done
        (( busy == 0 )) && return 0
        sleep 0.2
    done
    warn "$svc: pid $pid or its ports still busy after 15s"
}

# Print the pid of OUR running process for service $1, or return 1.
# "Ours" = recorded in our pid file, alive, and its command line mentions our .local folder
# (guards against a recycled pid or a system-wide instance of the same program).
our_pid() {
    local f pid cmd
    f="$(pidfile "$1")"
    [[ -s $f ]] || return 1
    pid="$(<"$f")"
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    pid_alive "$pid" || return 1
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ $cmd == *"$LOCAL/"* ]] || return 1
    echo "$pid"
}

# Start "$@" in the background, detached from this shell (own session, immune to hangups,
# stdin closed, stdout+stderr appended to $2), and record its pid in the service's pid file.
# setsid does not fork here (we are not a process-group leader), so $! is the service itself.
start_bg() {
    local svc="$1" log="$2"; shift 2
    mkdir -p "$RUN_DIR" "$(dirname "$log")"
    printf '\n==== %s starting %s\n' "$(date -u +%FT%TZ)" "$svc" >>"$log"
    setsid nohup "$@" >>"$log" 2>&1 </dev/null &
    echo $! >"$(pidfile "$svc")"
}

# Stop our process for service $1: SIGTERM, wait up to STOP_TIMEOUT s, then SIGKILL.
stop_service() {
    local svc="$1" pid t0
    if ! pid="$(our_pid "$svc")"; then
        rm -f "$(pidfile "$svc")"
        if port_open "$(main_port "$svc")"; then
            say "$(printf '%-11s' "$svc") not started by us (port $(main_port "$svc") is someone else's): left alone"
        else
            say "$(printf '%-11s' "$svc") not running"
        fi
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true     # a paused process must run to handle SIGTERM
    t0="$(now)"
    while pid_alive "$pid"; do
        if (( $(now) - t0 >= STOP_TIMEOUT )); then
            warn "$svc (pid $pid) did not stop within ${STOP_TIMEOUT}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    wait_gone "$svc" "$pid"
    rm -f "$(pidfile "$svc")"
    say "$(printf '%-11s' "$svc") stopped (pid $pid, $(( $(now) - t0 ))s)"
}

# Send a signal to our process for service $1 (used by kill / pause / resume).
signal_service() {
    local svc="$1" sig="$2" pid
    pid="$(our_pid "$svc")" || die "$svc: no running process of ours (see '$0 status')"
    kill "-$sig" "$pid"
    if [[ $sig == KILL ]]; then
        wait_gone "$svc" "$pid"
        rm -f "$(pidfile "$svc")"
    fi
    say "$(printf '%-11s' "$svc") sent SIG$sig to pid $pid"
}

# Poll until "$@" succeeds, the process $2 dies, or $1 seconds pass.  Usage:
#   wait_until TIMEOUT PID-OR-EMPTY command args...
wait_until() {
    local timeout="$1" pid="$2" t0; shift 2
    t0="$(now)"
    until "$@" >/dev/null 2>&1; do
        if [[ -n $pid ]] && ! pid_alive "$pid"; then return 2; fi
        if (( $(now) - t0 >= timeout )); then return 1; fi
        sleep 0.3
    done
}

# ----------------------------------------------------------------------------------------------
# ClickHouse (Debian package, release 18.16)
# ----------------------------------------------------------------------------------------------
CH_DIR="$LOCAL/clickhouse"

clickhouse_install() {
    if ! find_prog clickhouse-server >/dev/null || ! find_prog clickhouse-client >/dev/null; then
        apt_install clickhouse-server clickhouse-client
    fi
}

# Least-privilege accounts: a random password per account, generated once, kept under .local.
CH_DATABASE="${IOC_CH_DATABASE:-ioc}"
clickhouse_secret() {
    local f="$CH_DIR/secrets/$1.password"
    if [[ ! -s $f ]]; then
        mkdir -p "$CH_DIR/secrets" && chmod 700 "$CH_DIR/secrets"
        ( umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$f" )
    fi
    printf '%s' "$(<"$f")" | sha256sum | cut -d' ' -f1
}

# Write our own config.xml + users.xml (the system's /etc/clickhouse-server is not used).
# Format follows the 18.16 package's /etc/clickhouse-server/config.xml (root element <yandex>).
clickhouse_configure() {
    mkdir -p "$CH_DIR"/{data,tmp,user_files,format_schemas,log}
    cat >"$CH_DIR/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by deploy/local/services.sh — edits are overwritten on every 'up'. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$CH_DIR/log/clickhouse-server.log</log>
        <errorlog>$CH_DIR/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>

    <!-- Loopback only. No interserver (replication) port: we run one node, so it is left out. -->
    <listen_host>$HOST</listen_host>
    <tcp_port>$CH_PORT</tcp_port>
    <http_port>$CH_HTTP_PORT</http_port>

    <max_connections>4096</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <!-- Caches are allocated on demand; sized for a small (2-core) machine. -->
    <uncompressed_cache_size>1073741824</uncompressed_cache_size>
    <mark_cache_size>1073741824</mark_cache_size>

    <path>$CH_DIR/data/</path>
    <tmp_path>$CH_DIR/tmp/</tmp_path>
    <user_files_path>$CH_DIR/user_files/</user_files_path>
    <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>

    <users_config>$CH_DIR/users.xml</users_config>
    <!-- system.query_log: who ran what, from where, and what was refused (the accounts below log their queries). -->
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <partition_by>toYYYYMM(event_date)</partition_by>
        <flush_interval_milliseconds>7500</flush_interval_milliseconds>
    </query_log>
    <default_profile>default</default_profile>
    <default_database>default</default_database>

    <!-- Server time zone pinned to UTC (not the host's zone, and NOT Asia/Ho_Chi_Minh):
         DateTime values are stored as UTC seconds; local time is a display concern. -->
    <timezone>UTC</timezone>

    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
EOF
    local pipeline_hash analyst_hash dashboard_hash ingest_hash
    pipeline_hash="$(clickhouse_secret ioc_pipeline)"
    analyst_hash="$(clickhouse_secret ioc_analyst)"
    dashboard_hash="$(clickhouse_secret ioc_dashboard)"
    ingest_hash="$(clickhouse_secret ioc_ingest)"
    cat >"$CH_DIR/users.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by deploy/local/services.sh — edits are overwritten on every 'up'. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>10000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
            <!-- 18.16 needs this for LowCardinality(String) columns. -->
            <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
            <!-- The analyst view (stream/schema/sql/080_analyst_view.sql): 18.16 pushes a query's WHERE
                 into a view only with this (the default from 19.x); without it a view reads every month. -->
            <enable_optimize_predicate_expression>1</enable_optimize_predicate_expression>
        </default>
        <readonly>
            <readonly>1</readonly>
        </readonly>
        <!-- The pipeline: reads and inserts, never CREATE/ALTER/DROP/TRUNCATE (migrations use an admin account). -->
        <ioc_pipeline>
            <log_queries>1</log_queries>
            <allow_ddl>0</allow_ddl>
            <max_memory_usage>4000000000</max_memory_usage>
            <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
        </ioc_pipeline>
        <!-- The dashboard: sign-in, accounts, kiosk tokens and the audit log; the wall reads the data.
             No CREATE/ALTER/DROP/TRUNCATE: ALTER ... DELETE and ALTER ... UPDATE are refused too (allow_ddl = 0). -->
        <ioc_dashboard>
            <log_queries>1</log_queries>
            <allow_ddl>0</allow_ddl>
            <max_memory_usage>4000000000</max_memory_usage>
            <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
        </ioc_dashboard>
        <!-- Ingest: writes the audit events of refused administrative posts, nothing else. -->
        <ioc_ingest>
            <log_queries>1</log_queries>
            <allow_ddl>0</allow_ddl>
            <max_memory_usage>1000000000</max_memory_usage>
        </ioc_ingest>
        <!-- Analysts: read-only (settings cannot be changed either), bounded time, memory and result size. -->
        <ioc_analyst>
            <log_queries>1</log_queries>
            <readonly>1</readonly>
            <max_execution_time>${IOC_CH_ANALYST_MAX_EXECUTION_TIME:-60}</max_execution_time>
            <max_memory_usage>${IOC_CH_ANALYST_MAX_MEMORY:-4000000000}</max_memory_usage>
            <max_result_rows>1000000</max_result_rows>
            <result_overflow_mode>throw</result_overflow_mode>
            <max_threads>2</max_threads>
            <!-- The analyst view on 18.16 (docs/clickhouse.md): the analyst's WHERE reaches its halves
                 only with this; readonly analysts cannot set it themselves. -->
            <enable_optimize_predicate_expression>1</enable_optimize_predicate_expression>
        </ioc_analyst>
    </profiles>
    <users>
        <!-- 'default' user, no password, only from this machine. -->
        <default>
            <password></password>
            <networks>
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <!-- Stream: the data database of ${CH_DATABASE} only (and 'default', where connections start);
             never ${CH_DATABASE}_security (accounts, kiosk tokens, audit log). -->
        <ioc_pipeline>
            <password_sha256_hex>$pipeline_hash</password_sha256_hex>
            <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
            <profile>ioc_pipeline</profile>
            <quota>default</quota>
            <allow_databases>
                <database>${CH_DATABASE}</database>
                <database>default</database>
            </allow_databases>
        </ioc_pipeline>
        <!-- Dashboard: the data database (the wall reads it) and ${CH_DATABASE}_security (sign-in, /admin, audit).
             18.16 allows or denies whole databases and cannot make one database read-only for a writer:
             the residual risk is in docs/security.md ("ClickHouse 18.16"); the RBAC migration narrows it. -->
        <ioc_dashboard>
            <password_sha256_hex>$dashboard_hash</password_sha256_hex>
            <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
            <profile>ioc_dashboard</profile>
            <quota>default</quota>
            <allow_databases>
                <database>${CH_DATABASE}</database>
                <database>${CH_DATABASE}_security</database>
                <database>default</database>
            </allow_databases>
        </ioc_dashboard>
        <!-- Ingest: ${CH_DATABASE}_security only, for the audit events of refused administrative posts. -->
        <ioc_ingest>
            <password_sha256_hex>$ingest_hash</password_sha256_hex>
            <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
            <profile>ioc_ingest</profile>
            <quota>default</quota>
            <allow_databases>
                <database>${CH_DATABASE}_security</database>
                <database>default</database>
            </allow_databases>
        </ioc_ingest>
        <!-- Analysts: the data database only; never ${CH_DATABASE}_security (accounts, kiosk tokens, audit log). -->
        <ioc_analyst>
            <password_sha256_hex>$analyst_hash</password_sha256_hex>
            <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
            <profile>ioc_analyst</profile>
            <quota>ioc_analyst</quota>
            <allow_databases>
                <database>${CH_DATABASE}</database>
            </allow_databases>
        </ioc_analyst>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
        <ioc_analyst>
            <interval>
                <duration>3600</duration>
                <queries>${IOC_CH_ANALYST_QUERIES_PER_HOUR:-1000}</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>${IOC_CH_ANALYST_READ_ROWS_PER_HOUR:-20000000000}</read_rows>
                <execution_time>3600</execution_time>
            </interval>
        </ioc_analyst>
    </quotas>
</yandex>
EOF
}

clickhouse_start() {
    # Runs as whoever calls the script (root here).  That is fine as long as the data folder
    # belongs to the same user: ClickHouse only complains when the two differ.
    start_bg clickhouse "$CH_DIR/log/stdout.log" \
        "$(find_prog clickhouse-server)" --config-file="$CH_DIR/config.xml"
}

clickhouse_ready() {
    "$(find_prog clickhouse-client)" --host "$HOST" --port "$CH_PORT" -q 'SELECT 1' >/dev/null 2>&1
}

clickhouse_where() { echo "$HOST:$CH_PORT (native) $HOST:$CH_HTTP_PORT (http)"; }
clickhouse_log()   { echo "$CH_DIR/log/clickhouse-server.err.log $CH_DIR/log/stdout.log"; }
clickhouse_data()  { echo "$CH_DIR/data $CH_DIR/tmp"; }

# ----------------------------------------------------------------------------------------------
# Mosquitto 2 (Debian package)
# ----------------------------------------------------------------------------------------------
MQTT_DIR="$LOCAL/mosquitto"

mosquitto_install() {
    local need=()
    find_prog mosquitto     >/dev/null || need+=(mosquitto)
    find_prog mosquitto_pub >/dev/null || need+=(mosquitto-clients)
    (( ${#need[@]} == 0 )) || apt_install "${need[@]}"
}

mosquitto_configure() {
    mkdir -p "$MQTT_DIR/data" "$MQTT_DIR/log"
    # Started as root, mosquitto switches to user 'mosquitto', who may not be able to reach a
    # repo under /root.  For this loopback-only dev broker we stay root instead ('user root').
    local user_line=""
    [[ $EUID -eq 0 ]] && user_line="user root"
    cat >"$MQTT_DIR/mosquitto.conf" <<EOF
# Generated by deploy/local/services.sh — edits are overwritten on every 'up'.
$user_line
per_listener_settings false

# Payloads above 1 MiB are refused by the broker; at least ingest.max_payload_bytes (256 KiB
# by default), so that oversize payloads up to this become dead letters (docs/reliability.md).
message_size_limit ${MQTT_MESSAGE_SIZE_LIMIT:-1048576}

# Loopback only, no authentication (development / test broker).
listener $MQTT_PORT $HOST
allow_anonymous true
set_tcp_nodelay true

# Keep QoS 1/2 messages and persistent sessions across restarts.  The in-memory database is
# written every $MQTT_AUTOSAVE s (and on a clean stop): a SIGKILL loses at most that window.
persistence true
persistence_location $MQTT_DIR/data
persistence_file mosquitto.db
autosave_interval $MQTT_AUTOSAVE
autosave_on_changes false

# Debian's default of 1000 queued messages per client silently drops the rest while a
# subscriber is slow or away; allow far more.  In-flight window raised from 20 for throughput.
max_queued_messages $MQTT_MAX_QUEUED
max_inflight_messages $MQTT_MAX_INFLIGHT

log_dest file $MQTT_DIR/log/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
log_timestamp_format %Y-%m-%dT%H:%M:%S
EOF
}

mosquitto_start() {
    # Run in the foreground under nohup (not -d) so that the pid we record is mosquitto's own.
    start_bg mosquitto "$MQTT_DIR/log/stdout.log" \
        "$(find_prog mosquitto)" -c "$MQTT_DIR/mosquitto.conf"
}

mosquitto_ready() {
    "$(find_prog mosquitto_pub)" -h "$HOST" -p "$MQTT_PORT" -t ioc/ping -m x -q 0 >/dev/null 2>&1
}

mosquitto_where() { echo "$HOST:$MQTT_PORT (mqtt)"; }
mosquitto_log()   { echo "$MQTT_DIR/log/mosquitto.log $MQTT_DIR/log/stdout.log"; }
mosquitto_data()  { echo "$MQTT_DIR/data"; }

# ----------------------------------------------------------------------------------------------
# Apache Kafka 4.x, single node in KRaft mode (one process is both broker and controller)
# ----------------------------------------------------------------------------------------------
KAFKA_DIR="$LOCAL/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs"
KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"

# Main classes in the 4.1 jars:
KAFKA_MAIN=kafka.Kafka                          # broker/controller     (kafka_2.13)
KAFKA_STORAGE=kafka.tools.StorageTool           # format the log dir    (kafka_2.13)
KAFKA_TOPICS=org.apache.kafka.tools.TopicCommand                    # (kafka-tools)
KAFKA_PRODUCER=org.apache.kafka.tools.ConsoleProducer               # (kafka-tools)
KAFKA_CONSUMER=org.apache.kafka.tools.consumer.ConsoleConsumer      # (kafka-tools)
KAFKA_GROUPS=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand

kafka_install() {
    kafka_check_settings      # before anything is fetched or written
    local need=()
    find_prog java >/dev/null || need+=(openjdk-17-jre-headless)
    find_prog mvn  >/dev/null || need+=(maven)
    (( ${#need[@]} == 0 )) || apt_install "${need[@]}"

    # Logging of the CLI tools (used by the readiness check too): warnings only, to stderr.
    mkdir -p "$KAFKA_DIR"
    cat >"$KAFKA_DIR/log4j2-tools.properties" <<EOF
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF

    # The jars: fetched once per pom.xml content (a changed pom, e.g. a new Kafka version,
    # fetches again).  Maven keeps its own cache in ~/.m2, so a re-fetch is quick.
    local stamp
    stamp="$(sha256sum "$KAFKA_POM" | cut -c1-16)"
    if [[ -f $KAFKA_LIBS/.fetched && "$(<"$KAFKA_LIBS/.fetched")" == "$stamp" ]]; then
        return 0
    fi
    say "kafka       fetching jars from Maven Central (deploy/local/kafka/pom.xml) ..."
    mkdir -p "$KAFKA_DIR/log"
    rm -rf "$KAFKA_LIBS.tmp"
    if ! mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies \
            -DoutputDirectory="$KAFKA_LIBS.tmp" -DincludeScope=runtime >"$KAFKA_DIR/log/mvn.log" 2>&1; then
        tail -n 30 "$KAFKA_DIR/log/mvn.log" >&2
        die "kafka: mvn could not fetch the jars (full output: $KAFKA_DIR/log/mvn.log)"
    fi
    echo "$stamp" >"$KAFKA_LIBS.tmp/.fetched"
    rm -rf "$KAFKA_LIBS"
    mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
}

# What goes into Kafka's generated files and command lines, checked before any of it is written:
# ports are numbers (an empty IOC_KAFKA_PORT would make "PLAINTEXT://127.0.0.1:"), and the folder
# has no comma (log.dirs is a comma-separated list), backslash or line break (.properties escapes).
# Spaces are fine: every path is passed as one quoted word and .properties values keep inner spaces.
kafka_check_settings() {
    local name val
    for name in KAFKA_PORT KAFKA_CONTROLLER_PORT; do
        val="${!name}"
        [[ $val =~ ^[0-9]{1,5}$ ]] && (( 10#$val >= 1 && 10#$val <= 65535 )) \
            || die "kafka: IOC_$name='$val' is not a port number (1-65535)"
    done
    (( 10#$KAFKA_PORT != 10#$KAFKA_CONTROLLER_PORT )) \
        || die "kafka: IOC_KAFKA_PORT and IOC_KAFKA_CONTROLLER_PORT are both $KAFKA_PORT: give them different ports"
    case "$KAFKA_DIR" in
        *,* | *\\* | *$'\n'*)
            die "kafka: the folder '$KAFKA_DIR' has a comma, backslash or line break, which Kafka's settings cannot hold: pick another IOC_LOCAL_DIR" ;;
    esac
}

# A broker's logging (log4j2): INFO to a size-rolled file under $1/log, $2 a file.
kafka_log4j2() {
    local dir="$1" size="$2"
    cat >"$dir/log4j2.properties" <<EOF
# Generated by deploy/local/services.sh.
status = warn
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $dir/log/server.log
appender.file.filePattern = $dir/log/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = $size
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
}

# kafka_server_config DIR NODE_ID VOTERS PORT CONTROLLER_PORT REPLICAS MIN_ISR THREADS SEGMENT_BYTES [EXTRA]
# writes DIR/server.properties of a KRaft process that is both a broker and a controller: the one
# template of the single node (kafka_configure) and of the cluster's three (cluster.sh's ck_configure).
# EXTRA: more lines, appended.
kafka_server_config() {
    local dir=$1 node=$2 voters=$3 port=$4 cport=$5 rf=$6 isr=$7 threads=$8 segment=$9 extra=${10:-}
    mkdir -p "$dir/data" "$dir/log"
    cat >"$dir/server.properties" <<EOF
# Generated by deploy/local/services.sh (kafka_server_config) — edits are overwritten on every 'up'.
# KRaft mode: this process is a broker and a controller.
process.roles=broker,controller
node.id=$node
# Static quorum (survives a change of the controller port, unlike --standalone).
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER

listeners=PLAINTEXT://$HOST:$port,CONTROLLER://$HOST:$cport
advertised.listeners=PLAINTEXT://$HOST:$port
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT

log.dirs=$dir/data

# Every topic on $rf node(s), a write acknowledged by $isr (acks=all).
num.partitions=6
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
auto.create.topics.enable=true
# Consumers joining a group get partitions at once (no 3 s wait).
group.initial.rebalance.delay.ms=0

# Lean thread counts for a 2-core machine.
num.network.threads=2
num.io.threads=$threads
num.recovery.threads.per.data.dir=1
background.threads=$threads

log.retention.hours=168
log.segment.bytes=$segment
$extra
EOF
}

# kafka_format DIR NAME CLUSTER_ID formats the storage of DIR/server.properties with the cluster id.
# Format ONCE: meta.properties in the log dir means "already formatted"; formatting again would be
# refused (or, forced, would lose the data). The caller checks that.
kafka_format() {
    local dir=$1 name=$2 id=$3
    say "$(printf '%-11s' "$name") formatting storage (cluster id $id) ..."
    # --cluster-id=ID in one word: an id is never read as an option, whatever its first character.
    kafka_java "$KAFKA_STORAGE" format "--cluster-id=$id" -c "$dir/server.properties" \
        >>"$dir/log/format.log" 2>&1 \
        || { tail -20 "$dir/log/format.log" >&2
             die "$name: storage format failed (log: $dir/log/format.log; to start afresh: '$0 reset $name')"; }
}

kafka_configure() {
    # Single node: one voter, every replication factor 1.
    kafka_server_config "$KAFKA_DIR" 1 "1@$HOST:$KAFKA_CONTROLLER_PORT" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" \
        1 1 4 268435456
    kafka_log4j2 "$KAFKA_DIR" 50MB
    if [[ ! -f $KAFKA_DIR/data/meta.properties ]]; then
        local cluster_id
        cluster_id="$(kafka_cluster_id)" || die "kafka: could not make a cluster id (kafka-storage random-uuid failed)"
        kafka_format "$KAFKA_DIR" kafka "$cluster_id"
    fi
}

# Is $1 a cluster id Kafka's tools take as it is?  A Kafka id is 16 bytes in URL-safe base64 without
# padding: 22 characters, the last one carrying 2 bits (A, Q, g or w), not the all-zero id.  An id
# beginning with '-' is valid for Kafka but read as an option by its command-line tools; Kafka's own
# random-uuid never makes one, and neither do we.
kafka_id_ok() {
    [[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{20}[AQgw]$ && $1 != AAAAAAAAAAAAAAAAAAAAAA ]]
}

# The cluster id to format with (called only while the storage is empty), saved in $KAFKA_DIR/cluster.id.
# A saved id is kept when the tools take it; one they cannot (an earlier version of this script made
# ids with '-' first, 1 in 64) is replaced, with a line saying so: the storage is empty, nothing is lost.
kafka_cluster_id() {
    local f="$KAFKA_DIR/cluster.id" id=""
    if [[ -f $f ]]; then
        id="$(tr -d ' \t\r\n' <"$f")"
        if kafka_id_ok "$id"; then echo "$id"; return 0; fi
        say "kafka       the saved cluster id '${id}' ($f) cannot be used by Kafka's tools (an earlier services.sh made it);" >&2
        say "            the storage is empty, so it is replaced by a new one from kafka-storage random-uuid" >&2
    fi
    id="$(kafka_java "$KAFKA_STORAGE" random-uuid 2>>"$KAFKA_DIR/log/format.log" | tr -d ' \r\n')" || return 1
    kafka_id_ok "$id" || { warn "kafka: kafka-storage random-uuid printed '$id', not a cluster id"; return 1; }
    echo "$id" >"$f"
    echo "$id"
}

# Run a Kafka class in a short-lived JVM (tools): small heap, fast start-up.
kafka_tool_jvm() {
    KAFKA_TOOL_CMD=(java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
        -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2-tools.properties" -cp "$KAFKA_LIBS/*")
}
kafka_java() {
    kafka_tool_jvm
    "${KAFKA_TOOL_CMD[@]}" "$@"
}

kafka_start() {
    # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS is a list of options
    start_bg kafka "$KAFKA_DIR/log/stdout.log" \
        java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" \
        -cp "$KAFKA_LIBS/*" "$KAFKA_MAIN" "$KAFKA_DIR/server.properties"
}

# Ready = the broker port accepts connections AND the broker answers a metadata request.
# The second check starts a JVM (~1-2 s), so it only runs once the port is open.
kafka_ready() {
    port_open "$KAFKA_PORT" || return 1
    kafka_tool_jvm
    timeout 30 "${KAFKA_TOOL_CMD[@]}" "$KAFKA_TOPICS" --bootstrap-server "$HOST:$KAFKA_PORT" --list >/dev/null 2>&1
}

kafka_where() { echo "$HOST:$KAFKA_PORT (broker) $HOST:$KAFKA_CONTROLLER_PORT (controller)"; }
kafka_log()   { echo "$KAFKA_DIR/log/server.log $KAFKA_DIR/log/stdout.log"; }
kafka_data()  { echo "$KAFKA_DIR/data $KAFKA_DIR/cluster.id"; }

# ----------------------------------------------------------------------------------------------
# Generic per-service actions
# ----------------------------------------------------------------------------------------------
main_port() {
    case "$1" in
        clickhouse) echo "$CH_PORT" ;;
        mosquitto)  echo "$MQTT_PORT" ;;
        kafka)      echo "$KAFKA_PORT" ;;
    esac
}
all_ports() {
    case "$1" in
        clickhouse) echo "$CH_PORT $CH_HTTP_PORT" ;;
        mosquitto)  echo "$MQTT_PORT" ;;
        kafka)      echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT" ;;
    esac
}
start_timeout() {
    case "$1" in
        clickhouse) echo "$CH_START_TIMEOUT" ;;
        mosquitto)  echo "$MQTT_START_TIMEOUT" ;;
        kafka)      echo "$KAFKA_START_TIMEOUT" ;;
    esac
}

# Phase 1 of `up`: make sure the service is started (or found).  Sets STARTED[$svc]:
#   ours-old  = already running from our pid file     new = we just started it
#   external  = someone else answers on its port       paused = ours but SIGSTOPped
declare -A STARTED=()
ensure_started() {
    local svc="$1" pid p
    if pid="$(our_pid "$svc")"; then
        if [[ "$(proc_state "$pid")" == T ]]; then STARTED[$svc]=paused; else STARTED[$svc]=ours-old; fi
        # An upgrade may bring new accounts or settings: ClickHouse reloads
        # users.xml by itself when the file changes, so a server an earlier
        # version started gets them without a restart.
        [[ $svc == clickhouse ]] && clickhouse_configure
        return 0
    fi
    rm -f "$(pidfile "$svc")"
    if port_open "$(main_port "$svc")"; then
        "${svc}_install"          # its client tools are needed to check that the port answers
        STARTED[$svc]=external
        return 0
    fi
    for p in $(all_ports "$svc"); do
        port_open "$p" && die "$svc: port $p is already used by another program (pick another with the IOC_*_PORT variables)"
    done
    "${svc}_install"
    "${svc}_configure"
    "${svc}_start"
    STARTED[$svc]=new
}

# Phase 2 of `up`: wait until the service answers, then print where it listens.
wait_ready() {
    local svc="$1" pid="" rc=0 t0 how
    t0="$(now)"
    case "${STARTED[$svc]}" in
        paused)
            say "$(printf '%-11s' "$svc") $("${svc}_where")  pid $(our_pid "$svc")  PAUSED (SIGSTOP): run '$0 resume $svc'"
            return 0 ;;
        external) how="not ours: already answering, reused" ;;
        ours-old) how="already running"; pid="$(our_pid "$svc")" ;;
        new)      how="started"; pid="$(our_pid "$svc" || cat "$(pidfile "$svc")")" ;;
    esac
    wait_until "$(start_timeout "$svc")" "$pid" "${svc}_ready" || rc=$?
    if (( rc != 0 )); then
        if (( rc == 2 )); then warn "$svc exited during start-up"; else warn "$svc did not answer within $(start_timeout "$svc")s"; fi
        local f
        for f in $("${svc}_log"); do
            [[ -s $f ]] && { warn "--- last lines of $f"; tail -n 25 "$f" >&2; }
        done
        return 1
    fi
    if [[ -n $pid ]]; then
        say "$(printf '%-11s' "$svc") $("${svc}_where")  pid $pid  ($how, $(( $(now) - t0 ))s)"
    else
        say "$(printf '%-11s' "$svc") $("${svc}_where")  ($how)"
    fi
}

status_service() {
    local svc="$1" pid st
    if pid="$(our_pid "$svc")"; then
        st="$(proc_state "$pid")"
        if [[ $st == T ]]; then
            say "$(printf '%-11s' "$svc") paused   pid $pid  $("${svc}_where")"
        elif "${svc}_ready"; then
            say "$(printf '%-11s' "$svc") running  pid $pid  $("${svc}_where")"
        else
            say "$(printf '%-11s' "$svc") starting pid $pid  $("${svc}_where")  (not answering yet)"
        fi
        return 0
    fi
    if [[ -f "$(pidfile "$svc")" ]]; then
        say "$(printf '%-11s' "$svc") dead     (stale pid file $(pidfile "$svc"))"
        return 1
    fi
    if port_open "$(main_port "$svc")"; then
        say "$(printf '%-11s' "$svc") external port $(main_port "$svc") answers, not started by us"
        return 0
    fi
    say "$(printf '%-11s' "$svc") stopped"
    return 1
}

reset_service() {
    local svc="$1" d
    stop_service "$svc"
    for d in $("${svc}_data"); do
        case "$d" in "$LOCAL"/*) rm -rf "$d" ;; *) die "refusing to delete $d (outside $LOCAL)" ;; esac
    done
    say "$(printf '%-11s' "$svc") data deleted"
}

# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------
usage() {
    sed -n '/^# Usage:/,/^# Other knobs/p' "${BASH_SOURCE[0]}" | sed -e 's/^# \{0,1\}//' -e '/^Other knobs/d'
}

# Services named on the command line (canonical, de-duplicated, in start order), or all.
pick_services() {
    local want=() s a
    if (( $# == 0 )); then printf '%s\n' "${ALL_SERVICES[@]}"; return; fi
    for a in "$@"; do want+=("$(canon "$a")"); done
    for s in "${ALL_SERVICES[@]}"; do
        [[ " ${want[*]} " == *" $s "* ]] && echo "$s"
    done
    return 0
}

# The notifier's tests run a real SMTP server (deploy/local/smtpd.py, started
# by each test): Debian's python3-aiosmtpd, installed here so that `make test`
# on a fresh machine has it. Without root it is only a warning.
smtp_test_install() {
    /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null && return 0
    if [[ $EUID -eq 0 ]]; then
        apt_install python3-aiosmtpd
    else
        warn "python3-aiosmtpd is missing (the notifier's tests need it): sudo apt-get install -y python3-aiosmtpd"
    fi
}

cmd_up() {
    local svcs=() s rc=0
    mapfile -t svcs < <(pick_services "$@")
    mkdir -p "$LOCAL" "$RUN_DIR"
    smtp_test_install
    for s in "${svcs[@]}"; do ensure_started "$s"; done
    for s in "${svcs[@]}"; do wait_ready "$s" || rc=1; done
    return "$rc"
}

cmd_down() {
    local svcs=() i
    mapfile -t svcs < <(pick_services "$@")
    for (( i=${#svcs[@]}-1; i>=0; i-- )); do stop_service "${svcs[i]}"; done
}

main() {
    local cmd="${1:-}"; shift || true
    case "$cmd" in
        up|start)       cmd_up "$@" ;;
        down|stop)      cmd_down "$@" ;;
        restart)        cmd_down "$@"; cmd_up "$@" ;;
        status)
            local s rc=0
            for s in $(pick_services "$@"); do status_service "$s" || rc=1; done
            return "$rc" ;;
        env)
            say "export IOC_MQTT_URL=tcp://$HOST:$MQTT_PORT"
            say "export IOC_KAFKA_BROKERS=$HOST:$KAFKA_PORT"
            say "export IOC_CLICKHOUSE_ADDR=$HOST:$CH_PORT" ;;
        kill|pause|resume)
            (( $# > 0 )) || die "$cmd: name the service(s), e.g. '$0 $cmd kafka'"
            local sig s
            case "$cmd" in kill) sig=KILL ;; pause) sig=STOP ;; resume) sig=CONT ;; esac
            for s in $(pick_services "$@"); do signal_service "$s" "$sig"; done ;;
        pid)
            (( $# == 1 )) || die "pid: name one service"
            our_pid "$(canon "$1")" ;;
        reset)
            (( $# > 0 )) || die "reset: name the service(s) whose data to delete"
            local s
            for s in $(pick_services "$@"); do reset_service "$s"; done ;;
        kafka-tool)
            local tool="${1:-}"; shift || true
            [[ -f $KAFKA_LIBS/.fetched ]] || die "kafka jars not fetched yet: run '$0 up kafka' first"
            case "$tool" in
                topics)   kafka_java "$KAFKA_TOPICS"   --bootstrap-server "$HOST:$KAFKA_PORT" "$@" ;;
                producer) kafka_java "$KAFKA_PRODUCER" --bootstrap-server "$HOST:$KAFKA_PORT" "$@" ;;
                consumer) kafka_java "$KAFKA_CONSUMER" --bootstrap-server "$HOST:$KAFKA_PORT" "$@" ;;
                groups)   kafka_java "$KAFKA_GROUPS"   --bootstrap-server "$HOST:$KAFKA_PORT" "$@" ;;
                storage)  kafka_java "$KAFKA_STORAGE" "$@" ;;
                *) die "kafka-tool: expected topics | producer | consumer | groups | storage" ;;
            esac ;;
        -h|--help|help|"") usage ;;
        *) usage >&2; die "unknown command '$cmd'" ;;
    esac
}

# IOC_TOPOLOGY=cluster: three Kafka brokers, ZooKeeper, 2x2 ClickHouse servers (cluster.sh).
if [[ ${IOC_TOPOLOGY:-single} == cluster ]]; then
    # shellcheck source=cluster.sh
    source "$SCRIPT_DIR/cluster.sh"
elif [[ ${IOC_TOPOLOGY:-single} != single ]]; then
    die "IOC_TOPOLOGY=$IOC_TOPOLOGY: expected single (the default) or cluster"
fi
main "$@"
