//! Planning shovels and federation upstreams: created when missing, updated key by key
//! (apply `PUT`s the whole value), deleted under `--prune` only.
//!
//! Values compare in full, URIs included: the broker answers a parameter's URIs with their
//! passwords, so a changed password is a change. It shows as `***` (see
//! [`crate::state::links`]); only where a URI's variable is unset (an offline diff) does the
//! comparison fall back to the URI without its userinfo.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Change, EntityChange, FieldChange, PlanOptions, diff_map, field};
use crate::state::State;
use crate::state::links::LinkState;

pub(super) fn plan_links(
    desired: &State,
    live: &State,
    opts: &PlanOptions,
    scope: &BTreeSet<String>,
    forward: &mut Vec<Change>,
    deletes: &mut Vec<Change>,
) {
    diff_map(
        &desired.links,
        &live.links,
        |k| opts.prune && scope.contains(&k.vhost),
        link_fields,
        EntityChange::Link,
        forward,
        deletes,
    );
}

/// One field per key of the value that differs (every key for a create); a URI whose
/// shown form is the same but whose full text differs (its password, or its user)
/// shows as `*** -> *** (changed)`.
pub(super) fn link_fields(want: &LinkState, have: Option<&LinkState>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let none = LinkState {
        value: Default::default(),
        uris: Default::default(),
    };
    let old = have.unwrap_or(&none);
    let keys: BTreeSet<&String> = want.value.keys().chain(old.value.keys()).collect();
    for k in keys {
        let (n, o) = (want.value.get(k), old.value.get(k));
        if n != o {
            out.push(field(k, o.cloned(), n.cloned()));
        } else if let (Some(a), Some(b)) = (want.uris.get(k), old.uris.get(k))
            && a != b
        {
            out.push(field(
                k,
                Some(Value::from("***")),
                Some(Value::from("*** (changed)")),
            ));
        }
    }
    out
}
