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
