//! The audit trail as the API answers it, and the organisation ladder's requests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Permission;

/// One audit entry: who (user, role), what (tool, action, table, record, service user), when,
/// and the changed fields with their old and new values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub actor_user_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub actor_role: Option<String>,
    pub tool: String,
    pub action: String,
    pub operation: String,
    pub table_name: String,
    pub record_id: Option<Uuid>,
    pub service_user_id: Option<Uuid>,
    /// field → {"old": …, "new": …} (only changed fields on update).
    pub changes: serde_json::Value,
}

/// The answer of the chain verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditVerification {
    pub entries: i64,
    pub intact: bool,
    pub first_broken_seq: Option<i64>,
    pub problem: Option<String>,
}

/// A signed audit checkpoint, as a receipt the organisation keeps: its chain had `seq` entries,
/// the last with `hash` (hex), at `signed_at`. `signature` (hex, Ed25519 by `public_key`) is
/// over `message`, the exact text signed, so anyone can check it without Thrive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditCheckpointReceipt {
    pub organization_id: Uuid,
    pub seq: i64,
    pub hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: time::OffsetDateTime,
    pub public_key: String,
    pub signature: String,
    pub message: String,
}

/// A role of the organisation's ladder with its explicit allow/deny per action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub members: i64,
    pub permissions: BTreeMap<String, bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

impl crate::validation::Validate for RoleInput {
    fn validate(&self) -> Result<(), crate::validation::FieldErrors> {
        crate::validation::Check::new()
            .text("name", &self.name, 100)
            .optional_text("description", &self.description, 500)
            .finish()
    }
}

/// Allow/deny changes for one role: only the actions named change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPermissions {
    pub permissions: BTreeMap<Permission, bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveToRole {
    pub role_id: Uuid,
}

/// A member of staff as the staff list shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffMember {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role_id: Uuid,
    pub role_name: String,
    pub active: bool,
}

/// Inviting a new member of staff into a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteStaff {
    pub email: String,
    pub display_name: String,
    pub role_id: Uuid,
}

impl crate::validation::Validate for InviteStaff {
    fn validate(&self) -> Result<(), crate::validation::FieldErrors> {
        let mut check = crate::validation::Check::new();
        if crate::auth::normalise_email(&self.email).is_none() {
            check.fail("email", "Enter an email address like name@example.org.");
        }
        check.text("display_name", &self.display_name, 200);
        check.finish()
    }
}

/// An invitation as the staff screen lists it. The token is never shown again after creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role_id: Uuid,
    pub role_name: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub expires_at: String,
    pub accepted_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// The answer to an invitation: the one-time token to hand to the invitee (shown once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitationCreated {
    pub invitation: Invitation,
    pub token: String,
}

/// Accepting an invitation: its token, and the password (a new one for a new account, the
/// existing one for an account that already exists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
    pub password: String,
}

/// Accepting an invitation as the signed-in person it is addressed to (an existing account).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationSignedIn {
    pub token: String,
}

/// What the invitation page shows about a usable invitation (nothing about whether the email
/// already has an account).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitationInfo {
    pub organization_name: String,
    pub role_name: String,
    pub email: String,
    pub display_name: String,
}

/// Editing a colleague's details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateStaff {
    pub display_name: String,
}

impl crate::validation::Validate for UpdateStaff {
    fn validate(&self) -> Result<(), crate::validation::FieldErrors> {
        crate::validation::Check::new()
            .text("display_name", &self.display_name, 200)
            .finish()
    }
}
