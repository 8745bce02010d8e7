#!/usr/bin/env bash
# Local Apache Kafka (KRaft) for tocsin tests, built from Maven Central jars (no Docker, no tarball).
#
# Usage: deploy/kafka/kafka.sh [--nodes 1|3] fetch|up|down|status|kill N|start N
#
#   fetch    resolve the broker jars into $TOCSIN_KAFKA_HOME/libs-<version> (skipped if present)
#   up       start a fresh cluster (new data dir + cluster id) if none is running; if it already
#            runs, do nothing (restarting any dead node of it without reformatting); fetches if needed
#   down     stop every node (SIGTERM; SIGKILL after 30 s, or 5 s once the 3-node quorum is
#            gone); data is not reused by the next `up`; always exits 0
#   status   print pid/port/state per node; exit 0 if all nodes are up, 1 otherwise
#   kill N   SIGKILL node N (fault tests)
#   start N  restart node N with its existing data (no reformat) and wait until it is ready
#   scram-user NAME PASSWORD [SCRAM-SHA-256|SCRAM-SHA-512]
#            create (or change) a SCRAM user on the running single-node broker
#
# Options / environment (all optional):
#   --nodes 1|3           cluster size for `up` (default 1; other commands use the running cluster's)
#   TOCSIN_KAFKA_HOME     jar cache + run dir (default <repo>/.kafka)
#   TOCSIN_KAFKA_LIBS_HOME  where the jar cache lives if not in TOCSIN_KAFKA_HOME
#   TOCSIN_KAFKA_PORT     single-node broker port (default 9092; controller port = port + 10001)
#   TOCSIN_KAFKA_WAIT     seconds to wait for readiness (default 120)
#   TOCSIN_KAFKA_SASL_SSL_PORT  single node only: also listen with SASL over TLS on this port
#                         (mechanisms PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), for trying and testing
#                         TOCSIN_BROKER_SECURITY_PROTOCOL=SASL_SSL; needs TOCSIN_KAFKA_SSL_KEYSTORE
#   TOCSIN_KAFKA_SSL_KEYSTORE   PEM file: the broker's private key (unencrypted) and certificate chain
#   TOCSIN_KAFKA_PLAIN_USERS    PLAIN users of that listener, NAME:PASSWORD[,NAME:PASSWORD...]
#                         (SCRAM users: the scram-user command, once the broker is up)
#   JAVA_HOME             if set, $JAVA_HOME/bin/java is used instead of `java` from PATH
#   MAVEN_OPTS            passed to mvn as usual (e.g. -Dmaven.repo.local=...)
#
# 3 nodes: broker ports 9192/9292/9392, controller ports 9193/9293/9393 (all combined
# broker+controller with static voters; RF 3, min ISR 2, so one node may be down).
#
# Exit codes: 0 ok, 1 failure, 2 usage error or missing java (>= 17) / mvn.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
POM="$SCRIPT_DIR/pom.xml"
LOG4J_CONF="$SCRIPT_DIR/log4j2.properties"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
READY_LINE="Kafka Server started"

KAFKA_VERSION=$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$POM")
[[ -n "$KAFKA_VERSION" ]] || { echo "kafka.sh: cannot read <kafka.version> from $POM" >&2; exit 1; }

KHOME="${TOCSIN_KAFKA_HOME:-$REPO_ROOT/.kafka}"
LIBS="${TOCSIN_KAFKA_LIBS_HOME:-$KHOME}/libs-$KAFKA_VERSION"
RUN="$KHOME/run"
STATE="$RUN/cluster.env"
WAIT="${TOCSIN_KAFKA_WAIT:-120}"
STOP_WAIT=30
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

log() { echo "kafka.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
    exit 2
}

# ---------------------------------------------------------------- prerequisites

require_java() {
    if ! command -v "$JAVA" >/dev/null 2>&1; then
        log "error: java not found (need Java >= 17; install a JDK/JRE 17+ or set JAVA_HOME)"
        exit 2
    fi
    local out ver major
    if ! out=$("$JAVA" -version 2>&1); then
        log "error: '$JAVA -version' failed: $out"
        exit 2
    fi
    # e.g. openjdk version "17.0.15" 2025-04-15 / java version "1.8.0_292" / "21-ea"
    ver=$(sed -n 's/.*version "\([^"]*\)".*/\1/p' <<<"$out" | head -n 1)
    major=${ver%%[.+-]*}
    if [[ "$major" == 1 ]]; then
        major=${ver#1.}
        major=${major%%[.+-_]*}
    fi
    if ! [[ "$major" =~ ^[0-9]+$ ]] || ((major < 17)); then
        log "error: Java >= 17 required for the Kafka $KAFKA_VERSION broker, found '${ver:-unknown}' ($JAVA)"
        exit 2
    fi
}

require_mvn() {
    if ! command -v mvn >/dev/null 2>&1; then
        log "error: mvn (Apache Maven) not found; it is needed once to fetch the Kafka jars into $LIBS"
        exit 2
    fi
}

# ---------------------------------------------------------------- fetch

jars_present() { [[ -f "$LIBS/.complete" && -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]]; }

cmd_fetch() {
    if jars_present; then
        log "jars already in $LIBS ($(find "$LIBS" -name '*.jar' | wc -l | tr -d ' ') jars), skipping fetch"
        return 0
    fi
    require_mvn
    mkdir -p "$KHOME"
    local tmp="$KHOME/.libs-$KAFKA_VERSION.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    # run on a copy of the pom so Maven never writes into the repo
    cp "$POM" "$tmp/pom.xml"
    log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS ..."
    # output kept in a file (mvn -q still emits ANSI resets); shown only on failure
    if ! mvn -B -q -f "$tmp/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$tmp/jars" >"$tmp/mvn.log" 2>&1; then
        tail -n 40 "$tmp/mvn.log" >&2
        rm -rf "$tmp"
        die "mvn copy-dependencies failed (is Maven Central reachable?)"
    fi
    local j
    for j in "kafka_2.13-$KAFKA_VERSION.jar" "kafka-server-$KAFKA_VERSION.jar" \
        "kafka-clients-$KAFKA_VERSION.jar" log4j-core- log4j-slf4j-impl- scala-library-; do
        compgen -G "$tmp/jars/$j*" >/dev/null || { rm -rf "$tmp"; die "fetched jar set lacks $j*"; }
    done
    touch "$tmp/jars/.complete"
    rm -rf "$LIBS"
    mv "$tmp/jars" "$LIBS"
    rm -rf "$tmp"
    log "fetched $(find "$LIBS" -name '*.jar' | wc -l | tr -d ' ') jars ($(du -sh "$LIBS" | cut -f1))"
}

# ---------------------------------------------------------------- cluster layout

# Sets NODES, BROKER_PORT[i], CTRL_PORT[i] for a cluster of $1 nodes.
layout() {
    NODES=$1
    BROKER_PORT=()
    CTRL_PORT=()
    if ((NODES == 1)); then
        local p="${TOCSIN_KAFKA_PORT:-9092}"
        if ! [[ "$p" =~ ^[0-9]+$ ]] || ((p < 1024 || p + 10001 >= 32768)); then
            log "error: TOCSIN_KAFKA_PORT must be 1024..22766 (controller uses port + 10001), got '$p'"
            exit 2
        fi
        BROKER_PORT[1]=$p
        CTRL_PORT[1]=$((p + 10001))
    else
        local i
        for i in 1 2 3; do
            BROKER_PORT[i]=$((9092 + 100 * i))
            CTRL_PORT[i]=$((9093 + 100 * i))
        done
    fi
}

# Loads the running/last cluster's layout from $STATE; returns 1 if there is none.
load_state() {
    [[ -f "$STATE" ]] || return 1
    local n
    n=$(sed -n 's/^NODES=//p' "$STATE")
    [[ "$n" == 1 || "$n" == 3 ]] || return 1
    NODES=$n
    BROKER_PORT=()
    CTRL_PORT=()
    local i
    for ((i = 1; i <= NODES; i++)); do
        BROKER_PORT[i]=$(sed -n "s/^BROKER_PORT_$i=//p" "$STATE")
        CTRL_PORT[i]=$(sed -n "s/^CTRL_PORT_$i=//p" "$STATE")
    done
}

save_state() {
    local cluster_id=$1 i
    {
        echo "KAFKA_VERSION=$KAFKA_VERSION"
        echo "CLUSTER_ID=$cluster_id"
        echo "NODES=$NODES"
        for ((i = 1; i <= NODES; i++)); do
            echo "BROKER_PORT_$i=${BROKER_PORT[i]}"
            echo "CTRL_PORT_$i=${CTRL_PORT[i]}"
        done
    } >"$STATE"
}

bootstrap() {
    local i s=""
    for ((i = 1; i <= NODES; i++)); do s+="${s:+,}127.0.0.1:${BROKER_PORT[i]}"; done
    echo "$s"
}

props_file() { echo "$RUN/node$1.properties"; }
pid_file() { echo "$RUN/node$1.pid"; }
log_file() { echo "$RUN/node$1.log"; }

write_props() {
    local i=$1 voters="" j
    for ((j = 1; j <= NODES; j++)); do voters+="${voters:+,}$j@127.0.0.1:${CTRL_PORT[j]}"; done
    local rf=1 isr=1
    ((NODES == 3)) && rf=3 isr=2
    cat >"$(props_file "$i")" <<EOF
# generated by deploy/kafka/kafka.sh (Kafka $KAFKA_VERSION, node $i of $NODES)
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${BROKER_PORT[i]},CONTROLLER://127.0.0.1:${CTRL_PORT[i]}
advertised.listeners=PLAINTEXT://127.0.0.1:${BROKER_PORT[i]}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$RUN/data/node$i
num.partitions=1
# Topics are created by "tocsin topics create" (or a worker with TOCSIN_CREATE_TOPICS=true) with
# their partitions and configs; a client asking for a missing one must not get it with defaults.
auto.create.topics.enable=false
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
# test speed
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=5
transaction.state.log.num.partitions=5
# small machine
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.dedupe.buffer.size=33554432
EOF
}

# Appends a SASL_SSL listener to node $1's properties when TOCSIN_KAFKA_SASL_SSL_PORT is set
# (single node); its keys come after, and so override, the PLAINTEXT-only ones written above.
write_sasl_ssl_props() {
    local port="${TOCSIN_KAFKA_SASL_SSL_PORT:-}" keystore="${TOCSIN_KAFKA_SSL_KEYSTORE:-}" i=$1
    [[ -n "$port" ]] || return 0
    ((NODES == 1)) || die "TOCSIN_KAFKA_SASL_SSL_PORT works with one node only"
    [[ "$port" =~ ^[0-9]+$ ]] || die "TOCSIN_KAFKA_SASL_SSL_PORT must be a port number"
    [[ -f "$keystore" ]] || die "TOCSIN_KAFKA_SASL_SSL_PORT needs TOCSIN_KAFKA_SSL_KEYSTORE (a PEM file: key + certificate chain)"
    local users="" pair
    for pair in ${TOCSIN_KAFKA_PLAIN_USERS//,/ }; do
        [[ "$pair" =~ ^[A-Za-z0-9._-]+:[A-Za-z0-9._-]+$ ]] || die "TOCSIN_KAFKA_PLAIN_USERS: NAME:PASSWORD pairs of letters, digits, . _ -"
        users+=" user_${pair%%:*}=\"${pair#*:}\""
    done
    cat >>"$(props_file "$i")" <<EOF
# SASL over TLS (TOCSIN_KAFKA_SASL_SSL_PORT)
listeners=PLAINTEXT://127.0.0.1:${BROKER_PORT[i]},CONTROLLER://127.0.0.1:${CTRL_PORT[i]},SASL_SSL://127.0.0.1:$port
advertised.listeners=PLAINTEXT://127.0.0.1:${BROKER_PORT[i]},SASL_SSL://127.0.0.1:$port
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$keystore
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$users;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
}

cmd_scram_user() {
    local name=${1:-} password=${2:-} mechanism=${3:-SCRAM-SHA-512}
    [[ -n "$name" && -n "$password" ]] || { log "error: scram-user NAME PASSWORD [MECHANISM]"; exit 2; }
    [[ "$mechanism" == SCRAM-SHA-256 || "$mechanism" == SCRAM-SHA-512 ]] || { log "error: mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512"; exit 2; }
    require_java
    { load_state && ((NODES == 1)); } || die "no single-node cluster in $RUN (run '$0 up' first)"
    node_pid 1 >/dev/null || die "the broker is not running"
    "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -Xshare:auto \
        -Dlog4j2.configurationFile="$LOG4J_CONF" -Dkafka.logs.dir="$RUN" \
        -Dtocsin.kafka.logfile="$RUN/tools.log" -cp "$LIBS/*" kafka.admin.ConfigCommand \
        --bootstrap-server "127.0.0.1:${BROKER_PORT[1]}" --alter --entity-type users \
        --entity-name "$name" --add-config "$mechanism=[password=$password]" >>"$RUN/tools.log" 2>&1 ||
        die "could not create SCRAM user $name (see $RUN/tools.log)"
    log "SCRAM user $name ($mechanism) created"
}

# ---------------------------------------------------------------- processes

# Prints the pid of node $1 if its pid file names a live kafka.Kafka process for that node.
# the pid recorded for node $1, unchecked
recorded_pid() {
    local f pid
    f=$(pid_file "$1")
    [[ -f "$f" ]] || return 1
    pid=$(<"$f")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    echo "$pid"
}

# -ww: the whole command line whatever COLUMNS says (pytest-xdist's workers set COLUMNS=80,
# and a cut line hid every node from this check: never "running", so never stopped).
node_pid() {
    local pid args
    pid=$(recorded_pid "$1") || return 1
    args=$(ps -ww -o args= -p "$pid" 2>/dev/null) || return 1
    [[ "$args" == *kafka.Kafka*"$(props_file "$1")"* ]] || return 1
    echo "$pid"
}

# true while the process recorded for node $1 exists. Start-up waits use this, not node_pid:
# a look at a process's arguments can fail for an instant while nohup/setsid exec into java,
# or when `ps` cannot be forked on a loaded machine, and a restart that went on to start fine
# was then reported "exited during startup" (CI, the broker-kill fault test). kill -0 is a
# builtin that reads no arguments; a reused pid within the start-up wait is not a concern.
alive() {
    local pid
    pid=$(recorded_pid "$1") || return 1
    kill -0 "$pid" 2>/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# true if the log of node $1 contains the ready line after byte offset $2
log_ready() {
    local f
    f=$(log_file "$1")
    [[ -f "$f" ]] || return 1
    # no grep -q: an early exit would SIGPIPE tail and fail the pipeline under pipefail
    tail -c +"$(($2 + 1))" "$f" | grep -F "$READY_LINE" >/dev/null
}

log_size() {
    local f
    f=$(log_file "$1")
    if [[ -f "$f" ]]; then wc -c <"$f" | tr -d ' '; else echo 0; fi
}

java_tool() {
    "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -Xshare:auto \
        -Dlog4j2.configurationFile="$LOG4J_CONF" -Dkafka.logs.dir="$RUN" \
        -Dtocsin.kafka.logfile="$RUN/tools.log" \
        -cp "$LIBS/*" kafka.tools.StorageTool "$@"
}

# Starts node $1 in the background (detached); prints nothing.
spawn_node() {
    local i=$1 heap="-Xms256m -Xmx512m" pid
    ((NODES == 3)) && heap="-Xms256m -Xmx384m"
    local -a cmd
    # shellcheck disable=SC2206  # heap is two words on purpose
    cmd=("$JAVA" $heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
        -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
        -Dlog4j2.configurationFile="$LOG4J_CONF" -Dkafka.logs.dir="$RUN"
        -Dtocsin.kafka.logfile="$(log_file "$i")"
        -cp "$LIBS/*" kafka.Kafka "$(props_file "$i")")
    if command -v setsid >/dev/null 2>&1; then
        # not a process-group leader here, so setsid execs java in place: $! is java's pid
        nohup setsid "${cmd[@]}" </dev/null >>"$(log_file "$i")" 2>&1 &
    else
        nohup "${cmd[@]}" </dev/null >>"$(log_file "$i")" 2>&1 &
    fi
    pid=$!
    echo "$pid" >"$(pid_file "$i")"
}

# wait_ready "<node> <log offset>"... : waits for process alive + port + ready line for each.
# On failure prints the log tail of the culprit and returns 1.
wait_ready() {
    local deadline=$((SECONDS + WAIT)) spec i off all f
    while :; do
        all=1
        for spec in "$@"; do
            i=${spec% *}
            off=${spec#* }
            f=$(log_file "$i")
            if ! alive "$i"; then
                log "error: node $i (port ${BROKER_PORT[i]}) exited during startup; last lines of $f:"
                tail -n 40 "$f" >&2 2>/dev/null || true
                return 1
            fi
            if ! port_open "${BROKER_PORT[i]}" || ! log_ready "$i" "$off"; then
                all=0
            fi
        done
        ((all)) && return 0
        if ((SECONDS >= deadline)); then
            for spec in "$@"; do
                i=${spec% *}
                off=${spec#* }
                if ! port_open "${BROKER_PORT[i]}" || ! log_ready "$i" "$off"; then
                    f=$(log_file "$i")
                    log "error: node $i (port ${BROKER_PORT[i]}) not ready after ${WAIT}s; last lines of $f:"
                    tail -n 40 "$f" >&2 2>/dev/null || true
                fi
            done
            return 1
        fi
        sleep 0.5
    done
}

# Stops the nodes given as arguments (all nodes of the cluster): SIGTERM, wait up to
# $STOP_WAIT s, then SIGKILL. With 3 voters, once fewer than 2 nodes are left the quorum is
# gone and the last broker's controlled shutdown can hang, so the rest get only 5 s more
# (a stopped cluster's data is never reused: the next `up` formats a fresh one).
stop_nodes() {
    local i pid
    local -a pids=()
    for i in "$@"; do
        if pid=$(node_pid "$i"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            log "node $i: SIGTERM sent to pid $pid"
        fi
    done
    local deadline=$((SECONDS + STOP_WAIT)) alive voters=$#
    while ((${#pids[@]})); do
        alive=()
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive+=("$pid")
        done
        pids=(${alive[@]+"${alive[@]}"})
        ((${#pids[@]})) || break
        if ((voters > 1 && 2 * ${#pids[@]} <= voters && deadline > SECONDS + 5)); then
            deadline=$((SECONDS + 5))
        fi
        if ((SECONDS >= deadline)); then
            log "still running, sending SIGKILL to: ${pids[*]}"
            kill -KILL "${pids[@]}" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.5
    done
    for i in "$@"; do rm -f "$(pid_file "$i")"; done
}

# ---------------------------------------------------------------- commands

cmd_up() {
    require_java
    if load_state; then
        local i running=() missing=()
        for ((i = 1; i <= NODES; i++)); do
            if node_pid "$i" >/dev/null; then running+=("$i"); else missing+=("$i"); fi
        done
        if ((${#running[@]})); then
            if ((NODES != REQ_NODES)); then
                die "a $NODES-node cluster is running in $RUN; run '$0 down' first"
            fi
            if ((${#missing[@]} == 0)); then
                local specs=()
                for i in "${running[@]}"; do specs+=("$i 0"); done
                if wait_ready "${specs[@]}"; then
                    log "already running ($NODES node(s))"
                    echo "bootstrap: $(bootstrap)"
                    return 0
                fi
                die "cluster in $RUN is running but not healthy; try '$0 down' then '$0 up'"
            fi
            log "nodes ${missing[*]} of the running cluster are down; restarting them (no reformat)"
            cmd_fetch
            local specs=()
            for i in "${missing[@]}"; do
                specs+=("$i $(log_size "$i")")
                spawn_node "$i"
            done
            wait_ready "${specs[@]}" || die "could not restart nodes ${missing[*]}"
            log "cluster up ($NODES node(s))"
            echo "bootstrap: $(bootstrap)"
            return 0
        fi
    fi

    # no running cluster: start a fresh one
    layout "$REQ_NODES"
    local i
    for ((i = 1; i <= NODES; i++)); do
        port_open "${BROKER_PORT[i]}" && die "port ${BROKER_PORT[i]} is already in use (another Kafka?)"
        port_open "${CTRL_PORT[i]}" && die "port ${CTRL_PORT[i]} is already in use"
    done
    if [[ -n "${TOCSIN_KAFKA_SASL_SSL_PORT:-}" ]] && port_open "$TOCSIN_KAFKA_SASL_SSL_PORT"; then
        die "port $TOCSIN_KAFKA_SASL_SSL_PORT is already in use"
    fi
    cmd_fetch
    local t0=$SECONDS
    rm -rf "$RUN"
    mkdir -p "$RUN/data"
    local cluster_id
    cluster_id=$(java_tool random-uuid | tail -n 1) || die "StorageTool random-uuid failed (see $RUN/tools.log)"
    [[ "$cluster_id" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "unexpected cluster id from StorageTool: '$cluster_id'"
    save_state "$cluster_id"
    local -a fmt_pids=()
    for ((i = 1; i <= NODES; i++)); do
        write_props "$i"
        write_sasl_ssl_props "$i"
        java_tool format -t "$cluster_id" -c "$(props_file "$i")" --ignore-formatted \
            >>"$RUN/format.log" 2>&1 &
        fmt_pids+=($!)
    done
    for i in "${fmt_pids[@]}"; do
        wait "$i" || { cat "$RUN/format.log" >&2; die "StorageTool format failed"; }
    done
    log "formatted $NODES node(s), cluster id $cluster_id"
    local specs=()
    for ((i = 1; i <= NODES; i++)); do
        spawn_node "$i"
        specs+=("$i 0")
    done
    if ! wait_ready "${specs[@]}"; then
        log "stopping the nodes that were started"
        local all_nodes=()
        for ((i = 1; i <= NODES; i++)); do all_nodes+=("$i"); done
        stop_nodes "${all_nodes[@]}" 2>/dev/null
        exit 1
    fi
    log "Kafka $KAFKA_VERSION up: $NODES node(s) in $((SECONDS - t0))s (logs: $RUN/node*.log)"
    echo "bootstrap: $(bootstrap)"
}

cmd_down() {
    local nodes=() f n i any_running=0
    if load_state; then
        for ((i = 1; i <= NODES; i++)); do nodes+=("$i"); done
    fi
    # plus any other pid file, whatever the recorded layout
    for f in "$RUN"/node*.pid; do
        [[ -e "$f" ]] || continue
        n=${f##*/node}
        n=${n%.pid}
        [[ "$n" =~ ^[0-9]+$ ]] && ! [[ " ${nodes[*]} " == *" $n "* ]] && nodes+=("$n")
        node_pid "$n" >/dev/null && any_running=1
    done
    if ((any_running == 0)); then
        for f in "$RUN"/node*.pid; do rm -f "$f"; done
        log "nothing running"
        return 0
    fi
    stop_nodes "${nodes[@]}"
    log "stopped"
}

cmd_status() {
    if ! load_state; then
        echo "no cluster in $RUN"
        return 1
    fi
    local i pid state ok=1
    for ((i = 1; i <= NODES; i++)); do
        if pid=$(node_pid "$i"); then
            if port_open "${BROKER_PORT[i]}"; then state=up; else state=starting; ok=0; fi
        else
            pid=-
            state=down
            ok=0
        fi
        printf 'node%d pid=%s port=%s controller=%s state=%s\n' \
            "$i" "$pid" "${BROKER_PORT[i]}" "${CTRL_PORT[i]}" "$state"
    done
    if ((ok)); then
        echo "bootstrap: $(bootstrap)"
        return 0
    fi
    return 1
}

check_node_arg() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] || { log "error: $CMD needs a node number"; exit 2; }
    load_state || die "no cluster in $RUN (run '$0 up' first)"
    ((${1} >= 1 && ${1} <= NODES)) || { log "error: node must be 1..$NODES"; exit 2; }
}

cmd_kill() {
    local i=$1 pid
    check_node_arg "$i"
    if ! pid=$(node_pid "$i"); then
        log "node $i is not running"
        rm -f "$(pid_file "$i")"
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    local n
    for n in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    rm -f "$(pid_file "$i")"
    log "node $i (pid $pid, port ${BROKER_PORT[i]}) killed with SIGKILL"
}

cmd_start() {
    local i=$1 pid
    check_node_arg "$i"
    require_java
    jars_present || die "jars missing in $LIBS (run '$0 fetch')"
    [[ -f "$(props_file "$i")" && -d "$RUN/data/node$i" ]] || die "node $i was never formatted; use '$0 up'"
    if pid=$(node_pid "$i"); then
        log "node $i already running (pid $pid)"
    else
        port_open "${BROKER_PORT[i]}" && die "port ${BROKER_PORT[i]} is in use by another process"
        local off
        off=$(log_size "$i")
        spawn_node "$i"
        local t0=$SECONDS
        wait_ready "$i $off" || die "node $i did not come back"
        log "node $i started in $((SECONDS - t0))s (pid $(node_pid "$i"))"
    fi
    echo "bootstrap: $(bootstrap)"
}

# ---------------------------------------------------------------- main

REQ_NODES=1
CMD=""
ARGS=()
while (($#)); do
    case "$1" in
    --nodes)
        [[ $# -ge 2 ]] || usage
        REQ_NODES=$2
        shift 2
        ;;
    --nodes=*)
        REQ_NODES=${1#--nodes=}
        shift
        ;;
    -h | --help | help) usage ;;
    -*)
        log "error: unknown option $1"
        usage
        ;;
    *)
        if [[ -z "$CMD" ]]; then CMD=$1; else ARGS+=("$1"); fi
        shift
        ;;
    esac
done
[[ "$REQ_NODES" == 1 || "$REQ_NODES" == 3 ]] || { log "error: --nodes must be 1 or 3"; exit 2; }

case "$CMD" in
fetch)
    require_java
    cmd_fetch
    ;;
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
kill) cmd_kill "${ARGS[0]:-}" ;;
start) cmd_start "${ARGS[0]:-}" ;;
scram-user) cmd_scram_user ${ARGS[@]+"${ARGS[@]}"} ;;
*) usage ;;
esac
