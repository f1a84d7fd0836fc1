//! The partner contract, `deploy/asyncapi.yaml`: read, checked for the structure of an
//! AsyncAPI 3.0 document, and used to validate message payloads and headers against the JSON
//! Schemas it declares (AsyncAPI's default schema format, a superset of draft 07).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Map, Value};

/// The AsyncAPI version the document must declare.
pub const VERSION: &str = "3.0.0";

/// Operation actions AsyncAPI 3.0 knows.
const ACTIONS: [&str; 2] = ["send", "receive"];

/// A loaded AsyncAPI document.
#[derive(Debug, Clone)]
pub struct Contract {
    document: Value,
}

impl Contract {
    /// Reads the document at `path` (YAML).
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        Self::parse(&text)
    }

    /// Parses a document from YAML text.
    pub fn parse(text: &str) -> Result<Self> {
        let document: Value = serde_norway::from_str(text).context("parse AsyncAPI YAML")?;
        Ok(Self { document })
    }

    /// The whole document as JSON.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The value at the JSON pointer `pointer` (`/channels/x/address`).
    pub fn at(&self, pointer: &str) -> Result<&Value> {
        self.document
            .pointer(pointer)
            .with_context(|| format!("nothing at #{pointer}"))
    }

    /// Every problem with the document's structure, one line each; empty when it is a
    /// consistent AsyncAPI 3.0 document.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        self.check_top_level(&mut problems);
        self.check_references(&self.document, "", &mut problems);
        self.check_channels(&mut problems);
        self.check_operations(&mut problems);
        self.check_messages(&mut problems);
        problems
    }

    /// The payload problems of `payload` as a message of `message` (a key of
    /// `components.messages`), one line each; empty when it is valid.
    pub fn payload_problems(&self, message: &str, payload: &Value) -> Result<Vec<String>> {
        self.instance_problems(&format!("/components/messages/{message}/payload"), payload)
    }

    /// The header problems of `headers` (a JSON object of strings) as headers of `message`.
    pub fn header_problems(&self, message: &str, headers: &Value) -> Result<Vec<String>> {
        self.instance_problems(&format!("/components/messages/{message}/headers"), headers)
    }

    /// Validates `instance` against the schema at `pointer`, resolving `$ref`s in the
    /// document's components.
    fn instance_problems(&self, pointer: &str, instance: &Value) -> Result<Vec<String>> {
        self.at(pointer)?;
        let mut root = Map::new();
        root.insert("$ref".into(), Value::String(format!("#{pointer}")));
        for key in ["components", "channels"] {
            if let Some(part) = self.document.get(key) {
                root.insert(key.into(), part.clone());
            }
        }
        let validator = jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(&Value::Object(root))
            .map_err(|error| anyhow::anyhow!("schema at #{pointer} does not compile: {error}"))?;
        Ok(validator
            .iter_errors(instance)
            .map(|error| format!("{}: {error}", error.instance_path()))
            .collect())
    }

    fn check_top_level(&self, problems: &mut Vec<String>) {
        if self.document.get("asyncapi").and_then(Value::as_str) != Some(VERSION) {
            problems.push(format!("asyncapi must be {VERSION}"));
        }
        for field in ["/info/title", "/info/version"] {
            if self
                .document
                .pointer(field)
                .and_then(Value::as_str)
                .is_none()
            {
                problems.push(format!("{field} must be a string"));
            }
        }
        for section in ["channels", "operations", "components"] {
            if !self.document.get(section).is_some_and(Value::is_object) {
                problems.push(format!("{section} must be an object"));
            }
        }
        for (name, server) in self.map("/servers") {
            for field in ["host", "protocol"] {
                if server.get(field).and_then(Value::as_str).is_none() {
                    problems.push(format!("server {name} needs {field}"));
                }
            }
        }
    }

    /// Every `$ref` must be a local pointer that resolves.
    fn check_references(&self, value: &Value, path: &str, problems: &mut Vec<String>) {
        match value {
            Value::Object(fields) => {
                for (name, field) in fields {
                    let nested = format!("{path}/{name}");
                    if name == "$ref" {
                        self.check_reference(field, &nested, problems);
                    } else {
                        self.check_references(field, &nested, problems);
                    }
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.check_references(item, &format!("{path}/{index}"), problems);
                }
            }
            _ => {}
        }
    }

    fn check_reference(&self, reference: &Value, at: &str, problems: &mut Vec<String>) {
        let target = reference.as_str().and_then(|text| text.strip_prefix('#'));
        match target {
            Some(pointer) if self.document.pointer(&unescape(pointer)).is_some() => {}
            _ => problems.push(format!("{at}: {reference} does not resolve")),
        }
    }

    fn check_channels(&self, problems: &mut Vec<String>) {
        let used: BTreeSet<String> = self
            .map("/operations")
            .filter_map(|(_, operation)| operation.pointer("/channel/$ref")?.as_str())
            .map(str::to_owned)
            .collect();
        for (name, channel) in self.map("/channels") {
            let Some(address) = channel.get("address").and_then(Value::as_str) else {
                problems.push(format!("channel {name} needs an address"));
                continue;
            };
            let declared: BTreeSet<&str> = channel
                .get("parameters")
                .and_then(Value::as_object)
                .map(|parameters| parameters.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let in_address: BTreeSet<&str> = placeholders(address).collect();
            if declared != in_address {
                problems.push(format!(
                    "channel {name}: parameters {declared:?} differ from the address {address}"
                ));
            }
            let messages = channel.get("messages").and_then(Value::as_object);
            if messages.is_none_or(Map::is_empty) {
                problems.push(format!("channel {name} declares no message"));
            }
            for (key, message) in messages.into_iter().flatten() {
                let reference = message.get("$ref").and_then(Value::as_str);
                if !reference.is_some_and(|r| r.starts_with("#/components/messages/")) {
                    problems.push(format!(
                        "channel {name} message {key} must refer to a component"
                    ));
                }
            }
            if !used.contains(&format!("#/channels/{name}")) {
                problems.push(format!("channel {name} has no operation"));
            }
        }
    }

    fn check_operations(&self, problems: &mut Vec<String>) {
        for (name, operation) in self.map("/operations") {
            let action = operation.get("action").and_then(Value::as_str);
            if !action.is_some_and(|action| ACTIONS.contains(&action)) {
                problems.push(format!("operation {name}: action must be send or receive"));
            }
            let channel = operation.pointer("/channel/$ref").and_then(Value::as_str);
            let Some(channel) = channel.and_then(|c| c.strip_prefix("#/channels/")) else {
                problems.push(format!("operation {name} must refer to a channel"));
                continue;
            };
            let own = format!("#/channels/{channel}/messages/");
            let messages = operation.get("messages").and_then(Value::as_array);
            if messages.is_none_or(Vec::is_empty) {
                problems.push(format!("operation {name} lists no message"));
            }
            for message in messages.into_iter().flatten() {
                let reference = message.get("$ref").and_then(Value::as_str).unwrap_or("");
                if !reference.starts_with(&own) {
                    problems.push(format!(
                        "operation {name}: message {reference} is not one of channel {channel}"
                    ));
                }
            }
        }
    }

    /// Every message has a payload, and every example is valid against the message.
    fn check_messages(&self, problems: &mut Vec<String>) {
        for (name, message) in self.map("/components/messages") {
            if message.get("payload").is_none() {
                problems.push(format!("message {name} has no payload"));
                continue;
            }
            let examples = message.get("examples").and_then(Value::as_array);
            if examples.is_none_or(Vec::is_empty) {
                problems.push(format!("message {name} has no example"));
            }
            for (index, example) in examples.into_iter().flatten().enumerate() {
                let mut found = Vec::new();
                if let Some(payload) = example.get("payload") {
                    found.extend(self.payload_problems(name, payload).unwrap_or_else(as_list));
                } else {
                    found.push("no payload".to_owned());
                }
                if let (Some(headers), Some(_)) = (example.get("headers"), message.get("headers")) {
                    found.extend(self.header_problems(name, headers).unwrap_or_else(as_list));
                }
                problems.extend(
                    found
                        .into_iter()
                        .map(|problem| format!("message {name} example {index}: {problem}")),
                );
            }
        }
    }

    fn map(&self, pointer: &str) -> impl Iterator<Item = (&String, &Value)> {
        self.document
            .pointer(pointer)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
    }
}

/// Fails with every problem listed, or succeeds when there is none.
pub fn ensure_none(what: &str, problems: &[String]) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    bail!("{what}:\n  {}", problems.join("\n  "))
}

/// The `{name}` placeholders of a channel address.
pub fn placeholders(address: &str) -> impl Iterator<Item = &str> {
    address
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
}

/// The address with each placeholder replaced by its value in `values`.
pub fn fill(address: &str, values: &[(&str, &str)]) -> Result<String> {
    let mut filled = address.to_owned();
    for (name, value) in values {
        let placeholder = format!("{{{name}}}");
        ensure!(
            filled.contains(&placeholder),
            "{address} has no {placeholder}"
        );
        filled = filled.replace(&placeholder, value);
    }
    ensure!(!filled.contains('{'), "{filled} still has a placeholder");
    Ok(filled)
}

fn unescape(pointer: &str) -> String {
    pointer.replace("~1", "/").replace("~0", "~")
}

fn as_list(error: anyhow::Error) -> Vec<String> {
    vec![format!("{error:#}")]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SMALL: &str = r##"
asyncapi: 3.0.0
info: {title: t, version: '1'}
channels:
  hello:
    address: greetings.{who}
    parameters: {who: {}}
    messages: {greeting: {$ref: '#/components/messages/greeting'}}
operations:
  sayHello:
    action: send
    channel: {$ref: '#/channels/hello'}
    messages: [{$ref: '#/channels/hello/messages/greeting'}]
components:
  messages:
    greeting:
      payload: {$ref: '#/components/schemas/Greeting'}
      examples: [{payload: {text: hi}}]
  schemas:
    Greeting:
      type: object
      required: [text]
      properties: {text: {type: string, minLength: 1}}
"##;

    #[test]
    fn a_consistent_document_has_no_problem() {
        let contract = Contract::parse(SMALL).unwrap();
        assert_eq!(contract.problems(), Vec::<String>::new());
        let wrong = contract
            .payload_problems("greeting", &json!({"text": ""}))
            .unwrap();
        assert_eq!(wrong.len(), 1, "{wrong:?}");
    }

    #[test]
    fn broken_references_examples_and_addresses_are_named() {
        let broken = SMALL
            .replace("greetings.{who}", "greetings.{whom}")
            .replace("{text: hi}", "{text: ''}")
            .replace("schemas/Greeting'", "schemas/Missing'");
        let problems = Contract::parse(&broken).unwrap().problems().join("\n");
        assert!(problems.contains("does not resolve"), "{problems}");
        assert!(problems.contains("differ from the address"), "{problems}");
        assert!(problems.contains("example 0"), "{problems}");
    }

    #[test]
    fn addresses_are_filled_in() {
        let filled = fill("a.{x}.b.{y}", &[("x", "1"), ("y", "2")]).unwrap();
        assert_eq!(filled, "a.1.b.2");
        assert!(fill("a.{x}", &[]).is_err());
        assert_eq!(placeholders("a.{x}.{y}").collect::<Vec<_>>(), ["x", "y"]);
    }
}
