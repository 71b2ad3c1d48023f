//! `topo render azure`: the script is valid bash, passes shellcheck, and under a stub
//! `az` that records its arguments takes the create path for absent apps, the update
//! path for present ones, and stops before any change when a probe fails.

mod render_common;

use std::process::Command;

use render_common::*;

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
    }
}

#[test]
fn absent_apps_take_the_create_path_broker_and_apply_first() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_script(&dev_script(), dir.path(), AZURE_INPUTS);
    assert!(run.ok, "script failed: {}", run.stderr);
    assert_eq!(
        run.calls_to(&["az", "containerapp", "env", "create"]).len(),
        1
    );
    let creates = run.calls_to(&["az", "containerapp", "create"]);
    let created: Vec<&str> = creates
        .iter()
        .filter_map(|c| arg_after(c, "--name"))
        .collect();
    assert_eq!(created, app_names());
    assert!(run.calls_to(&["az", "containerapp", "update"]).is_empty());
    assert!(run.calls_to(&["az", "containerapp", "secret"]).is_empty());
    assert!(run.calls_to(&["az", "containerapp", "ingress"]).is_empty());

    // Broker, then `topo apply`, then the services.
    let broker = run
        .position(&["az", "containerapp", "create"], Some("shop-rabbitmq"))
        .unwrap();
    let apply = run
        .position(&["topo", "apply"], None)
        .expect("topo apply ran");
    let first_service = run
        .position(&["az", "containerapp", "create"], Some("shop-api-gateway"))
        .unwrap();
    assert!(broker < apply && apply < first_service, "{:?}", run.calls);
    assert_eq!(
        run.calls[apply],
        ["topo", "apply", "--wait", "5m", "--", "topologies/dev.yaml"]
    );

    // The broker: internal TCP on 5672, at least one replica, credentials as secrets.
    let b = &run.calls[broker];
    assert_eq!(arg_after(b, "--ingress"), Some("internal"));
    assert_eq!(arg_after(b, "--transport"), Some("tcp"));
    assert_eq!(arg_after(b, "--target-port"), Some("5672"));
    assert_eq!(arg_after(b, "--exposed-port"), Some("5672"));
    assert_eq!(arg_after(b, "--min-replicas"), Some("1"));
    assert!(b.contains(&"rabbitmq-password=pw-from-vault".to_string()));
    assert!(b.contains(&"RABBITMQ_DEFAULT_PASS=secretref:rabbitmq-password".to_string()));

    // A tcp target gets internal TCP ingress; its caller gets its host and port.
    let a = run.calls_to(&["az", "containerapp", "create"])[2];
    assert_eq!(arg_after(a, "--name"), Some("shop-service-a"));
    assert_eq!(arg_after(a, "--transport"), Some("tcp"));
    assert_eq!(arg_after(a, "--exposed-port"), Some("3003"));
    let gw = run.calls_to(&["az", "containerapp", "create"])[1];
    for wired in [
        "SERVICE_A_HOST=shop-service-a",
        "SERVICE_A_PORT=3003",
        "RABBITMQ_HOST=shop-rabbitmq",
        "PYTHON_SERVICE_QUEUE=python-service-queue",
        "RABBITMQ_PASSWORD=secretref:rabbitmq-password",
    ] {
        assert!(gw.contains(&wired.to_string()), "{wired} missing in {gw:?}");
    }
    assert_eq!(arg_after(gw, "--ingress"), Some("external"));
    // The consumer keeps a replica.
    let py = run.calls_to(&["az", "containerapp", "create"])[4];
    assert_eq!(arg_after(py, "--min-replicas"), Some("1"));
    assert!(py.contains(&"RABBITMQ_QUEUE=python-service-queue".to_string()));
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
fn present_apps_take_the_update_path() {
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
    let updated: Vec<&str> = run
        .calls_to(&["az", "containerapp", "update"])
        .iter()
        .filter_map(|c| arg_after(c, "--name"))
        .collect();
    assert_eq!(updated, app_names());
    for c in run.calls_to(&["az", "containerapp", "update"]) {
        for flag in [
            "--env-vars",
            "--secrets",
            "--ingress",
            "--transport",
            "--target-port",
        ] {
            assert!(
                !c.contains(&flag.to_string()),
                "update rejects {flag}: {c:?}"
            );
        }
    }
    // Secrets, ingress and registry go through their own commands, before the update.
    let gw_secret = run
        .position(
            &["az", "containerapp", "secret", "set"],
            Some("shop-api-gateway"),
        )
        .unwrap();
    let gw_ingress = run
        .position(
            &["az", "containerapp", "ingress", "update"],
            Some("shop-api-gateway"),
        )
        .unwrap();
    let gw_registry = run
        .position(
            &["az", "containerapp", "registry", "set"],
            Some("shop-api-gateway"),
        )
        .unwrap();
    let gw_update = run
        .position(&["az", "containerapp", "update"], Some("shop-api-gateway"))
        .unwrap();
    assert!(gw_secret < gw_update && gw_ingress < gw_update && gw_registry < gw_update);
    let reg = &run.calls[gw_registry];
    assert_eq!(arg_after(reg, "--server"), Some("shop.azurecr.io"));
    assert_eq!(arg_after(reg, "--password"), Some("acr-pw"));
    // The broker image is public: no registry for it.
    assert!(
        run.position(
            &["az", "containerapp", "registry", "set"],
            Some("shop-rabbitmq")
        )
        .is_none()
    );
    // service-b has no env at all: the update clears stale variables.
    let b = &run.calls[run
        .position(&["az", "containerapp", "update"], Some("shop-service-b"))
        .unwrap()];
    assert!(b.contains(&"--remove-all-env-vars".to_string()));
    let gw = &run.calls[gw_update];
    assert!(gw.contains(&"--replace-env-vars".to_string()));
}

#[test]
fn mixed_state_creates_only_what_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = AZURE_INPUTS.to_vec();
    vars.push(("AZ_STUB_PRESENT", "shop-env shop-rabbitmq shop-service-a"));
    let run = run_script(&dev_script(), dir.path(), &vars);
    assert!(run.ok, "{}", run.stderr);
    let created: Vec<&str> = run
        .calls_to(&["az", "containerapp", "create"])
        .iter()
        .filter_map(|c| arg_after(c, "--name"))
        .collect();
    assert_eq!(
        created,
        ["shop-api-gateway", "shop-service-b", "shop-python-service"]
    );
    let updated: Vec<&str> = run
        .calls_to(&["az", "containerapp", "update"])
        .iter()
        .filter_map(|c| arg_after(c, "--name"))
        .collect();
    assert_eq!(updated, ["shop-rabbitmq", "shop-service-a"]);
    assert!(
        run.calls_to(&["az", "containerapp", "env", "create"])
            .is_empty()
    );
}

#[test]
fn a_failing_probe_stops_before_any_change() {
    for failing in ["shop-env", "shop-rabbitmq", "shop-python-service"] {
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
            "az's own message is shown: {}",
            run.stderr
        );
    }
    // Everything failing, including the environment probe.
    let dir = tempfile::tempdir().unwrap();
    let mut vars = AZURE_INPUTS.to_vec();
    vars.push(("AZ_STUB_MODE", "fail"));
    let run = run_script(&dev_script(), dir.path(), &vars);
    assert!(!run.ok);
    assert!(run.changes().is_empty());
}

#[test]
fn missing_inputs_are_named_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let vars: Vec<(&str, &str)> = AZURE_INPUTS
        .iter()
        .filter(|(k, _)| !matches!(*k, "AZURE_RESOURCE_GROUP" | "RABBITMQ_PASSWORD"))
        .copied()
        .collect();
    let run = run_script(&dev_script(), dir.path(), &vars);
    assert_eq!(run.code, Some(1));
    assert!(run.calls.is_empty(), "{:?}", run.calls);
    assert!(
        run.stderr.contains("AZURE_RESOURCE_GROUP"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("RABBITMQ_PASSWORD"), "{}", run.stderr);

    // A registry server without credentials, and no apply endpoints.
    let mut vars: Vec<(&str, &str)> = AZURE_INPUTS
        .iter()
        .filter(|(k, _)| !k.starts_with("TOPO_"))
        .copied()
        .collect();
    vars.push(("AZURE_REGISTRY_SERVER", "shop.azurecr.io"));
    let run = run_script(&dev_script(), dir.path(), &vars);
    assert_eq!(run.code, Some(1));
    assert!(run.calls.is_empty());
    for v in [
        "AZURE_REGISTRY_USERNAME",
        "AZURE_REGISTRY_PASSWORD",
        "TOPO_AMQP_URL",
    ] {
        assert!(run.stderr.contains(v), "{v}: {}", run.stderr);
    }
}

#[test]
fn skip_apply_prints_the_apply_line_instead() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars: Vec<(&str, &str)> = AZURE_INPUTS
        .iter()
        .filter(|(k, _)| !k.starts_with("TOPO_"))
        .copied()
        .collect();
    vars.push(("TOPO_SKIP_APPLY", "1"));
    let run = run_script(&dev_script(), dir.path(), &vars);
    assert!(run.ok, "{}", run.stderr);
    assert!(run.calls_to(&["topo"]).is_empty());
    assert!(
        run.stderr
            .contains("topo apply --wait 5m -- topologies/dev.yaml"),
        "{}",
        run.stderr
    );
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
    let create = run.calls_to(&["az", "containerapp", "create"])[1].clone();
    assert!(
        create.contains(&"shop-db-password=hunter2-value".to_string()),
        "{create:?}"
    );
    assert!(create.contains(&"DB_PASSWORD=secretref:shop-db-password".to_string()));

    // Unset at deploy time: named up front, nothing runs.
    let run = run_script(&script, dir.path(), AZURE_INPUTS);
    assert_eq!(run.code, Some(1));
    assert!(run.calls.is_empty());
    assert!(run.stderr.contains("SHOP_DB_PASSWORD"));
}

/// Values a hostile or careless file could hold: each must reach `az` as one argument,
/// exactly, and nothing in them may run.
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
    ];
    let mut yaml = String::from(
        "version: 1\nname: shop\nservices:\n  - name: api\n    image: api:1\n    command: [\"sh\", \"/app/run.sh\", \"echo $(id) 'x'\"]\n    secrets: {DB_PASS_X: HOSTILE_SECRET}\n    env:\n",
    );
    for (k, v) in &values {
        // JSON strings are YAML; `${` is written `$${` so topo keeps it literal.
        let json = serde_json::to_string(&v.replace("${", "$${")).unwrap();
        yaml.push_str(&format!("      {k}: {json}\n"));
    }
    let file = write_topology(dir.path(), "topo.yaml", &yaml);
    let script = render(dir.path(), "azure", &file, &[]);
    let secret_value = format!("'\"; touch {p}; $(touch {p}) `touch {p}`");
    let mut vars = AZURE_INPUTS.to_vec();
    vars.push(("HOSTILE_SECRET", &secret_value));
    for mode in ["absent", "present"] {
        let mut vars = vars.clone();
        vars.push(("AZ_STUB_MODE", mode));
        let run = run_script(&script, dir.path(), &vars);
        assert!(run.ok, "{mode}: {}", run.stderr);
        assert!(!pwned.exists(), "{mode}: a value was executed");
        let verb = if mode == "absent" { "create" } else { "update" };
        let call = run
            .calls_to(&["az", "containerapp", verb])
            .into_iter()
            .find(|c| arg_after(c, "--name") == Some("shop-api"))
            .unwrap()
            .clone();
        for (k, v) in &values {
            let want = format!("{k}={v}");
            assert!(
                call.contains(&want),
                "{mode}: {want:?} not one argument in {call:?}"
            );
        }
        assert_eq!(arg_after(&call, "--command"), Some("sh"));
        let args_at = call.iter().position(|a| a == "--args").unwrap();
        assert_eq!(
            &call[args_at + 1..args_at + 3],
            ["/app/run.sh", "echo $(id) 'x'"]
        );
        let secrets_call = if mode == "absent" {
            call.clone()
        } else {
            run.calls_to(&["az", "containerapp", "secret", "set"])
                .into_iter()
                .find(|c| arg_after(c, "--name") == Some("shop-api"))
                .unwrap()
                .clone()
        };
        assert!(
            secrets_call.contains(&format!("hostile-secret={secret_value}")),
            "{secrets_call:?}"
        );
    }
}

#[test]
fn command_words_az_cannot_pass_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_topology(
        dir.path(),
        "topo.yaml",
        "version: 1\nname: shop\nservices:\n  - {name: api, image: api:1, command: [sh, -c, run]}\n",
    );
    let out = topo(dir.path(), &["render", "azure", &file], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`-c`") && err.contains("hint:"), "{err}");
    // Compose has no such limit.
    render(dir.path(), "compose", &file, &[]);
    // `@` would make az read a file of the deploy machine into the app.
    let file = write_topology(
        dir.path(),
        "topo.yaml",
        "version: 1\nname: shop\nservices:\n  - {name: api, image: api:1, command: [node, \"@/etc/passwd\"]}\n",
    );
    let out = topo(dir.path(), &["render", "azure", &file], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`@`"));
}
