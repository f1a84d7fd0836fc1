//! `residence bench` as an operator runs it, on a small load: it must complete every case and
//! print every figure. How fast it goes is for the benchmark to say, not for a test.

use anyhow::{Context, Result, ensure};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_completes_every_case_and_prints_every_figure() -> Result<()> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_residence"))
        .args([
            "bench",
            "--applications",
            "20",
            "--concurrency",
            "4",
            "--json",
        ])
        .output()
        .await
        .context("run residence bench")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().context("no output")?;
    let figures: Value = serde_json::from_str(last).context("last line is not JSON")?;

    assert_eq!(figures["applications"], 20);
    assert_eq!(figures["completed"], 20);
    assert!(figures["throughput_per_s"].as_f64().unwrap_or(0.0) > 0.0);
    assert_eq!(figures["end_to_end"]["samples"], 20);
    let stages = figures["stages"].as_array().context("stages")?;
    assert_eq!(stages.len(), 8);
    for stage in stages {
        assert_eq!(stage["latency"]["samples"], 20, "{stage}");
    }
    let processes = figures["processes"].as_array().context("processes")?;
    assert_eq!(processes.len(), 6);
    for process in processes {
        assert!(
            process["peak_mib"].as_f64().unwrap_or(0.0) > 1.0,
            "{process}"
        );
    }
    for key in [
        "jetstream_publish_per_s",
        "jetstream_consume_per_s",
        "database_commits_per_s",
    ] {
        assert!(
            figures["limits"][key].as_f64().unwrap_or(0.0) > 0.0,
            "{key}"
        );
    }
    assert!(figures["messages_per_application"].as_f64().unwrap_or(0.0) >= 10.0);
    assert!(figures["bound_per_s"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(figures["ratio_to_bound"].as_f64().is_some());
    // The human table comes first.
    assert!(stdout.contains("ratio to bound"));
    Ok(())
}
