use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::state::{BindingArgs, Limits, Secret, TopicPermissionState};
use crate::topology::model::{ApplyTo, QueueType};

fn ek(v: &str, n: &str) -> EntityKey {
    EntityKey::new(v, n)
}

fn queue(kind: QueueType, args: &[(&str, Value)]) -> QueueState {
    QueueState {
        kind,
        durable: true,
        auto_delete: false,
        arguments: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        messages: None,
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

fn bk(v: &str, src: &str, dt: DestinationType, dst: &str, rk: &str) -> BindingKey {
    BindingKey {
        vhost: v.into(),
        source: src.into(),
        destination_type: dt,
        destination: dst.into(),
        routing_key: rk.into(),
        arguments: Default::default(),
    }
}

/// A live State lists every vhost its entities live in, as a broker does, and holds no
/// negative limit (read drops them: see `state::limits`).
fn live_like(mut s: State) -> State {
    for v in s.vhost_names() {
        s.vhosts.entry(v).or_default();
    }
    for limits in [&mut s.vhost_limits, &mut s.user_limits] {
        for l in limits.values_mut() {
            l.retain(|_, v| *v >= 0);
        }
        limits.retain(|_, l| !l.is_empty());
    }
    s
}

fn limits_map(names: &'static [&'static str]) -> impl Strategy<Value = BTreeMap<String, Limits>> {
    prop::collection::btree_map(
        name(),
        prop::collection::btree_map(
            prop::sample::select(names).prop_map(String::from),
            prop::sample::select(&[-1i64, 0, 5, 10][..]),
            0..3,
        ),
        0..3,
    )
}

fn prune() -> PlanOptions {
    PlanOptions { prune: true }
}

fn lines(p: &Plan) -> Vec<String> {
    p.changes
        .iter()
        .map(|c| format!("{} {}", c.action().symbol(), c.target()))
        .collect()
}

#[test]
fn empty_live_creates_everything_in_dependency_order() {
    let mut d = State::default();
    d.queues
        .insert(ek("/", "q"), queue(QueueType::Classic, &[]));
    d.exchanges.insert(ek("/", "x"), exchange("topic"));
    d.bindings.insert(
        bk("/", "x", DestinationType::Queue, "q", "a.#"),
        BindingState {},
    );
    d.users.insert(
        "u".into(),
        UserState {
            tags: vec![],
            credential: Credential::None,
        },
    );
    d.permissions.insert(
        PermissionKey {
            vhost: "/".into(),
            user: "u".into(),
        },
        PermissionState {
            configure: ".*".into(),
            write: ".*".into(),
            read: ".*".into(),
        },
    );
    let p = plan(&d, &State::default(), &PlanOptions::default());
    assert_eq!(
        lines(&p),
        vec![
            "+ vhost /",
            "+ user u",
            "+ permission u in vhost /",
            "+ exchange x",
            "+ queue q",
            "+ binding x -> q [a.#]",
        ]
    );
    assert!(p.changes.iter().all(|c| c.action() == Action::Create));
}

#[test]
fn changed_queue_argument_is_a_replace_with_messages_and_rebinds() {
    let mut d = State::default();
    d.queues.insert(
        ek("/", "q"),
        queue(QueueType::Quorum, &[("x-message-ttl", json!(1000))]),
    );
    let b = bk("/", "x", DestinationType::Queue, "q", "k");
    d.bindings.insert(b.clone(), BindingState {});
    d.exchanges.insert(ek("/", "x"), exchange("direct"));
    let mut live = live_like(d.clone());
    let mut old = queue(QueueType::Classic, &[("x-message-ttl", json!(500))]);
    old.messages = Some(7);
    live.queues.insert(ek("/", "q"), old);
    // A binding the file does not name still points at q: without prune it must survive.
    let extra = bk("/", "x", DestinationType::Queue, "q", "other");
    live.bindings.insert(extra.clone(), BindingState {});

    let p = plan(&d, &live, &PlanOptions::default());
    assert_eq!(p.changes.len(), 1);
    let c = &p.changes[0];
    assert_eq!(c.action(), Action::Replace);
    assert_eq!(c.messages(), Some(7));
    assert!(c.loses_data());
    assert_eq!(c.rebind(), vec![b.clone(), extra.clone()]);
    let fields: Vec<&str> = c.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, vec!["type", "arguments.x-message-ttl"]);
    assert_eq!(c.fields[1].old, Some(json!(500)));
    assert_eq!(c.fields[1].new, Some(json!(1000)));

    // With prune, the extra binding is deleted rather than rebound.
    let p = plan(&d, &live, &prune());
    assert_eq!(p.changes[0].rebind(), vec![b]);
    assert_eq!(
        lines(&p)[1],
        format!("- binding {extra}"),
        "the pruned binding follows the replace"
    );
}

#[test]
fn exchange_replace_rebinds_both_directions() {
    let mut d = State::default();
    d.exchanges.insert(ek("/", "x"), exchange("topic"));
    d.exchanges.insert(ek("/", "y"), exchange("fanout"));
    let out = bk("/", "x", DestinationType::Exchange, "y", "#");
    let inn = bk("/", "y", DestinationType::Exchange, "x", "");
    d.bindings.insert(out.clone(), BindingState {});
    d.bindings.insert(inn.clone(), BindingState {});
    let mut live = live_like(d.clone());
    live.exchanges.insert(ek("/", "x"), exchange("direct"));
    let p = plan(&d, &live, &prune());
    assert_eq!(lines(&p), vec!["-/+ exchange x"]);
    assert_eq!(p.changes[0].rebind(), vec![out, inn]);
    assert_eq!(p.changes[0].messages(), None);
}

#[test]
fn prune_is_scoped_and_spares_reserved_entities() {
    let mut d = State::default();
    d.queues
        .insert(ek("app", "keep"), queue(QueueType::Classic, &[]));
    let mut live = d.clone();
    for (v, n) in [("app", "gone"), ("app", "amq.gen-abc"), ("other", "gone")] {
        let mut q = queue(QueueType::Classic, &[]);
        q.messages = Some(0);
        live.queues.insert(ek(v, n), q);
    }
    for (v, n) in [
        ("app", "amq.direct"),
        ("app", ""),
        ("app", "old"),
        ("other", "old"),
    ] {
        live.exchanges.insert(ek(v, n), exchange("direct"));
    }
    live.policies.insert(
        ek("app", "p"),
        PolicyState {
            pattern: ".*".into(),
            apply_to: ApplyTo::All,
            priority: 0,
            definition: Args::new(),
        },
    );
    live.users.insert(
        "admin".into(),
        UserState {
            tags: vec!["administrator".into()],
            credential: Credential::None,
        },
    );
    live.bindings.insert(
        bk("app", "old", DestinationType::Queue, "amq.gen-abc", ""),
        BindingState {},
    );
    live.bindings.insert(
        bk("app", "old", DestinationType::Queue, "gone", ""),
        BindingState {},
    );
    live.vhosts.insert("app".into(), VhostState::default());

    assert!(plan(&d, &live, &PlanOptions::default()).is_empty());
    let p = plan(&d, &live, &prune());
    assert_eq!(
        lines(&p),
        vec![
            "- binding old -> gone @app",
            "- queue gone@app",
            "- exchange old@app",
            "- policy p@app",
        ]
    );
}

#[test]
fn user_password_matches_live_hash_and_tags_update_keeps_it() {
    let pw = "s3cret";
    let hash = password::hash_sha256(pw);
    let want = UserState {
        tags: vec!["monitoring".into()],
        credential: Credential::Env {
            var: "PW".into(),
            value: Some(Secret::new(pw)),
        },
    };
    let have = UserState {
        tags: vec![],
        credential: Credential::Hash {
            hash: Secret::new(hash.clone()),
            algorithm: Some(password::SHA256.into()),
        },
    };
    let mut d = State::default();
    d.users.insert("u".into(), want.clone());
    let mut live = State::default();
    live.users.insert("u".into(), have.clone());
    let p = plan(&d, &live, &PlanOptions::default());
    assert_eq!(p.changes.len(), 1);
    let fields: Vec<&str> = p.changes[0]
        .fields
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(fields, vec!["tags"], "the password is unchanged");
    // The update carries the whole user, password included (PUT replaces the user): the
    // stored hash, resolved here, so apply needs no live state.
    assert_eq!(
        p.changes[0].entity,
        EntityChange::User(
            "u".into(),
            UserChange::Update(UserDefinition {
                user: want.clone(),
                password: UserPassword::Hash {
                    hash: Secret::new(hash.clone()),
                    algorithm: password::SHA256.into(),
                },
            })
        )
    );

    live.users.get_mut("u").unwrap().tags = vec!["monitoring".into()];
    assert!(plan(&d, &live, &PlanOptions::default()).is_empty());

    let mut other = d.clone();
    other.users.get_mut("u").unwrap().credential = Credential::Env {
        var: "PW".into(),
        value: Some(Secret::new("different")),
    };
    let p = plan(&other, &live, &PlanOptions::default());
    assert_eq!(p.changes[0].fields[0].field, "password");
    let shown = format!("{:?}", p.changes[0].fields);
    assert!(!shown.contains("different") && !shown.contains(pw));
}

#[test]
fn the_model_of_apply_drops_bindings_with_their_queue_or_exchange() {
    let b = bk("/", "x", DestinationType::Queue, "q", "k");
    let e2e = bk("/", "y", DestinationType::Exchange, "x", "");
    let mut live = State::default();
    live.exchanges.insert(ek("/", "x"), exchange("fanout"));
    live.exchanges.insert(ek("/", "y"), exchange("topic"));
    live.queues
        .insert(ek("/", "q"), queue(QueueType::Classic, &[]));
    live.bindings.insert(b.clone(), BindingState {});
    live.bindings.insert(e2e.clone(), BindingState {});
    let live = live_like(live);
    let mut d = live.clone();
    d.exchanges.insert(ek("/", "x"), exchange("direct"));
    // Replacing x drops both of its bindings; apply declares them again.
    let p = plan(&d, &live, &PlanOptions::default());
    assert_eq!(p.changes[0].rebind(), [b.clone(), e2e.clone()]);
    let after = apply_to_state(&p, &live);
    assert!(after.bindings.contains_key(&b) && after.bindings.contains_key(&e2e));
    // Without the rebinds, the broker would be left without them.
    let mut bare = p.clone();
    if let EntityChange::Exchange(_, ExchangeChange::Replace { rebind, .. }) =
        &mut bare.changes[0].entity
    {
        rebind.clear();
    }
    assert!(apply_to_state(&bare, &live).bindings.is_empty());
    // Pruning the queue drops the binding to it.
    let mut d = live.clone();
    d.queues.clear();
    d.bindings.remove(&b);
    let after = apply_to_state(&plan(&d, &live, &prune()), &live);
    assert!(!after.bindings.contains_key(&b) && after.bindings.contains_key(&e2e));
}

#[test]
fn the_password_to_send_is_resolved_against_the_live_user() {
    let stored = Secret::new(password::hash_sha256("old"));
    let live = Credential::Hash {
        hash: stored.clone(),
        algorithm: None,
    };
    let env = |pw: &str| Credential::Env {
        var: "P".into(),
        value: Some(Secret::new(pw)),
    };
    let kept = UserPassword::Hash {
        hash: stored.clone(),
        algorithm: password::SHA256.into(),
    };
    // Unmanaged, or unchanged: the stored hash goes back (no needless rehash).
    assert_eq!(password_to_send(&Credential::None, Some(&live)), kept);
    assert_eq!(password_to_send(&env("old"), Some(&live)), kept);
    // Changed: apply hashes the new one.
    assert_eq!(
        password_to_send(&env("new"), Some(&live)),
        UserPassword::New(Secret::new("new"))
    );
    // A new user without a password: an empty hash.
    assert_eq!(
        password_to_send(&Credential::None, None),
        UserPassword::Hash {
            hash: Secret::new(""),
            algorithm: password::SHA256.into(),
        }
    );
}

#[test]
fn classic_queues_say_their_type_when_the_vhost_default_after_the_plan_is_not_classic() {
    let explicit = |p: &Plan| -> Vec<bool> {
        p.changes
            .iter()
            .filter_map(|c| match &c.entity {
                EntityChange::Queue(_, QueueChange::Create(q)) => Some(q.explicit_type),
                _ => None,
            })
            .collect()
    };
    let mut live = State::default();
    live.vhosts.insert(
        "v".into(),
        VhostState {
            default_queue_type: Some(QueueType::Quorum),
            ..Default::default()
        },
    );
    let mut d = State::default();
    d.vhosts.insert("v".into(), VhostState::default());
    d.queues
        .insert(ek("v", "q"), queue(QueueType::Classic, &[]));
    // The live default is quorum and the file leaves it alone.
    assert_eq!(explicit(&plan(&d, &live, &prune())), [true]);
    // The file sets it back to classic: the plan's value wins over the live one.
    d.vhosts.get_mut("v").unwrap().default_queue_type = Some(QueueType::Classic);
    assert_eq!(explicit(&plan(&d, &live, &prune())), [false]);
    // And the other way round.
    live.vhosts.get_mut("v").unwrap().default_queue_type = Some(QueueType::Classic);
    d.vhosts.get_mut("v").unwrap().default_queue_type = Some(QueueType::Quorum);
    assert_eq!(explicit(&plan(&d, &live, &prune())), [true]);
}

#[test]
fn vhost_fields_not_in_the_file_are_not_managed() {
    let mut d = State::default();
    d.vhosts.insert(
        "v".into(),
        VhostState {
            description: Some("mine".into()),
            ..Default::default()
        },
    );
    let mut live = State::default();
    live.vhosts.insert(
        "v".into(),
        VhostState {
            description: Some("theirs".into()),
            default_queue_type: Some(QueueType::Quorum),
            tags: Some(vec!["t".into()]),
        },
    );
    let p = plan(&d, &live, &prune());
    assert_eq!(lines(&p), vec!["~ vhost v"]);
    assert_eq!(p.changes[0].fields.len(), 1);
    let after = apply_to_state(&p, &live);
    assert_eq!(
        after.vhosts["v"].default_queue_type,
        Some(QueueType::Quorum),
        "an update keeps unmanaged fields"
    );
}

#[test]
fn policy_update_is_field_by_field() {
    let mk = |ttl: i64| PolicyState {
        pattern: "^q".into(),
        apply_to: ApplyTo::Queues,
        priority: 1,
        definition: [("message-ttl".to_string(), json!(ttl))]
            .into_iter()
            .collect(),
    };
    let mut d = State::default();
    d.policies.insert(ek("/", "p"), mk(10));
    let mut live = State::default();
    live.policies.insert(ek("/", "p"), mk(20));
    let live = live_like(live);
    let p = plan(&d, &live, &PlanOptions::default());
    assert_eq!(lines(&p), vec!["~ policy p"]);
    assert_eq!(
        p.changes[0].fields,
        vec![FieldChange {
            field: "definition.message-ttl".into(),
            old: Some(json!(20)),
            new: Some(json!(10)),
        }]
    );
}

#[test]
fn topic_permissions_update_per_exchange_and_clear_only_under_prune() {
    let tp = |w: &str| TopicPermissionState {
        write: w.into(),
        read: ".*".into(),
    };
    let key = PermissionKey {
        vhost: "v".into(),
        user: "u".into(),
    };
    let mut d = State::default();
    d.topic_permissions
        .insert(key.clone(), [("amq.topic".to_string(), tp("^a"))].into());
    let mut live = State::default();
    live.vhosts.insert("v".into(), VhostState::default());
    live.topic_permissions.insert(
        key.clone(),
        [
            ("amq.topic".to_string(), tp("^b")),
            ("t".to_string(), tp(".*")),
        ]
        .into(),
    );
    live.topic_permissions.insert(
        PermissionKey {
            vhost: "v".into(),
            user: "other".into(),
        },
        [("amq.topic".to_string(), tp(".*"))].into(),
    );

    // Without prune: the one pattern changes, the live exchange `t` stays.
    let p = plan(&d, &live, &PlanOptions::default());
    assert_eq!(lines(&p), vec!["~ topic permissions of u in vhost v"]);
    assert_eq!(
        p.changes[0].fields,
        vec![FieldChange {
            field: "amq.topic.write".into(),
            old: Some(json!("^b")),
            new: Some(json!("^a")),
        }]
    );
    match &p.changes[0].entity {
        EntityChange::TopicPermission(_, TopicPermissionChange::Update { topics, clear, set }) => {
            assert!(!clear);
            assert_eq!(topics.len(), 2);
            // Apply sets the changed exchange only; `t` already holds its value.
            assert_eq!(set, &d.topic_permissions[&key]);
        }
        other => panic!("{other:?}"),
    }

    // With prune: `t` goes (the update clears, then sets), and the other user's go whole.
    let p = plan(&d, &live, &prune());
    assert_eq!(
        lines(&p),
        vec![
            "~ topic permissions of u in vhost v",
            "- topic permissions of other in vhost v"
        ]
    );
    assert!(
        p.changes[0]
            .fields
            .iter()
            .any(|f| f.field == "t.write" && f.new.is_none())
    );
    let after = apply_to_state(&p, &live);
    assert_eq!(after.topic_permissions.len(), 1);
    assert_eq!(after.topic_permissions[&key], d.topic_permissions[&key]);
    assert!(plan(&d, &after, &prune()).is_empty());
}

// ---- properties -----------------------------------------------------------------------

const VHOSTS: &[&str] = &["/", "v1"];
const NAMES: &[&str] = &["a", "b", "c", "amq.gen-1"];

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES).prop_map(String::from)
}

fn vhost() -> impl Strategy<Value = String> {
    prop::sample::select(VHOSTS).prop_map(String::from)
}

fn key() -> impl Strategy<Value = EntityKey> {
    (vhost(), name()).prop_map(|(v, n)| EntityKey::new(v, n))
}

fn args() -> impl Strategy<Value = Args> {
    prop::collection::btree_map(
        prop::sample::select(&["x-message-ttl", "x-max-length", "x-overflow"][..])
            .prop_map(String::from),
        (0i64..3).prop_map(Value::from),
        0..2,
    )
}

fn queue_state() -> impl Strategy<Value = QueueState> {
    (
        prop::sample::select(&[QueueType::Classic, QueueType::Quorum, QueueType::Stream][..]),
        any::<bool>(),
        args(),
        prop::option::of(0u64..3),
    )
        .prop_map(|(kind, durable, arguments, messages)| QueueState {
            kind,
            durable,
            auto_delete: false,
            arguments,
            messages,
            members: None,
        })
}

fn exchange_state() -> impl Strategy<Value = ExchangeState> {
    (
        prop::sample::select(&["direct", "topic", "fanout", "headers"][..]),
        any::<bool>(),
    )
        .prop_map(|(kind, internal)| ExchangeState {
            kind: kind.into(),
            durable: true,
            auto_delete: false,
            internal,
            arguments: Args::new(),
        })
}

fn binding_key() -> impl Strategy<Value = BindingKey> {
    (
        vhost(),
        name(),
        any::<bool>(),
        name(),
        prop::sample::select(&["", "k", "a.#"][..]),
        args(),
    )
        .prop_map(
            |(vhost, source, to_exchange, destination, rk, a)| BindingKey {
                vhost,
                source,
                destination_type: if to_exchange {
                    DestinationType::Exchange
                } else {
                    DestinationType::Queue
                },
                destination,
                routing_key: rk.into(),
                arguments: BindingArgs::new(&a),
            },
        )
}

fn credential() -> impl Strategy<Value = Credential> {
    prop_oneof![
        Just(Credential::None),
        prop::sample::select(&["p1", "p2"][..]).prop_map(|p| Credential::Env {
            var: "PW".into(),
            value: Some(Secret::new(p)),
        }),
        prop::sample::select(&["p1", "p2"][..]).prop_map(|p| Credential::Hash {
            hash: Secret::new(password::hash_sha256(p)),
            algorithm: Some(password::SHA256.into()),
        }),
    ]
}

fn state() -> impl Strategy<Value = State> {
    (
        prop::collection::btree_map(
            vhost(),
            prop::option::of("[a-c]").prop_map(|description| VhostState {
                description,
                default_queue_type: None,
                tags: None,
            }),
            0..2,
        ),
        prop::collection::btree_map(key(), exchange_state(), 0..4),
        prop::collection::btree_map(key(), queue_state(), 0..4),
        prop::collection::btree_map(binding_key(), Just(BindingState {}), 0..8),
        prop::collection::btree_map(
            key(),
            (0i64..2, args()).prop_map(|(priority, definition)| PolicyState {
                pattern: ".*".into(),
                apply_to: ApplyTo::All,
                priority,
                definition,
            }),
            0..2,
        ),
        prop::collection::btree_map(
            name(),
            (prop::collection::vec("[xy]", 0..2), credential())
                .prop_map(|(tags, credential)| UserState { tags, credential }),
            0..3,
        ),
        prop::collection::btree_map(
            (vhost(), name()).prop_map(|(vhost, user)| PermissionKey { vhost, user }),
            prop::sample::select(&[".*", "^$"][..]).prop_map(|r| PermissionState {
                configure: r.into(),
                write: r.into(),
                read: r.into(),
            }),
            0..3,
        ),
        prop::collection::btree_map(
            (vhost(), name()).prop_map(|(vhost, user)| PermissionKey { vhost, user }),
            prop::collection::btree_map(
                prop::sample::select(&["amq.topic", "t1", "t2"][..]).prop_map(String::from),
                prop::sample::select(&[".*", "^a", "^$"][..]).prop_map(|r| TopicPermissionState {
                    write: r.into(),
                    read: r.into(),
                }),
                1..3,
            ),
            0..3,
        ),
        limits_map(&["max-connections", "max-queues"]),
        limits_map(&["max-connections", "max-channels"]),
        prop::collection::btree_map(
            key(),
            (0i64..2, args()).prop_map(|(priority, definition)| PolicyState {
                pattern: "^q".into(),
                apply_to: ApplyTo::Queues,
                priority,
                definition,
            }),
            0..2,
        ),
        links_map(),
    )
        .prop_map(
            |(
                vhosts,
                exchanges,
                queues,
                bindings,
                policies,
                users,
                permissions,
                topics,
                vhost_limits,
                user_limits,
                operator_policies,
                links,
            )| State {
                vhosts,
                exchanges,
                queues,
                bindings,
                policies,
                users,
                permissions,
                topic_permissions: topics,
                vhost_limits,
                user_limits,
                operator_policies,
                links,
            },
        )
}

/// Shovels and upstreams, with URIs whose passwords differ (`p`, `q`) behind the same shown
/// form.
fn links_map()
-> impl Strategy<Value = BTreeMap<crate::state::links::LinkKey, crate::state::links::LinkState>> {
    use crate::state::links::{Component, LinkKey, normalize};
    prop::collection::btree_map(
        (prop::sample::select(&Component::ALL[..]), vhost(), name()).prop_map(
            |(component, vhost, name)| LinkKey {
                component,
                vhost,
                name,
            },
        ),
        (
            prop::sample::select(&["amqp://", "amqp://u:p@h/v", "amqp://u:q@h/v"][..]),
            prop::sample::select(&[1u64, 1000][..]),
        ),
        0..3,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(k, (uri, n))| {
                let raw = match k.component {
                    Component::Shovel => json!({"src-uri": uri, "src-queue": "q",
                        "dest-uri": "amqp://", "dest-queue": "r", "src-prefetch-count": n}),
                    Component::FederationUpstream => json!({"uri": uri, "prefetch-count": n}),
                };
                let value = raw.as_object().cloned().unwrap_or_default();
                let l = normalize(k.component, &value);
                (k, l)
            })
            .collect()
    })
}

/// Bindings only where both ends exist, as on a broker (it refuses others) and in a valid
/// file (a binding to an undeclared entity is TOPO011/TOPO012).
fn consistent(mut s: State) -> State {
    let exchanges: BTreeSet<EntityKey> = s.exchanges.keys().cloned().collect();
    let queues: BTreeSet<EntityKey> = s.queues.keys().cloned().collect();
    s.bindings.retain(|b, _| {
        let end = |name: &str| EntityKey::new(b.vhost.clone(), name.to_string());
        exchanges.contains(&end(&b.source))
            && match b.destination_type {
                DestinationType::Queue => queues.contains(&end(&b.destination)),
                DestinationType::Exchange => exchanges.contains(&end(&b.destination)),
            }
    });
    s
}

/// The desired side never carries message counts.
fn desired(mut s: State) -> State {
    for q in s.queues.values_mut() {
        q.messages = None;
    }
    s
}

proptest! {
    #[test]
    fn plan_of_a_state_against_itself_is_empty(s in state().prop_map(live_like), p in any::<bool>()) {
        let d = desired(s.clone());
        let opts = PlanOptions { prune: p };
        prop_assert!(plan(&d, &s, &opts).is_empty());
    }

    #[test]
    fn applying_a_plan_converges(
        a in state().prop_map(consistent),
        b in state(),
        shared in any::<bool>(),
        p in any::<bool>(),
    ) {
        // Often the broker already has the file's entities (some of them defined
        // otherwise) and its bindings: those bindings are what a replace must declare
        // again.
        let mut b = b;
        if shared {
            for (k, x) in &a.exchanges {
                b.exchanges.entry(k.clone()).or_insert_with(|| x.clone());
            }
            for (k, q) in &a.queues {
                b.queues.entry(k.clone()).or_insert_with(|| q.clone());
            }
            b.bindings.extend(a.bindings.clone());
        }
        let b = live_like(consistent(b));
        let a = desired(a);
        let opts = PlanOptions { prune: p };
        let first = plan(&a, &b, &opts);
        let after = apply_to_state(&first, &b);
        let second = plan(&a, &after, &opts);
        prop_assert!(second.is_empty(), "left over: {:?}", lines(&second));
        // What the file names is exactly there afterwards.
        for (k, q) in &a.queues {
            prop_assert!(after.queues[k].same_definition(q));
        }
        for k in a.bindings.keys() {
            prop_assert!(after.bindings.contains_key(k));
        }
        // Nothing outside the prune scope, and no user, is ever deleted.
        let scope = a.vhost_names();
        for c in &first.changes {
            if c.action() == Action::Delete {
                prop_assert!(p);
                prop_assert!(!matches!(c.target(), Target::User(_) | Target::Vhost(_)));
                match c.target() {
                    // Users are global: prune reaches the limits of the file's users only.
                    Target::UserLimits(u) => prop_assert!(a.users.contains_key(&u)),
                    t => prop_assert!(scope.contains(t.vhost().unwrap_or_default())),
                }
                if let Target::Queue(k) | Target::Exchange(k) = &c.target() {
                    prop_assert!(!k.name.starts_with("amq."));
                }
            }
        }
    }

    #[test]
    fn changes_come_in_dependency_order(a in state(), b in state()) {
        let p = plan(&desired(a), &b, &prune());
        let first_delete = p.changes.iter().position(|c| c.action() == Action::Delete)
            .unwrap_or(p.changes.len());
        let (fwd, del) = p.changes.split_at(first_delete);
        prop_assert!(fwd.windows(2).all(|w| w[0].target().rank() <= w[1].target().rank()));
        prop_assert!(del.windows(2).all(|w| w[0].target().rank() >= w[1].target().rank()));
        prop_assert!(del.iter().all(|c| c.action() == Action::Delete));
    }
}
