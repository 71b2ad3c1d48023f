//! Vhost and user limits in the normalized model.
//!
//! The broker keeps a vhost's or a user's limits as one map (`{"max-connections": 10}`) and
//! reads a negative value as "no limit". Normalization decides what that means for a plan:
//! desired state keeps the file's `-1` (the file manages that limit and wants none), live
//! state drops negative values (nothing limits there), so "`-1` in the file" and "no limit
//! on the broker" compare equal through [`effective`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::topology::model::{UserLimits, VhostLimits};

/// One vhost's or user's limits, by the broker's name (`max-connections`, ...).
pub type Limits = BTreeMap<String, i64>;

/// The limits a vhost can have, as the broker names them (3.10 and 4.x alike).
pub const VHOST_LIMITS: &[&str] = &["max-connections", "max-queues"];
/// The limits a user can have (3.8.10+ and 4.x).
pub const USER_LIMITS: &[&str] = &["max-connections", "max-channels"];

/// A limit value as a plan compares it: `None` for no limit (a negative value).
pub fn effective(value: Option<i64>) -> Option<i64> {
    value.filter(|v| *v >= 0)
}

/// The limits one `vhost_limits` entry sets (the `-1`s included: they are managed).
pub fn of_vhost(l: &VhostLimits) -> Limits {
    let VhostLimits {
        vhost: _,
        max_connections,
        max_queues,
    } = l;
    collect([
        ("max-connections", *max_connections),
        ("max-queues", *max_queues),
    ])
}

/// The limits one `user_limits` entry sets.
pub fn of_user(l: &UserLimits) -> Limits {
    let UserLimits {
        user: _,
        max_connections,
        max_channels,
    } = l;
    collect([
        ("max-connections", *max_connections),
        ("max-channels", *max_channels),
    ])
}

fn collect<const N: usize>(items: [(&str, Option<i64>); N]) -> Limits {
    items
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v?)))
        .collect()
}

/// The live limits in one entry of `GET /api/vhost-limits` or `GET /api/user-limits`
/// (`{"value": {"max-connections": 10}}`): negative values (no limit) and values that are
/// not integers are left out.
pub fn of_live(value: Option<&Value>) -> Limits {
    value
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_i64()?)))
        .filter(|(_, v)| *v >= 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn live_negative_values_are_no_limit() {
        let v = json!({"max-connections": 10, "max-queues": -1, "odd": "x"});
        let l = of_live(Some(&v));
        assert_eq!(l.len(), 1);
        assert_eq!(l.get("max-connections"), Some(&10));
        assert_eq!(of_live(None), Limits::new());
    }

    #[test]
    fn file_keeps_minus_one() {
        let l = of_vhost(&VhostLimits {
            vhost: None,
            max_connections: Some(-1),
            max_queues: None,
        });
        assert_eq!(l.get("max-connections"), Some(&-1));
        assert_eq!(effective(Some(-1)), None);
        assert_eq!(effective(Some(0)), Some(0));
    }
}
