//! `--vhost NAME`: the file's default vhost put elsewhere (a vhost per developer or per
//! pull request) without editing the file.
//!
//! Everything the file places in its default vhost moves: entities that name no vhost,
//! entities and permissions that name the default one explicitly, and the default's entry
//! under `vhosts` (its metadata). Entities in other vhosts stay where they are.

use super::model::Topology;
use crate::state::DEFAULT_VHOST;

/// Move what `topo` puts in its default vhost to `name`.
pub fn retarget(topo: &mut Topology, name: &str) {
    let old = topo
        .vhost
        .clone()
        .unwrap_or_else(|| DEFAULT_VHOST.to_string());
    let moved = |v: &mut Option<String>| {
        if v.as_deref() == Some(old.as_str()) {
            *v = Some(name.to_string());
        }
    };
    for x in &mut topo.exchanges {
        moved(&mut x.vhost);
    }
    for q in &mut topo.queues {
        moved(&mut q.vhost);
    }
    for b in &mut topo.bindings {
        moved(&mut b.vhost);
    }
    for p in &mut topo.policies {
        moved(&mut p.vhost);
    }
    for p in &mut topo.permissions {
        moved(&mut p.vhost);
    }
    for v in &mut topo.vhosts {
        if v.name == old {
            v.name = name.to_string();
        }
    }
    topo.vhost = Some(name.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{EntityKey, State};

    /// A topology from its YAML text (these are valid files; no validator needed here).
    fn topo(yaml: &str) -> Topology {
        let node = crate::source::yaml::parse(yaml, crate::source::FileId(0)).unwrap();
        serde_json::from_value(node.to_json()).unwrap()
    }

    #[test]
    fn the_default_vhost_moves_and_others_stay() {
        let mut t = topo(
            "version: 1\nvhost: base\nvhosts:\n  - {name: base, description: d}\n  - {name: other}\n\
             queues:\n  - {name: a}\n  - {name: b, vhost: base}\n  - {name: c, vhost: other}\n\
             users:\n  - {name: u}\npermissions:\n  - {user: u, configure: a, write: a, read: a}\n  - {user: u, vhost: other, configure: a, write: a, read: a}\n",
        );
        retarget(&mut t, "pr-42");
        let s = State::from_topology(&t, &|_| None);
        let queues: Vec<&EntityKey> = s.queues.keys().collect();
        assert_eq!(
            queues,
            [
                &EntityKey::new("other", "c"),
                &EntityKey::new("pr-42", "a"),
                &EntityKey::new("pr-42", "b"),
            ]
        );
        assert_eq!(
            s.vhosts.get("pr-42").and_then(|v| v.description.as_deref()),
            Some("d"),
            "the default's metadata moves with it"
        );
        assert!(!s.vhost_names().contains("base"));
        let perms: Vec<&str> = s.permissions.keys().map(|k| k.vhost.as_str()).collect();
        assert_eq!(perms, ["other", "pr-42"]);
    }

    #[test]
    fn a_file_without_vhost_moves_from_the_root_vhost() {
        let mut t = topo("version: 1\nqueues:\n  - {name: a}\n  - {name: b, vhost: /}\n");
        retarget(&mut t, "dev-ana");
        let s = State::from_topology(&t, &|_| None);
        assert!(s.queues.keys().all(|k| k.vhost == "dev-ana"));
    }
}
