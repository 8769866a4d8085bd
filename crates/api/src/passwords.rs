//! Password hashing (argon2id) and the full password policy: the character rules from
//! `thrive_domain::password` plus the breached-password list shipped in `data/`.

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use thrive_domain::password::{check_rules, PasswordProblem};

/// The 100,000 most common passwords from public breaches (provenance in data/BREACHED-PASSWORDS.md),
/// compared case-insensitively so "Password1" is caught by "password1".
static BREACHED: LazyLock<HashSet<String>> = LazyLock::new(|| {
    include_str!("../data/breached-passwords.txt")
        .lines()
        .map(str::to_lowercase)
        .collect()
});

/// A hash verified when the email is unknown or the account locked, so every failed sign-in
/// costs the same argon2 work and the three failure kinds share one timing class.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash(&SecretString::from(
        "dummy-password-for-timing-equalisation",
    ))
    .unwrap_or_else(|_| String::from("$argon2id$v=19$m=19456,t=2,p=1$invalid$invalid"))
});

/// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn is_breached(candidate: &str) -> bool {
    BREACHED.contains(&candidate.to_lowercase())
}

/// Every problem with a new password: the shared character rules, then the breached list.
pub fn check_policy(candidate: &SecretString) -> Vec<PasswordProblem> {
    let candidate = candidate.expose_secret();
    let mut problems = check_rules(candidate);
    if is_breached(candidate) {
        problems.push(PasswordProblem::Breached);
    }
    problems
}

pub fn hash(password: &SecretString) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2()
        .hash_password(password.expose_secret().as_bytes(), &salt)?
        .to_string())
}

/// Verify `password` against a stored PHC hash (argon2id; parameters are read from the hash).
/// With no stored hash, verifies against a dummy so the caller's timing does not reveal it.
pub fn verify(password: &SecretString, stored: Option<&str>) -> bool {
    let target = stored.unwrap_or(DUMMY_HASH.as_str());
    let ok = match PasswordHash::new(target) {
        Ok(parsed) => argon2()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    };
    ok && stored.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use PasswordProblem::*;

    #[test]
    fn breached_list_ships_at_least_100k_entries() {
        let lines = include_str!("../data/breached-passwords.txt")
            .lines()
            .count();
        assert!(lines >= 100_000, "{lines}");
        // Case variants ("password", "Password") collapse into one entry when compared.
        assert!(BREACHED.len() > 95_000, "{}", BREACHED.len());
        assert!(is_breached("password"));
        assert!(is_breached("PASSWORD"));
        assert!(!is_breached("Quiet-Lantern-Orchard-47"));
    }

    #[test]
    fn policy_table_of_cases() {
        let cases: &[(&str, &[PasswordProblem])] = &[
            ("Quiet-Lantern-Orchard-47", &[]),
            ("Tr1cky&Longer!Pass", &[]),
            ("short1!A", &[TooShort]),
            ("alllowercase-123", &[NoUppercase]),
            ("ALLUPPERCASE-123", &[NoLowercase]),
            ("NoDigitsHere-Ever", &[NoDigit]),
            ("NoSymbols1234Here", &[NoSymbol]),
            // In the breached list and meeting every character rule: refused by the list alone.
            ("g00dPa$$w0rD", &[Breached]),
            ("NICK1234-rem936", &[Breached]),
            // Case does not rescue a breached password.
            ("xxPA33BQ.adna", &[Breached]),
            // Breached and failing rules: every problem is reported.
            (
                "password",
                &[TooShort, NoUppercase, NoDigit, NoSymbol, Breached],
            ),
            ("Password1", &[TooShort, NoSymbol, Breached]),
        ];
        for (candidate, expected) in cases {
            let got = check_policy(&SecretString::from(candidate.to_string()));
            assert_eq!(&got, expected, "{candidate:?}");
        }
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let pw = SecretString::from("Quiet-Lantern-Orchard-47");
        let a = hash(&pw).expect("hash");
        let b = hash(&pw).expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify(&pw, Some(&a)));
        assert!(!verify(
            &SecretString::from("quiet-lantern-orchard-47"),
            Some(&a)
        ));
        assert!(!verify(&pw, None), "the dummy hash never admits anyone");
        assert!(!verify(&pw, Some("not a phc string")));
    }
}
