use super::*;

fn topo(yaml: &str) -> Topology {
    let node = crate::source::yaml::parse(yaml, crate::source::FileId(0)).unwrap();
    serde::Deserialize::deserialize(&node.to_json()).unwrap()
}

const T: &str = "version: 1
name: shop
queues: [{name: q1}, {name: q2}]
services:
  - {name: gw, image: gw, port: 80, ingress: external}
  - {name: worker, image: w, replicas: {min: 0, max: 3}}
  - {name: idle, image: i, replicas: {min: 0}}
  - {name: tcp-only, image: t}
transports:
  - {from: gw, to: worker, kind: rmq, queue: q1}
  - {from: gw, to: worker, kind: rmq, queue: q2, pattern: event}
  - {from: gw, to: tcp-only, kind: tcp, port: 4000}
";

#[test]
fn consumers_keep_a_replica_others_may_scale_to_zero() {
    let ctx = build(
        &topo(T),
        &Json::Null,
        &RawEnv::new(),
        "azure",
        "t.yaml",
        Naming::Azure,
    )
    .unwrap();
    let by = |n: &str| ctx.services.iter().find(|s| s.name == n).unwrap();
    assert!(by("worker").consumer);
    assert_eq!(
        (by("worker").min_replicas, by("worker").max_replicas),
        (1, 3)
    );
    assert_eq!((by("idle").min_replicas, by("idle").max_replicas), (0, 1));
}

#[test]
fn wiring_per_naming() {
    for (naming, host, broker) in [
        (Naming::Compose, "tcp-only", "rabbitmq"),
        (Naming::Azure, "shop-tcp-only", "shop-rabbitmq"),
    ] {
        let ctx = build(&topo(T), &Json::Null, &RawEnv::new(), "x", "t.yaml", naming).unwrap();
        let gw = &ctx.services[0];
        let env: BTreeMap<&str, &str> = gw
            .env
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(env["TCP_ONLY_HOST"], host);
        assert_eq!(env["TCP_ONLY_PORT"], "4000");
        assert_eq!(env["RABBITMQ_HOST"], broker);
        // Every queue from caller to callee, in file order.
        assert_eq!(env["WORKER_QUEUE"], "q1,q2");
        let worker = &ctx.services[1];
        let queue = worker
            .env
            .iter()
            .find(|e| e.name == "RABBITMQ_QUEUE")
            .unwrap();
        assert_eq!(queue.value, "q1,q2");
        // A tcp target without a port of its own listens on the transport's port.
        let t = &ctx.services[3];
        let ing = t.azure_ingress.as_ref().unwrap();
        assert_eq!(
            (ing.transport, ing.target_port, ing.exposed_port),
            ("tcp", 4000, Some(4000))
        );
        assert!(ctx.services[1].azure_ingress.is_none());
        assert_eq!(
            ctx.services[0].azure_ingress.as_ref().unwrap().kind,
            "external"
        );
    }
}

#[test]
fn user_env_and_secrets_win_over_wiring() {
    let yaml = format!("{T}  - {{from: idle, to: gw, kind: tcp}}\n").replace(
        "{name: idle, image: i, replicas: {min: 0}}",
        "{name: idle, image: i, env: {GW_HOST: custom}, secrets: {GW_PORT: PORT_VAR}}",
    );
    let ctx = build(
        &topo(&yaml),
        &Json::Null,
        &RawEnv::new(),
        "x",
        "t.yaml",
        Naming::Compose,
    )
    .unwrap();
    let idle = &ctx.services[2];
    assert_eq!(
        idle.env.iter().find(|e| e.name == "GW_HOST").unwrap().value,
        "custom"
    );
    assert!(idle.env.iter().all(|e| e.name != "GW_PORT"));
    assert_eq!(idle.secret_env[0].var, "PORT_VAR");
    assert!(ctx.required_env.contains(&"PORT_VAR".to_string()));
}
