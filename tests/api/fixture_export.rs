//! Exports made by the code before the ledger crate (`tests/fixtures/export-v1`, see its
//! README) still verify offline, and stop verifying when any one byte is changed.

use consentry::audit::checkpoint::VerifyingKeys;
use consentry::audit::file::verify_export;

const NDJSON: &[u8] = include_bytes!("../fixtures/export-v1/export.ndjson");
const CSV: &[u8] = include_bytes!("../fixtures/export-v1/export.csv");
const JWKS: &str = include_str!("../fixtures/export-v1/jwks.json");

fn keys() -> VerifyingKeys {
    VerifyingKeys::from_jwks(&serde_json::from_str(JWKS).unwrap()).unwrap()
}

fn with_byte_changed(file: &[u8], needle: &str, offset: usize) -> Vec<u8> {
    let at = file
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle} is not in the fixture"))
        + offset;
    let mut changed = file.to_vec();
    changed[at] = if changed[at] == b'a' { b'b' } else { b'a' };
    changed
}

#[test]
fn an_ndjson_export_made_before_the_ledger_crate_still_verifies() {
    let report = verify_export(NDJSON, Some(&keys())).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events, 6);
    assert_eq!(report.pii_verified, 3);
    assert_eq!(report.signature_verified, Some(true));
}

#[test]
fn a_csv_export_made_before_the_ledger_crate_still_verifies() {
    let report = verify_export(CSV, Some(&keys())).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events, 7);
    assert_eq!(report.pii_verified, 3);
    assert_eq!(report.signature_verified, Some(true));
}

#[test]
fn one_changed_byte_in_an_old_export_fails_verification() {
    // A letter of the address and of the user agent (personal data), of `data`, of an event
    // kind, and of the checkpoint's signature.
    for (file, needle, offset) in [
        (NDJSON, "taro.yamada@", 1),
        (NDJSON, "FixtureBrowser", 1),
        (NDJSON, "page_button_post", 1),
        (NDJSON, "\"kind\":\"confirmed\"", 9),
        (NDJSON, "\"signature\":\"", 14),
        (CSV, "taro.yamada@", 1),
        (CSV, "page_button_post", 1),
        (CSV, ",confirmed,", 3),
        (CSV, "\"\"signature\"\":\"\"", 17),
    ] {
        let changed = with_byte_changed(file, needle, offset);
        assert_ne!(changed, file);
        let report = verify_export(changed.as_slice(), Some(&keys())).unwrap();
        assert!(!report.ok, "{needle} changed but the export still verifies");
    }
}
