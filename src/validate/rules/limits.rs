//! `vhost_limits` and `user_limits`: the vhost or user they name is the file's, and a
//! vhost's limits leave room for what the file declares there and for topo's own apply (its
//! lock is an exclusive queue on a connection of its own). Value ranges
//! (integers, `-1` or more) and limit names ("did you mean") are the schema's
//! (TOPO003/TOPO004).

use std::collections::BTreeSet;

use super::{Ctx, DiagExt, known_vhosts, user_known, vhost_known};
use crate::diag::Code;

/// Connections an apply holds to each vhost of the file: the lock's and the declares'.
const APPLY_CONNECTIONS: i64 = 2;

pub(super) fn check(cx: &mut Ctx) {
    let t = cx.topo;
    let users: BTreeSet<&str> = t.users.iter().map(|u| u.name.as_str()).collect();
    let vhosts = known_vhosts(cx);
    for (i, l) in t.vhost_limits.iter().enumerate() {
        vhost_known(cx, ("vhost_limits", "limits"), i, &l.vhost, &vhosts);
        let vhost = cx.vhost(&l.vhost).to_string();
        if let Some(max) = l
            .max_connections
            .filter(|m| (0..APPLY_CONNECTIONS).contains(m))
        {
            cx.warning(
                Code::LimitBelowFile,
                format!("/vhost_limits/{i}/max-connections"),
                format!(
                    "vhost `{vhost}` limits `max-connections` to {max}: topo's next apply \
                     cannot connect to it"
                ),
            )
            .with_hint(format!(
                "an apply holds {APPLY_CONNECTIONS} connections to each vhost of the file (its \
                 lock and its declares), and the broker refuses connections beyond the limit: \
                 allow at least {APPLY_CONNECTIONS} plus what the clients need"
            ));
        }
        let Some(max) = l.max_queues.filter(|m| *m >= 0) else {
            continue;
        };
        let declared = t
            .queues
            .iter()
            .filter(|q| cx.vhost(&q.vhost) == vhost)
            .count() as i64;
        // The apply lock is a queue of its own while an apply runs.
        if declared + 1 > max {
            cx.warning(
                Code::LimitBelowFile,
                format!("/vhost_limits/{i}/max-queues"),
                format!(
                    "vhost `{vhost}` limits `max-queues` to {max}, and the file declares \
                     {declared} queues there (and topo's apply lock is one more)"
                ),
            )
            .with_hint(
                "the broker keeps the queues that exist when the limit is set, but refuses \
                 every declare beyond it: topo's apply lock (an exclusive queue), a replaced \
                 queue, a fresh broker, a client's own queues. Allow the file's queues, one \
                 for the lock, and what the clients declare",
            );
        }
    }
    for (i, l) in t.user_limits.iter().enumerate() {
        user_known(cx, ("user_limits", "limits"), i, &l.user, &users);
    }
}
