//! `topo render azure`: the script is valid bash, passes shellcheck, and under a stub `az`
//! that plays Azure's resources it takes the create path for absent apps, skips what is
//! already as rendered, updates what changed, applies the topology from a job inside the
//! environment and stops before any change when an input or a probe fails. Every az call
//! it makes, on each path, also goes through the real Azure CLI's argument parser
//! (`$TOPO_AZ`, required in CI by TOPO_REQUIRE_AZ=1).
// Test support outside `#[test]` functions: a failed set-up step is a failed test.
#![allow(clippy::unwrap_used)]

mod render_common;

use std::process::Command;

use render_common::*;
use serde_json::Value;

fn dev_script() -> String {
    render(&root(), "azure", "topologies/dev.yaml", FIXED_ENV)
}

fn app_names() -> Vec<&'static str> {
    vec![
        "shop-rabbitmq",
        "shop-api-gateway",
        "shop-service-a",
        "shop-service-b",
        "shop-python-service",
    ]
}

fn names(calls: Vec<&Vec<String>>) -> Vec<&str> {
    calls
        .into_iter()
        .filter_map(|c| arg_after(c, "--name"))
        .collect()
}

/// The value of `readonly NAME=VALUE` in the script.
fn readonly(script: &str, name: &str) -> String {
    script
        .lines()
        .find_map(|l| l.strip_prefix(&format!("readonly {name}=")))
        .unwrap_or_else(|| panic!("no readonly {name}"))
        .to_string()
}

fn env_of(container: &Value) -> Vec<(String, String)> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let v = e
                .get("value")
                .map(|v| v.as_str().unwrap().to_string())
                .unwrap_or_else(|| format!("secretref:{}", e["secretRef"].as_str().unwrap()));
            (e["name"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

fn secrets_of(def: &Value) -> Vec<(String, String)> {
    def["properties"]["configuration"]["secrets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap().to_string(),
                        s["value"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn scripts_pass_bash_n_and_shellcheck() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["topologies/dev.yaml", "topologies/prod.yaml"] {
        let script = render(&root(), "azure", file, FIXED_ENV);
        let path = dir.path().join("deploy.sh");
        std::fs::write(&path, &script).unwrap();
        let n = Command::new("bash").arg("-n").arg(&path).output().unwrap();
        assert!(
            n.status.success(),
            "bash -n {file}: {}",
            String::from_utf8_lossy(&n.stderr)
        );
        let sc = Command::new("shellcheck")
            .arg(&path)
            .output()
            .expect("shellcheck must be installed (apt-get install shellcheck)");
        assert!(
            sc.status.success(),
            "shellcheck {file}:\n{}",
            String::from_utf8_lossy(&sc.stdout)
        );
        // Nothing of the machine it was rendered on: no absolute path.
        assert!(!script.contains(&root().display().to_string()));
    }
}

#[test]
fn create_path_broker_then_apply_job_then_services() {
    let dir = tempfile::tempdir().unwrap();
    let script = dev_script();
    let run = run_script(&script, dir.path(), AZURE_INPUTS);
    assert!(run.ok, "script failed: {}", run.stderr);
    assert_eq!(
        run.calls_to(&["az", "containerapp", "env", "create"]).len(),
        1
    );
    assert_eq!(
        names(run.calls_to(&["az", "containerapp", "create"])),
        app_names()
    );
    assert!(run.calls_to(&["az", "containerapp", "update"]).is_empty());

    // The broker, then the apply job (created, started, waited for), then the services.
    let broker = run
        .position(&["az", "containerapp", "create"], Some("shop-rabbitmq"))
        .unwrap();
    let job = run
        .position(
            &["az", "containerapp", "job", "create"],
            Some("shop-topo-apply"),
        )
        .unwrap();
    let start = run
        .position(
            &["az", "containerapp", "job", "start"],
            Some("shop-topo-apply"),
        )
        .unwrap();
    let waited = run
        .position(&["az", "containerapp", "job", "execution", "show"], None)
        .unwrap();
    let first_service = run
        .position(&["az", "containerapp", "create"], Some("shop-api-gateway"))
        .unwrap();
    assert!(
        broker < job && job < start && start < waited && waited < first_service,
        "{:?}",
        run.calls
    );
    assert!(run.stderr.contains("applied"), "{}", run.stderr);

    // Every definition went through a file only the user could read; no secret value is
    // on any command line.
    for (key, _, mode) in run.files() {
        assert_eq!(mode, "600", "{key}");
    }
    for call in &run.calls {
        for (_, secret) in AZURE_INPUTS.iter().filter(|(k, _)| k.contains("PASSWORD")) {
            assert!(!call.iter().any(|a| a.contains(secret)), "{call:?}");
        }
        assert!(
            !call.iter().any(|a| a.contains("stub-account-key")),
            "{call:?}"
        );
    }

    // The broker: internal TCP on 5672, the management API on a second internal port,
    // its data on the environment's Azure Files storage, a stable node name.
    let b = run
        .definition("containerapp-create-shop-rabbitmq")
        .expect("broker definition");
    let ingress = &b["properties"]["configuration"]["ingress"];
    assert_eq!(ingress["external"], false);
    assert_eq!(ingress["transport"], "tcp");
    assert_eq!(ingress["targetPort"], 5672);
    assert_eq!(ingress["exposedPort"], 5672);
    assert_eq!(
        ingress["additionalPortMappings"],
        serde_json::json!([{"external": false, "targetPort": 15672, "exposedPort": 15672}])
    );
    let template = &b["properties"]["template"];
    assert_eq!(template["scale"]["minReplicas"], 1);
    assert_eq!(template["volumes"][0]["storageType"], "AzureFile");
    assert_eq!(template["volumes"][0]["storageName"], "shop-rabbitmq");
    let c = &template["containers"][0];
    assert_eq!(c["image"], "rabbitmq:4.3-management");
    assert_eq!(
        c["volumeMounts"][0]["mountPath"],
        "/var/lib/rabbitmq/mnesia"
    );
    let env = env_of(c);
    assert!(env.contains(&("RABBITMQ_NODENAME".into(), "rabbit@localhost".into())));
    assert!(env.contains(&(
        "RABBITMQ_DEFAULT_PASS".into(),
        "secretref:rabbitmq-password".into()
    )));
    assert!(secrets_of(&b).contains(&("rabbitmq-password".into(), "pw-from-vault".into())));
    // The storage: share created, registered with the key from a file.
    assert_eq!(
        run.calls_to(&["az", "storage", "share-rm", "create"]).len(),
        1
    );
    let (_, body, _) = run
        .files()
        .into_iter()
        .find(|(k, _, _)| k.starts_with("storage"))
        .expect("storage body");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["properties"]["azureFile"]["accountKey"],
        "stub-account-key/with+base64=="
    );
    assert_eq!(body["properties"]["azureFile"]["shareName"], "rabbitmq");

    // The job applies exactly the rendered topology, inside the environment, as admin.
    let j = run
        .definition("containerapp-job-create-shop-topo-apply")
        .expect("job definition");
    let config = &j["properties"]["configuration"];
    assert_eq!(config["triggerType"], "Manual");
    assert_eq!(config["replicaRetryLimit"], 0);
    let secrets = secrets_of(&j);
    let topology = &secrets.iter().find(|(n, _)| n == "topology").unwrap().1;
    let digest = readonly(&script, "TOPOLOGY_SHA256");
    assert_eq!(sha256_hex(topology), digest);
    let doc: Value = serde_json::from_str(topology).unwrap();
    assert!(doc.get("services").is_none() && doc.get("extends").is_none());
    assert_eq!(doc["queues"].as_array().unwrap().len(), 3);
    assert!(secrets.contains(&("python-service-password".into(), "py-pw".into())));
    let c = &j["properties"]["template"]["containers"][0];
    assert_eq!(c["image"], "shop.azurecr.io/topo:0.1.0");
    assert_eq!(
        c["args"],
        serde_json::json!(["apply", "--wait", "5m", "--", "/topology/topology.json"])
    );
    let env = env_of(c);
    for want in [
        ("TOPO_AMQP_URL", "amqp://shop-rabbitmq:5672"),
        ("TOPO_MANAGEMENT_URL", "http://shop-rabbitmq:15672"),
        ("RABBITMQ_PASSWORD", "secretref:rabbitmq-password"),
        (
            "PYTHON_SERVICE_PASSWORD",
            "secretref:python-service-password",
        ),
        ("TOPO_TOPOLOGY_SHA256", digest.as_str()),
    ] {
        assert!(
            env.contains(&(want.0.into(), want.1.into())),
            "{want:?} in {env:?}"
        );
    }
    assert_eq!(
        j["properties"]["template"]["volumes"][0]["secrets"],
        serde_json::json!([{"secretRef": "topology", "path": "topology.json"}])
    );
    let tag = run.calls_to(&["az", "tag", "update"]);
    assert_eq!(tag.len(), 1);
    assert!(tag[0].contains(&format!("topo-applied={digest}")));

    // Least privilege: each service gets its own user, never the admin.
    let gw = run
        .definition("containerapp-create-shop-api-gateway")
        .unwrap();
    let env = env_of(&gw["properties"]["template"]["containers"][0]);
    for want in [
        ("RABBITMQ_USER", "api-gateway"),
        ("RABBITMQ_PASSWORD", "secretref:api-gateway-password"),
        ("RABBITMQ_HOST", "shop-rabbitmq"),
        ("RABBITMQ_VHOST", "/"),
        ("SERVICE_A_HOST", "shop-service-a"),
        ("PYTHON_SERVICE_QUEUE", "python-service-queue"),
    ] {
        assert!(
            env.contains(&(want.0.into(), want.1.into())),
            "{want:?} in {env:?}"
        );
    }
    assert_eq!(
        secrets_of(&gw),
        [("api-gateway-password".into(), "gw-pw".into())]
    );
    assert_eq!(
        gw["properties"]["configuration"]["ingress"]["external"],
        true
    );
    for (key, text, _) in run.files() {
        if key.contains("shop-rabbitmq") || key.contains("topo-apply") {
            continue;
        }
        assert!(
            !text.contains("pw-from-vault") && !text.contains("rabbitmq-password"),
            "{key}"
        );
    }
    let a = run
        .definition("containerapp-create-shop-service-a")
        .unwrap();
    let ingress = &a["properties"]["configuration"]["ingress"];
    assert_eq!(
        (
            ingress["transport"].as_str(),
            ingress["exposedPort"].as_u64()
        ),
        (Some("tcp"), Some(3003))
    );
    let py = run
        .definition("containerapp-create-shop-python-service")
        .unwrap();
    assert_eq!(py["properties"]["template"]["scale"]["minReplicas"], 1);
    // service-b talks through no queue and names no user: no broker credentials at all.
    let b = run
        .definition("containerapp-create-shop-service-b")
        .unwrap();
    assert!(
        b["properties"]["template"]["containers"][0]
            .get("env")
            .is_none()
    );

    let checked = assert_az_parses(&run.calls.iter().collect::<Vec<_>>());
    eprintln!(
        "create path: {} az calls, {checked} checked by the real az",
        run.calls.len()
    );
}

#[test]
fn a_second_run_with_nothing_changed_only_probes() {
    let dir = tempfile::tempdir().unwrap();
    let script = dev_script();
    let first = run_script(&script, dir.path(), AZURE_INPUTS);
    assert!(first.ok, "{}", first.stderr);
    let again = run_again(&script, dir.path(), AZURE_INPUTS);
    assert!(again.ok, "{}", again.stderr);
    assert!(again.changes().is_empty(), "{:?}", again.changes());
    assert!(
        again.stderr.contains("is applied already"),
        "{}",
        again.stderr
    );
    // Environment, share, storage, 5 apps, the job.
    assert_eq!(again.calls.len(), 9, "{:?}", again.calls);
    let checked = assert_az_parses(&again.calls.iter().collect::<Vec<_>>());
    eprintln!(
        "no-change update path: {} az calls, {checked} checked by the real az",
        again.calls.len()
    );

    // TOPO_FORCE_UPDATE=1 updates everything and applies again.
    let mut vars = AZURE_INPUTS.to_vec();
    vars.push(("TOPO_FORCE_UPDATE", "1"));
    let forced = run_again(&script, dir.path(), &vars);
    assert!(forced.ok, "{}", forced.stderr);
    assert_eq!(
        names(forced.calls_to(&["az", "containerapp", "update"])),
        app_names()
    );
    assert_eq!(
        forced
            .calls_to(&["az", "containerapp", "job", "start"])
            .len(),
        1
    );
    assert_az_parses(&forced.calls.iter().collect::<Vec<_>>());
}

#[test]
fn a_changed_image_updates_that_app_a_changed_queue_applies_again() {
    let dir = tempfile::tempdir().unwrap();
    let first = run_script(&dev_script(), dir.path(), AZURE_INPUTS);
    assert!(first.ok, "{}", first.stderr);
    // A new tag changes every service's image, not the broker, not the topology.
    let retagged = render(
        &root(),
        "azure",
        "topologies/dev.yaml",
        &[("REGISTRY", "registry.example"), ("TAG", "1.2.4")],
    );
    let run = run_again(&retagged, dir.path(), AZURE_INPUTS);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        names(run.calls_to(&["az", "containerapp", "update"])),
        &app_names()[1..]
    );
    assert!(
        run.calls_to(&["az", "containerapp", "job"])
            .iter()
            .all(|c| c[3] == "show")
    );

    // A new queue: the job's definition changes, it runs again; the apps stay.
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("topologies/dev.yaml"),
        d.path().join("dev.yaml"),
    )
    .unwrap();
    let dev = std::fs::read_to_string(d.path().join("dev.yaml")).unwrap();
    std::fs::write(
        d.path().join("dev.yaml"),
        dev.replace(
            "  - {name: orders.dead}",
            "  - {name: orders.dead}\n  - {name: orders.new}",
        ),
    )
    .unwrap();
    let changed = render(
        d.path(),
        "azure",
        "dev.yaml",
        &[("REGISTRY", "registry.example"), ("TAG", "1.2.4")],
    );
    let run = run_again(&changed, dir.path(), AZURE_INPUTS);
    assert!(run.ok, "{}", run.stderr);
    assert!(run.calls_to(&["az", "containerapp", "update"]).is_empty());
    assert_eq!(
        run.calls_to(&["az", "containerapp", "job", "update"]).len(),
        1
    );
    assert_eq!(
        run.calls_to(&["az", "containerapp", "job", "start"]).len(),
        1
    );
}

#[test]
fn present_untagged_apps_take_the_update_path_with_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = AZURE_INPUTS.to_vec();
    vars.push(("AZ_STUB_MODE", "present"));
    vars.push(("AZURE_REGISTRY_SERVER", "shop.azurecr.io"));
    vars.push(("AZURE_REGISTRY_USERNAME", "shop"));
    vars.push(("AZURE_REGISTRY_PASSWORD", "acr-pw"));
    let run = run_script(&dev_script(), dir.path(), &vars);
    assert!(run.ok, "script failed: {}", run.stderr);
    assert!(run.calls_to(&["az", "containerapp", "create"]).is_empty());
    assert!(
        run.calls_to(&["az", "containerapp", "env", "create"])
            .is_empty()
    );
    assert!(
        run.calls_to(&["az", "storage", "share-rm", "create"])
            .is_empty()
    );
    assert!(run.calls_to(&["az", "rest"]).is_empty());
    assert_eq!(
        names(run.calls_to(&["az", "containerapp", "update"])),
        app_names()
    );
    assert_eq!(
        run.calls_to(&["az", "containerapp", "job", "update"]).len(),
        1
    );
    let gw = run
        .definition("containerapp-update-shop-api-gateway")
        .unwrap();
    let reg = &gw["properties"]["configuration"]["registries"][0];
    assert_eq!(reg["server"], "shop.azurecr.io");
    assert_eq!(reg["username"], "shop");
    assert_eq!(reg["passwordSecretRef"], "registry-password");
    assert!(secrets_of(&gw).contains(&("registry-password".into(), "acr-pw".into())));
    // The broker image is public: no registry for it.
    let b = run.definition("containerapp-update-shop-rabbitmq").unwrap();
    assert!(b["properties"]["configuration"].get("registries").is_none());
    let j = run
        .definition("containerapp-job-update-shop-topo-apply")
        .unwrap();
    assert_eq!(
        j["properties"]["configuration"]["registries"][0]["server"],
        "shop.azurecr.io"
    );
    let checked = assert_az_parses(&run.calls.iter().collect::<Vec<_>>());
    eprintln!(
        "update path (untagged apps, registry): {} az calls, {checked} checked",
        run.calls.len()
    );
}

#[test]
fn mixed_state_creates_only_what_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = AZURE_INPUTS.to_vec();
    vars.push(("AZ_STUB_PRESENT", "shop-env shop-rabbitmq shop-service-a"));
    let run = run_script(&dev_script(), dir.path(), &vars);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        names(run.calls_to(&["az", "containerapp", "create"])),
        ["shop-api-gateway", "shop-service-b", "shop-python-service"]
    );
    assert_eq!(
        names(run.calls_to(&["az", "containerapp", "update"])),
        ["shop-rabbitmq", "shop-service-a"]
    );
    assert!(
        run.calls_to(&["az", "containerapp", "env", "create"])
            .is_empty()
    );
}

#[test]
fn not_found_with_exit_3_is_absent_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = AZURE_INPUTS.to_vec();
    vars.push(("AZ_STUB_NOTFOUND_EXIT", "3"));
    let run = run_script(&dev_script(), dir.path(), &vars);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.calls_to(&["az", "containerapp", "create"]).len(), 5);
}

#[test]
fn a_failed_apply_stops_before_the_services_with_the_job_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = AZURE_INPUTS.to_vec();
    vars.push(("AZ_STUB_JOB_STATUS", "Failed"));
    vars.push((
        "AZ_STUB_JOB_LOG",
        "error[TOPO-APPLY]: ACCESS_REFUSED on vhost /",
    ));
    let run = run_script(&dev_script(), dir.path(), &vars);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("ended: Failed"), "{}", run.stderr);
    assert!(
        run.stderr.contains("ACCESS_REFUSED on vhost /"),
        "{}",
        run.stderr
    );
    assert_eq!(
        names(run.calls_to(&["az", "containerapp", "create"])),
        ["shop-rabbitmq"]
    );
    assert!(run.calls_to(&["az", "tag"]).is_empty());
    assert_az_parses(&run.calls.iter().collect::<Vec<_>>());
}

#[test]
fn a_failing_probe_stops_before_any_change() {
    for failing in [
        "shop-env",
        "shop-rabbitmq",
        "shop-python-service",
        "shop-topo-apply",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut vars = AZURE_INPUTS.to_vec();
        vars.push(("AZ_STUB_FAIL", failing));
        let run = run_script(&dev_script(), dir.path(), &vars);
        assert!(
            !run.ok,
            "script succeeded with a failing probe of {failing}"
        );
        assert!(
            run.changes().is_empty(),
            "changes after a failed probe: {:?}",
            run.changes()
        );
        assert!(
            run.stderr.contains("cannot tell whether it exists"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("az login"),
            "az's own message: {}",
            run.stderr
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let mut vars = AZURE_INPUTS.to_vec();
    vars.push(("AZ_STUB_MODE", "fail"));
    let run = run_script(&dev_script(), dir.path(), &vars);
    assert!(!run.ok);
    assert!(run.changes().is_empty());
}

/// Every input, missing alone: named, exit 1, not a single az call.
#[test]
fn each_missing_input_is_named_before_any_az_call() {
    let dir = tempfile::tempdir().unwrap();
    let script = dev_script();
    let mut with_registry = AZURE_INPUTS.to_vec();
    with_registry.extend([
        ("AZURE_REGISTRY_SERVER", "shop.azurecr.io"),
        ("AZURE_REGISTRY_USERNAME", "shop"),
        ("AZURE_REGISTRY_PASSWORD", "acr-pw"),
    ]);
    let mut checked = 0;
    for (missing, _) in with_registry
        .iter()
        .filter(|(k, _)| !matches!(*k, "AZURE_LOCATION" | "AZURE_REGISTRY_SERVER"))
    {
        let vars: Vec<(&str, &str)> = with_registry
            .iter()
            .filter(|(k, _)| k != missing)
            .copied()
            .collect();
        let run = run_script(&script, dir.path(), &vars);
        assert_eq!(run.code, Some(1), "{missing}: {}", run.stderr);
        assert!(run.calls.is_empty(), "{missing}: {:?}", run.calls);
        assert!(
            run.stderr
                .contains("required environment variables are not set")
                && run.stderr.contains(missing),
            "{missing}: {}",
            run.stderr
        );
        checked += 1;
    }
    // Admin, storage, 3 user passwords, the topo image, the registry's two, the group, the
    // environment.
    assert_eq!(checked, 12);
}

#[test]
fn skip_apply_says_what_to_run_and_needs_no_topo_image() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars: Vec<(&str, &str)> = AZURE_INPUTS
        .iter()
        .filter(|(k, _)| *k != "TOPO_IMAGE")
        .copied()
        .collect();
    vars.push(("TOPO_SKIP_APPLY", "1"));
    let run = run_script(&dev_script(), dir.path(), &vars);
    assert!(run.ok, "{}", run.stderr);
    assert!(run.calls_to(&["az", "containerapp", "job"]).is_empty());
    assert!(
        run.stderr
            .contains("TOPO_AMQP_URL=amqp://shop-rabbitmq:5672")
            && run.stderr.contains("topo apply --wait 5m"),
        "{}",
        run.stderr
    );
    assert_eq!(run.calls_to(&["az", "containerapp", "create"]).len(), 5);
}

#[test]
fn an_absent_environment_needs_a_location() {
    let dir = tempfile::tempdir().unwrap();
    let vars: Vec<(&str, &str)> = AZURE_INPUTS
        .iter()
        .filter(|(k, _)| *k != "AZURE_LOCATION")
        .copied()
        .collect();
    let run = run_script(&dev_script(), dir.path(), &vars);
    assert!(!run.ok);
    assert!(run.changes().is_empty());
    assert!(run.stderr.contains("AZURE_LOCATION"), "{}", run.stderr);
}

#[test]
fn an_old_shell_is_told_it_needs_bash_4_4() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.sh");
    std::fs::write(&path, dev_script()).unwrap();
    // POSIX sh (dash on Debian) stands in for a bash older than 4.4: it has no BASH_VERSINFO.
    let out = Command::new("sh").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs bash 4.4 or later"), "{err}");
}

#[test]
fn secrets_never_appear_in_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_topology(
        dir.path(),
        "topo.yaml",
        "version: 1\nname: shop\nservices:\n  - {name: api, image: api:1, secrets: {DB_PASSWORD: SHOP_DB_PASSWORD}}\n",
    );
    let script = render(
        dir.path(),
        "azure",
        &file,
        &[("SHOP_DB_PASSWORD", "hunter2-value")],
    );
    assert!(!script.contains("hunter2-value"));
    assert!(script.contains("need SHOP_DB_PASSWORD"));
    let mut vars = AZURE_INPUTS.to_vec();
    vars.push(("SHOP_DB_PASSWORD", "hunter2-value"));
    let run = run_script(&script, dir.path(), &vars);
    assert!(run.ok, "{}", run.stderr);
    let api = run.definition("containerapp-create-shop-api").unwrap();
    assert_eq!(
        secrets_of(&api),
        [("shop-db-password".into(), "hunter2-value".into())]
    );
    let env = env_of(&api["properties"]["template"]["containers"][0]);
    assert_eq!(
        env,
        [("DB_PASSWORD".into(), "secretref:shop-db-password".into())]
    );
    assert!(
        run.calls
            .iter()
            .all(|c| !c.iter().any(|a| a.contains("hunter2")))
    );

    let run = run_script(&script, dir.path(), AZURE_INPUTS);
    assert_eq!(run.code, Some(1));
    assert!(run.calls.is_empty());
    assert!(run.stderr.contains("SHOP_DB_PASSWORD"));
}

/// Values a hostile or careless file could hold: each must reach Azure exactly, and
/// nothing in them may run; the same for a hostile secret value.
#[test]
fn hostile_values_arrive_intact_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let pwned = dir.path().join("PWNED");
    let p = pwned.display().to_string();
    let values: Vec<(&str, String)> = vec![
        ("QUOTES", r#"it's "quoted" \ back"#.to_string()),
        ("SPACES", "a b   c".to_string()),
        ("SUBST", format!("$(touch {p})")),
        ("BACKTICKS", format!("`touch {p}`")),
        ("NEWLINE", format!("line1\n touch {p}\nline3")),
        ("BRACES", "${PATH}".to_string()),
        ("SEMI", format!("x; touch {p}; '")),
        ("GLOB", "*".to_string()),
        ("EMPTY", String::new()),
        ("DASH", "--image=evil".to_string()),
        ("AMP", "a & b && c".to_string()),
    ];
    let mut yaml = String::from(
        "version: 1\nname: shop\nservices:\n  - name: api\n    image: api:1\n    command: [\"sh\", \"-c\", \"echo $(id) 'x'\", \"@/etc/passwd\"]\n    secrets: {DB_PASS_X: HOSTILE_SECRET}\n    env:\n",
    );
    for (k, v) in &values {
        let json = serde_json::to_string(&v.replace("${", "$${")).unwrap();
        yaml.push_str(&format!("      {k}: {json}\n"));
    }
    let file = write_topology(dir.path(), "topo.yaml", &yaml);
    let script = render(dir.path(), "azure", &file, &[]);
    let secret_value = format!("'\"; touch {p}; $(touch {p}) `touch {p}` \\ & \t end\nline2");
    let mut vars = AZURE_INPUTS.to_vec();
    vars.push(("HOSTILE_SECRET", &secret_value));
    for mode in ["absent", "present"] {
        let mut vars = vars.clone();
        vars.push(("AZ_STUB_MODE", mode));
        let run = run_script(&script, dir.path(), &vars);
        assert!(run.ok, "{mode}: {}", run.stderr);
        assert!(!pwned.exists(), "{mode}: a value was executed");
        let verb = if mode == "absent" { "create" } else { "update" };
        let def = run
            .definition(&format!("containerapp-{verb}-shop-api"))
            .unwrap();
        let c = &def["properties"]["template"]["containers"][0];
        let env = env_of(c);
        for (k, v) in &values {
            assert!(
                env.contains(&(k.to_string(), v.clone())),
                "{mode}: {k}={v:?} in {env:?}"
            );
        }
        // Words az's flags could not carry (`-c`, `@file`) pass intact in a definition.
        assert_eq!(
            c["command"],
            serde_json::json!(["sh", "-c", "echo $(id) 'x'", "@/etc/passwd"])
        );
        assert_eq!(
            secrets_of(&def),
            [("hostile-secret".to_string(), secret_value.clone())]
        );
    }
}

#[test]
fn a_control_character_in_a_secret_is_refused_before_any_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = AZURE_INPUTS.to_vec();
    vars.retain(|(k, _)| *k != "RABBITMQ_PASSWORD");
    vars.push(("RABBITMQ_PASSWORD", "bell\u{7}"));
    let run = run_script(&dev_script(), dir.path(), &vars);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("control character") && run.stderr.contains("RABBITMQ_PASSWORD"),
        "{}",
        run.stderr
    );
    assert!(run.calls.is_empty(), "{:?}", run.calls);
}

/// Issue 10 item 14: an env value written with `${...}` keeps its reference: the script
/// takes the value at deploy time into a secret, never into its own text.
#[test]
fn interpolated_env_values_stay_references_filled_at_deploy_time() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_topology(
        dir.path(),
        "topo.yaml",
        "version: 1\nname: shop\nservices:\n  - name: api\n    image: api:1\n    env:\n      API_TOKEN: \"${TOKEN}\"\n      DB_URL: \"https://user:${PW}@db/x?${REGION:-eu'west}\"\n      PLAIN: plain\n",
    );
    let script = render(
        dir.path(),
        "azure",
        &file,
        &[("TOKEN", "tok-at-render"), ("PW", "pw-at-render")],
    );
    assert!(!script.contains("tok-at-render") && !script.contains("pw-at-render"));
    let mut vars = AZURE_INPUTS.to_vec();
    vars.extend([("TOKEN", "tok-at-deploy"), ("PW", "p'w $(x)")]);
    let run = run_script(&script, dir.path(), &vars);
    assert!(run.ok, "{}", run.stderr);
    let api = run.definition("containerapp-create-shop-api").unwrap();
    let secrets = secrets_of(&api);
    assert!(
        secrets.contains(&("env-api-token".into(), "tok-at-deploy".into())),
        "{secrets:?}"
    );
    assert!(
        secrets.contains(&(
            "env-db-url".into(),
            "https://user:p'w $(x)@db/x?eu'west".into()
        )),
        "{secrets:?}"
    );
    let env = env_of(&api["properties"]["template"]["containers"][0]);
    assert!(env.contains(&("API_TOKEN".into(), "secretref:env-api-token".into())));
    assert!(env.contains(&("PLAIN".into(), "plain".into())));
    assert!(
        run.calls
            .iter()
            .all(|c| !c.iter().any(|a| a.contains("tok-at-deploy")))
    );
    // A reference without a default is an input: named before any az call.
    let vars: Vec<(&str, &str)> = AZURE_INPUTS.iter().copied().chain([("PW", "x")]).collect();
    let run = run_script(&script, dir.path(), &vars);
    assert_eq!(run.code, Some(1));
    assert!(run.calls.is_empty());
    assert!(run.stderr.contains("TOKEN"), "{}", run.stderr);
}

/// Issue 12 item 5: replicas of one Container App do not form a RabbitMQ cluster, so a file
/// that asks for a cluster is refused with what to do instead (nothing written); the
/// overlay the hint names, `broker: {nodes: 1}`, renders a single broker.
#[test]
fn a_cluster_is_refused_with_what_to_do_instead() {
    let dir = tempfile::tempdir().unwrap();
    let out = topo(
        &root(),
        &[
            "render",
            "azure",
            "topologies/cluster.yaml",
            "-o",
            dir.path().join("azure.sh").to_str().unwrap(),
        ],
        FIXED_ENV,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broker.nodes is 3, and `topo render azure` cannot deploy a RabbitMQ cluster: replicas of one Container App do not form a cluster"),
        "{err}"
    );
    assert!(
        err.contains("hint:") && err.contains("broker: {nodes: 1}"),
        "{err}"
    );
    assert!(!dir.path().join("azure.sh").exists());
    let overlay = dir.path().join("azure.yaml");
    std::fs::write(
        &overlay,
        format!(
            "version: 1\nextends: {}\nbroker: {{nodes: 1}}\n",
            root().join("topologies/cluster.yaml").display()
        ),
    )
    .unwrap();
    let script = render(dir.path(), "azure", "azure.yaml", FIXED_ENV);
    assert!(script.contains("shop-rabbitmq"), "single broker app");
    // compose renders the same file as a cluster.
    let compose = render(&root(), "compose", "topologies/cluster.yaml", FIXED_ENV);
    assert!(compose.contains("rabbitmq-3"));
}

/// Issue 13: `broker.plugins` reaches the broker app: the enabled plugins file is a secret
/// mounted as a volume (Container Apps has no config files), and
/// `RABBITMQ_ENABLED_PLUGINS_FILE` points RabbitMQ at it; its data mount stays. The calls
/// parse with the real az. A file without `broker.plugins` gets none of it.
#[test]
fn broker_plugins_reach_the_broker_app() {
    let dir = tempfile::tempdir().unwrap();
    let script = render(
        &root(),
        "azure",
        "tests/fixtures/plugins/single.yaml",
        FIXED_ENV,
    );
    let run = run_script(&script, dir.path(), AZURE_INPUTS);
    assert!(run.ok, "script failed: {}", run.stderr);
    let b = run
        .definition("containerapp-create-shop-rabbitmq")
        .expect("broker definition");
    assert!(secrets_of(&b).contains(&(
        "rabbitmq-plugins".into(),
        "[rabbitmq_federation,rabbitmq_federation_management,rabbitmq_management,rabbitmq_prometheus,rabbitmq_shovel,rabbitmq_shovel_management].\n".into()
    )));
    let template = &b["properties"]["template"];
    assert_eq!(
        template["volumes"],
        serde_json::json!([
            {"name": "data", "storageType": "AzureFile", "storageName": "shop-rabbitmq"},
            {"name": "plugins", "storageType": "Secret", "secrets": [{"secretRef": "rabbitmq-plugins", "path": "enabled_plugins"}]},
        ])
    );
    let c = &template["containers"][0];
    assert_eq!(
        c["volumeMounts"],
        serde_json::json!([
            {"volumeName": "data", "mountPath": "/var/lib/rabbitmq/mnesia"},
            {"volumeName": "plugins", "mountPath": "/etc/topo-rabbitmq"},
        ])
    );
    assert!(env_of(c).contains(&(
        "RABBITMQ_ENABLED_PLUGINS_FILE".into(),
        "/etc/topo-rabbitmq/enabled_plugins".into()
    )));
    assert_az_parses(&run.calls.iter().collect::<Vec<_>>());

    let dir = tempfile::tempdir().unwrap();
    let run = run_script(&dev_script(), dir.path(), AZURE_INPUTS);
    assert!(run.ok, "script failed: {}", run.stderr);
    let b = run
        .definition("containerapp-create-shop-rabbitmq")
        .expect("broker definition");
    assert!(!secrets_of(&b).iter().any(|(n, _)| n == "rabbitmq-plugins"));
    assert_eq!(
        b["properties"]["template"]["volumes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
