//! End to end: `topo apply topologies/dev.yaml` (in a test vhost), then the seed's clients
//! work against it: an aio-pika consumer answers `{cmd: "analyze"}` through reply_to and
//! correlation_id, for an aio-pika client that asserts the queue as NestJS does and for the
//! real NestJS `ClientProxy` (Transport.RMQ) when `npm ci --prefix tests/e2e` has run.

#[path = "common/broker.rs"]
mod broker;

use std::path::Path;
use std::process::Command;

use broker::{TestVhost, code, path_str, stderr, stdout};

#[test]
fn dev_topology_serves_the_seed_rpc_clients() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dev = root.join("topologies/dev.yaml");
    // The shipped file as it is, moved into the test vhost (its python-service permission
    // covers declaring the queue and replying through the default exchange).
    let overlay = v.dir.path().join("dev-e2e.yaml");
    std::fs::write(
        &overlay,
        format!(
            "version: 1\nextends: {}\nvhost: {}\n",
            dev.display(),
            v.name
        ),
    )
    .unwrap();
    let password = format!("e2e-{:08x}", rand::random::<u32>());
    v.user_named("python-service");
    let env = [("PYTHON_SERVICE_PASSWORD", password.as_str())];

    let out = v.topo(&["apply", path_str(&overlay)], &env);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains(&password) && !stderr(&out).contains(&password));
    let out = v.topo(&["plan", path_str(&overlay)], &env);
    assert_eq!(code(&out), 0, "{}", stdout(&out));

    let modules = root.join("tests/e2e/node_modules");
    let nest = modules.join("@nestjs/microservices").exists();
    if !nest {
        eprintln!("NestJS client skipped: run `npm ci --prefix tests/e2e` to include it");
        assert!(
            std::env::var_os("TOPO_E2E_REQUIRE_NEST").is_none(),
            "TOPO_E2E_REQUIRE_NEST is set but tests/e2e/node_modules is missing"
        );
    }
    let mut cmd = Command::new("python3");
    cmd.arg(root.join("tests/e2e/rpc_roundtrip.py"))
        .env("E2E_AMQP", broker::amqp())
        .env("E2E_VHOST", &v.name)
        .env("E2E_SERVER_USER", "python-service")
        .env("E2E_SERVER_PASSWORD", &password)
        .env("E2E_CLIENT_USER", "guest")
        .env("E2E_CLIENT_PASSWORD", "guest");
    if nest {
        cmd.env("E2E_NEST_CLIENT", root.join("tests/e2e/nest_client.js"))
            .env("NODE_PATH", &modules);
    }
    let out = cmd.output().unwrap();
    let said = stdout(&out);
    assert!(out.status.success(), "{said}\n{}", stderr(&out));
    assert!(said.contains("python client: reply received"), "{said}");
    if nest {
        assert!(said.contains("nestjs client: reply received"), "{said}");
    }
}
