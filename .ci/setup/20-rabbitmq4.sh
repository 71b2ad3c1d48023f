# RabbitMQ 4.x beside the machine's 3.10 (node rabbit4@localhost in a Debian forky chroot, by
# scripts/rabbitmq4.sh: built once, reused, started if down), with TLS listeners and a CA that
# script makes. The TLS tests use it in the main pass; .ci/passes/20-rabbitmq4.sh runs every
# broker test against it a second time.
bash scripts/rabbitmq4.sh start
eval "$(bash scripts/rabbitmq4.sh env)"
# Here the 4.x node and its TLS listeners are required: their tests fail instead of skipping.
export TOPO_REQUIRE_TLS=1
