//! The simulators' record files: one JSON object a line per message a partner acted on.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use super::stats::surplus_of_counts;

/// What a record file holds, counted by one key such as `parcel_reference`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordTally {
    /// Non-blank lines.
    pub lines: u64,
    /// Distinct values of the key.
    pub distinct: u64,
    /// Lines beyond one per value of the key.
    pub surplus: u64,
    /// Lines that are not JSON or lack the key.
    pub unreadable: u64,
}

/// Tallies the file at `path` by the first string found under `key` in each line's object,
/// searching nested objects too. A missing file counts as empty: the partner got nothing.
pub fn tally(path: &Path, key: &str) -> std::io::Result<RecordTally> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(RecordTally::default());
        }
        Err(error) => return Err(error),
    };
    let mut tally = RecordTally::default();
    let mut counts: HashMap<String, u64> = HashMap::new();
    for line in BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        tally.lines += 1;
        let value = serde_json::from_str::<Value>(&line).ok();
        match value.as_ref().and_then(|value| find_string(value, key)) {
            Some(found) => *counts.entry(found.to_owned()).or_default() += 1,
            None => tally.unreadable += 1,
        }
    }
    tally.distinct = counts.len() as u64;
    tally.surplus = surplus_of_counts(counts.into_values());
    Ok(tally)
}

/// The first string under `key`, looking at this object's own fields before nested ones.
fn find_string<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    let object = value.as_object()?;
    if let Some(found) = object.get(key).and_then(Value::as_str) {
        return Some(found);
    }
    object.values().find_map(|nested| find_string(nested, key))
}

#[cfg(test)]
mod tests {
    use residence_launcher::RunDir;

    use super::*;

    #[test]
    fn counts_lines_beyond_one_per_key_and_flags_unreadable_ones() {
        let run = RunDir::new("cli-records").unwrap();
        let path = run.path().join("logistics-partner.jsonl");
        let lines = [
            r#"{"parcel_reference": "P-1", "status": "delivered"}"#,
            r#"{"received": {"parcel_reference": "P-2"}}"#,
            "",
            r#"{"parcel_reference": "P-1"}"#,
            r#"{"other": 1}"#,
            "{broken",
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();

        let tally = tally(&path, "parcel_reference").unwrap();
        assert_eq!(
            tally,
            RecordTally {
                lines: 5,
                distinct: 2,
                surplus: 1,
                unreadable: 2
            }
        );
    }

    #[test]
    fn a_missing_file_is_empty() {
        let path = Path::new("/nonexistent/records/elicense-platform.jsonl");
        assert_eq!(tally(path, "identifier").unwrap(), RecordTally::default());
    }
}
