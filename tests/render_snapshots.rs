//! Snapshots of every built-in render of the shipped topologies. The environment is fixed
//! (REGISTRY, TAG), so the files are byte-for-byte what a user gets.

mod render_common;

use render_common::*;

#[test]
fn snapshots_of_shipped_topologies() {
    for file in ["dev", "prod", "cluster"] {
        for target in ["compose", "azure", "env-example"] {
            if file == "cluster" && target == "azure" {
                // Refused: tests/render_azure.rs.
                continue;
            }
            let text = render(
                &root(),
                target,
                &format!("topologies/{file}.yaml"),
                FIXED_ENV,
            );
            insta::assert_snapshot!(format!("render_{target}_{file}"), text);
        }
    }
}

/// Renders of a file with `broker.plugins`: the broker (every node of a cluster) starts with
/// them (tests/render_compose.rs and tests/render_azure.rs check the parts).
#[test]
fn snapshots_of_broker_plugins() {
    for (file, targets) in [
        ("single", &["compose", "azure"][..]),
        ("cluster", &["compose"][..]),
    ] {
        for target in targets {
            let text = render(
                &root(),
                target,
                &format!("tests/fixtures/plugins/{file}.yaml"),
                FIXED_ENV,
            );
            insta::assert_snapshot!(format!("render_{target}_plugins_{file}"), text);
        }
    }
}
