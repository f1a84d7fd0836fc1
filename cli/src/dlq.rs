//! `residence dlq`: lists the events consumers parked on the dead-letter stream, and replays
//! them to their original subjects once the cause is fixed.
//!
//! Payloads may hold personal data: they are shown only on request, and identity numbers in
//! them (and in the reasons) are masked.

use std::io::Write;

use anyhow::{Context, Result};
use async_nats::jetstream;
use chrono::SecondsFormat;
use residence_eventing::deadletter::{DeadLetters, ParkedEvent, Replayed};
use residence_rules::mask_id_numbers;
use residence_runtime::messaging::NatsCredentials;
use serde::Serialize;

/// The broker used when neither `--nats-url` nor `NATS_URL` names one.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// What `dlq list` shows.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Only the events this consumer parked.
    pub consumer: Option<String>,
    /// One JSON object per line instead of a table.
    pub json: bool,
    /// Show the payloads too, with identity numbers masked.
    pub show_payload: bool,
}

/// Which parked events `dlq replay` replays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// These dead-letter stream sequences.
    Sequences(Vec<u64>),
    /// Everything one consumer parked.
    Consumer(String),
    /// Everything parked.
    All,
}

/// What `dlq replay` does.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// The events to replay.
    pub selection: Selection,
    /// Only say what would be replayed.
    pub dry_run: bool,
}

/// Connects to the broker at `url`, as the user of `credentials` when given, and opens the
/// dead-letter stream.
pub async fn open(url: &str, credentials: Option<&NatsCredentials>) -> Result<DeadLetters> {
    let options = credentials.map_or_else(
        async_nats::ConnectOptions::new,
        NatsCredentials::connect_options,
    );
    let client = options
        .connect(url)
        .await
        .with_context(|| format!("cannot connect to the broker at {}", without_password(url)))?;
    Ok(DeadLetters::open(jetstream::new(client)).await?)
}

/// `url` with any password in it replaced by `****`, for messages.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:****@{host}")
        }
        None => url.to_owned(),
    }
}

/// Writes the parked events to `out`, oldest first, and returns how many there are.
pub async fn list(
    dead_letters: &DeadLetters,
    options: &ListOptions,
    out: &mut impl Write,
) -> Result<usize> {
    let parked = dead_letters.list(options.consumer.as_deref()).await?;
    if options.json {
        for event in &parked {
            serde_json::to_writer(&mut *out, &Listed::new(event, options.show_payload))?;
            writeln!(out)?;
        }
    } else {
        write_table(&parked, options.show_payload, out)?;
    }
    out.flush()?;
    Ok(parked.len())
}

/// Replays the selected events, one line each on `out`, or with `dry_run` only says which it
/// would. Problems go to `err`; returns whether every selected event was replayed.
pub async fn replay(
    dead_letters: &DeadLetters,
    options: &ReplayOptions,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<bool> {
    let (chosen, missing) = select(dead_letters, &options.selection).await?;
    for sequence in &missing {
        writeln!(
            err,
            "#{sequence}: no such parked event (replayed before, or expired)"
        )?;
    }
    if chosen.is_empty() && missing.is_empty() {
        writeln!(out, "no parked events to replay")?;
    }

    let mut replayed = 0;
    for event in &chosen {
        if options.dry_run {
            writeln!(out, "would replay {}", describe(event))?;
            continue;
        }
        match dead_letters.replay(event).await {
            Ok(done) => {
                writeln!(out, "replayed {}{}", describe(event), stored_as(&done))?;
                replayed += 1;
            }
            Err(error) => writeln!(err, "#{}: {:#}", event.sequence, anyhow::Error::from(error))?,
        }
    }
    out.flush()?;
    Ok(missing.is_empty() && (options.dry_run || replayed == chosen.len()))
}

/// The parked events `selection` names, oldest first, and the named sequences not parked.
async fn select(
    dead_letters: &DeadLetters,
    selection: &Selection,
) -> Result<(Vec<ParkedEvent>, Vec<u64>)> {
    match selection {
        Selection::All => Ok((dead_letters.list(None).await?, Vec::new())),
        Selection::Consumer(name) => Ok((dead_letters.list(Some(name)).await?, Vec::new())),
        Selection::Sequences(sequences) => {
            let mut sequences = sequences.clone();
            sequences.sort_unstable();
            sequences.dedup();
            let mut chosen = Vec::new();
            let mut missing = Vec::new();
            for sequence in sequences {
                match dead_letters.get(sequence).await? {
                    Some(event) => chosen.push(event),
                    None => missing.push(sequence),
                }
            }
            Ok((chosen, missing))
        }
    }
}

/// `#12 residence.v1.x (event 0193…, case XP-…) parked by review-accepted`
fn describe(event: &ParkedEvent) -> String {
    format!(
        "#{} {} (event {}, case {}) parked by {}",
        event.sequence,
        event.original_subject.as_deref().unwrap_or("-"),
        event.original_id.as_deref().unwrap_or("-"),
        event.case_number.as_deref().unwrap_or("-"),
        event.consumer,
    )
}

fn stored_as(replayed: &Replayed) -> String {
    let repeat = if replayed.duplicate {
        ", stored by an earlier attempt"
    } else {
        ""
    };
    format!(
        " -> {} #{}{repeat}",
        replayed.stream, replayed.stream_sequence
    )
}

/// One parked event as a JSON line.
#[derive(Serialize)]
struct Listed<'a> {
    sequence: u64,
    parked_at: chrono::DateTime<chrono::Utc>,
    consumer: &'a str,
    original_subject: Option<&'a str>,
    original_id: Option<&'a str>,
    case_number: Option<&'a str>,
    deliveries: Option<i64>,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
}

impl<'a> Listed<'a> {
    fn new(event: &'a ParkedEvent, show_payload: bool) -> Self {
        Self {
            sequence: event.sequence,
            parked_at: event.parked_at,
            consumer: &event.consumer,
            original_subject: event.original_subject.as_deref(),
            original_id: event.original_id.as_deref(),
            case_number: event.case_number.as_deref(),
            deliveries: event.deliveries,
            reason: mask_id_numbers(&event.reason),
            payload: show_payload.then(|| masked_payload(event)),
        }
    }
}

const COLUMNS: [&str; 8] = [
    "SEQ",
    "PARKED AT",
    "CONSUMER",
    "SUBJECT",
    "EVENT ID",
    "CASE",
    "DELIVERIES",
    "REASON",
];

/// Writes aligned columns, the reason last, with each payload on a line under its event.
fn write_table(parked: &[ParkedEvent], show_payload: bool, out: &mut impl Write) -> Result<()> {
    if parked.is_empty() {
        writeln!(out, "no parked events")?;
        return Ok(());
    }
    let rows: Vec<[String; 8]> = parked.iter().map(row).collect();
    let mut widths = COLUMNS.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }

    write_row(&COLUMNS.map(str::to_owned), &widths, out)?;
    for (row, event) in rows.iter().zip(parked) {
        write_row(row, &widths, out)?;
        if show_payload {
            writeln!(out, "    payload: {}", masked_payload(event))?;
        }
    }
    Ok(())
}

fn row(event: &ParkedEvent) -> [String; 8] {
    let or_dash = |value: Option<&str>| value.unwrap_or("-").to_owned();
    [
        event.sequence.to_string(),
        event.parked_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        event.consumer.clone(),
        or_dash(event.original_subject.as_deref()),
        or_dash(event.original_id.as_deref()),
        or_dash(event.case_number.as_deref()),
        event
            .deliveries
            .map_or_else(|| "-".to_owned(), |count| count.to_string()),
        mask_id_numbers(&event.reason),
    ]
}

fn write_row(cells: &[String; 8], widths: &[usize; 8], out: &mut impl Write) -> Result<()> {
    let (last, padded) = cells.split_last().context("a row has cells")?;
    for (cell, width) in padded.iter().zip(widths) {
        write!(out, "{cell:<width$}  ")?;
    }
    writeln!(out, "{last}")?;
    Ok(())
}

/// The payload as text (invalid UTF-8 replaced), with identity numbers masked.
fn masked_payload(event: &ParkedEvent) -> String {
    mask_id_numbers(&String::from_utf8_lossy(&event.payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_never_shows() {
        assert_eq!(
            without_password("nats://residence:svcpass@127.0.0.1:4222"),
            "nats://residence:****@127.0.0.1:4222"
        );
        assert_eq!(
            without_password("nats://127.0.0.1:4222"),
            "nats://127.0.0.1:4222"
        );
    }

    #[test]
    fn masks_identity_numbers_anywhere_in_text() {
        assert_eq!(
            mask_id_numbers(r#"{"id_number":"411721199001011237","n":1}"#),
            r#"{"id_number":"411721********1237","n":1}"#
        );
        assert_eq!(
            mask_id_numbers("号码41172119880517108X。"),
            "号码411721********108X。"
        );
        assert_eq!(
            mask_id_numbers("41172119880517108x and 411721199001011237"),
            "411721********108x and 411721********1237"
        );
    }

    #[test]
    fn leaves_other_numbers_alone() {
        for text in [
            "",
            "case XP-2026-000001, 8 deliveries",
            "12345678901234567",
            "4117211990010112370",
            "phone 13800138000",
        ] {
            assert_eq!(mask_id_numbers(text), text);
        }
    }
}
