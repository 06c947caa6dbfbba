#!/usr/bin/env bash
# The local stack: real Redis, PostgreSQL and Apache Kafka (KRaft) as processes on 127.0.0.1,
# for machines without a Docker engine. docker-compose.yml runs the same servers for those with one.
#
#   scripts/stack.sh up [redis|postgres|kafka|redis-cluster ...]
#                                                     install what is missing, start, wait until each
#                                                     answers (no name: all but redis-cluster)
#   scripts/stack.sh down [name ...]                  stop exactly the processes this script started
#   scripts/stack.sh kill postgres                    crash it: immediate shutdown, recovery at the next up
#   scripts/stack.sh status                           each server: state, address, log file
#   scripts/stack.sh logs [name]                      tail a server's log
#   scripts/stack.sh reset                            down, then delete all data (caches are kept)
#
# Data and logs live under .stack/ (git-ignored; FLUXGATE_STACK_DIR moves them), downloaded Kafka
# jars under the cache folder. Ports: FLUXGATE_REDIS_PORT, FLUXGATE_PG_PORT, FLUXGATE_KAFKA_PORT,
# FLUXGATE_KAFKA_CONTROLLER_PORT and FLUXGATE_REDIS_CLUSTER_PORT (scripts/stack-env.sh). The services
# read URLs, not ports; npm start and npm test derive those URLs from the same port variables, so
# one variable moves a server.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
stack_dir=${FLUXGATE_STACK_DIR:-$root/.stack}
cache_dir=${FLUXGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/flux-gate}
# shellcheck source=scripts/stack-env.sh
source "$root/scripts/stack-env.sh"
kafka_pom=$root/scripts/kafka/pom.xml
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$kafka_pom")
kafka_libs=$cache_dir/kafka-$kafka_version/libs
all_servers=(redis postgres kafka redis-cluster)
# What `up` starts when no server is named (the cluster only when asked for).
default_servers=(redis postgres kafka)

say() { printf '[stack] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# shellcheck source=scripts/apt.sh
source "$root/scripts/apt.sh"

# True while something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for NAME SECONDS COMMAND...: poll COMMAND until it succeeds or time runs out.
wait_for() {
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "$name did not answer within ${seconds}s; see its log: $(log_file "$name")"
    sleep 0.3
  done
}

# pid_alive PIDFILE PATTERN: the recorded process still runs and is the one we started.
pid_alive() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(head -n 1 "$1")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

# stop_pid NAME PIDFILE PATTERN: SIGTERM, wait up to 60 s, then SIGKILL.
stop_pid() {
  local name=$1 pidfile=$2 pattern=$3 pid
  if ! pid_alive "$pidfile" "$pattern"; then rm -f "$pidfile"; return 0; fi
  pid=$(head -n 1 "$pidfile")
  say "stopping $name (pid $pid)"
  kill -TERM "$pid"
  local deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then say "$name ignored SIGTERM; killing"; kill -KILL "$pid"; fi
    sleep 0.2
  done
  rm -f "$pidfile"
}

log_file() { if [ "$1" = redis-cluster ]; then echo "$stack_dir/$1/create.log"; else echo "$stack_dir/$1/$1.log"; fi; }

# --- Redis -----------------------------------------------------------------------------------
redis_pidfile=$stack_dir/redis/redis.pid
redis_ready() { [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ]; }

redis_up() {
  command -v redis-server >/dev/null || apt_install redis-server redis-tools
  if pid_alive "$redis_pidfile" redis-server; then say "redis already running on 127.0.0.1:$redis_port"; return; fi
  port_open "$redis_port" && die "port $redis_port is taken by another process; set FLUXGATE_REDIS_PORT"
  mkdir -p "$stack_dir/redis"
  say "starting redis on 127.0.0.1:$redis_port"
  # AOF with fsync every second: an acknowledged reservation survives a Redis restart.
  # noeviction: Redis must refuse writes rather than silently drop stock or idempotency keys.
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$stack_dir/redis" \
    --appendonly yes --appendfsync everysec --save '' --maxmemory-policy noeviction \
    --daemonize yes --pidfile "$redis_pidfile" --logfile "$(log_file redis)"
  wait_for redis 30 redis_ready
}

redis_down() {
  if pid_alive "$redis_pidfile" redis-server; then
    # SHUTDOWN flushes the AOF before exiting; fall back to the pid if the server will not answer.
    redis-cli -h 127.0.0.1 -p "$redis_port" shutdown >/dev/null 2>&1 || true
    stop_pid redis "$redis_pidfile" redis-server
  fi
}

# --- Redis Cluster (optional: `up redis-cluster`; the tests run the order path on it too) ---------
# Three masters and three replicas on loopback ports from FLUXGATE_REDIS_CLUSTER_PORT (7000-7005),
# each node its own redis-server with the single server's durability settings. A node that misses
# its master for 2 s starts a failover; the other shards keep serving meanwhile (full coverage not
# required), and a replica however stale may take over (validity factor 0) rather than none.
cluster_dir=$stack_dir/redis-cluster
cluster_node_pidfile() { echo "$cluster_dir/$1/redis.pid"; }
cluster_ok() {
  local port
  for port in "${redis_cluster_ports[@]}"; do
    redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

redis_cluster_up() {
  command -v redis-server >/dev/null || apt_install redis-server redis-tools
  local port started=0
  for port in "${redis_cluster_ports[@]}"; do
    if pid_alive "$(cluster_node_pidfile "$port")" redis-server; then continue; fi
    port_open "$port" && die "port $port is taken by another process; set FLUXGATE_REDIS_CLUSTER_PORT"
    mkdir -p "$cluster_dir/$port"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$cluster_dir/$port" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
      --cluster-require-full-coverage no --cluster-replica-validity-factor 0 \
      --appendonly yes --appendfsync everysec --save '' --maxmemory-policy noeviction \
      --daemonize yes --pidfile "$(cluster_node_pidfile "$port")" --logfile "$cluster_dir/$port/redis.log"
    started=$((started + 1))
  done
  [ "$started" -eq 0 ] || say "started $started redis cluster node(s) on 127.0.0.1:${redis_cluster_ports[0]}-${redis_cluster_ports[5]}"
  for port in "${redis_cluster_ports[@]}"; do
    wait_for redis-cluster 30 redis-cli -h 127.0.0.1 -p "$port" ping
  done
  # A node restarted from its nodes.conf rejoins by itself; only fresh nodes need creating.
  if [ "$(redis-cli -h 127.0.0.1 -p "${redis_cluster_ports[0]}" cluster info | sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p')" -lt 6 ]; then
    say "creating the redis cluster (3 masters, 3 replicas)"
    redis-cli --cluster create $(printf '127.0.0.1:%s ' "${redis_cluster_ports[@]}") \
      --cluster-replicas 1 --cluster-yes >"$cluster_dir/create.log" 2>&1 ||
      die "redis-cli --cluster create failed; see $cluster_dir/create.log"
  fi
  wait_for redis-cluster 60 cluster_ok
}

redis_cluster_down() {
  local port
  for port in "${redis_cluster_ports[@]}"; do
    if pid_alive "$(cluster_node_pidfile "$port")" redis-server; then
      redis-cli -h 127.0.0.1 -p "$port" shutdown >/dev/null 2>&1 || true
      stop_pid "redis cluster node $port" "$(cluster_node_pidfile "$port")" redis-server
    fi
  done
}

# --- PostgreSQL ------------------------------------------------------------------------------
pg_data=$stack_dir/postgres/data
pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && echo "$dir"
}

# PostgreSQL refuses to run as root: when we are root, run it as the postgres user.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_ready() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; }

pg_up() {
  [ -n "$(pg_bin)" ] || apt_install postgresql
  local bin; bin=$(pg_bin)
  if [ -s "$pg_data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then
    say "postgres already running on 127.0.0.1:$pg_port"; return
  fi
  port_open "$pg_port" && die "port $pg_port is taken by another process; set FLUXGATE_PG_PORT"
  mkdir -p "$stack_dir/postgres"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$stack_dir/postgres"
  if [ ! -s "$pg_data/PG_VERSION" ]; then
    say "initialising a PostgreSQL cluster in $pg_data"
    as_pg "$bin/initdb" -D "$pg_data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  fi
  say "starting postgres on 127.0.0.1:$pg_port"
  as_pg "$bin/pg_ctl" -D "$pg_data" -l "$(log_file postgres)" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $stack_dir/postgres -c max_connections=200" >/dev/null
  wait_for postgres 60 pg_ready
  # Create the application role and database once (the local socket trusts the postgres user).
  local psql=("$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$stack_dir/postgres" -p "$pg_port" -U postgres -d postgres)
  if [ "$(as_pg "${psql[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$pg_user'")" != 1 ]; then
    say "creating role and database $pg_database"
    as_pg "${psql[@]}" -c "CREATE ROLE $pg_user LOGIN CREATEDB PASSWORD '$pg_password'"
    as_pg "${psql[@]}" -c "CREATE DATABASE $pg_database OWNER $pg_user"
  fi
}

pg_down() {
  local bin; bin=$(pg_bin) || return 0
  if [ -s "$pg_data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then
    say "stopping postgres"
    as_pg "$bin/pg_ctl" -D "$pg_data" -m fast -w -t 60 stop >/dev/null
  fi
}

# Immediate shutdown: no checkpoint, the server recovers from its WAL at the next start, as
# after a crash (fault tests).
pg_kill() {
  local bin; bin=$(pg_bin) || return 0
  if [ -s "$pg_data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then
    say "stopping postgres immediately"
    as_pg "$bin/pg_ctl" -D "$pg_data" -m immediate -w -t 60 stop >/dev/null
  fi
}

# --- Kafka (KRaft: one process is both broker and controller) --------------------------------
kafka_dir=$stack_dir/kafka
kafka_pidfile=$kafka_dir/kafka.pid

kafka_fetch() {
  [ -s "$kafka_libs/kafka_2.13-$kafka_version.jar" ] && return
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  say "fetching Apache Kafka $kafka_version and its dependencies with Maven into $kafka_libs"
  mkdir -p "$kafka_libs"
  mvn -q -B -f "$kafka_pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$kafka_libs" >/dev/null
}

kafka_java=(java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=file:$kafka_dir/log4j2.properties" -cp "$kafka_libs/*")

kafka_configure() {
  mkdir -p "$kafka_dir/data"
  cat >"$kafka_dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$kafka_controller_port
listeners=PLAINTEXT://127.0.0.1:$kafka_port,CONTROLLER://127.0.0.1:$kafka_controller_port
# FLUXGATE_KAFKA_ADVERTISED_PORT: a fault test's TCP proxy in front of the broker (clients reach
# the broker through whatever address it advertises, so a proxy must be advertised to be in the path).
advertised.listeners=PLAINTEXT://127.0.0.1:${FLUXGATE_KAFKA_ADVERTISED_PORT:-$kafka_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$kafka_dir/data
num.partitions=3
# One broker: internal topics cannot have more replicas than that.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
# Topics are created explicitly by the services (src/kafka/topics.ts), never by a typo.
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
EOF
  # Kafka 4.x logs through log4j2. INFO keeps the line kafka_ready waits for; the config dumps
  # (five of about 400 lines each at start-up; the effective file is server.properties above)
  # and per-partition chatter are left out.
  cat >"$kafka_dir/log4j2.properties" <<'EOF'
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = stdout
appender.stdout.type = Console
appender.stdout.name = stdout
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.log.name = kafka.log
logger.log.level = WARN
logger.storage.name = org.apache.kafka.storage
logger.storage.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
}

# The version of the running broker, read from its class path (kafka-<version>/libs/*).
kafka_running_version() {
  pid_alive "$kafka_pidfile" kafka.Kafka || return 0
  tr '\0' '\n' <"/proc/$(head -n 1 "$kafka_pidfile")/cmdline" | sed -n 's:.*/kafka-\([^/]*\)/libs/\*$:\1:p'
}

kafka_ready() { port_open "$kafka_port" && grep -q 'Kafka Server started' "$(log_file kafka)"; }

kafka_up() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  kafka_fetch
  if pid_alive "$kafka_pidfile" kafka.Kafka; then
    say "kafka already running on 127.0.0.1:$kafka_port"
    local running; running=$(kafka_running_version)
    [ "$running" = "$kafka_version" ] ||
      say "note: it runs kafka ${running:-?}, not $kafka_version (scripts/kafka/pom.xml); 'down kafka' then 'up kafka' moves it"
    return
  fi
  port_open "$kafka_port" && die "port $kafka_port is taken by another process; set FLUXGATE_KAFKA_PORT"
  port_open "$kafka_controller_port" && die "port $kafka_controller_port is taken; set FLUXGATE_KAFKA_CONTROLLER_PORT"
  kafka_configure
  if [ ! -s "$kafka_dir/data/meta.properties" ]; then
    say "formatting KRaft storage in $kafka_dir/data"
    local cluster_id
    cluster_id=$("${kafka_java[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    "${kafka_java[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$kafka_dir/server.properties" >/dev/null
  fi
  say "starting kafka $kafka_version (KRaft) on 127.0.0.1:$kafka_port"
  : >"$(log_file kafka)"
  # setsid: the broker must outlive this script and the shell that called it.
  setsid "${kafka_java[@]}" kafka.Kafka "$kafka_dir/server.properties" >>"$(log_file kafka)" 2>&1 </dev/null &
  echo $! >"$kafka_pidfile"
  wait_for kafka 120 kafka_ready
}

kafka_down() { stop_pid kafka "$kafka_pidfile" kafka.Kafka; }

# --- commands --------------------------------------------------------------------------------
state() {
  case $1 in
    redis) pid_alive "$redis_pidfile" redis-server && redis_ready ;;
    redis-cluster) cluster_ok ;;
    postgres) [ -n "$(pg_bin)" ] && pg_ready ;;
    kafka) pid_alive "$kafka_pidfile" kafka.Kafka && kafka_ready ;;
  esac
}

address() {
  case $1 in
    redis) echo "$stack_redis_url" ;;
    redis-cluster) echo "${stack_redis_cluster_url%%,*},... (3 masters, 3 replicas)" ;;
    postgres) echo "$stack_database_url" ;;
    kafka) local v; v=$(kafka_running_version); echo "$stack_kafka_brokers (kafka ${v:-$kafka_version}, KRaft)" ;;
  esac
}

# servers DEFAULT... -- NAME...: the names given, else the defaults.
servers() {
  local defaults=()
  while [ "$1" != -- ]; do defaults+=("$1"); shift; done
  shift
  if [ $# -eq 0 ]; then echo "${defaults[@]}"; else echo "$@"; fi
}

check_names() {
  local name
  for name in "$@"; do
    case $name in redis | postgres | kafka | redis-cluster) ;; *) die "unknown server '$name' (expected: ${all_servers[*]})" ;; esac
  done
}

cmd=${1:-}
[ $# -gt 0 ] && shift
check_names "$@"
case $cmd in
  up)
    started=$SECONDS
    for name in $(servers "${default_servers[@]}" -- "$@"); do
      case $name in redis) redis_up ;; postgres) pg_up ;; kafka) kafka_up ;; redis-cluster) redis_cluster_up ;; esac
    done
    say "up in $((SECONDS - started))s"
    ;;
  down)
    # Reverse order: Kafka and Postgres stop before Redis.
    for name in $(servers "${all_servers[@]}" -- "$@" | tr ' ' '\n' | tac); do
      case $name in redis) redis_down ;; postgres) pg_down ;; kafka) kafka_down ;; redis-cluster) redis_cluster_down ;; esac
    done
    ;;
  kill)
    [ "$*" = postgres ] || die "kill takes postgres only (fault tests SIGKILL Redis and Kafka by their pid files)"
    pg_kill
    ;;
  status)
    code=0
    for name in "${all_servers[@]}"; do
      if state "$name"; then s=up; elif [ "$name" = redis-cluster ]; then s=off; else s=down; code=1; fi
      printf '%-14s %-5s %-60s log: %s\n' "$name" "$s" "$(address "$name")" "$(log_file "$name")"
    done
    exit $code
    ;;
  logs)
    name=${1:-kafka}
    check_names "$name"
    tail -n 100 -F "$(log_file "$name")"
    ;;
  reset)
    "$0" down
    say "deleting $stack_dir"
    rm -rf "$stack_dir"
    ;;
  *)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
