//! Sign-in (PKCE authorisation-code exchange) and session DTOs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Permission;

/// Step 1: credentials plus the PKCE code challenge (`S256` only).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    pub email: String,
    pub password: String,
    pub code_challenge: String,
    pub code_challenge_method: String,
}

/// A one-time code, valid for a short time, to be exchanged with the verifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizeResponse {
    pub code: String,
    pub expires_in: u64,
}

/// Step 2: the one-time code and the PKCE verifier it was derived from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub code: String,
    pub code_verifier: String,
}

/// Who is signed in, where, and what they may do (for showing only what a role may use;
/// the server enforces everything regardless).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub organization_id: Uuid,
    pub organization_name: String,
    pub role_name: String,
    pub permissions: Vec<Permission>,
    /// Seconds of inactivity after which the session ends.
    pub idle_timeout_secs: u64,
}

/// A PKCE verifier: 43 to 128 characters from the unreserved set (RFC 7636 §4.1).
pub fn is_valid_code_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 challenge is the unpadded base64url of a SHA-256 digest: exactly 43 characters.
pub fn is_valid_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// A plausible email address: enough to catch typing mistakes, not an RFC 5322 parser.
pub fn normalise_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@');
    ok.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_and_challenge_shapes() {
        assert!(is_valid_code_verifier(&"a".repeat(43)));
        assert!(is_valid_code_verifier(&"A-._~9".repeat(10)));
        assert!(!is_valid_code_verifier(&"a".repeat(42)));
        assert!(!is_valid_code_verifier(&"a".repeat(129)));
        assert!(!is_valid_code_verifier(&format!("{}+", "a".repeat(43))));
        assert!(is_valid_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!is_valid_s256_challenge("short"));
        assert!(!is_valid_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
    }

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(
            normalise_email("  Amara.Okafor@Example.ORG "),
            Some("amara.okafor@example.org".into())
        );
        for bad in [
            "",
            "nobody",
            "@example.org",
            "a@b",
            "a@.org",
            "a b@example.org",
            "a@b@c.org",
        ] {
            assert_eq!(normalise_email(bad), None, "{bad}");
        }
    }
}
