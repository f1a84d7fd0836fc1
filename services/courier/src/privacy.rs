//! What the courier service may publish. A courier gets the recipient's name, phone and
//! address and a parcel reference, nothing else (《快递暂行条例》第二十二条); the internal
//! events add the case number, the partner and the parcel's progress. Every field of every
//! message the service publishes is in [`ALLOWED_FIELDS`]; the tests check each message
//! against it, so a new field has to be added here on purpose.

use serde_json::Value;

/// Every field, as a dotted path, that a message the courier service publishes may carry.
pub const ALLOWED_FIELDS: &[&str] = &[
    // Waybill requests (partner-facing).
    "schema",
    "parcel_reference",
    "recipient",
    "recipient.name",
    "recipient.phone",
    "recipient.address",
    "sender",
    "sender.name",
    "sender.phone",
    "sender.address",
    "requested_at",
    // Internal events: which case, which partner, how the parcel went.
    "case_number",
    "partner",
    "dispatched_at",
    "delivered_at",
    "signed_by",
    "reason",
    "failed_at",
    "kind",
    "requests",
    "first_requested_at",
    "raised_at",
];

/// What is wrong with `message` as a message of the courier service, one line per problem:
/// every field not in [`ALLOWED_FIELDS`] (as a dotted path; array elements count as their
/// array) and every text holding something shaped like an ID number. Empty when it is fine.
pub fn problems(message: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    collect(message, "", &mut problems);
    problems
}

fn collect(value: &Value, path: &str, problems: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                let nested = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                if !ALLOWED_FIELDS.contains(&nested.as_str()) {
                    problems.push(format!("field {nested} is not allowed"));
                }
                collect(field, &nested, problems);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect(item, path, problems)),
        // Case numbers begin with the 31-digit implementation code, not an ID number.
        Value::String(text) if path != "case_number" && has_id_number(text) => {
            problems.push(format!("field {path} holds an ID number"));
        }
        _ => {}
    }
}

/// Whether `text` holds something shaped like a citizen ID number: 17 digits and a check
/// digit or `X` in a row. Courier messages never may.
pub fn has_id_number(text: &str) -> bool {
    let characters: Vec<char> = text.chars().collect();
    characters.windows(18).any(|window| {
        window[..17].iter().all(char::is_ascii_digit)
            && (window[17].is_ascii_digit() || window[17] == 'X' || window[17] == 'x')
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_fields_and_id_numbers_are_named_by_their_path() {
        let message = json!({
            "schema": "logistics.v1.waybill_request",
            "case_number": "1141282400596722961000709005000-20261204-000123-E",
            "recipient": {"name": "王小明", "id_number": "411721199001011237"},
            "reason": "身份证 411721199001011237 不符",
            "birth_date": "1990-01-01",
        });
        assert_eq!(
            problems(&message),
            [
                "field birth_date is not allowed",
                "field reason holds an ID number",
                "field recipient.id_number is not allowed",
                "field recipient.id_number holds an ID number",
            ]
        );
    }

    #[test]
    fn id_numbers_are_recognised_anywhere_in_a_text() {
        assert!(has_id_number("签收人 411721199001011237"));
        assert!(has_id_number("41172119900101123X"));
        assert!(!has_id_number("13800000000"));
        assert!(!has_id_number("XP3F9A0C71B2E4"));
    }
}
