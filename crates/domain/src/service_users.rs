//! Service users: the people an organisation cares for.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a service user is in their care journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceUserStatus {
    Active,
    InHospital,
    Discharged,
    Deceased,
}

/// One row of a service-user list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceUserSummary {
    pub id: Uuid,
    pub display_name: String,
    pub preferred_name: Option<String>,
    pub room: Option<String>,
    pub status: ServiceUserStatus,
}

/// Assign a member of staff to a service user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignStaffRequest {
    pub user_id: Uuid,
}

/// One service user with the staff assigned to them, as the assignments screen shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceUserAssignments {
    pub service_user: ServiceUserSummary,
    /// The assigned staff's user ids, oldest assignment first.
    pub assigned: Vec<Uuid>,
}

/// A member of staff as the assignments screen names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffName {
    pub user_id: Uuid,
    pub display_name: String,
}

/// `GET /api/assignments`: the whole assignments screen in one request. `staff` (the names
/// to show and offer) is empty unless the caller may view staff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignmentsOverview {
    pub service_users: Vec<ServiceUserAssignments>,
    pub staff: Vec<StaffName>,
}
