//! The shared rules compiled to wasm32 and run by wasm-bindgen-test-runner: the SPA validates
//! with exactly this code, so it is tested where it runs.
#![cfg(target_arch = "wasm32")]

use thrive_domain::auth::{is_valid_code_verifier, is_valid_s256_challenge, normalise_email};
use thrive_domain::password::{check_rules, PasswordProblem};
use thrive_domain::Permission;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn password_rules_behave_the_same_in_wasm() {
    assert!(check_rules("Quiet-Lantern-Orchard-47").is_empty());
    assert_eq!(check_rules("Ab1!Ab1!Ab1"), vec![PasswordProblem::TooShort]);
    assert_eq!(check_rules("Ünïcödé-Pässwörd-7"), vec![]);
    assert_eq!(
        check_rules("CorrectHorse9Battery"),
        vec![PasswordProblem::NoSymbol]
    );
}

#[wasm_bindgen_test]
fn the_catalogue_round_trips_in_wasm() {
    assert!(Permission::ALL.len() >= 70);
    for &p in Permission::ALL {
        assert_eq!(p.key().parse::<Permission>(), Ok(p));
    }
}

#[wasm_bindgen_test]
fn sign_in_shapes_in_wasm() {
    assert!(is_valid_code_verifier(&"v".repeat(43)));
    assert!(is_valid_s256_challenge(
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    ));
    assert_eq!(normalise_email(" A@B.example "), Some("a@b.example".into()));
}
