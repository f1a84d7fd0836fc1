//! Electronic licenses across the running system, checked with the operator CLI as a holder's
//! verifier would: every license issued matches the partner contract and verifies offline
//! (with the public key document the e-license service wrote) and online, a copy with one
//! character changed is rejected, and a reversed decision leaves its license revoked. No
//! database file of any service holds a holder's ID number in the clear.
//!
//! The binaries must be built first (`cargo build --workspace --bins`): the services, the
//! simulators and `residence` itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use residence_cli::system::{Service, System};
use residence_launcher::{binary_path, project_root};
use residence_proto::v1 as pb;
use residence_runtime::time::china_today;
use residence_staff::Role;
use residence_system_tests::asyncapi::{Contract, ensure_none};
use residence_system_tests::system::{finish, start, wait_for_license};

/// Synthetic holders: valid GB 11643 numbers of no real person.
const HOLDERS: [&str; 3] = [
    "411721199001011237",
    "41172119880517108X",
    "412824198507153217",
];
const IN_COUNTY: &str = "河南省驻马店市西平县五沟营镇东街村三组12号";

fn application(id_number: &str) -> pb::SubmitApplicationRequest {
    let valid_until = (china_today() + chrono::Duration::days(10)).to_string();
    let materials = [
        pb::MaterialKind::ResidencePermit,
        pb::MaterialKind::IdCard,
        pb::MaterialKind::ProofOfResidence,
    ];
    pb::SubmitApplicationRequest {
        client_request_id: uuid::Uuid::new_v4().to_string(),
        channel: pb::Channel::Online as i32,
        applicant: Some(pb::Applicant {
            name: "测试申请人".into(),
            id_number: id_number.into(),
            phone: "13800000000".into(),
        }),
        permit: Some(pb::Permit { valid_until }),
        residence_address: IN_COUNTY.into(),
        address_change: None,
        delivery: Some(pb::Delivery {
            method: pb::DeliveryMethod::Pickup as i32,
            ..Default::default()
        }),
        materials: materials
            .into_iter()
            .enumerate()
            .map(|(i, kind)| pb::Material {
                kind: kind as i32,
                reference: format!("scan-{i}"),
            })
            .collect(),
        agent: None,
    }
}

/// What `residence` printed and whether it succeeded.
struct Run {
    success: bool,
    stdout: String,
}

async fn residence(arguments: &[&str]) -> Result<Run> {
    let output = tokio::process::Command::new(binary_path("residence")?)
        .args(arguments)
        .env_remove("RESIDENCE_ELICENSE_URL")
        .env_remove("RESIDENCE_STAFF_TOKEN_FILE")
        .output()
        .await
        .context("run residence")?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.stderr.is_empty() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(Run {
        success: output.status.success(),
        stdout,
    })
}

/// The text of `file` with the first character of the holder's residence address changed.
fn one_character_changed(file: &Path) -> Result<String> {
    let text = std::fs::read_to_string(file)?;
    let at = text.find("五沟营镇").context("address in the document")?;
    let mut changed = text.clone();
    changed.replace_range(at..at + "五".len(), "六");
    Ok(changed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_issued_license_verifies_and_a_changed_copy_does_not() -> Result<()> {
    let system = start("licenses").await?;
    let result = exercise(&system).await;
    finish(system, result).await
}

async fn exercise(system: &System) -> Result<()> {
    let mut intake = system.intake_client()?;
    let mut cases = Vec::new();
    for holder in HOLDERS {
        let submitted = intake.submit_application(application(holder)).await?;
        cases.push(submitted.into_inner().case_number);
    }
    for case in &cases {
        let license = wait_for_license(system, case).await?;
        assert!(license.valid, "{license:?}");
    }

    // Export every license the system issued, as an operator would.
    let out = system.run_dir().join("exported");
    let data_dir = system.data_dir();
    let exported = residence(&[
        "license",
        "export",
        "--data-dir",
        &data_dir.display().to_string(),
        "--out",
        &out.display().to_string(),
    ])
    .await?;
    assert!(exported.success);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&out)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    assert_eq!(files.len(), cases.len());

    let contract = Contract::load(&project_root()?.join("deploy/asyncapi.yaml"))?;
    let keys = system.elicense_public_keys_file().display().to_string();
    let url = system.grpc_url(Service::Elicense);
    for file in &files {
        let payload: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file)?)?;
        let problems = contract.payload_problems("licenseIssued", &payload)?;
        ensure_none("an issued license", &problems)?;

        let file = file.display().to_string();
        let verify = ["license", "verify", "--file", &file, "--public-keys", &keys];
        let run = residence(&[&verify[..], &["--elicense-url", &url]].concat()).await?;
        assert!(run.success, "{file}:\n{}", run.stdout);
        assert!(run.stdout.contains("VERIFIED"), "{}", run.stdout);
        assert!(!HOLDERS.iter().any(|holder| run.stdout.contains(holder)));

        let qr = payload["qr_payload"].as_str().context("qr payload")?;
        let run = residence(&["license", "verify", "--qr", qr, "--public-keys", &keys]).await?;
        assert!(run.success, "{}", run.stdout);
    }

    // One character changed: rejected offline and online.
    let changed = system.run_dir().join("changed.json");
    std::fs::write(&changed, one_character_changed(&files[0])?)?;
    let changed = changed.display().to_string();
    let offline = [
        "license",
        "verify",
        "--file",
        &changed,
        "--public-keys",
        &keys,
    ];
    let run = residence(&offline).await?;
    assert!(!run.success, "{}", run.stdout);
    assert!(run.stdout.contains("REJECTED"), "{}", run.stdout);
    let online = [
        "license",
        "verify",
        "--file",
        &changed,
        "--elicense-url",
        &url,
    ];
    let run = residence(&online).await?;
    assert!(!run.success, "{}", run.stdout);

    // The officer reverses the first approval: its license is revoked, still authentic.
    let mut decision = system.decision_client()?;
    let reversed = decision
        .reverse_decision(pb::ReverseDecisionRequest {
            case_number: cases[0].clone(),
            reason: "经复查，居住证明材料不实".into(),
        })
        .await?
        .into_inner();
    assert!(!reversed.reversed_at.is_empty());
    let identifier = wait_for_license(system, &cases[0]).await?.identifier;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let license = wait_for_license(system, &cases[0]).await?;
        if license.status() == pb::LicenseStatus::Revoked {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("license {identifier} was never revoked");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let by_identifier = ["license", "verify", "--identifier", &identifier];
    let run = residence(&[&by_identifier[..], &["--elicense-url", &url]].concat()).await?;
    assert!(run.success, "{}", run.stdout);
    assert!(run.stdout.contains("status revoked"), "{}", run.stdout);
    let current = [
        &by_identifier[..],
        &["--elicense-url", &url, "--require-current"],
    ]
    .concat();
    assert!(!residence(&current).await?.success);

    // Nothing went wrong at the platform, as an operator's token shows.
    let token = system.staff_token_file(Role::Operator, system.county(), "clerk-1")?;
    let token = token.display().to_string();
    let anonymous = residence(&["license", "problems", "--elicense-url", &url]).await?;
    assert!(!anonymous.success, "{}", anonymous.stdout);
    let problems = [
        "license",
        "problems",
        "--elicense-url",
        &url,
        "--token-file",
        &token,
    ];
    let problems = residence(&problems).await?;
    assert!(problems.success);
    assert!(
        problems.stdout.ends_with("0 problems\n"),
        "{}",
        problems.stdout
    );
    no_id_number_at_rest(&data_dir)
}

/// No database file of any service (nor its write-ahead log) holds a holder's ID number in
/// the clear: the columns that carry personal data are sealed.
fn no_id_number_at_rest(data_dir: &Path) -> Result<()> {
    let mut scanned = 0;
    for entry in std::fs::read_dir(data_dir)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if !(name.ends_with(".db") || name.ends_with(".db-wal")) {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        for holder in HOLDERS {
            ensure!(
                !bytes
                    .windows(holder.len())
                    .any(|window| window == holder.as_bytes()),
                "{} holds an ID number in the clear",
                path.display()
            );
        }
        scanned += 1;
    }
    ensure!(
        scanned >= 6,
        "only {scanned} database files in {}",
        data_dir.display()
    );
    Ok(())
}
