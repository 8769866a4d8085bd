//! The home pages' aggregates: one request per screen.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::service_users::ServiceUserSummary;

/// One of a carer's tasks for today, as `GET /api/home/today` lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TodayTask {
    pub service_user_id: Uuid,
    pub display_name: String,
    /// `dose` (an active prescription's time today with no administration recorded for it),
    /// `handover` (one from the last 24 hours the caller has not acknowledged) or
    /// `fluid_overdue` (no fluid observation in the last 4 hours).
    pub kind: String,
    /// The prescription (a dose) or the handover.
    pub id: Option<Uuid>,
    /// `HH:MM` for a dose.
    pub time: Option<String>,
    /// When a handover was written, or the last fluid observation (RFC 3339).
    pub at: Option<String>,
    pub drug: Option<String>,
    pub dose: Option<String>,
    pub route: Option<String>,
    pub shift: Option<String>,
}

/// `GET /api/home/today`: the carer's whole home in one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Today {
    pub tasks: Vec<TodayTask>,
    /// The service users the caller may see, as `GET /api/service-users` lists them.
    pub service_users: Vec<ServiceUserSummary>,
}

/// `GET /api/home/dashboard`: a manager's exact counts and the two chart series. A part the
/// caller may not read counts 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    /// Care notes submitted and awaiting sign-off.
    pub awaiting_sign_off: i64,
    /// Incidents not closed.
    pub open_incidents: i64,
    /// Active care plans and risk assessments whose review date has passed.
    pub overdue_reviews: i64,
    /// Incidents that occurred in each of the last six weeks (oldest first; the last is the
    /// seven days up to now).
    pub incidents_by_week: Vec<i64>,
    /// Notes signed off on each of the last seven days (oldest first), by the server's date.
    pub signed_off_by_day: Vec<DayCount>,
    /// The service users the caller may see, as `GET /api/service-users` lists them (filled
    /// in by the API beside the statement's counts).
    #[serde(default)]
    pub service_users: Vec<ServiceUserSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayCount {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub count: i64,
}
