//! The password policy every new password must meet, the same in the SPA and the API.
//!
//! The character rules live here so the sign-up and change-password forms show exactly the
//! errors the API would give. The breached-password list is checked by the API only: it is
//! 100,000 entries, too large to ship to every browser.

use serde::{Deserialize, Serialize};

pub const MIN_LENGTH: usize = 12;
/// Argon2 is given at most this many bytes, so a huge "password" cannot be used to burn CPU.
pub const MAX_LENGTH: usize = 128;

/// One reason a candidate password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum PasswordProblem {
    #[error("must be at least 12 characters long")]
    TooShort,
    #[error("must be at most 128 characters long")]
    TooLong,
    #[error("must contain an upper-case letter")]
    NoUppercase,
    #[error("must contain a lower-case letter")]
    NoLowercase,
    #[error("must contain a digit")]
    NoDigit,
    #[error("must contain a symbol")]
    NoSymbol,
    #[error("appears in a list of breached passwords; choose another")]
    Breached,
}

/// Every character-class problem with `candidate` (empty when it passes these rules).
pub fn check_rules(candidate: &str) -> Vec<PasswordProblem> {
    let mut problems = Vec::new();
    let len = candidate.chars().count();
    if len < MIN_LENGTH {
        problems.push(PasswordProblem::TooShort);
    }
    if candidate.len() > MAX_LENGTH {
        problems.push(PasswordProblem::TooLong);
    }
    if !candidate.chars().any(char::is_uppercase) {
        problems.push(PasswordProblem::NoUppercase);
    }
    if !candidate.chars().any(char::is_lowercase) {
        problems.push(PasswordProblem::NoLowercase);
    }
    if !candidate.chars().any(|c| c.is_ascii_digit()) {
        problems.push(PasswordProblem::NoDigit);
    }
    if !candidate
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_whitespace())
    {
        problems.push(PasswordProblem::NoSymbol);
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use PasswordProblem::*;

    #[test]
    fn character_rules_table() {
        let cases: &[(&str, &[PasswordProblem])] = &[
            ("Correct-Horse-9-Battery", &[]),
            ("Ab1!Ab1!Ab1!", &[]),
            ("Ab1!Ab1!Ab1", &[TooShort]),
            ("", &[TooShort, NoUppercase, NoLowercase, NoDigit, NoSymbol]),
            ("correct-horse-9-battery", &[NoUppercase]),
            ("CORRECT-HORSE-9-BATTERY", &[NoLowercase]),
            ("Correct-Horse-Nine-Battery", &[NoDigit]),
            ("CorrectHorse9Battery", &[NoSymbol]),
            // Spaces are allowed but are not the symbol.
            ("Correct Horse 9 Battery", &[NoSymbol]),
            // Non-ASCII letters count as letters and symbols as symbols.
            ("Ünïcödé-Pässwörd-7", &[]),
            // Twelve characters, not twelve bytes.
            ("Ééééééééé1!a", &[]),
        ];
        for (candidate, expected) in cases {
            assert_eq!(&check_rules(candidate), expected, "{candidate:?}");
        }
        let long = format!("Aa1!{}", "x".repeat(MAX_LENGTH));
        assert_eq!(check_rules(&long), vec![TooLong]);
    }
}
