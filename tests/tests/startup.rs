//! A service refuses to start on a malformed service item or configuration file, naming the
//! bad field or key, before it binds any port; nor on a database sealed under another data
//! key.

use std::process::Command;

use anyhow::{Context, Result};
use residence_launcher::{binary_path, free_port, project_root};

#[test]
fn a_malformed_service_item_stops_every_service_naming_the_field() -> Result<()> {
    let root = project_root()?;
    let shipped = std::fs::read_to_string(root.join("deploy/service-item.toml"))?;
    let broken = shipped.replacen("legal_working_days = 1", "legal_working_days = 0", 1);
    assert_ne!(broken, shipped);
    let dir = std::env::temp_dir().join(format!("residence-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let item = dir.join("service-item.toml");
    std::fs::write(&item, broken)?;

    for service in [
        "intake", "review", "decision", "delivery", "courier", "elicense",
    ] {
        let port = free_port()?;
        let output = Command::new(binary_path(&format!("residence-{service}"))?)
            .args(["--grpc-addr", &format!("127.0.0.1:{port}")])
            .args(["--nats-url", "nats://127.0.0.1:1"])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--service-item")
            .arg(&item)
            .arg("--calendar-dir")
            .arg(root.join("deploy/calendars"))
            .output()
            .with_context(|| format!("run residence-{service}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{service} started with a broken item"
        );
        assert!(
            stderr.contains("time_limits.legal_working_days"),
            "{service} did not name the field: {stderr}"
        );
        // Nothing was bound: the port is still free.
        std::net::TcpListener::bind(("127.0.0.1", port))
            .with_context(|| format!("{service} left port {port} bound"))?;
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_malformed_configuration_file_stops_every_service_naming_the_key() -> Result<()> {
    let root = project_root()?;
    let dir = std::env::temp_dir().join(format!("residence-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cases = [
        (
            "typo.toml",
            "[common]\nnats_ulr = \"nats://127.0.0.1:4222\"\n",
            "common.nats_ulr",
        ),
        (
            "range.toml",
            "[common]\ncalendar_reload_secs = 0\n",
            "common.calendar_reload_secs",
        ),
    ];
    for (name, text, key) in cases {
        let file = dir.join(name);
        std::fs::write(&file, text)?;
        for service in [
            "intake", "review", "decision", "delivery", "courier", "elicense",
        ] {
            let port = free_port()?;
            let output = Command::new(binary_path(&format!("residence-{service}"))?)
                .arg("--config")
                .arg(&file)
                .args(["--grpc-addr", &format!("127.0.0.1:{port}")])
                .args(["--nats-url", "nats://127.0.0.1:1"])
                .arg("--data-dir")
                .arg(dir.join("data"))
                .arg("--calendar-dir")
                .arg(root.join("deploy/calendars"))
                .arg("--service-item")
                .arg(root.join("deploy/service-item.toml"))
                .output()
                .with_context(|| format!("run residence-{service}"))?;
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "{service} started with {name}");
            assert!(
                stderr.contains(key),
                "{service} did not name {key}: {stderr}"
            );
            std::net::TcpListener::bind(("127.0.0.1", port))
                .with_context(|| format!("{service} left port {port} bound"))?;
        }
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_service_refuses_a_database_sealed_under_another_data_key() -> Result<()> {
    let root = project_root()?;
    let dir = std::env::temp_dir().join(format!("residence-data-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let other_key = dir.join("other.key");
    std::fs::write(&other_key, "b".repeat(64))?;
    for service in [
        "intake", "review", "decision", "delivery", "courier", "elicense",
    ] {
        let data = dir.join(service);
        let migrate = |extra: &[&std::ffi::OsStr]| {
            Command::new(binary_path(&format!("residence-{service}"))?)
                .arg("--migrate-only")
                .args(["--nats-url", "nats://127.0.0.1:1"])
                .arg("--data-dir")
                .arg(&data)
                .arg("--service-item")
                .arg(root.join("deploy/service-item.toml"))
                .arg("--calendar-dir")
                .arg(root.join("deploy/calendars"))
                .args(extra)
                .output()
                .with_context(|| format!("run residence-{service}"))
        };
        // The first start makes the key and records it in the database.
        let first = migrate(&[])?;
        let stderr = String::from_utf8_lossy(&first.stderr);
        assert!(first.status.success(), "{service}: {stderr}");
        assert!(migrate(&[])?.status.success(), "{service} again");

        // Another key file, or the key file lost and made anew: refused, both ids named.
        let other = migrate(&["--data-key-file".as_ref(), other_key.as_os_str()])?;
        let stderr = String::from_utf8_lossy(&other.stderr);
        assert!(!other.status.success(), "{service} took another key");
        assert!(
            stderr.contains("sealed with data key"),
            "{service}: {stderr}"
        );
        std::fs::remove_file(data.join("data.key"))?;
        let remade = migrate(&[])?;
        assert!(!remade.status.success(), "{service} took a remade key");
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
