//! Every hand-checked case of the shared `rules.jsonl` through `eval_line`.

use std::path::Path;

use residence_rules::eval::eval_line;
use serde_json::Value;

use crate::{shipped_calendar, today};

#[test]
fn shared_rule_cases_pass() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/cases/rules.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("skipped: no shared cases at {}", path.display());
        return;
    };
    let calendar = shipped_calendar();
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let answer = eval_line(line, &calendar, today());
        assert_eq!(answer["id"], case["id"]);
        for (key, want) in case["expect"].as_object().unwrap() {
            let got = &answer["result"][key];
            if got != want {
                failures.push(format!("{}: {key} want {want}, got {got}", case["id"]));
            }
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 0, "no cases in {}", path.display());
}
