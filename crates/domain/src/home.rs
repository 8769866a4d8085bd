//! The home pages' aggregates: one request per screen.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

/// `GET /api/home/today`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Today {
    pub tasks: Vec<TodayTask>,
}
