# shellcheck shell=bash
#
# deploy/local/cluster.sh — the CLUSTER topology of deploy/local/services.sh.
# Not run on its own: services.sh sources it when IOC_TOPOLOGY=cluster, and it redefines the
# service list, the ports and `env`; everything else (pid files, "is it ours", start, stop,
# kill, status, the Mosquitto and Kafka installers) is services.sh's own machinery.
#
#   IOC_TOPOLOGY=cluster deploy/local/services.sh up|down|status|env|pid NAME|kill NAME|...
#
# What it runs, as plain processes on loopback, from the same packages as the single node:
#   zookeeper                      Debian's zookeeper 3.8 (ClickHouse 18.16's replication log)
#   clickhouse-s1r1 .. s2r2        four ClickHouse 18.16 servers: cluster ioc_cluster,
#                                  2 shards x 2 replicas, internal_replication, macros
#   kafka-1 .. kafka-3             three Apache Kafka 4.x KRaft nodes, each broker+controller
#                                  (a quorum of three voters survives one node's loss);
#                                  default replication factor 3, min.insync.replicas 2
#   mosquitto                      as in the single-node topology
#
# Default ports (26000-27999, below Linux's ephemeral range); override with the variables:
#   IOC_CLUSTER_KAFKA_PORTS="26091 26092 26093"        brokers (PLAINTEXT)
#   IOC_CLUSTER_KAFKA_CONTROLLER_PORTS="26191 26192 26193"
#   IOC_CLUSTER_ZK_PORT=26181                          ZooKeeper client port
#   IOC_CLUSTER_CH_PORTS="26001 26002 26003 26004"     native (s1r1 s1r2 s2r1 s2r2)
#   IOC_CLUSTER_CH_HTTP_PORTS="26101 26102 26103 26104"
#   IOC_CLUSTER_CH_INTERSERVER_PORTS="26201 26202 26203 26204"   replication (interserver_http_port)
#   IOC_MQTT_PORT=26883
# Data, logs, pid files: $IOC_LOCAL_DIR (default $REPO/.local/cluster).
# Kafka heap per broker: IOC_CLUSTER_KAFKA_HEAP_OPTS (default "-Xms256m -Xmx512m").
# The ClickHouse cluster is named IOC_CLUSTER_NAME (default ioc_cluster); deploy/ioc-cluster.yaml
# uses that name and these ports.
#

LOCAL="$(realpath -m "${IOC_LOCAL_DIR:-$REPO/.local/cluster}")"
RUN_DIR="$LOCAL/run"
MQTT_DIR="$LOCAL/mosquitto"
MQTT_PORT="${IOC_MQTT_PORT:-26883}"
KAFKA_DIR="$LOCAL/kafka"          # the jars (services.sh's kafka_install) and the cluster id
KAFKA_LIBS="$KAFKA_DIR/libs"

read -r -a CK_PORTS      <<<"${IOC_CLUSTER_KAFKA_PORTS:-26091 26092 26093}"
read -r -a CK_CTRL_PORTS <<<"${IOC_CLUSTER_KAFKA_CONTROLLER_PORTS:-26191 26192 26193}"
CK_HEAP_OPTS="${IOC_CLUSTER_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
ZK_PORT="${IOC_CLUSTER_ZK_PORT:-26181}"
ZK_DIR="$LOCAL/zookeeper"
read -r -a CCH_PORTS      <<<"${IOC_CLUSTER_CH_PORTS:-26001 26002 26003 26004}"
read -r -a CCH_HTTP_PORTS <<<"${IOC_CLUSTER_CH_HTTP_PORTS:-26101 26102 26103 26104}"
read -r -a CCH_IS_PORTS   <<<"${IOC_CLUSTER_CH_INTERSERVER_PORTS:-26201 26202 26203 26204}"
CCH_CLUSTER="${IOC_CLUSTER_NAME:-ioc_cluster}"
CCH_NAMES=(s1r1 s1r2 s2r1 s2r2)   # index i: shard i/2+1, replica i%2+1
CH_DIR="$LOCAL/clickhouse"        # secrets shared by the four servers live under it
ZK_START_TIMEOUT=60

ALL_SERVICES=(zookeeper clickhouse-s1r1 clickhouse-s1r2 clickhouse-s2r1 clickhouse-s2r2
    kafka-1 kafka-2 kafka-3 mosquitto)

canon() {
    case "$1" in
        zookeeper|zk)                                     echo zookeeper ;;
        clickhouse-s1r1|clickhouse-s1r2|clickhouse-s2r1|clickhouse-s2r2|kafka-1|kafka-2|kafka-3|mosquitto) echo "$1" ;;
        s1r1|s1r2|s2r1|s2r2)                              echo "clickhouse-$1" ;;
        mqtt)                                             echo mosquitto ;;
        *) die "unknown service '$1' (cluster topology: ${ALL_SERVICES[*]})" ;;
    esac
}

# Index of a ClickHouse server (0..3) or a Kafka node (0..2) from its service name.
cch_index() { local n="${1#clickhouse-}" i; for i in 0 1 2 3; do [[ ${CCH_NAMES[i]} == "$n" ]] && { echo "$i"; return; }; done; return 1; }
ck_index()  { echo $(( ${1#kafka-} - 1 )); }

main_port() {
    case "$1" in
        zookeeper)    echo "$ZK_PORT" ;;
        clickhouse-*) echo "${CCH_PORTS[$(cch_index "$1")]}" ;;
        kafka-*)      echo "${CK_PORTS[$(ck_index "$1")]}" ;;
        mosquitto)    echo "$MQTT_PORT" ;;
    esac
}
all_ports() {
    local i
    case "$1" in
        zookeeper)    echo "$ZK_PORT" ;;
        clickhouse-*) i="$(cch_index "$1")"; echo "${CCH_PORTS[i]} ${CCH_HTTP_PORTS[i]} ${CCH_IS_PORTS[i]}" ;;
        kafka-*)      i="$(ck_index "$1")"; echo "${CK_PORTS[i]} ${CK_CTRL_PORTS[i]}" ;;
        mosquitto)    echo "$MQTT_PORT" ;;
    esac
}
start_timeout() {
    case "$1" in
        zookeeper)    echo "$ZK_START_TIMEOUT" ;;
        clickhouse-*) echo "$CH_START_TIMEOUT" ;;
        kafka-*)      echo "$KAFKA_START_TIMEOUT" ;;
        mosquitto)    echo "$MQTT_START_TIMEOUT" ;;
    esac
}

kafka_brokers_csv() { local p out=(); for p in "${CK_PORTS[@]}"; do out+=("$HOST:$p"); done; (IFS=,; echo "${out[*]}"); }
clickhouse_addrs_csv() { local p out=(); for p in "${CCH_PORTS[@]}"; do out+=("$HOST:$p"); done; (IFS=,; echo "${out[*]}"); }

# ----------------------------------------------------------------------------------------------
# ZooKeeper (Debian's zookeeper 3.8, a plain process with our own zoo.cfg and data dir)
# ----------------------------------------------------------------------------------------------
zk_classpath() {
    local cp="$ZK_DIR/conf:/usr/share/java/zookeeper.jar" j
    # The jar's manifest names its dependencies but no logging backend: add log4j 1.2 if present.
    for j in /usr/share/java/slf4j-log4j12.jar /usr/share/java/slf4j-reload4j.jar /usr/share/java/log4j-1.2.jar; do
        [[ -f $j ]] && cp+=":$j"
    done
    echo "$cp"
}
zookeeper_install() {
    [[ -f /usr/share/java/zookeeper.jar ]] || apt_install zookeeper
    find_prog java >/dev/null || apt_install openjdk-17-jre-headless
}
zookeeper_configure() {
    mkdir -p "$ZK_DIR"/{conf,data,log}
    cat >"$ZK_DIR/conf/zoo.cfg" <<EOF
# Generated by deploy/local/cluster.sh — edits are overwritten on every 'up'.
# One standalone ZooKeeper: the replication log of the four ClickHouse servers.
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$ZK_DIR/data
clientPort=$ZK_PORT
clientPortAddress=$HOST
maxClientCnxns=200
# The AdminServer would listen on 8080 (the wall's port): off.
admin.enableServer=false
4lw.commands.whitelist=ruok,stat,srvr,mntr
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
EOF
    cat >"$ZK_DIR/conf/log4j.properties" <<EOF
log4j.rootLogger=INFO, ROLLINGFILE
log4j.appender.ROLLINGFILE=org.apache.log4j.RollingFileAppender
log4j.appender.ROLLINGFILE.File=$ZK_DIR/log/zookeeper.log
log4j.appender.ROLLINGFILE.MaxFileSize=10MB
log4j.appender.ROLLINGFILE.MaxBackupIndex=3
log4j.appender.ROLLINGFILE.layout=org.apache.log4j.PatternLayout
log4j.appender.ROLLINGFILE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %m%n
EOF
}
zookeeper_start() {
    start_bg zookeeper "$ZK_DIR/log/stdout.log" \
        java -Xms64m -Xmx256m -XX:+UseSerialGC -Djava.awt.headless=true \
        -Dzookeeper.log.dir="$ZK_DIR/log" -Dlog4j.configuration="file:$ZK_DIR/conf/log4j.properties" \
        -Dzookeeper.admin.enableServer=false -Dzookeeper.4lw.commands.whitelist=ruok,stat,srvr,mntr \
        -cp "$(zk_classpath)" org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZK_DIR/conf/zoo.cfg"
}
# Ready = answers "imok" to the four-letter word ruok (bash /dev/tcp, no JVM).
zookeeper_ready() {
    local reply
    exec 3<>"/dev/tcp/$HOST/$ZK_PORT" || return 1
    printf ruok >&3
    reply="$(timeout 3 cat <&3)"
    exec 3<&-
    [[ $reply == imok ]]
}
zookeeper_where() { echo "$HOST:$ZK_PORT (zookeeper)"; }
zookeeper_log()   { echo "$ZK_DIR/log/zookeeper.log $ZK_DIR/log/stdout.log"; }
zookeeper_data()  { echo "$ZK_DIR/data"; }

# ----------------------------------------------------------------------------------------------
# ClickHouse 18.16: four servers, 2 shards x 2 replicas
# ----------------------------------------------------------------------------------------------
cch_dir() { echo "$CH_DIR/$1"; }

# remote_servers: one cluster, each shard's two replicas; internal_replication = the Distributed
# table writes each row to ONE replica and replication copies it (not the Distributed table
# writing every replica itself, which would double rows on the ReplicatedMergeTree).
cch_remote_servers() {
    local s r i
    echo "    <remote_servers>"
    echo "        <$CCH_CLUSTER>"
    for s in 0 1; do
        echo "            <shard>"
        echo "                <internal_replication>true</internal_replication>"
        for r in 0 1; do
            i=$(( s * 2 + r ))
            echo "                <replica><host>$HOST</host><port>${CCH_PORTS[i]}</port></replica>"
        done
        echo "            </shard>"
    done
    echo "        </$CCH_CLUSTER>"
    echo "    </remote_servers>"
}

cch_configure() {
    local i="$1" name="${CCH_NAMES[$1]}" dir pipeline_hash analyst_hash
    dir="$(cch_dir "$name")"
    mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
    cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by deploy/local/cluster.sh — edits are overwritten on every 'up'. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$dir/log/clickhouse-server.log</log>
        <errorlog>$dir/log/clickhouse-server.err.log</errorlog>
        <size>50M</size>
        <count>3</count>
    </logger>
    <display_name>$name</display_name>
    <listen_host>$HOST</listen_host>
    <tcp_port>${CCH_PORTS[i]}</tcp_port>
    <http_port>${CCH_HTTP_PORTS[i]}</http_port>
    <!-- Replication: the other replica of the shard fetches parts from here. -->
    <interserver_http_port>${CCH_IS_PORTS[i]}</interserver_http_port>
    <interserver_http_host>$HOST</interserver_http_host>

    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <!-- Four servers on one small machine: small caches. -->
    <uncompressed_cache_size>134217728</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>

    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <partition_by>toYYYYMM(event_date)</partition_by>
        <flush_interval_milliseconds>7500</flush_interval_milliseconds>
    </query_log>

$(cch_remote_servers)

    <zookeeper>
        <node><host>$HOST</host><port>$ZK_PORT</port></node>
        <session_timeout_ms>10000</session_timeout_ms>
    </zookeeper>
    <!-- This server's place: {shard} and {replica} in ReplicatedMergeTree paths. -->
    <macros>
        <cluster>$CCH_CLUSTER</cluster>
        <shard>0$(( i / 2 + 1 ))</shard>
        <replica>$name</replica>
    </macros>
    <!-- ON CLUSTER statements (ioc migrate) go through this queue in ZooKeeper. -->
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>
</yandex>
EOF
    pipeline_hash="$(clickhouse_secret ioc_pipeline)"
    analyst_hash="$(clickhouse_secret ioc_analyst)"
    cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by deploy/local/cluster.sh — the same accounts as the single node (docs/security.md). -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>in_order</load_balancing>
            <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
            <!-- The analyst view (stream/schema/sql/080_analyst_view.sql): 18.16 pushes a query's WHERE
                 into a view only with this (the default from 19.x); without it a view reads every month. -->
            <enable_optimize_predicate_expression>1</enable_optimize_predicate_expression>
            <background_pool_size>4</background_pool_size>
            <!-- A replica that lags more than 10 s (one back from an outage) is skipped by distributed reads: the other serves. -->
            <max_replica_delay_for_distributed_queries>10</max_replica_delay_for_distributed_queries>
            <fallback_to_stale_replicas_for_distributed_queries>1</fallback_to_stale_replicas_for_distributed_queries>
            <connect_timeout_with_failover_ms>200</connect_timeout_with_failover_ms>
            <skip_unavailable_shards>0</skip_unavailable_shards>
        </default>
        <readonly><readonly>1</readonly></readonly>
        <ioc_pipeline>
            <log_queries>1</log_queries>
            <allow_ddl>0</allow_ddl>
            <max_memory_usage>4000000000</max_memory_usage>
            <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
            <load_balancing>in_order</load_balancing>
            <connect_timeout_with_failover_ms>200</connect_timeout_with_failover_ms>
        </ioc_pipeline>
        <ioc_analyst>
            <log_queries>1</log_queries>
            <readonly>1</readonly>
            <max_execution_time>60</max_execution_time>
            <max_memory_usage>4000000000</max_memory_usage>
            <max_result_rows>1000000</max_result_rows>
            <result_overflow_mode>throw</result_overflow_mode>
            <max_threads>2</max_threads>
            <connect_timeout_with_failover_ms>200</connect_timeout_with_failover_ms>
        </ioc_analyst>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <ioc_pipeline>
            <password_sha256_hex>$pipeline_hash</password_sha256_hex>
            <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
            <profile>ioc_pipeline</profile>
            <quota>default</quota>
            <allow_databases>
                <database>${CH_DATABASE}</database>
                <database>${CH_DATABASE}_security</database>
                <database>default</database>
            </allow_databases>
        </ioc_pipeline>
        <ioc_analyst>
            <password_sha256_hex>$analyst_hash</password_sha256_hex>
            <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
            <profile>ioc_analyst</profile>
            <quota>default</quota>
            <allow_databases><database>${CH_DATABASE}</database></allow_databases>
        </ioc_analyst>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries><errors>0</errors><result_rows>0</result_rows>
                <read_rows>0</read_rows><execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}
cch_start() {
    local dir; dir="$(cch_dir "${CCH_NAMES[$1]}")"
    start_bg "clickhouse-${CCH_NAMES[$1]}" "$dir/log/stdout.log" \
        "$(find_prog clickhouse-server)" --config-file="$dir/config.xml"
}
cch_ready() {
    "$(find_prog clickhouse-client)" --host "$HOST" --port "${CCH_PORTS[$1]}" -q 'SELECT 1' >/dev/null 2>&1
}
cch_where() { echo "$HOST:${CCH_PORTS[$1]} (native) $HOST:${CCH_HTTP_PORTS[$1]} (http) $HOST:${CCH_IS_PORTS[$1]} (interserver)"; }
cch_log()   { local d; d="$(cch_dir "${CCH_NAMES[$1]}")"; echo "$d/log/clickhouse-server.err.log $d/log/stdout.log"; }
cch_data()  { local d; d="$(cch_dir "${CCH_NAMES[$1]}")"; echo "$d/data $d/tmp"; }

# ----------------------------------------------------------------------------------------------
# Kafka: three KRaft nodes, each broker + controller, static quorum of three voters
# ----------------------------------------------------------------------------------------------
ck_dir() { echo "$KAFKA_DIR/node-$(( $1 + 1 ))"; }

# One cluster id for the three nodes, made by Kafka's own `random-uuid` (never starts with '-'),
# and passed as --cluster-id=ID all the same.
ck_cluster_id() {
    if [[ ! -s $KAFKA_DIR/cluster.id ]]; then
        local id
        id="$(kafka_java "$KAFKA_STORAGE" random-uuid 2>/dev/null | tail -n1 | tr -d '[:space:]')"
        [[ $id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "kafka: 'kafka-storage random-uuid' printed '$id', not a cluster id"
        echo "$id" >"$KAFKA_DIR/cluster.id"
    fi
    cat "$KAFKA_DIR/cluster.id"
}

ck_configure() {
    local i="$1" dir voters="" j
    dir="$(ck_dir "$i")"
    for j in 0 1 2; do voters+="${voters:+,}$(( j + 1 ))@$HOST:${CK_CTRL_PORTS[j]}"; done
    # Three brokers: every topic on all three, a write acknowledged by two (acks=all); a killed
    # node's partitions move to the others after broker.session.timeout.ms without heartbeats.
    kafka_server_config "$dir" $(( i + 1 )) "$voters" "${CK_PORTS[i]}" "${CK_CTRL_PORTS[i]}" 3 2 2 134217728 \
        "offsets.topic.num.partitions=12
unclean.leader.election.enable=false
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1000"
    kafka_log4j2 "$dir" 20MB
    if [[ ! -f $dir/data/meta.properties ]]; then
        kafka_format "$dir" "kafka-$(( i + 1 ))" "$(ck_cluster_id)"
    fi
}
ck_start() {
    local dir; dir="$(ck_dir "$1")"
    # shellcheck disable=SC2086  # CK_HEAP_OPTS is a list of options
    start_bg "kafka-$(( $1 + 1 ))" "$dir/log/stdout.log" \
        java $CK_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
        -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$dir/log4j2.properties" \
        -cp "$KAFKA_LIBS/*" "$KAFKA_MAIN" "$dir/server.properties"
}
# Ready = the port is open and THIS broker answers a metadata request.
ck_ready() {
    port_open "${CK_PORTS[$1]}" || return 1
    kafka_tool_jvm
    timeout 30 "${KAFKA_TOOL_CMD[@]}" "$KAFKA_TOPICS" --bootstrap-server "$HOST:${CK_PORTS[$1]}" --list >/dev/null 2>&1
}
ck_where() { echo "$HOST:${CK_PORTS[$1]} (broker) $HOST:${CK_CTRL_PORTS[$1]} (controller)"; }
ck_log()   { local d; d="$(ck_dir "$1")"; echo "$d/log/server.log $d/log/stdout.log"; }
ck_data()  { local d; d="$(ck_dir "$1")"; echo "$d/data"; }

# The generic machinery of services.sh calls "${svc}_install", "${svc}_configure", ...: bind
# each cluster service name to the functions above.
for _i in 0 1 2 3; do
    for _a in configure start ready where log data; do
        eval "clickhouse-${CCH_NAMES[_i]}_${_a}() { cch_${_a} $_i; }"
    done
    eval "clickhouse-${CCH_NAMES[_i]}_install() { clickhouse_install; }"
done
for _i in 0 1 2; do
    for _a in configure start ready where log data; do
        eval "kafka-$(( _i + 1 ))_${_a}() { ck_${_a} $_i; }"
    done
    eval "kafka-$(( _i + 1 ))_install() { kafka_install; }"
done
unset _i _a

# `env` and `kafka-tool` differ; every other command is services.sh's own.
eval "single_$(declare -f main)"
main() {
    case "${1:-}" in
        env)
            say "export IOC_MQTT_URL=tcp://$HOST:$MQTT_PORT"
            say "export IOC_KAFKA_BROKERS=$(kafka_brokers_csv)"
            say "export IOC_CLICKHOUSE_ADDR=$(clickhouse_addrs_csv)"
            say "export IOC_CLICKHOUSE_CLUSTER=$CCH_CLUSTER" ;;
        kafka-tool)
            shift
            local tool="${1:-}"; shift || true
            [[ -f $KAFKA_LIBS/.fetched ]] || die "kafka jars not fetched yet: run 'IOC_TOPOLOGY=cluster $0 up' first"
            case "$tool" in
                topics)   kafka_java "$KAFKA_TOPICS"   --bootstrap-server "$(kafka_brokers_csv)" "$@" ;;
                producer) kafka_java "$KAFKA_PRODUCER" --bootstrap-server "$(kafka_brokers_csv)" "$@" ;;
                consumer) kafka_java "$KAFKA_CONSUMER" --bootstrap-server "$(kafka_brokers_csv)" "$@" ;;
                groups)   kafka_java "$KAFKA_GROUPS"   --bootstrap-server "$(kafka_brokers_csv)" "$@" ;;
                storage)  kafka_java "$KAFKA_STORAGE" "$@" ;;
                *) die "kafka-tool: expected topics | producer | consumer | groups | storage" ;;
            esac ;;
        *) single_main "$@" ;;
    esac
}
