# Every test that talks to a broker, again, against the RabbitMQ 4.x node of
# .ci/setup/20-rabbitmq4.sh (the main pass ran them against the machine's 3.10).
log "broker tests against RabbitMQ 4.x at ${TOPO_TEST_RABBIT4_MANAGEMENT_URL:?run .ci/setup/20-rabbitmq4.sh first}"
TOPO_TEST_AMQP_URL=$TOPO_TEST_RABBIT4_AMQP_URL \
TOPO_TEST_MANAGEMENT_URL=$TOPO_TEST_RABBIT4_MANAGEMENT_URL \
  cargo test --locked --test 'broker_*' --test route_broker
