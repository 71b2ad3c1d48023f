//! Helpers shared by the render tests: run the topo binary with a fixed environment, and
//! run a rendered Azure script against the stub `az` in tests/fixtures/render.
#![allow(dead_code)]

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

    /// Calls that change something in Azure (anything but `show`) or run topo.
    pub fn changes(&self) -> Vec<&Vec<String>> {
        self.calls
            .iter()
            .filter(|c| !c.iter().any(|a| a == "show"))
            .collect()
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
    ("RABBITMQ_USER", "deployer"),
    ("RABBITMQ_PASSWORD", "pw-from-vault"),
    ("TOPO_AMQP_URL", "amqp://shop-rabbitmq:5672"),
    ("TOPO_MANAGEMENT_URL", "http://shop-rabbitmq:15672"),
];

/// Run `script` with the stubs first on PATH, `vars` as its whole environment.
pub fn run_script(script: &str, dir: &Path, vars: &[(&str, &str)]) -> Run {
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
        .env("TOPO_BIN", fixtures().join("topo"));
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
