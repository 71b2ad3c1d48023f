//! Conversions between serde_json values and minijinja values.
//!
//! The context is built as serde types and handed to minijinja as values; the YAML escape
//! writes values back out as JSON. Both go through JSON here so that the crate needs no
//! extra minijinja feature.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// A JSON value as a template value (objects keep their key order).
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => items.iter().map(from_json).collect(),
        serde_json::Value::Object(map) => {
            Value::from_pairs(map.iter().map(|(k, v)| (k.as_str(), from_json(v))))
        }
    }
}

/// A template value as JSON; undefined, bytes and opaque objects are errors.
pub fn to_json(v: &Value) -> Result<serde_json::Value, Error> {
    let bad = |what: &str| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("{what} cannot be written as data"),
        )
    };
    Ok(match v.kind() {
        ValueKind::Undefined => return Err(bad("an undefined value")),
        ValueKind::None => serde_json::Value::Null,
        ValueKind::Bool => serde_json::Value::Bool(v.is_true()),
        ValueKind::Number => {
            if let Some(i) = v.as_i64() {
                serde_json::Value::from(i)
            } else {
                let f = f64::try_from(v.clone())?;
                serde_json::Number::from_f64(f)
                    .map(serde_json::Value::Number)
                    .ok_or_else(|| bad("a number that is not finite"))?
            }
        }
        ValueKind::String => serde_json::Value::String(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Seq | ValueKind::Iterable => serde_json::Value::Array(
            v.try_iter()?
                .map(|x| to_json(&x))
                .collect::<Result<_, _>>()?,
        ),
        ValueKind::Map => {
            let mut out = serde_json::Map::new();
            for key in v.try_iter()? {
                let item = v.get_item(&key)?;
                out.insert(key.to_string(), to_json(&item)?);
            }
            serde_json::Value::Object(out)
        }
        other => return Err(bad(&format!("a {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let j = serde_json::json!({"b": [1, 2.5, "x", null, true], "a": {"c": "d"}});
        assert_eq!(to_json(&from_json(&j)).unwrap(), j);
        let keys: Vec<String> = from_json(&j)
            .try_iter()
            .unwrap()
            .map(|k| k.to_string())
            .collect();
        assert_eq!(keys, ["b", "a"]);
    }
}
