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
    /// An invitation (its token) this sign-in also accepts: how a person with an account joins
    /// an organisation, even with no membership left anywhere else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_token: Option<String>,
}

/// A one-time code, valid for a short time, to be exchanged with the verifier; or, for an
/// account with a second factor, the token to present with it (`POST /api/auth/second-factor`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizeResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_factor_token: Option<String>,
    pub expires_in: u64,
}

/// The second sign-in step: the token from `authorize` and a TOTP code or a recovery code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondFactorRequest {
    pub second_factor_token: String,
    pub code: String,
}

/// Step-up: the password again, or a second-factor code.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepUpRequest {
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

/// A new TOTP secret, shown once for the authenticator app.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TotpEnrolment {
    /// Base32, for typing in.
    pub secret: String,
    pub otpauth_url: String,
}

/// A TOTP code (enrolment confirmation).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    pub code: String,
}

/// Shown once, after enrolment: each works once in place of a TOTP code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// The signed-in person's second factors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaStatus {
    pub totp: bool,
    pub recovery_codes_left: i32,
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

/// One of the signed-in person's passkeys, as listed on the account page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasskeySummary {
    pub id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<time::OffsetDateTime>,
}

/// Passkey enrolment, step 2: a name for it and the browser's answer
/// (`navigator.credentials.create`, in webauthn-rs's JSON shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyEnrolment {
    pub name: String,
    pub credential: serde_json::Value,
}

/// The longest name a passkey may have.
pub const PASSKEY_NAME_MAX: usize = 100;

/// Sign-in with a passkey, step 1: the second-factor token from `authorize`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyChallengeRequest {
    pub second_factor_token: String,
}

/// Sign-in (or step-up) with a passkey, step 2: the token and the browser's answer
/// (`navigator.credentials.get`, in webauthn-rs's JSON shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyAssertion {
    pub second_factor_token: String,
    pub credential: serde_json::Value,
}

/// Step-up with a passkey, step 1's answer: the options for `navigator.credentials.get` and
/// the token to send back with the answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasskeyStepUpChallenge {
    pub second_factor_token: String,
    pub options: serde_json::Value,
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
