# Every test, again, against the RabbitMQ 4.x node of .ci/setup/20-rabbitmq4.sh (the main
# pass ran them against the machine's 3.10): the broker tests are not only tests/broker_*.rs
# (saved plans, confirmation, drift, routing talk to a broker too), and a list would miss the
# next one. The tests without a broker run twice; they are the fast ones.
log "broker tests against RabbitMQ 4.x at ${TOPO_TEST_RABBIT4_MANAGEMENT_URL:?run .ci/setup/20-rabbitmq4.sh first}"
TOPO_TEST_AMQP_URL=$TOPO_TEST_RABBIT4_AMQP_URL \
TOPO_TEST_MANAGEMENT_URL=$TOPO_TEST_RABBIT4_MANAGEMENT_URL \
  cargo test --locked
