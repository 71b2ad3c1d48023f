//! The committed JSON Schema is what the Rust types generate, and it documents every field.

use serde_json::Value;

#[test]
fn committed_schema_matches_the_types() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/topology.schema.json");
    let committed = std::fs::read_to_string(path).expect("schema/topology.schema.json exists");
    let generated = topo::validate::schema::schema_text();
    assert!(
        committed == generated,
        "schema/topology.schema.json is stale: run `cargo run -- schema > schema/topology.schema.json` and commit it"
    );
}

/// Every property of every object has a title and a description (editors show both).
#[test]
fn every_field_has_title_and_description() {
    let schema = topo::validate::schema::schema_json();
    let mut missing = Vec::new();
    let mut objects = vec![("root".to_string(), &schema)];
    if let Some(defs) = schema.get("$defs").and_then(Value::as_object) {
        objects.extend(defs.iter().map(|(k, v)| (k.clone(), v)));
    }
    let mut checked = 0;
    for (name, obj) in objects {
        let Some(props) = obj.get("properties").and_then(Value::as_object) else {
            continue;
        };
        for (field, def) in props {
            checked += 1;
            for key in ["title", "description"] {
                if def
                    .get(key)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    missing.push(format!("{name}.{field}: no {key}"));
                }
            }
        }
    }
    assert!(checked > 80, "only {checked} fields found");
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn schema_rejects_unknown_keys_everywhere() {
    let schema = topo::validate::schema::schema_json();
    let defs = schema["$defs"].as_object().expect("defs");
    for (name, def) in defs {
        if def.get("properties").is_some() {
            assert_eq!(
                def.get("additionalProperties"),
                Some(&Value::Bool(false)),
                "{name}"
            );
        }
    }
    assert_eq!(
        schema.get("additionalProperties"),
        Some(&Value::Bool(false))
    );
}
