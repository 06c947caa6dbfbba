# Sourced by stack.sh, start.sh and test.sh: where the local stack listens, and the service
# settings that point at it, so that one variable moves a server for the stack and the services:
#
#   FLUXGATE_REDIS_PORT=16379 npm test    # starts Redis on 16379 and runs the tests against it
#
# The ports (defaults 6379, 5432, 9092, 9093) are read by stack.sh only. The services read
# FLUXGATE_REDIS_URL, FLUXGATE_DATABASE_URL and FLUXGATE_KAFKA_BROKERS (src/config.ts): each one
# that is not set is exported here from its port; one that is set wins and is left alone.
redis_port=${FLUXGATE_REDIS_PORT:-6379}
pg_port=${FLUXGATE_PG_PORT:-5432}
kafka_port=${FLUXGATE_KAFKA_PORT:-9092}
kafka_controller_port=${FLUXGATE_KAFKA_CONTROLLER_PORT:-9093}
pg_user=fluxgate
pg_password=fluxgate
pg_database=fluxgate
stack_redis_url=redis://127.0.0.1:$redis_port
stack_database_url=postgres://$pg_user:$pg_password@127.0.0.1:$pg_port/$pg_database
stack_kafka_brokers=127.0.0.1:$kafka_port
# The optional Redis Cluster (stack.sh up redis-cluster): six nodes from this port on. The tests
# read its URL from FLUXGATE_STACK_REDIS_CLUSTER_URL to run the order path on it as well.
redis_cluster_port=${FLUXGATE_REDIS_CLUSTER_PORT:-7000}
redis_cluster_ports=()
for i in 0 1 2 3 4 5; do redis_cluster_ports+=($((redis_cluster_port + i))); done
stack_redis_cluster_url=$(printf 'redis://127.0.0.1:%s,' "${redis_cluster_ports[@]}")
stack_redis_cluster_url=${stack_redis_cluster_url%,}
export FLUXGATE_STACK_REDIS_CLUSTER_URL=$stack_redis_cluster_url

export FLUXGATE_REDIS_URL=${FLUXGATE_REDIS_URL:-$stack_redis_url}
export FLUXGATE_DATABASE_URL=${FLUXGATE_DATABASE_URL:-$stack_database_url}
export FLUXGATE_KAFKA_BROKERS=${FLUXGATE_KAFKA_BROKERS:-$stack_kafka_brokers}
