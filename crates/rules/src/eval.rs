//! The JSON-lines rule contract: one case `{"id", "rule", "input"}` in, one answer
//! `{"id", "result"}` out. A malformed case gets `{"result": {"error": "..."}}`, never a panic.

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use crate::address_change::{self, MoveScope};
use crate::calendar::Calendar;
use crate::dates::parse_iso;
use crate::endorsement::{self, PermitKind};
use crate::id_number::IdNumber;
use crate::mask::mask_id_number;

/// The most days a case may count: ten years of working days.
const MAX_DAYS: u32 = 2_500;

/// The rules a case may name.
const RULES: &str = "id_number, due, endorsement, first_valid_until, address_change, mask";

/// Evaluates one JSON line against the rules, using `calendar` for working days and `today`
/// (in China) to refuse identity numbers whose holder is not born yet.
///
/// The answer echoes the case's `id` (or `null` when there is none) next to the `result`.
pub fn eval_line(line: &str, calendar: &Calendar, today: NaiveDate) -> Value {
    let case: Value = match serde_json::from_str(line) {
        Ok(case) => case,
        Err(e) => return answer(Value::Null, Err(format!("line is not valid JSON: {e}"))),
    };
    let id = case.get("id").cloned().unwrap_or(Value::Null);
    answer(id, eval_case(&case, calendar, today))
}

fn answer(id: Value, result: Result<Value, String>) -> Value {
    let result = result.unwrap_or_else(|error| json!({ "error": error }));
    json!({ "id": id, "result": result })
}

fn eval_case(case: &Value, calendar: &Calendar, today: NaiveDate) -> Result<Value, String> {
    let case = case
        .as_object()
        .ok_or("expected a JSON object with rule and input")?;
    let rule = case
        .get("rule")
        .and_then(Value::as_str)
        .ok_or("rule: expected a string naming the rule")?;
    let input = Input(
        case.get("input")
            .and_then(Value::as_object)
            .ok_or("input: expected a JSON object")?,
    );
    match rule {
        "id_number" => id_number(&input, today),
        "due" => due(&input, calendar),
        "endorsement" => endorsement(&input),
        "first_valid_until" => first_valid_until(&input),
        "address_change" => address_change(&input, calendar),
        "mask" => mask(&input),
        other => Err(format!(
            "rule: unknown rule {other:?}, expected one of {RULES}"
        )),
    }
}

fn id_number(input: &Input<'_>, today: NaiveDate) -> Result<Value, String> {
    let answer = match IdNumber::parse_on(input.text("id_number")?, today) {
        Ok(number) => json!({
            "valid": true,
            "normalized": number.as_str(),
            "birth_date": iso(number.birth_date()),
            "sex": number.sex().code(),
            "holder_kind": number.holder_kind().code(),
        }),
        Err(e) => json!({ "valid": false, "error": e.code(), "message": e.to_string() }),
    };
    Ok(answer)
}

/// A number that parses is masked as the system keeps it (trimmed, `X` upper-case); anything
/// else character by character as given.
fn mask(input: &Input<'_>) -> Result<Value, String> {
    let raw = input.text("id_number")?;
    let masked = match IdNumber::parse(raw) {
        Ok(number) => number.masked(),
        Err(_) => mask_id_number(raw),
    };
    Ok(json!({ "masked": masked }))
}

fn due(input: &Input<'_>, calendar: &Calendar) -> Result<Value, String> {
    let accepted_on = input.date("accepted_on")?;
    let working_days = input.count("working_days")?;
    let due = calendar.add_working_days(accepted_on, working_days);
    Ok(json!({ "due_on": iso(due.date), "confirmed": due.confirmed }))
}

fn endorsement(input: &Input<'_>) -> Result<Value, String> {
    let kind = match input.optional_text("permit_kind")? {
        None | Some("residence") => PermitKind::Residence,
        Some("hong_kong_macao_taiwan") => PermitKind::HongKongMacaoTaiwan,
        Some(other) => {
            return Err(format!(
                "input.permit_kind: expected residence or hong_kong_macao_taiwan, got {other:?}"
            ));
        }
    };
    let assessment =
        endorsement::assess(input.date("valid_until")?, input.date("applied_on")?, kind);
    let mut result = Map::new();
    result.insert("outcome".into(), assessment.outcome.code().into());
    result.insert("window_opens".into(), iso(assessment.window_opens).into());
    result.insert("window_closes".into(), iso(assessment.window_closes).into());
    if let Some(date) = assessment.new_valid_until {
        result.insert("new_valid_until".into(), iso(date).into());
    }
    if let Some(date) = assessment.residence_counted_from {
        result.insert("residence_counted_from".into(), iso(date).into());
    }
    if let Some(refusal) = assessment.refusal {
        result.insert("reason".into(), refusal.code().into());
    }
    Ok(Value::Object(result))
}

fn first_valid_until(input: &Input<'_>) -> Result<Value, String> {
    let valid_until = endorsement::first_valid_until(input.date("issued_on")?);
    Ok(json!({ "valid_until": iso(valid_until) }))
}

fn address_change(input: &Input<'_>, calendar: &Calendar) -> Result<Value, String> {
    let scope = match input.text("scope")? {
        "within_county" => MoveScope::WithinCounty,
        "cross_county" => MoveScope::CrossCounty,
        other => {
            return Err(format!(
                "input.scope: expected within_county or cross_county, got {other:?}"
            ));
        }
    };
    let moved_on = input.date("moved_on")?;
    let assessment = address_change::assess(moved_on, input.date("applied_on")?, scope, calendar);
    let mut result = json!({
        "outcome": assessment.outcome.code(),
        "deadline": iso(assessment.deadline.date),
        "deadline_confirmed": assessment.deadline.confirmed,
    });
    if let (Some(refusal), Some(fields)) = (assessment.refusal, result.as_object_mut()) {
        fields.insert("reason".into(), refusal.code().into());
    }
    Ok(result)
}

fn iso(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// A case's `input` object, with typed accessors whose errors name the field.
struct Input<'a>(&'a Map<String, Value>);

impl<'a> Input<'a> {
    fn optional_text(&self, field: &str) -> Result<Option<&'a str>, String> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(format!("input.{field}: expected a string")),
        }
    }

    fn text(&self, field: &str) -> Result<&'a str, String> {
        self.optional_text(field)?
            .ok_or_else(|| format!("input.{field}: missing, expected a string"))
    }

    fn date(&self, field: &str) -> Result<NaiveDate, String> {
        let text = self.text(field)?;
        parse_iso(text)
            .ok_or_else(|| format!("input.{field}: expected a real date YYYY-MM-DD, got {text:?}"))
    }

    /// A whole number of days from 0 to [`MAX_DAYS`]: more would count past any calendar.
    fn count(&self, field: &str) -> Result<u32, String> {
        self.0
            .get(field)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n <= MAX_DAYS)
            .ok_or_else(|| format!("input.{field}: expected a whole number from 0 to {MAX_DAYS}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(line: &str) -> Value {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        eval_line(line, &Calendar::new(vec![]).unwrap(), today)
    }

    fn error_of(answer: &Value) -> &str {
        answer["result"]["error"].as_str().unwrap_or_default()
    }

    #[test]
    fn answers_a_case_with_its_id() {
        let answer =
            eval(r#"{"id": 7, "rule": "mask", "input": {"id_number": "411721199001011237"}}"#);
        assert_eq!(
            answer,
            json!({ "id": 7, "result": { "masked": "411721********1237" } })
        );
    }

    #[test]
    fn unreadable_lines_get_an_error_and_a_null_id() {
        for (line, fragment) in [("not json", "not valid JSON"), ("[1, 2]", "JSON object")] {
            let answer = eval(line);
            assert_eq!(answer["id"], Value::Null);
            assert!(error_of(&answer).contains(fragment), "{line}: {answer}");
        }
    }

    #[test]
    fn bad_rules_and_fields_are_named_in_the_error() {
        let date = "2026-03-10";
        let cases = [
            (json!(null), json!({}), "rule:"),
            (json!("nope"), json!({}), "unknown rule"),
            (json!("due"), json!(3), "input:"),
            (
                json!("due"),
                json!({ "accepted_on": "2026-02-30", "working_days": 1 }),
                "accepted_on",
            ),
            (
                json!("due"),
                json!({ "accepted_on": date, "working_days": -1 }),
                "working_days",
            ),
            (
                json!("due"),
                json!({ "accepted_on": date, "working_days": 1.5 }),
                "working_days",
            ),
            (
                json!("due"),
                json!({ "accepted_on": date, "working_days": 4_294_967_295_u64 }),
                "from 0 to 2500",
            ),
            (
                json!("mask"),
                json!({ "id_number": 411721 }),
                "input.id_number",
            ),
            (
                json!("endorsement"),
                json!({ "valid_until": date, "applied_on": date, "permit_kind": "visa" }),
                "input.permit_kind",
            ),
            (
                json!("address_change"),
                json!({ "moved_on": date, "applied_on": date, "scope": "abroad" }),
                "input.scope",
            ),
        ];
        for (rule, input, fragment) in cases {
            let line = json!({ "id": "a", "rule": rule, "input": input }).to_string();
            let answer = eval(&line);
            assert_eq!(answer["id"], "a", "{line}");
            assert!(error_of(&answer).contains(fragment), "{line}: {answer}");
        }
    }

    #[test]
    fn invalid_id_numbers_report_the_code() {
        let answer =
            eval(r#"{"id": "x", "rule": "id_number", "input": {"id_number": "412824900101123"}}"#);
        assert_eq!(answer["result"]["valid"], false);
        assert_eq!(answer["result"]["error"], "legacy_15");
    }
}
