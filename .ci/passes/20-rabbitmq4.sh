# Every test, again, against the RabbitMQ 4.x node of .ci/setup/20-rabbitmq4.sh (the main
# pass ran them against the machine's 3.10): the broker tests are not only tests/broker_*.rs
# (saved plans, confirmation, drift, routing talk to a broker too), and a list would miss the
# next one. The tests without a broker run twice; they are the fast ones.
log "broker tests against RabbitMQ 4.x at ${TOPO_TEST_RABBIT4_MANAGEMENT_URL:?run .ci/setup/20-rabbitmq4.sh first}"
# The cluster tests (tests/broker_cluster.rs) ran in the main pass: they take their nodes from
# TOPO_TEST_CLUSTER_*, which are 4.x already, not from the two URLs above, so here they would
# only stop and kill the same nodes a second time.
env -u TOPO_TEST_CLUSTER_AMQP_URLS -u TOPO_TEST_CLUSTER_MANAGEMENT_URLS TOPO_REQUIRE_CLUSTER=0 \
  TOPO_TEST_AMQP_URL="$TOPO_TEST_RABBIT4_AMQP_URL" \
  TOPO_TEST_MANAGEMENT_URL="$TOPO_TEST_RABBIT4_MANAGEMENT_URL" \
  cargo test --locked
