//! The JSON contract of a plan (documented in docs/plan-apply.md):
//! `{"changed": bool, "summary": {create, update, replace, delete}, "warnings": [text],
//! "changes": [...]}` with
//! each change `{action, target: {kind, vhost?, name?|...}, description, fields: [{field,
//! old, new}], messages?, rebind?}`. Secrets show as `"***"`.

use std::io::Write;

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::plan::{Change, Plan, Target};
use crate::state::BindingKey;

/// The plan as a JSON value.
pub fn to_value(plan: &Plan) -> Value {
    json!({
        "changed": !plan.is_empty(),
        "summary": plan.summary(),
        "changes": plan.changes.iter().map(change).collect::<Vec<_>>(),
    })
}

/// Streams the plan: one change's JSON at a time (a 30,000-change plan as one JSON tree
/// would cost hundreds of MiB).
///
/// `warnings` is always there (an empty list when there are none), before `changes`, so
/// a bot can check it without walking the changes.
pub fn render(out: &mut dyn Write, plan: &Plan, warnings: &[String]) -> std::io::Result<()> {
    let mut buf = std::io::BufWriter::new(&mut *out);
    serde_json::to_writer_pretty(&mut buf, &Streamed(plan, warnings))?;
    writeln!(buf)?;
    buf.flush()
}

struct Streamed<'a>(&'a Plan, &'a [String]);
struct Changes<'a>(&'a Plan);

impl Serialize for Streamed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_struct("Plan", 4)?;
        m.serialize_field("changed", &!self.0.is_empty())?;
        m.serialize_field("summary", &self.0.summary())?;
        m.serialize_field("warnings", self.1)?;
        m.serialize_field("changes", &Changes(self.0))?;
        m.end()
    }
}

impl Serialize for Changes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.changes.len()))?;
        for c in &self.0.changes {
            seq.serialize_element(&change(c))?;
        }
        seq.end()
    }
}

fn change(c: &Change) -> Value {
    let mut m = Map::new();
    m.insert("action".into(), Value::from(c.action().as_str()));
    m.insert("target".into(), target(&c.target()));
    m.insert("description".into(), Value::from(c.target().to_string()));
    m.insert(
        "fields".into(),
        serde_json::to_value(&c.fields).unwrap_or(Value::Null),
    );
    if let Some(n) = c.messages() {
        m.insert("messages".into(), Value::from(n));
    }
    if !c.rebind().is_empty() {
        m.insert(
            "rebind".into(),
            Value::Array(c.rebind().iter().map(binding).collect()),
        );
    }
    Value::Object(m)
}

/// The identity of a target, as JSON.
pub fn target(t: &Target) -> Value {
    match t {
        Target::Vhost(name) => json!({"kind": "vhost", "name": name}),
        Target::User(name) => json!({"kind": "user", "name": name}),
        Target::Permission(k) => json!({"kind": "permission", "vhost": k.vhost, "user": k.user}),
        Target::Link(k) => {
            json!({"kind": k.component.kind(), "vhost": k.vhost, "name": k.name})
        }
        Target::TopicPermission(k) => {
            json!({"kind": "topic_permission", "vhost": k.vhost, "user": k.user})
        }
        Target::VhostLimits(v) => json!({"kind": "vhost_limits", "vhost": v}),
        Target::UserLimits(u) => json!({"kind": "user_limits", "user": u}),
        Target::Policy(k) => json!({"kind": "policy", "vhost": k.vhost, "name": k.name}),
        Target::OperatorPolicy(k) => {
            json!({"kind": "operator_policy", "vhost": k.vhost, "name": k.name})
        }
        Target::Exchange(k) => json!({"kind": "exchange", "vhost": k.vhost, "name": k.name}),
        Target::Queue(k) => json!({"kind": "queue", "vhost": k.vhost, "name": k.name}),
        Target::Binding(k) => {
            let mut v = binding(k);
            if let Value::Object(m) = &mut v {
                m.insert("kind".into(), Value::from("binding"));
            }
            v
        }
    }
}

fn binding(k: &BindingKey) -> Value {
    json!({
        "vhost": k.vhost,
        "source": k.source,
        "destination_type": k.destination_type.as_str(),
        "destination": k.destination,
        "routing_key": k.routing_key,
        "arguments": k.arguments.map(),
    })
}
