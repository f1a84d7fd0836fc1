//! A progress line on stderr: redrawn in place on a terminal, one line every few seconds
//! otherwise (logs, CI).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::ledger::{Ledger, Progress};

/// How often the line is redrawn on a terminal.
const TERMINAL_INTERVAL: Duration = Duration::from_millis(250);

/// How often a new line is written when stderr is not a terminal.
const LOG_INTERVAL: Duration = Duration::from_secs(5);

/// Reports progress until `done` turns true, then writes the last state once more.
pub(super) async fn report(
    ledger: &Ledger,
    total: usize,
    started: Instant,
    mut done: watch::Receiver<bool>,
) {
    let terminal = std::io::stderr().is_terminal();
    let interval = if terminal {
        TERMINAL_INTERVAL
    } else {
        LOG_INTERVAL
    };
    while !*done.borrow() {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = done.changed() => {}
        }
        write(terminal, &line(ledger.progress(), total, started.elapsed()));
    }
    if terminal {
        eprintln!();
    }
}

fn write(terminal: bool, line: &str) {
    let mut stderr = std::io::stderr().lock();
    // Progress is a courtesy; a closed stderr must not stop the demo.
    let _ = if terminal {
        write!(stderr, "\r\x1b[2K{line}").and_then(|()| stderr.flush())
    } else {
        writeln!(stderr, "{line}")
    };
}

/// `submitted 12/20, final 8, collected 3, supplemented 1, 4.2 s`.
pub(super) fn line(progress: Progress, total: usize, elapsed: Duration) -> String {
    let mut line = format!(
        "submitted {}/{total}, final {}, collected {}, supplemented {}",
        progress.submitted, progress.finals, progress.collections, progress.supplements
    );
    if progress.withdrawals > 0 {
        line.push_str(&format!(", withdrawn {}", progress.withdrawals));
    }
    if progress.ratings > 0 {
        line.push_str(&format!(", rated {}", progress.ratings));
    }
    if progress.failed > 0 {
        line.push_str(&format!(", failed {}", progress.failed));
    }
    if progress.retried > 0 {
        line.push_str(&format!(", retried {}", progress.retried));
    }
    line.push_str(&format!(", {:.1} s", elapsed.as_secs_f64()));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_reads_alone() {
        let progress = Progress {
            submitted: 12,
            failed: 0,
            finals: 8,
            collections: 3,
            supplements: 1,
            retried: 0,
            ..Progress::default()
        };
        assert_eq!(
            line(progress, 20, Duration::from_millis(4_210)),
            "submitted 12/20, final 8, collected 3, supplemented 1, 4.2 s"
        );
        let failing = Progress {
            failed: 2,
            ..progress
        };
        assert!(line(failing, 20, Duration::ZERO).contains("failed 2"));
        let retrying = Progress {
            retried: 3,
            ..progress
        };
        assert!(line(retrying, 20, Duration::ZERO).contains("retried 3"));
        let feedback = Progress {
            withdrawals: 2,
            ratings: 7,
            ..progress
        };
        assert!(
            line(feedback, 20, Duration::ZERO).contains("supplemented 1, withdrawn 2, rated 7")
        );
    }
}
