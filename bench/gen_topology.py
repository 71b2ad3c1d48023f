#!/usr/bin/env python3
"""Generate the benchmark workload as a topo file and as RabbitMQ definitions.

    gen_topology.py N VHOST OUT_YAML OUT_DEFINITIONS_JSON

N queues (70% classic with TTL, dead-lettering and length arguments, 30% quorum), N/10
exchanges of all four types, 2N bindings (topic patterns, headers, exchange-to-exchange),
4 policies, 1 operator policy, 5 users with permissions, topic permissions on two topic
exchanges each and user limits, the vhost's limits, and ten shovels between classic queues of
the vhost (local `amqp:///VHOST` ends: no credentials, so no variable to set;
BENCH_SHOVELS=0 leaves them out, for brokers without the shovel plugin). The definitions file holds the same
vhost-scoped entities for `POST /api/definitions/{vhost}` (which ignores users, permissions,
topic permissions, limits and operator policies, and takes the shovels as parameters: topo's side of a comparison does that much
more, a few dozen management calls).
"""

import json
import os
import sys
from urllib.parse import quote

TYPES = ["topic", "direct", "fanout", "headers"]


def main():
    n, vhost, out_yaml, out_json = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    n_ex = max(4, n // 10)
    exchanges = [{"name": f"ex.{j}", "type": TYPES[j % 4]} for j in range(n_ex)]
    exchanges.append({"name": "dlx", "type": "fanout"})
    by_type = {t: [e["name"] for e in exchanges[:n_ex] if e["type"] == t] for t in TYPES}

    queues = []
    for i in range(n):
        if i % 10 < 7:
            queues.append({"name": f"q.{i}", "message_ttl": 60000 + i, "max_length": 10000,
                           "dead_letter_exchange": "dlx", "overflow": "reject-publish"})
        else:
            queues.append({"name": f"q.{i}", "type": "quorum"})

    bindings = []
    # N topic-pattern bindings.
    for i in range(n):
        src = by_type["topic"][i % len(by_type["topic"])]
        bindings.append({"source": src, "destination": f"q.{i}",
                         "routing_key": f"orders.{i}.*.#"})
    # N - n_ex headers / direct / fanout bindings.
    for i in range(n - n_ex):
        kind = ["headers", "direct", "fanout"][i % 3]
        src = by_type[kind][i % len(by_type[kind])]
        b = {"source": src, "destination": f"q.{i}"}
        if kind == "headers":
            b["arguments"] = {"x-match": "all", "queue": f"q.{i}", "kind": "bench"}
        elif kind == "direct":
            b["routing_key"] = f"q.{i}"
        else:
            b["routing_key"] = f"f.{i}"
        bindings.append(b)
    # n_ex exchange-to-exchange bindings.
    for j in range(n_ex):
        b = {"source": f"ex.{j}", "destination": f"ex.{(j + 1) % n_ex}",
             "destination_type": "exchange", "routing_key": f"e2e.{j}"}
        if exchanges[j]["type"] == "headers":
            b["arguments"] = {"x-match": "any", "hop": j}
        bindings.append(b)

    policies = [
        {"name": "bench-ttl", "pattern": "^q\\.1", "apply_to": "queues",
         "definition": {"expires": 86400000}},
        {"name": "bench-len", "pattern": "^q\\.2", "apply_to": "queues", "priority": 1,
         "definition": {"max-length-bytes": 10000000}},
        {"name": "bench-ae", "pattern": "^ex\\.1", "apply_to": "exchanges",
         "definition": {"alternate-exchange": "dlx"}},
        {"name": "bench-dl", "pattern": "^q\\.3", "apply_to": "queues", "priority": 2,
         "definition": {"dead-letter-routing-key": "dead"}},
    ]
    users = [{"name": f"bench-user-{k}", "password_env": "BENCH_PASSWORD",
              "tags": ["monitoring"] if k == 0 else []} for k in range(5)]
    permissions = [{"user": u["name"], "configure": "^$", "write": "^ex\\.", "read": "^q\\."}
                   for u in users]
    topic_permissions = [{"user": u["name"], "exchange": x, "write": f"^orders\\.{k}\\.",
                          "read": "^orders\\."}
                         for k, u in enumerate(users) for x in by_type["topic"][:2]]
    operator_policies = [{"name": "bench-cap", "pattern": "^q\\.", "apply_to": "queues",
                          "definition": {"max-length-bytes": 100000000}}]
    # Room for the file's queues, topo's apply lock and clients (TOPO036 otherwise).
    vhost_limits = [{"max-connections": 1000, "max-queues": n + 100}]
    user_limits = [{"user": u["name"], "max-connections": 10, "max-channels": 100}
                   for u in users]

    # Ten shovels, q.(10k) -> q.(10k+1): both classic (i % 10 < 7), in this vhost.
    local = f"amqp:///{quote(vhost, safe='')}"
    shovels = [{"name": f"bench-shovel-{k}",
                "source": {"uri": local, "queue": f"q.{10 * k}"},
                "destination": {"uri": local, "queue": f"q.{10 * k + 1}"}}
               for k in range(10) if 10 * k + 1 < n and os.environ.get("BENCH_SHOVELS") != "0"]

    topo = {"version": 1, "vhost": vhost,
            "broker": {"plugins": ["rabbitmq_shovel"] if shovels else []},
            "exchanges": exchanges, "queues": queues,
            "bindings": bindings, "policies": policies,
            "operator_policies": operator_policies, "users": users,
            "permissions": permissions, "topic_permissions": topic_permissions,
            "vhost_limits": vhost_limits, "user_limits": user_limits, "shovels": shovels}
    with open(out_yaml, "w") as f:
        # JSON is YAML: no YAML library needed.
        json.dump(topo, f, indent=1)

    args_of = {
        "message_ttl": "x-message-ttl", "max_length": "x-max-length",
        "dead_letter_exchange": "x-dead-letter-exchange", "overflow": "x-overflow",
    }
    defs = {
        "exchanges": [{"name": e["name"], "vhost": vhost, "type": e["type"], "durable": True,
                       "auto_delete": False, "internal": False, "arguments": {}}
                      for e in exchanges],
        "queues": [{"name": q["name"], "vhost": vhost, "durable": True, "auto_delete": False,
                    "arguments": ({"x-queue-type": "quorum"} if q.get("type") == "quorum" else
                                  {args_of[k]: v for k, v in q.items() if k in args_of})}
                   for q in queues],
        "bindings": [{"source": b["source"], "vhost": vhost, "destination": b["destination"],
                      "destination_type": b.get("destination_type", "queue"),
                      "routing_key": b.get("routing_key", ""),
                      "arguments": b.get("arguments", {})} for b in bindings],
        "policies": [{"name": p["name"], "vhost": vhost, "pattern": p["pattern"],
                      "apply-to": p["apply_to"], "priority": p.get("priority", 0),
                      "definition": p["definition"]} for p in policies],
        "parameters": [{"vhost": vhost, "component": "shovel", "name": s["name"],
                        "value": {"src-uri": s["source"]["uri"],
                                  "src-queue": s["source"]["queue"],
                                  "dest-uri": s["destination"]["uri"],
                                  "dest-queue": s["destination"]["queue"]}}
                       for s in shovels],
    }
    with open(out_json, "w") as f:
        json.dump(defs, f)
    print(f"{len(exchanges)} exchanges, {len(queues)} queues, {len(bindings)} bindings, "
          f"{len(policies)} policies, {len(operator_policies)} operator policy, "
          f"{len(users)} users, {len(topic_permissions)} topic permissions, "
          f"{len(user_limits) + 1} limit entries, {len(shovels)} shovels", file=sys.stderr)


if __name__ == "__main__":
    main()
