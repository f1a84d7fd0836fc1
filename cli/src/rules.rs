//! `residence rules eval`: the JSON-lines rule contract, one answer line per case line.

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use residence_rules::calendar::Calendar;
use residence_rules::eval::eval_line;

/// The calendar folder of the checkout this binary belongs to: `<root>/deploy/calendars`.
pub fn default_calendar_dir() -> anyhow::Result<PathBuf> {
    let root = residence_launcher::project_root()?;
    Ok(root.join("deploy").join("calendars"))
}

/// Loads every `YYYY.toml` holiday schedule in `dir`.
pub fn load_calendar(dir: &Path) -> anyhow::Result<Calendar> {
    residence_runtime::calendar::load_calendar(dir)
        .with_context(|| format!("cannot load the holiday calendars in {}", dir.display()))
}

/// Answers every non-blank line of `input` with one line on `output`, in order, and returns
/// how many lines were answered.
///
/// A line that is not valid JSON, not valid UTF-8 or not a known rule gets an answer whose
/// `result` holds an `error`; only a failure to read or write stops the loop.
pub fn eval_lines(
    mut input: impl BufRead,
    mut output: impl Write,
    calendar: &Calendar,
) -> io::Result<usize> {
    // One date for the whole run, so that a run across midnight answers alike.
    let today = residence_runtime::time::china_today();
    let mut line = Vec::new();
    let mut answered = 0;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let answer = eval_line(text.trim(), calendar, today);
        serde_json::to_writer(&mut output, &answer)?;
        output.write_all(b"\n")?;
        answered += 1;
    }
    output.flush()?;
    Ok(answered)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn answers(input: &[u8]) -> Vec<Value> {
        let calendar = Calendar::new(Vec::new()).unwrap();
        let mut output = Vec::new();
        eval_lines(input, &mut output, &calendar).unwrap();
        String::from_utf8(output)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn answers_each_case_line_and_skips_blank_ones() {
        let input = concat!(
            r#"{"id": "a", "rule": "mask", "input": {"id_number": "411721199001011237"}}"#,
            "\n\n   \n",
            r#"{"id": "b", "rule": "id_number", "input": {"id_number": "411721199001011230"}}"#,
        );
        let answers = answers(input.as_bytes());
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0]["id"], "a");
        assert_eq!(answers[0]["result"]["masked"], "411721********1237");
        assert_eq!(answers[1]["result"]["error"], "checksum");
    }

    #[test]
    fn malformed_lines_get_an_error_instead_of_stopping() {
        let mut input = b"not json\n".to_vec();
        input.extend(b"\xff\xfe{\n");
        input.extend(br#"{"id": 3, "rule": "nope", "input": {}}"#);
        input.extend(b"\r\n");
        let answers = answers(&input);
        assert_eq!(answers.len(), 3);
        assert!(
            answers
                .iter()
                .all(|answer| answer["result"]["error"].is_string())
        );
        assert_eq!(answers[2]["id"], 3);
    }
}
