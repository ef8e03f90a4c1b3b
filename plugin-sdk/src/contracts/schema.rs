//! JSON Schemas generated from the contract types, in the plain form tools advertise.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::Value;

/// The JSON Schema of `T` as a tool's `parameters`: every subschema inlined, no `$schema`,
/// titles or integer formats, and an optional field typed by its value alone (absent
/// means "use the default"; `null` is not offered to the model).
pub fn schema_of<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .for_deserialize()
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Value::Object(root) = &mut schema {
        root.remove("title");
        root.remove("description");
    }
    plain(&mut schema);
    schema
}

/// Drops what the generator adds that a tool schema does not need, from one schema and
/// its subschemas (never from the names of properties).
fn plain(schema: &mut Value) {
    let Value::Object(map) = schema else {
        return;
    };
    map.remove("title");
    map.remove("format");
    if map.get("default") == Some(&Value::Null) {
        map.remove("default");
    }
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            map.insert("type".to_owned(), only);
        }
    }
    for (key, sub) in map.iter_mut() {
        match (key.as_str(), sub) {
            ("properties" | "$defs", Value::Object(named)) => named.values_mut().for_each(plain),
            ("anyOf" | "oneOf" | "allOf" | "prefixItems", Value::Array(list)) => {
                list.iter_mut().for_each(plain);
            }
            ("items" | "additionalProperties" | "not", sub) => plain(sub),
            _ => {}
        }
    }
}
