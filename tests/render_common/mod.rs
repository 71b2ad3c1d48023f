//! Helpers shared by the render tests: run the topo binary with a fixed environment, run a
//! rendered Azure script against the stub `az` in tests/fixtures/render (which plays
//! Azure's resources), and judge what the script called with the real Azure CLI's parser
//! and a rendered compose file with the real Compose.
#![allow(dead_code)]
// Test support outside `#[test]` functions: a failed set-up step is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    root().join("tests/fixtures/render")
}

/// The topo binary in `dir`, with only PATH and the given variables set, so renders do
/// not depend on whoever runs the tests.
pub fn topo(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_topo"));
    cmd.current_dir(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("run topo")
}

/// Render `target` of `file` (relative to `dir`) and return stdout; panics with stderr on
/// failure.
pub fn render(dir: &Path, target: &str, file: &str, vars: &[(&str, &str)]) -> String {
    let out = topo(dir, &["render", target, file], vars);
    assert!(
        out.status.success(),
        "topo render {target} {file} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The variables the shipped topologies read, fixed.
pub const FIXED_ENV: &[(&str, &str)] = &[("REGISTRY", "registry.example"), ("TAG", "1.2.3")];

/// One run of a rendered script under the stub `az`.
pub struct Run {
    /// The stub's state directory (what exists in "Azure" after the run).
    pub state: PathBuf,
    pub ok: bool,
    pub code: Option<i32>,
    pub stderr: String,
    /// Every az / topo call, each as its argument list (the program name first).
    pub calls: Vec<Vec<String>>,
}

impl Run {
    /// Calls whose first words are `prefix` (e.g. `["az", "containerapp", "create"]`).
    pub fn calls_to(&self, prefix: &[&str]) -> Vec<&Vec<String>> {
        self.calls
            .iter()
            .filter(|c| c.len() >= prefix.len() && c.iter().zip(prefix).all(|(a, b)| a == b))
            .collect()
    }

    /// Index of the first call with this prefix and `--name NAME` (or any name).
    pub fn position(&self, prefix: &[&str], name: Option<&str>) -> Option<usize> {
        self.calls.iter().position(|c| {
            c.len() >= prefix.len()
                && c.iter().zip(prefix).all(|(a, b)| a == b)
                && name.is_none_or(|n| arg_after(c, "--name") == Some(n))
        })
    }

    /// Calls that change something in Azure: anything but a `show`, `exists` or `list`.
    pub fn changes(&self) -> Vec<&Vec<String>> {
        self.calls
            .iter()
            .filter(|c| {
                !c.iter()
                    .take(5)
                    .any(|a| matches!(a.as_str(), "show" | "exists" | "list"))
            })
            .collect()
    }

    /// The definition files the script handed to az (`--yaml`, `--body @FILE`), in call
    /// order: (kind and name, text, file mode).
    pub fn files(&self) -> Vec<(String, String, String)> {
        let dir = self.state.join("files");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        names.retain(|p| p.extension().is_some_and(|x| x == "json"));
        names.sort();
        names
            .iter()
            .map(|p| {
                let stem = p.file_stem().unwrap().to_string_lossy().to_string();
                let text = std::fs::read_to_string(p).unwrap();
                let mode = std::fs::read_to_string(p.with_extension("mode")).unwrap();
                (stem[4..].to_string(), text, mode.trim().to_string())
            })
            .collect()
    }

    /// The JSON definition last given for `kind-name` (e.g. `containerapp-create-shop-api`).
    pub fn definition(&self, key: &str) -> Option<serde_json::Value> {
        self.files()
            .into_iter()
            .rev()
            .find(|(k, _, _)| k == key)
            .map(|(_, text, _)| {
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{key}: {e}\n{text}"))
            })
    }
}

pub fn arg_after<'a>(call: &'a [String], flag: &str) -> Option<&'a str> {
    call.iter()
        .position(|a| a == flag)
        .and_then(|i| call.get(i + 1))
        .map(String::as_str)
}

/// The inputs the Azure script needs, as a release pipeline would set them.
pub const AZURE_INPUTS: &[(&str, &str)] = &[
    ("AZURE_RESOURCE_GROUP", "rg"),
    ("AZURE_CONTAINERAPPS_ENV", "shop-env"),
    ("AZURE_LOCATION", "westeurope"),
    ("AZURE_STORAGE_ACCOUNT", "shopdata"),
    ("AZURE_STORAGE_SHARE", "rabbitmq"),
    ("RABBITMQ_USER", "deployer"),
    ("RABBITMQ_PASSWORD", "pw-from-vault"),
    ("PYTHON_SERVICE_PASSWORD", "py-pw"),
    ("API_GATEWAY_PASSWORD", "gw-pw"),
    ("SERVICE_A_PASSWORD", "a-pw"),
    ("TOPO_IMAGE", "shop.azurecr.io/topo:0.1.0"),
];

/// Run `script` with the stub `az` first on PATH, `vars` as its whole environment, and a
/// fresh (empty) Azure.
pub fn run_script(script: &str, dir: &Path, vars: &[(&str, &str)]) -> Run {
    let state = dir.join("azure-state");
    let _ = std::fs::remove_dir_all(&state);
    run_again(script, dir, vars)
}

/// Run `script` again against the Azure that earlier runs in `dir` left.
pub fn run_again(script: &str, dir: &Path, vars: &[(&str, &str)]) -> Run {
    let state = dir.join("azure-state");
    let _ = std::fs::remove_dir_all(state.join("files"));
    let path = dir.join("deploy.sh");
    std::fs::write(&path, script).unwrap();
    let log = dir.join("calls.log");
    let _ = std::fs::remove_file(&log);
    std::fs::write(&log, "").unwrap();
    let path_var = format!(
        "{}:{}",
        fixtures().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.arg(&path)
        .current_dir(dir)
        .env_clear()
        .env("PATH", path_var)
        .env("AZ_STUB_LOG", &log)
        .env("AZ_STUB_STATE", &state);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run bash");
    let text = std::fs::read_to_string(&log).unwrap();
    let calls = text
        .split('\x1e')
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.strip_suffix('\x1f')
                .unwrap_or(c)
                .split('\x1f')
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    Run {
        state,
        ok: out.status.success(),
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        calls,
    }
}

/// Write a topology file into `dir` and return its name.
pub fn write_topology(dir: &Path, name: &str, text: &str) -> String {
    std::fs::write(dir.join(name), text).unwrap();
    name.to_string()
}

/// A tool the tests judge renders with: the path in `var`, else a loud skip; with
/// `require` set (CI) a missing tool fails the test.
fn tool(var: &str, require: &str, what: &str) -> Option<PathBuf> {
    match std::env::var_os(var).map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        other => {
            let msg = format!(
                "{what} not found ({var}={}): see .ci/setup/30-render-tools.sh to install it",
                other.map(|p| p.display().to_string()).unwrap_or_default()
            );
            if std::env::var(require).as_deref() == Ok("1") {
                panic!("{msg}; {require}=1 makes it required");
            }
            eprintln!("SKIPPED: {msg}");
            None
        }
    }
}

/// The real Azure CLI (`$TOPO_AZ`), if installed.
pub fn real_az() -> Option<PathBuf> {
    tool("TOPO_AZ", "TOPO_REQUIRE_AZ", "the real Azure CLI")
}

/// The real Compose v2 (`$TOPO_COMPOSE`), if installed.
pub fn real_compose() -> Option<PathBuf> {
    tool(
        "TOPO_COMPOSE",
        "TOPO_REQUIRE_COMPOSE",
        "the real Compose (docker-compose 2.x)",
    )
}

/// hadolint (`$TOPO_HADOLINT`), if installed.
pub fn real_hadolint() -> Option<PathBuf> {
    tool("TOPO_HADOLINT", "TOPO_REQUIRE_HADOLINT", "hadolint")
}

/// Run every distinct az call through the real Azure CLI with no login (an empty config
/// directory, telemetry off): a call whose flags and values parse stops at `az login`
/// (exit 1); a refused flag or value exits 2. Returns how many distinct calls were checked
/// (0 when the CLI is not installed and not required). Runs a few at a time: each call
/// costs the CLI's start-up (about 1.7 s of CPU).
pub fn assert_az_parses(calls: &[&Vec<String>]) -> usize {
    let Some(az) = real_az() else { return 0 };
    // One check per distinct call in the whole test binary: the same probe in two tests,
    // or the same call with another temporary directory, parses the same.
    static CHECKED: std::sync::Mutex<Vec<Vec<String>>> = std::sync::Mutex::new(Vec::new());
    let temp = regex::Regex::new(r"/tmp/tmp\.[A-Za-z0-9]+/").unwrap();
    let mut distinct: Vec<Vec<String>> = Vec::new();
    {
        let mut checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
        for c in calls {
            if c.first().map(String::as_str) != Some("az") {
                continue;
            }
            let c: Vec<String> = c
                .iter()
                .map(|a| temp.replace_all(a, "/tmp/topo-deploy/").into_owned())
                .collect();
            if !checked.contains(&c) {
                checked.push(c.clone());
                distinct.push(c);
            }
        }
    }
    let config = tempfile::tempdir().unwrap();
    let queue = std::sync::Mutex::new(distinct.clone().into_iter());
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                loop {
                    let Some(call) = queue.lock().unwrap().next() else {
                        break;
                    };
                    let out = Command::new(&az)
                        .args(&call[1..])
                        .env_clear()
                        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                        .env("HOME", config.path())
                        .env("AZURE_CONFIG_DIR", config.path())
                        .env("AZURE_CORE_COLLECT_TELEMETRY", "no")
                        .env("AZURE_CORE_NO_COLOR", "true")
                        .output()
                        .expect("run az");
                    let err = String::from_utf8_lossy(&out.stderr).into_owned();
                    if !(out.status.code() == Some(1) && err.contains("az login")) {
                        failures.lock().unwrap().push(format!(
                            "az {:?}: exit {:?}\n{err}",
                            &call[1..],
                            out.status.code()
                        ));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "the real Azure CLI refused calls of the script:\n{}",
        failures.join("\n")
    );
    distinct.len()
}

/// `docker-compose -f FILE config -q` with the real Compose, `vars` as the environment:
/// Ok, or Compose's complaint. None when Compose is not installed and not required.
pub fn compose_config(text: &str, vars: &[(&str, &str)]) -> Option<Result<(), String>> {
    let compose = real_compose()?;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yaml");
    std::fs::write(&file, text).unwrap();
    let mut cmd = Command::new(compose);
    cmd.arg("-f")
        .arg(&file)
        .args(["config", "-q"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run docker-compose");
    Some(if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

/// Hex SHA-256 of a text.
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
