//! Snapshots of a plan with every kind of change in the three formats.
// Test support outside `#[test]` functions: a failed set-up step is a failed test.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use topo::plan::{PlanOptions, plan};
use topo::report::{self, Format};
use topo::state::{
    Args, BindingArgs, BindingKey, BindingState, Credential, EntityKey, ExchangeState,
    PermissionKey, PermissionState, PolicyState, QueueState, Secret, State, UserState, VhostState,
};
use topo::topology::model::{ApplyTo, DestinationType, QueueType};

fn queue(kind: QueueType, ttl: Option<i64>, messages: Option<u64>) -> QueueState {
    let mut arguments = Args::new();
    if let Some(t) = ttl {
        arguments.insert("x-message-ttl".into(), json!(t));
    }
    QueueState {
        kind,
        durable: true,
        auto_delete: false,
        arguments,
        messages,
        members: None,
    }
}

fn exchange(kind: &str) -> ExchangeState {
    ExchangeState {
        kind: kind.into(),
        durable: true,
        auto_delete: false,
        internal: false,
        arguments: Args::new(),
    }
}

fn binding(src: &str, dst: &str, rk: &str, args: &str) -> BindingKey {
    BindingKey {
        vhost: "/".into(),
        source: src.into(),
        destination_type: DestinationType::Queue,
        destination: dst.into(),
        routing_key: rk.into(),
        arguments: BindingArgs::new(
            &serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(args)
                .expect("arguments"),
        ),
    }
}

fn sample() -> topo::plan::Plan {
    let mut desired = State::default();
    let mut live = State::default();
    live.vhosts.insert("/".into(), VhostState::default());
    desired
        .exchanges
        .insert(EntityKey::new("/", "orders"), exchange("topic"));
    live.exchanges
        .insert(EntityKey::new("/", "orders"), exchange("topic"));
    desired
        .exchanges
        .insert(EntityKey::new("/", "events"), exchange("headers"));
    desired.queues.insert(
        EntityKey::new("/", "orders.audit"),
        queue(QueueType::Quorum, Some(86400000), None),
    );
    live.queues.insert(
        EntityKey::new("/", "orders.audit"),
        queue(QueueType::Classic, None, Some(12)),
    );
    desired.queues.insert(
        EntityKey::new("/", "work"),
        queue(QueueType::Classic, None, None),
    );
    live.queues.insert(
        EntityKey::new("/", "old"),
        queue(QueueType::Classic, None, Some(3)),
    );
    let kept = binding("orders", "orders.audit", "order.#", "{}");
    desired.bindings.insert(kept.clone(), BindingState {});
    live.bindings.insert(kept, BindingState {});
    desired.bindings.insert(
        binding("events", "work", "", r#"{"type":"a","x-match":"all"}"#),
        BindingState {},
    );
    live.bindings
        .insert(binding("orders", "old", "x", "{}"), BindingState {});
    let policy = |ttl: i64| PolicyState {
        pattern: "^orders\\.".into(),
        apply_to: ApplyTo::Queues,
        priority: 0,
        definition: [("max-length".to_string(), json!(ttl))]
            .into_iter()
            .collect(),
    };
    desired
        .policies
        .insert(EntityKey::new("/", "limits"), policy(1000));
    live.policies
        .insert(EntityKey::new("/", "limits"), policy(500));
    desired.users.insert(
        "svc".into(),
        UserState {
            tags: vec!["monitoring".into()],
            credential: Credential::Env {
                var: "SVC_PASSWORD".into(),
                value: Some(Secret::new("hunter2")),
            },
        },
    );
    desired.permissions.insert(
        PermissionKey {
            vhost: "/".into(),
            user: "svc".into(),
        },
        PermissionState {
            configure: "^$".into(),
            write: "^$".into(),
            read: "^work$".into(),
        },
    );
    plan(&desired, &live, &PlanOptions { prune: true })
}

fn render(format: Format, color: bool) -> String {
    let mut out = Vec::new();
    report::render(&mut out, &sample(), format, color).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn text() {
    let text = render(Format::Text, false);
    assert!(!text.contains("hunter2"));
    assert!(!text.contains('\x1b'));
    insta::assert_snapshot!(text);
}

#[test]
fn text_colour_only_when_asked() {
    let text = render(Format::Text, true);
    assert!(text.contains("\x1b[35m-/+ replace queue orders.audit"));
    assert!(text.contains("\x1b[32m+ create"));
    assert!(text.contains("\x1b[31m- delete"));
}

#[test]
fn json() {
    let text = render(Format::Json, false);
    assert!(!text.contains("hunter2"));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["changed"], true);
    insta::assert_snapshot!(text);
}

#[test]
fn markdown() {
    let text = render(Format::Markdown, false);
    assert!(!text.contains("hunter2"));
    insta::assert_snapshot!(text);
}

#[test]
fn no_changes() {
    let mut out = Vec::new();
    report::render(&mut out, &topo::plan::Plan::default(), Format::Text, false).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "Plan: no changes: the broker matches the file.\n"
    );
}
