//! Apply's progress, against the real broker (one vhost per test). In a pseudo-terminal the
//! bar moves within each stage: its length is the stage's operations and its position the
//! declares the broker confirmed so far, so between `0/N` and the end the output holds
//! states `k/N` with `0 < k < N` for the queues stage. Without a terminal (CI) the stages
//! are plain lines and no bar is drawn.

#[path = "common/broker.rs"]
mod broker;

use std::process::Command;

use broker::{TestVhost, amqp, code, mgmt, path_str, stderr};

/// Queues enough that declaring them outlasts several of the bar's redraws.
const QUEUES: usize = 3000;

fn many_queues(v: &TestVhost) -> std::path::PathBuf {
    let mut body = String::from("exchanges:\n  - {name: ev, type: topic}\nqueues:\n");
    for i in 0..QUEUES {
        body.push_str(&format!("  - {{name: q.{i}}}\n"));
    }
    body.push_str("bindings:\n");
    for i in 0..QUEUES {
        body.push_str(&format!(
            "  - {{source: ev, destination: q.{i}, routing_key: k.{i}}}\n"
        ));
    }
    v.file("p.yaml", &body)
}

/// The `pos/len` pairs drawn after `label` in a terminal capture (ANSI codes and carriage
/// returns split the redraws; each redraw names its stage).
fn states(capture: &str, label: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for draw in capture.split(['\r', '\n']) {
        let Some(at) = draw.find(label) else {
            continue;
        };
        let rest = &draw[at + label.len()..];
        // `{pos}/{len}` after the bar.
        for word in rest.split_whitespace() {
            if let Some((p, l)) = word.split_once('/')
                && let (Ok(p), Ok(l)) = (p.parse::<usize>(), l.parse::<usize>())
            {
                out.push((p, l));
                break;
            }
        }
    }
    out
}

#[test]
fn the_bar_moves_within_each_stage_on_a_terminal() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = many_queues(&v);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_topo"));
    cmd.args(["apply", path_str(&file), "--format", "json"])
        .env_remove("TOPO_FILE")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("COLUMNS", "160")
        .env("TOPO_AMQP_URL", amqp())
        .env("TOPO_MANAGEMENT_URL", mgmt());
    let mut s = rexpect::session::spawn_command(cmd, Some(120_000)).expect("spawn topo in a pty");
    let out = s.exp_eof().expect("topo ends");
    assert!(out.contains("the broker matches the file"), "{out}");

    let label = format!("queues in {}", v.name);
    let queues = states(&out, &label);
    assert!(
        queues.iter().all(|(_, len)| *len == QUEUES),
        "the bar's length is the stage's own ({QUEUES} queues): {queues:?}"
    );
    assert!(
        queues.iter().any(|(pos, _)| *pos > 0 && *pos < QUEUES),
        "an intermediate state of the queues stage was drawn: {queues:?}\n{out}"
    );
    // The next stage starts its own bar from the beginning.
    let bindings = states(&out, &format!("bindings in {}", v.name));
    assert!(
        bindings.iter().all(|(_, len)| *len == QUEUES),
        "the bindings stage has its own length: {bindings:?}"
    );
    assert!(!bindings.is_empty(), "the bindings stage was drawn:\n{out}");
    assert!(
        !out.contains(&format!("topo: queues in {}:", v.name)),
        "no plain lines on a terminal:\n{out}"
    );
}

#[test]
fn without_a_terminal_the_stages_are_plain_lines() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    let file = v.file(
        "p.yaml",
        "exchanges:\n  - {name: ev, type: topic}\nqueues:\n  - {name: a}\n  - {name: b}\n\
         bindings:\n  - {source: ev, destination: a, routing_key: k}\n",
    );
    let out = v.topo(&["apply", path_str(&file)], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("topo: queues in {}: 2 (", v.name)),
        "{err}"
    );
    assert!(
        err.contains(&format!("topo: bindings in {}: 1 (", v.name)),
        "{err}"
    );
    assert!(
        !err.contains('\r') && !err.contains('\u{1b}'),
        "no bar: {err:?}"
    );
}
