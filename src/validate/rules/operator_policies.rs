//! `operator_policies`: only the keys the broker takes in an operator policy, with values
//! it takes, applied to queues. The broker answers anything else with a 400 that names no
//! file position; validate says where, and lists what is allowed.

use serde_json::Value;

use super::{Ctx, DiagExt};
use crate::diag::{Code, did_you_mean};
use crate::state::effective::OPERATOR_POLICY_KEYS;
use crate::topology::model::ApplyTo;

/// `overflow` values the broker takes.
const OVERFLOW: &[&str] = &["drop-head", "reject-publish", "reject-publish-dlx"];

pub(super) fn check(cx: &mut Ctx) {
    let t = cx.topo;
    for (i, p) in t.operator_policies.iter().enumerate() {
        if let Some(a @ (ApplyTo::Exchanges | ApplyTo::All)) = p.apply_to {
            cx.error(
                Code::OperatorPolicy,
                format!("/operator_policies/{i}/apply_to"),
                format!(
                    "operator policy `{}` applies to `{}`; its keys are queue settings",
                    p.name,
                    a.as_str()
                ),
            )
            .with_hint(
                "use `queues` (the default), or on RabbitMQ 4.x `classic_queues`, \
                 `quorum_queues` or `streams`",
            );
        }
        for (key, value) in &p.definition {
            let pointer = format!("/operator_policies/{i}/definition/{key}");
            if !OPERATOR_POLICY_KEYS.contains(&key.as_str()) {
                let allowed = OPERATOR_POLICY_KEYS.join(", ");
                let hint = match did_you_mean(key, OPERATOR_POLICY_KEYS.iter().copied()) {
                    Some(near) => format!("{near} The broker takes only {allowed}"),
                    None => format!(
                        "the broker takes only {allowed} in an operator policy; put other keys \
                         in a policy under `policies`"
                    ),
                };
                cx.error(
                    Code::OperatorPolicy,
                    pointer,
                    format!("`{key}` is not an operator policy key"),
                )
                .with_hint(hint);
                continue;
            }
            if let Some(problem) = value_problem(key, value) {
                cx.error(
                    Code::OperatorPolicy,
                    pointer,
                    format!(
                        "`{key}: {value}` in operator policy `{}`: {problem}",
                        p.name
                    ),
                )
                .with_hint("the broker refuses the whole operator policy otherwise");
            }
        }
    }
}

/// Why the broker would refuse `value` for `key`, or `None`.
fn value_problem(key: &str, value: &Value) -> Option<String> {
    if key == "overflow" {
        return match value.as_str() {
            Some(v) if OVERFLOW.contains(&v) => None,
            _ => Some(format!("expected one of {}", OVERFLOW.join(", "))),
        };
    }
    let min = if key == "expires" { 1 } else { 0 };
    match value.as_i64() {
        Some(n) if n >= min => None,
        _ => Some(format!("expected a whole number of at least {min}")),
    }
}
