//! The Container Apps definitions (`az containerapp create|update --yaml`, `az containerapp
//! job create|update --yaml`) of the azure script, as JSON (which YAML reads as is).
//!
//! Why a file and not flags: secrets in `--secrets name=value` are visible to every user of
//! the deploy machine in `ps`, a second ingress port (`additionalPortMappings`, for the
//! management API) and volumes have no flags at all in az 2.91, and one definition serves
//! both the create and the update path, so the two cannot drift apart.
//!
//! Values known only when the script runs (secret values, the registry, the topo image) are
//! holes in the text: the definition is a list of [`Part`]s, literal JSON text and
//! variables, and the script writes each variable as a JSON string into a file only its
//! user can read. The digest of the parts (variables by name, never by value) is the tag
//! `topo-render` on the app: an app whose tag matches is already as rendered, and the
//! update path skips it.

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The tag that carries a definition's digest.
pub const DIGEST_TAG: &str = "topo-render";

/// A key no topology value can produce (TOPO030 refuses NUL), marking a variable.
const VAR_KEY: &str = "\u{0}var";

/// A value filled in from the environment variable `name` when the script runs.
pub fn var(name: &str) -> Value {
    let mut m = Map::new();
    m.insert(VAR_KEY.to_string(), Value::String(name.to_string()));
    Value::Object(m)
}

/// One piece of a definition: JSON text as it is, or a variable written as a JSON string.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Part {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub var: Option<String>,
}

/// A definition ready for the template: its parts and digest.
#[derive(Debug, Clone, Serialize)]
pub struct Spec {
    pub parts: Vec<Part>,
    pub digest: String,
}

impl Spec {
    /// `definition` (without tags) with its digest added as the `topo-render` tag.
    pub fn new(mut definition: Value) -> Spec {
        let digest = digest(&parts(&definition));
        if let Value::Object(m) = &mut definition {
            m.insert("tags".into(), json!({ DIGEST_TAG: digest }));
        }
        Spec {
            parts: parts(&definition),
            digest,
        }
    }

    /// The text with each variable as `${NAME}` (tests, digests).
    pub fn template_text(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            if let Some(t) = &p.text {
                s.push_str(t);
            }
            if let Some(v) = &p.var {
                s.push_str(&format!("\"${{{v}}}\""));
            }
        }
        s
    }
}

/// Hex SHA-256 of the parts, variables by name.
fn digest(parts: &[Part]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        if let Some(t) = &p.text {
            h.update(b"t");
            h.update(t.as_bytes());
        }
        if let Some(v) = &p.var {
            h.update(b"\0v");
            h.update(v.as_bytes());
        }
    }
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of a text.
pub fn sha256(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn parts(v: &Value) -> Vec<Part> {
    let mut out = Vec::new();
    let mut buf = String::new();
    write(v, &mut buf, &mut out);
    if !buf.is_empty() {
        out.push(Part {
            text: Some(buf),
            var: None,
        });
    }
    out
}

fn write(v: &Value, buf: &mut String, out: &mut Vec<Part>) {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key(VAR_KEY) => {
            if !buf.is_empty() {
                out.push(Part {
                    text: Some(std::mem::take(buf)),
                    var: None,
                });
            }
            out.push(Part {
                text: None,
                var: m[VAR_KEY].as_str().map(str::to_string),
            });
        }
        Value::Object(m) => {
            buf.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    buf.push(',');
                }
                buf.push_str(&Value::String(k.clone()).to_string());
                buf.push(':');
                write(v, buf, out);
            }
            buf.push('}');
        }
        Value::Array(items) => {
            buf.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    buf.push(',');
                }
                write(v, buf, out);
            }
            buf.push(']');
        }
        scalar => buf.push_str(&scalar.to_string()),
    }
}

/// Container Apps resources from what the file gives. Consumption workloads take fixed
/// pairs (0.25 cores with 0.5Gi, 0.5 with 1Gi, ... memory twice the cores in Gi): when the
/// file gives one, the other follows that ratio; when it gives neither, Azure's default
/// applies.
pub fn resources(cpu: Option<f64>, memory: Option<&str>) -> Option<Value> {
    let gi = |m: &str| m.strip_suffix("Gi").and_then(|n| n.parse::<f64>().ok());
    match (cpu, memory) {
        (None, None) => None,
        (Some(c), Some(m)) => Some(json!({"cpu": c, "memory": m})),
        (Some(c), None) => Some(json!({"cpu": c, "memory": format!("{}Gi", c * 2.0)})),
        (None, Some(m)) => Some(match gi(m) {
            Some(g) => json!({"cpu": g / 2.0, "memory": m}),
            None => json!({"memory": m}),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_become_holes_and_the_digest_ignores_values() {
        let s = Spec::new(json!({"a": [1, {"b": var("X")}], "c": "x"}));
        assert_eq!(
            s.template_text(),
            format!(
                "{{\"a\":[1,{{\"b\":\"${{X}}\"}}],\"c\":\"x\",\"tags\":{{\"topo-render\":\"{}\"}}}}",
                s.digest
            )
        );
        assert_eq!(s.parts.iter().filter(|p| p.var.is_some()).count(), 1);
        let other = Spec::new(json!({"a": [1, {"b": var("Y")}], "c": "x"}));
        assert_ne!(s.digest, other.digest);
        assert_eq!(
            s.digest,
            Spec::new(json!({"a": [1, {"b": var("X")}], "c": "x"})).digest
        );
    }

    #[test]
    fn a_value_that_looks_like_a_hole_is_text() {
        let s = Spec::new(json!({"a": {"var": "X"}, "b": "\"${X}\""}));
        assert!(s.parts.iter().all(|p| p.var.is_none()));
    }

    #[test]
    fn resource_pairs() {
        assert_eq!(resources(None, None), None);
        assert_eq!(
            resources(Some(0.5), None),
            Some(json!({"cpu": 0.5, "memory": "1Gi"}))
        );
        assert_eq!(
            resources(None, Some("2Gi")),
            Some(json!({"cpu": 1.0, "memory": "2Gi"}))
        );
    }
}
