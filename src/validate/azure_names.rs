//! Names and values that render targets must pass on unchanged.
//!
//! `topo render azure` names each Container App `{name}-{service}` (the broker
//! `{name}-{hostname}`), and Azure refuses names that break its rule; compose and the
//! script also carry images, env keys and env values to a shell and to YAML. Checking
//! here, at validate time, means a release pipeline learns of a bad name from
//! `topo validate` in review rather than from `az` half-way through a deploy, and a value
//! that could not be passed intact is refused instead of mangled.

use std::collections::BTreeMap;

use crate::diag::{Code, Diagnostic};
use crate::source::node::{Node, pointer_segment};
use crate::topology::model::{Service, Topology};
use crate::topology::names::{
    BROKER_SECRETS, app_name, app_name_problem, broker_hostname, image_problem, is_env_name,
    memory_problem, secret_name,
};

const MEMORY_HINT: &str = "write a number and a unit, e.g. `0.5Gi` or `512Mi`";

/// Every name and value problem of the topology, for `topo validate` and every command.
pub fn check(topo: &Topology, tree: &Node) -> Vec<Diagnostic> {
    let mut r = Report {
        tree,
        out: Vec::new(),
    };
    let name = topo.name.as_deref();
    let hostname = broker_hostname(topo);
    broker(topo, name, hostname, &mut r);
    for (i, s) in topo.services.iter().enumerate() {
        service(i, s, name, hostname, &mut r);
    }
    r.out
}

/// Collects TOPO030 errors, each located at its JSON pointer (or at the key itself when the
/// key, not its value, is what Azure would refuse).
struct Report<'a> {
    tree: &'a Node,
    out: Vec<Diagnostic>,
}

impl Report<'_> {
    fn err(&mut self, pointer: String, key: bool, message: String, hint: &str) {
        let span = if key {
            self.tree.locate_key(&pointer)
        } else {
            self.tree.locate(&pointer)
        };
        self.out.push(
            Diagnostic::error(Code::AzureName, message)
                .at(span)
                .path(pointer)
                .hint(hint),
        );
    }
}

/// The broker's app name (there is a broker app whenever there is anything to deploy), its
/// image and its memory.
fn broker(topo: &Topology, name: Option<&str>, hostname: &str, r: &mut Report) {
    let has_apps = !topo.services.is_empty() || topo.broker.is_some();
    if has_apps {
        let broker_app = app_name(name, hostname);
        if let Some(why) = app_name_problem(&broker_app) {
            let hostname_set = topo
                .broker
                .as_ref()
                .and_then(|b| b.deploy.as_ref())
                .is_some_and(|d| d.hostname.is_some());
            let pointer = if hostname_set {
                "/broker/deploy/hostname"
            } else if name.is_some() {
                "/name"
            } else {
                ""
            };
            r.err(
                pointer.to_string(),
                false,
                format!("the broker's Azure app name `{broker_app}` {why}"),
                "Container Apps are named `{name}-{service}`; shorten `name` or `broker.deploy.hostname`",
            );
        }
    }
    let Some(b) = &topo.broker else { return };
    if let Some(why) = b.image.as_deref().and_then(image_problem) {
        r.err(
            "/broker/image".into(),
            false,
            format!("the broker image {why}"),
            "write a plain image reference such as `rabbitmq:4.3-management`",
        );
    }
    if let Some(why) = b
        .deploy
        .as_ref()
        .and_then(|d| d.memory.as_deref())
        .and_then(memory_problem)
    {
        r.err(
            "/broker/deploy/memory".into(),
            false,
            format!("the broker memory {why}"),
            MEMORY_HINT,
        );
    }
}

/// One service: its name against the broker's and Azure's rules, image, memory, env,
/// secrets and command.
fn service(i: usize, s: &Service, name: Option<&str>, hostname: &str, r: &mut Report) {
    let at = |f: &str| format!("/services/{i}/{f}");
    if s.name == hostname {
        r.err(
            at("name"),
            false,
            format!("service `{}` has the broker's hostname", s.name),
            "the broker runs as its own container under that name; rename the service or set `broker.deploy.hostname`",
        );
    }
    let app = app_name(name, &s.name);
    if let Some(why) = app_name_problem(&app) {
        r.err(
            at("name"),
            false,
            format!("the Azure app name `{app}` of service `{}` {why}", s.name),
            "Container Apps are named `{name}-{service}`; shorten the topology `name` or the service name",
        );
    }
    if let Some(why) = image_problem(&s.image) {
        r.err(
            at("image"),
            false,
            format!("the image of service `{}` {why}", s.name),
            "write a plain image reference such as `registry.example/app:1.2`",
        );
    }
    if let Some(why) = s.memory.as_deref().and_then(memory_problem) {
        r.err(
            at("memory"),
            false,
            format!("the memory of service `{}` {why}", s.name),
            MEMORY_HINT,
        );
    }
    service_env(i, s, r);
    service_secrets(i, s, r);
    if let Some(cmd) = &s.command {
        for (j, part) in cmd.iter().enumerate() {
            if part.contains('\0') {
                r.err(
                    at(&format!("command/{j}")),
                    false,
                    format!("command of service `{}` contains a NUL character", s.name),
                    "command arguments cannot hold NUL; remove it",
                );
            }
        }
    }
}

/// Env keys must be variable names; values cannot carry NUL through a shell or YAML.
fn service_env(i: usize, s: &Service, r: &mut Report) {
    for (key, value) in &s.env {
        let pointer = format!("/services/{i}/env/{}", pointer_segment(key));
        if !is_env_name(key) {
            r.err(
                pointer.clone(),
                true,
                format!(
                    "env key `{key}` of service `{}` is not a variable name",
                    s.name
                ),
                "env keys are letters, digits and `_`, not starting with a digit",
            );
        }
        if value.to_string().contains('\0') {
            r.err(
                pointer,
                false,
                format!(
                    "env `{key}` of service `{}` contains a NUL character",
                    s.name
                ),
                "environment values cannot hold NUL; remove it",
            );
        }
    }
}

/// Secret env keys must be variable names, and the Azure secret names derived from the
/// variables must be valid and distinct within the app (the broker's own secrets included).
fn service_secrets(i: usize, s: &Service, r: &mut Report) {
    let mut secret_names: BTreeMap<String, &str> = BROKER_SECRETS
        .iter()
        .map(|(v, n)| (n.to_string(), *v))
        .collect();
    for (key, var) in &s.secrets {
        let pointer = format!("/services/{i}/secrets/{}", pointer_segment(key));
        if !is_env_name(key) {
            r.err(
                pointer.clone(),
                true,
                format!(
                    "secret env key `{key}` of service `{}` is not a variable name",
                    s.name
                ),
                "env keys are letters, digits and `_`, not starting with a digit",
            );
        }
        if !is_env_name(var) {
            // TOPO025 reports a value that is not a variable name.
            continue;
        }
        match secret_name(var) {
            None => r.err(
                pointer,
                false,
                format!("variable `{var}` gives no valid Azure secret name"),
                "Azure secret names come from the variable name (lowercase, `_` as `-`) and must start with a letter",
            ),
            Some(sn) => match secret_names.get(&sn) {
                Some(other) if *other != var.as_str() => r.err(
                    pointer,
                    false,
                    format!(
                        "variables `{other}` and `{var}` both become Azure secret `{sn}` in service `{}`",
                        s.name
                    ),
                    "rename one of the variables",
                ),
                _ => {
                    secret_names.insert(sn, var.as_str());
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_name_rule() {
        for ok in ["ab", "shop-api-gateway", "a1", &"a".repeat(32)] {
            assert_eq!(app_name_problem(ok), None, "{ok}");
        }
        for bad in [
            "a",
            "1abc",
            "abc-",
            "a--b",
            "Abc",
            "a_b",
            &"a".repeat(33),
            "-ab",
        ] {
            assert!(app_name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn secret_names() {
        assert_eq!(secret_name("DB_PASSWORD").as_deref(), Some("db-password"));
        assert_eq!(secret_name("_X__Y_").as_deref(), Some("x-y"));
        assert_eq!(secret_name("__"), None);
        assert_eq!(secret_name("_1A"), None);
    }

    #[test]
    fn images() {
        assert_eq!(image_problem("shop.azurecr.io/api:1.2"), None);
        assert_eq!(image_problem("rabbitmq@sha256:abc"), None);
        for bad in [
            "", "-x", "a b", "a$(id)", "a`id`", "a\nb", "a'b", "a\"b", "${X}",
        ] {
            assert!(image_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn memory_sizes() {
        for ok in ["1Gi", "0.5Gi", "512Mi", "2", "1.25G"] {
            assert_eq!(memory_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "Gi",
            "@/etc/passwd",
            "1 Gi",
            "1.Gi",
            ".5Gi",
            "1Gib",
            "$(id)",
            "1.2.3Gi",
        ] {
            assert!(memory_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn env_names() {
        assert!(is_env_name("A_1"));
        assert!(is_env_name("_a"));
        assert!(!is_env_name("1A"));
        assert!(!is_env_name("A-B"));
        assert!(!is_env_name("A B"));
        assert!(!is_env_name(""));
    }
}
