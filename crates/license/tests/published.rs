//! The examples handed to e-license platforms verify, and stay what the documents show: the
//! signed license and revocation in `tests/fixtures` (signed with a key made for them, whose
//! public half is `public-keys.json`), the canonical form they were signed over, and the copies
//! in the AsyncAPI document and the platform guide.

use std::path::{Path, PathBuf};

use residence_events::partner::LicenseRevokedMessage;
use residence_license::{PublicKeys, canonical, verify};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn project_file(relative: &str) -> String {
    read(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(relative),
    )
}

fn keys() -> PublicKeys {
    PublicKeys::read(&fixture("public-keys.json")).unwrap()
}

#[test]
fn the_example_license_verifies_with_the_example_key() {
    let bytes = read(&fixture("signed-license.json"));
    let document = verify::parse_document(bytes.as_bytes()).unwrap();
    let verification = verify::document(&document, &keys());
    assert!(verification.is_authentic(), "{:?}", verification.problems());

    let (claims, qr) = verify::qr_payload(&document.qr_payload, &keys()).unwrap();
    assert!(qr.is_authentic(), "{:?}", qr.problems());
    assert_eq!(claims.id, document.license.identifier);
}

#[test]
fn the_example_canonical_form_is_the_one_signed() {
    let bytes = read(&fixture("signed-license.json"));
    let document = verify::parse_document(bytes.as_bytes()).unwrap();
    let form = String::from_utf8(canonical::license(&document.license)).unwrap();
    assert_eq!(form, read(&fixture("canonical-license.txt")));
}

#[test]
fn the_example_revocation_verifies_with_the_example_key() {
    let revocation: LicenseRevokedMessage =
        serde_json::from_str(&read(&fixture("revoked-license.json"))).unwrap();
    assert_eq!(verify::revocation(&revocation, &keys()), Ok(()));

    let mut changed = revocation;
    changed.reason.push('。');
    assert!(verify::revocation(&changed, &keys()).is_err());
}

#[test]
fn the_contract_and_the_guide_show_these_examples() {
    let license = read(&fixture("signed-license.json"));
    let revocation = read(&fixture("revoked-license.json"));
    let signature = |json: &str| {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        value["signature"]["value"].as_str().unwrap().to_owned()
    };
    let asyncapi = project_file("deploy/asyncapi.yaml");
    let guide = project_file("docs/partners/elicense.md");
    for (what, value) in [
        ("license signature", signature(&license)),
        ("revocation signature", signature(&revocation)),
    ] {
        assert!(
            asyncapi.contains(&value),
            "deploy/asyncapi.yaml lacks the {what}"
        );
        assert!(
            guide.contains(&value),
            "the platform guide lacks the {what}"
        );
    }
    let key: serde_json::Value = serde_json::from_str(&read(&fixture("public-keys.json"))).unwrap();
    let x = key["keys"][0]["x"].as_str().unwrap();
    assert!(
        guide.contains(x),
        "the platform guide lacks the example key"
    );
    for line in read(&fixture("canonical-license.txt")).lines() {
        assert!(
            guide.contains(line),
            "the platform guide lacks the line {line:?}"
        );
    }
}
