# A three-node RabbitMQ 4.x cluster (rabbitA, rabbitB, rabbitC @localhost on AMQP 5701-5703,
# management 15701-15703) from the forky chroot that 20-rabbitmq4.sh built, by
# scripts/rabbitmq-cluster.sh: reused when already up, started and joined when not. The tests of
# tests/broker_cluster.rs read its URLs; here they are required and fail instead of skipping.
bash scripts/rabbitmq-cluster.sh start
eval "$(bash scripts/rabbitmq-cluster.sh env)"
export TOPO_REQUIRE_CLUSTER=1
