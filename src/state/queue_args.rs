//! The queue fields of the file that stand for an `x-` argument, once for everyone who
//! needs the pairing: normalization folds the fields into their arguments
//! ([`crate::state::State::from_topology`]), validation reports a field set twice (named
//! and raw, TOPO022) at the field the user wrote, and export turns a live argument back into
//! its named field when the value fits the field's type.
//!
//! The queue's type (`type`, `x-queue-type`) is not in the table: it is the queue's kind
//! in the [`crate::state::State`], not one of its arguments.

use serde_json::Value;

use crate::topology::model::Queue;

/// The argument that carries a queue's type.
pub const QUEUE_TYPE_ARGUMENT: &str = "x-queue-type";

/// One named queue field and the argument it stands for.
pub struct NamedArg {
    /// The field's name in the file (`message_ttl`).
    pub field: &'static str,
    /// The argument RabbitMQ takes (`x-message-ttl`).
    pub argument: &'static str,
    /// The field's value on a queue of the file, as the argument's value.
    pub value: fn(&Queue) -> Option<Value>,
    /// Whether a live argument value fits the field's type (the schema's range included),
    /// so that an export may write it as the field.
    pub fits: fn(&Value) -> bool,
}

fn uint(v: &Value) -> bool {
    v.as_u64().is_some()
}

fn positive(v: &Value) -> bool {
    v.as_u64().is_some_and(|n| n >= 1)
}

/// Every named queue field, in the file's order.
pub const QUEUE_NAMED_ARGS: &[NamedArg] = &[
    NamedArg {
        field: "message_ttl",
        argument: "x-message-ttl",
        value: |q| q.message_ttl.map(Value::from),
        fits: uint,
    },
    NamedArg {
        field: "expires",
        argument: "x-expires",
        value: |q| q.expires.map(Value::from),
        fits: positive,
    },
    NamedArg {
        field: "max_length",
        argument: "x-max-length",
        value: |q| q.max_length.map(Value::from),
        fits: uint,
    },
    NamedArg {
        field: "max_length_bytes",
        argument: "x-max-length-bytes",
        value: |q| q.max_length_bytes.map(Value::from),
        fits: uint,
    },
    NamedArg {
        field: "overflow",
        argument: "x-overflow",
        value: |q| q.overflow.map(|o| Value::from(o.as_str())),
        fits: |v| {
            matches!(
                v.as_str(),
                Some("drop-head" | "reject-publish" | "reject-publish-dlx")
            )
        },
    },
    NamedArg {
        field: "dead_letter_exchange",
        argument: "x-dead-letter-exchange",
        value: |q| q.dead_letter_exchange.clone().map(Value::from),
        fits: Value::is_string,
    },
    NamedArg {
        field: "dead_letter_routing_key",
        argument: "x-dead-letter-routing-key",
        value: |q| q.dead_letter_routing_key.clone().map(Value::from),
        fits: Value::is_string,
    },
    NamedArg {
        field: "max_priority",
        argument: "x-max-priority",
        value: |q| q.max_priority.map(Value::from),
        fits: |v| v.as_u64().is_some_and(|n| (1..=255).contains(&n)),
    },
    NamedArg {
        field: "delivery_limit",
        argument: "x-delivery-limit",
        value: |q| q.delivery_limit.map(Value::from),
        fits: uint,
    },
    NamedArg {
        field: "single_active_consumer",
        argument: "x-single-active-consumer",
        value: |q| q.single_active_consumer.map(Value::from),
        fits: Value::is_boolean,
    },
    NamedArg {
        field: "initial_group_size",
        argument: "x-quorum-initial-group-size",
        value: |q| q.initial_group_size.map(Value::from),
        fits: |v| {
            v.as_u64()
                .is_some_and(|n| n >= 1 && n <= u64::from(u32::MAX))
        },
    },
    NamedArg {
        field: "initial_cluster_size",
        argument: "x-initial-cluster-size",
        value: |q| q.initial_cluster_size.map(Value::from),
        fits: |v| {
            v.as_u64()
                .is_some_and(|n| n >= 1 && n <= u64::from(u32::MAX))
        },
    },
];

/// The named field for `argument`, if there is one.
pub fn named_arg(argument: &str) -> Option<&'static NamedArg> {
    QUEUE_NAMED_ARGS.iter().find(|n| n.argument == argument)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The table names only fields the model has, and each entry reads its own field
    /// (a new field of [`Queue`] cannot be forgotten: `State::from_topology` destructures
    /// the queue without `..`).
    #[test]
    fn the_table_covers_the_model() {
        let mut q = json!({"name": "q"});
        let sample = |field: &str| match field {
            "overflow" => json!("reject-publish"),
            "dead_letter_exchange" | "dead_letter_routing_key" => json!("x"),
            "single_active_consumer" => json!(true),
            _ => json!(7),
        };
        for n in QUEUE_NAMED_ARGS {
            q[n.field] = sample(n.field);
        }
        let queue: Queue = serde_json::from_value(q.clone()).expect("every field exists");
        for n in QUEUE_NAMED_ARGS {
            let v = (n.value)(&queue).unwrap_or_else(|| panic!("{} unset", n.field));
            assert_eq!(v, sample(n.field), "{}", n.field);
            assert!((n.fits)(&v), "{}: its own value fits", n.field);
            assert_eq!(named_arg(n.argument).map(|a| a.field), Some(n.field));
        }
    }
}
