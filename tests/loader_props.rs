//! Property tests of the loader: no input makes it panic or hang, every diagnostic points
//! inside its file, and what serializes as a topology loads back as the same topology.

use std::collections::HashMap;
use std::path::Path;

use proptest::prelude::*;
use topo::topology::model::{Binding, Exchange, Queue, QueueType, Topology};
use topo::topology::{EnvSource, FileSource, Loaded};
use topo::validate::load_with;

/// A one-file in-memory file system (no `.env`).
struct Mem(String);

impl FileSource for Mem {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if path.ends_with("topo.yaml") {
            Ok(self.0.clone().into_bytes())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not found",
            ))
        }
    }
}

fn load_text(text: &str) -> Loaded {
    load_with(
        Path::new("topo.yaml"),
        &Mem(text.to_string()),
        &EnvSource::Fixed(HashMap::new()),
    )
}

fn spans_in_bounds(loaded: &Loaded) {
    for d in &loaded.diagnostics {
        if let Some(span) = d.span {
            let file = loaded
                .sources
                .get(span.file)
                .expect("span names a loaded file");
            let chars = file.text.len() as u32;
            assert!(
                span.start <= chars + 1 && span.end <= chars + 1,
                "{span:?} outside {chars} chars: {}",
                d.message
            );
        }
    }
    let mut out = Vec::new();
    topo::diag::render_text(&mut out, &loaded.sources, &loaded.diagnostics, false)
        .expect("renders");
}

fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(": ".to_string()),
        Just("- ".to_string()),
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just(", ".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("<<: ".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("${X}".to_string()),
        Just("${".to_string()),
        Just("!!str ".to_string()),
        Just("---\n".to_string()),
        Just("version: 1\n".to_string()),
        Just("queues".to_string()),
        Just("name".to_string()),
        "[a-z0-9.#*]{1,6}",
        "\\PC{0,3}",
    ];
    prop::collection::vec(token, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        spans_in_bounds(&load_text(&text));
    }

    #[test]
    fn yaml_like_token_soup_never_panics(text in yamlish()) {
        spans_in_bounds(&load_text(&text));
    }

    #[test]
    fn topologies_round_trip(topo in topology()) {
        // Through export's YAML emitter, so its quoting and `$${` escaping are what is
        // tested (JSON would skip both).
        let text = topo::export::to_yaml(&topo, "round trip");
        let loaded = load_text(&text);
        let diags: Vec<_> = loaded.diagnostics.iter().map(|d| d.message.clone()).collect();
        prop_assert!(!loaded.has_errors(), "{diags:?}\n{text}");
        prop_assert_eq!(loaded.topology.as_ref(), Some(&topo));
    }
}

/// An entity name the rules accept: `amq.` names belong to the broker (a queue or exchange
/// so named is refused, rightly; the generator drew `amq.` once in CI).
fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9.-]{0,12}".prop_filter("amq. names are the broker's", |n| !n.starts_with("amq."))
}

fn topology() -> impl Strategy<Value = Topology> {
    (
        prop::collection::btree_set(name(), 1..6),
        prop::collection::btree_set(name(), 1..8),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                "[a-z*#]{1,4}(\\.[a-z*#]{1,4}){0,2}",
            ),
            0..10,
        ),
        prop::collection::vec(
            (
                prop::option::of(0u64..10_000_000),
                prop::option::of(any::<bool>()),
                prop::option::of(1u8..=10),
            ),
            8,
        ),
        prop::collection::vec("[a-z $#{}:'\"\\-]{0,16}", 6),
    )
        .prop_map(|(exchanges, queues, bindings, queue_opts, notes)| {
            let exchanges: Vec<String> = exchanges.into_iter().map(|e| format!("x-{e}")).collect();
            let queues: Vec<String> = queues.into_iter().collect();
            let mut t = Topology {
                version: 1,
                ..Topology::default()
            };
            t.exchanges = exchanges
                .iter()
                .map(|n| Exchange {
                    name: n.clone(),
                    vhost: None,
                    kind: "direct".into(),
                    durable: None,
                    auto_delete: None,
                    internal: None,
                    alternate_exchange: None,
                    arguments: Default::default(),
                })
                .collect();
            // Text the broker holds literally: `${`, `$${`, quotes, `#`, YAML indicators.
            for (x, note) in t.exchanges.iter_mut().zip(&notes) {
                x.arguments
                    .insert("x-note".into(), serde_json::Value::from(note.clone()));
            }
            t.queues = queues
                .iter()
                .zip(queue_opts)
                .map(|(n, (ttl, sac, prio))| Queue {
                    name: n.clone(),
                    vhost: None,
                    kind: Some(QueueType::Classic),
                    durable: None,
                    auto_delete: None,
                    exclusive: None,
                    message_ttl: ttl,
                    expires: None,
                    max_length: None,
                    max_length_bytes: None,
                    overflow: None,
                    dead_letter_exchange: None,
                    dead_letter_routing_key: None,
                    max_priority: prio,
                    delivery_limit: None,
                    single_active_consumer: sac,
                    initial_group_size: None,
                    initial_cluster_size: None,
                    arguments: Default::default(),
                    message_schema: None,
                })
                .collect();
            let mut seen = std::collections::BTreeSet::new();
            for (x, q, key) in bindings {
                let (source, destination) = (x.get(&exchanges).clone(), q.get(&queues).clone());
                if seen.insert((source.clone(), destination.clone(), key.clone())) {
                    t.bindings.push(Binding {
                        source,
                        destination,
                        destination_type: None,
                        routing_key: Some(key),
                        routing_keys: None,
                        arguments: Default::default(),
                        vhost: None,
                    });
                }
            }
            t
        })
}
