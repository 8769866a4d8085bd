//! The clinical tools' records: what a form sends (`…Input`, validated here for the API and
//! the SPA alike) and what the API answers (the record types). Field names are the database's
//! column names, so the API maps them without a hand-written query per tool.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::validation::{parse_nhs_number, Check, FieldErrors, Validate};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $key:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $( #[serde(rename = $key)] $variant, )+ }

        impl $name {
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];
            pub fn key(self) -> &'static str {
                match self { $( $name::$variant => $key, )+ }
            }
        }
    };
}

string_enum!(
    /// What kind of care a note records.
    NoteCategory { PersonalCare => "personal_care", Nutrition => "nutrition", Mobility => "mobility",
    Medication => "medication", Health => "health", Wellbeing => "wellbeing", Social => "social",
    Behaviour => "behaviour", Sleep => "sleep", Other => "other" });
string_enum!(NoteStatus { Draft => "draft", Submitted => "submitted", Returned => "returned", SignedOff => "signed_off" });
string_enum!(
    /// How Aayu helped with a note. Anything but `none` needs the assistant actions.
    AiAssistance { None => "none", Drafted => "drafted", Rewritten => "rewritten", Checked => "checked" });
string_enum!(ReviewedStatus { Draft => "draft", Active => "active", Archived => "archived" });
string_enum!(CarePlanSection { PersonalCare => "personal_care", Nutrition => "nutrition",
    Mobility => "mobility", Medication => "medication", Communication => "communication",
    Continence => "continence", Skin => "skin", Sleep => "sleep",
    EmotionalWellbeing => "emotional_wellbeing", Social => "social", EndOfLife => "end_of_life",
    Other => "other" });
string_enum!(RiskKind { Falls => "falls", PressureUlcers => "pressure_ulcers",
    Malnutrition => "malnutrition", MovingHandling => "moving_handling" });
string_enum!(RiskLevel { Low => "low", Medium => "medium", High => "high", VeryHigh => "very_high" });
string_enum!(IncidentCategory { Fall => "fall", SkinDamage => "skin_damage",
    MedicationError => "medication_error", Behaviour => "behaviour", Safeguarding => "safeguarding",
    Injury => "injury", MissingPerson => "missing_person", Other => "other" });
string_enum!(Severity { NoHarm => "no_harm", Low => "low", Moderate => "moderate", Severe => "severe", Death => "death" });
string_enum!(IncidentStatus { Open => "open", Investigating => "investigating", Closed => "closed" });
string_enum!(BodySide { Front => "front", Back => "back" });
string_enum!(Shift { Morning => "morning", Afternoon => "afternoon", Evening => "evening", Night => "night" });
string_enum!(HandoverAssistance { None => "none", Summarised => "summarised" });
string_enum!(Route { Oral => "oral", Topical => "topical", Inhaled => "inhaled",
    Subcutaneous => "subcutaneous", Intramuscular => "intramuscular", Rectal => "rectal",
    Transdermal => "transdermal", Eye => "eye", Ear => "ear", Nasal => "nasal", Other => "other" });
string_enum!(PrescriptionStatus { Active => "active", Discontinued => "discontinued" });
string_enum!(DoseOutcome { Given => "given", Refused => "refused", Omitted => "omitted" });
string_enum!(StockKind { Received => "received", Disposed => "disposed", Count => "count" });
string_enum!(Consciousness { Alert => "alert", Confusion => "confusion", Voice => "voice", Pain => "pain", Unresponsive => "unresponsive" });

// ---------------------------------------------------------------------------------------------
// Service user profile

/// The whole editable profile (sent in full on every save).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceUserInput {
    pub given_name: String,
    pub family_name: String,
    pub preferred_name: Option<String>,
    pub date_of_birth: Option<Date>,
    pub room: Option<String>,
    pub nhs_number: Option<String>,
    pub address: Option<String>,
    pub next_of_kin_name: Option<String>,
    pub next_of_kin_relationship: Option<String>,
    pub next_of_kin_phone: Option<String>,
    pub allergies: Option<String>,
    pub gp_name: Option<String>,
    pub gp_practice: Option<String>,
    pub gp_phone: Option<String>,
    pub key_worker_id: Option<Uuid>,
}

impl ServiceUserInput {
    /// The input with the NHS number in its stored ten-digit form.
    pub fn normalised(mut self) -> Self {
        if let Some(n) = &self.nhs_number {
            if let Ok(digits) = parse_nhs_number(n) {
                self.nhs_number = Some(digits);
            }
        }
        self
    }
}

impl Validate for ServiceUserInput {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut c = Check::new();
        c.text("given_name", &self.given_name, 100)
            .text("family_name", &self.family_name, 100)
            .optional("preferred_name", self.preferred_name.as_deref(), 100)
            .optional("room", self.room.as_deref(), 50)
            .optional("address", self.address.as_deref(), 500)
            .optional("next_of_kin_name", self.next_of_kin_name.as_deref(), 200)
            .optional(
                "next_of_kin_relationship",
                self.next_of_kin_relationship.as_deref(),
                100,
            )
            .optional("next_of_kin_phone", self.next_of_kin_phone.as_deref(), 40)
            .optional("allergies", self.allergies.as_deref(), 2000)
            .optional("gp_name", self.gp_name.as_deref(), 200)
            .optional("gp_practice", self.gp_practice.as_deref(), 200)
            .optional("gp_phone", self.gp_phone.as_deref(), 40);
        if let Some(n) = &self.nhs_number {
            if let Err(message) = parse_nhs_number(n) {
                c.fail("nhs_number", message);
            }
        }
        c.finish()
    }
}

/// A service user's full record, as the record screen shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceUser {
    pub id: Uuid,
    pub given_name: String,
    pub family_name: String,
    pub preferred_name: Option<String>,
    pub date_of_birth: Option<Date>,
    pub room: Option<String>,
    pub status: crate::service_users::ServiceUserStatus,
    pub nhs_number: Option<String>,
    pub address: Option<String>,
    pub next_of_kin_name: Option<String>,
    pub next_of_kin_relationship: Option<String>,
    pub next_of_kin_phone: Option<String>,
    pub allergies: Option<String>,
    pub gp_name: Option<String>,
    pub gp_practice: Option<String>,
    pub gp_phone: Option<String>,
    pub key_worker_id: Option<Uuid>,
    pub photo_file_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub status: crate::service_users::ServiceUserStatus,
}

// ---------------------------------------------------------------------------------------------
// Care notes

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CareNoteInput {
    pub category: NoteCategory,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub body: String,
    #[serde(default = "no_assistance")]
    pub ai_assistance: AiAssistance,
    /// Aayu's accepted contributions, oldest first. The list only grows (PostgreSQL refuses
    /// anything else); left out, an edit does not touch it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ai_provenance: Vec<AiContribution>,
}

fn no_assistance() -> AiAssistance {
    AiAssistance::None
}

/// One accepted contribution of Aayu to a note: what it was asked, which model (by file name
/// and sha256) and engine answered, and what the fact check flagged in the reply it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiContribution {
    pub task: crate::assistant::Task,
    pub model: String,
    pub model_sha256: String,
    pub engine: String,
    #[serde(default)]
    pub flagged: Vec<FlaggedSpan>,
}

/// A span the fact check flagged, with its reason, as the preview showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlaggedSpan {
    pub text: String,
    pub reason: String,
}

fn check_provenance(c: &mut Check, list: &[AiContribution]) {
    const FIELD: &str = "ai_provenance";
    if list.len() > 50 {
        c.fail(FIELD, "A note records at most 50 contributions of Aayu.");
    }
    for a in list {
        let sha_ok = a.model_sha256.len() == 64
            && a.model_sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if a.model.trim().is_empty() || a.model.chars().count() > 200 || !sha_ok {
            c.fail(
                FIELD,
                "Each contribution names its model and the model's sha256.",
            );
        }
        if a.engine.trim().is_empty() || a.engine.chars().count() > 100 {
            c.fail(FIELD, "Each contribution names the engine's version.");
        }
        if a.flagged.len() > 100
            || a.flagged
                .iter()
                .any(|f| f.text.chars().count() > 500 || f.reason.chars().count() > 600)
        {
            c.fail(FIELD, "Too much was flagged to record.");
        }
    }
}

impl Validate for CareNoteInput {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut c = Check::new();
        c.text("body", &self.body, 10_000);
        check_provenance(&mut c, &self.ai_provenance);
        c.finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareNote {
    pub id: Uuid,
    pub service_user_id: Uuid,
    pub category: NoteCategory,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub body: String,
    pub status: NoteStatus,
    pub ai_assistance: AiAssistance,
    #[serde(default)]
    pub ai_provenance: Vec<AiContribution>,
    pub author_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub submitted_at: Option<OffsetDateTime>,
    pub reviewed_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub reviewed_at: Option<OffsetDateTime>,
    pub review_comment: Option<String>,
    pub amends_id: Option<Uuid>,
    pub amendment_reason: Option<String>,
    pub version: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Returning a submitted note to its author.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnNote {
    pub review_comment: String,
}

impl Validate for ReturnNote {
    fn validate(&self) -> Result<(), FieldErrors> {
        Check::new()
            .text("review_comment", &self.review_comment, 2000)
            .finish()
    }
}

/// A new version of a signed-off note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendNote {
    pub category: NoteCategory,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub body: String,
    pub amendment_reason: String,
    #[serde(default = "no_assistance")]
    pub ai_assistance: AiAssistance,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ai_provenance: Vec<AiContribution>,
}

impl Validate for AmendNote {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut c = Check::new();
        c.text("body", &self.body, 10_000)
            .text("amendment_reason", &self.amendment_reason, 2000);
        check_provenance(&mut c, &self.ai_provenance);
        c.finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Care plans

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarePlanInput {
    pub title: String,
    #[serde(default)]
    pub summary: String,
    pub review_date: Date,
}

impl Validate for CarePlanInput {
    fn validate(&self) -> Result<(), FieldErrors> {
        Check::new()
            .text("title", &self.title, 200)
            .optional_text("summary", &self.summary, 5000)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CarePlan {
    pub id: Uuid,
    pub service_user_id: Uuid,
    pub title: String,
    pub summary: String,
    pub review_date: Date,
    pub status: ReviewedStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_reviewed_at: Option<OffsetDateTime>,
    pub last_reviewed_by: Option<Uuid>,
    pub review_notes: Option<String>,
    pub signed_off_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub signed_off_at: Option<OffsetDateTime>,
    pub created_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The signed-off version this one amends, why, and which version this is (1 for an
    /// original). An amendment is signed off again; then the version it amends is archived.
    #[serde(default)]
    pub amends_id: Option<Uuid>,
    #[serde(default)]
    pub amendment_reason: Option<String>,
    #[serde(default = "first_version")]
    pub version: i32,
}

fn first_version() -> i32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarePlanSectionInput {
    pub care_plan_id: Uuid,
    pub section: CarePlanSection,
    #[serde(default)]
    pub needs: String,
    #[serde(default)]
    pub goals: String,
    #[serde(default)]
    pub interventions: String,
}

impl Validate for CarePlanSectionInput {
    fn validate(&self) -> Result<(), FieldErrors> {
        Check::new()
            .optional_text("needs", &self.needs, 5000)
            .optional_text("goals", &self.goals, 5000)
            .optional_text("interventions", &self.interventions, 5000)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CarePlanSectionRecord {
    pub id: Uuid,
    pub service_user_id: Uuid,
    pub care_plan_id: Uuid,
    pub section: CarePlanSection,
    pub needs: String,
    pub goals: String,
    pub interventions: String,
}

/// An amendment of a signed-off care plan or risk assessment: why it is being corrected. The
/// amendment starts as a draft copy of the signed version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amendment {
    pub reason: String,
}

impl Validate for Amendment {
    fn validate(&self) -> Result<(), FieldErrors> {
        Check::new().text("reason", &self.reason, 2000).finish()
    }
}

/// A review of a care plan or risk assessment: what was found, and when to look again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    pub review_notes: String,
    pub review_date: Date,
}

impl Validate for Review {
    fn validate(&self) -> Result<(), FieldErrors> {
        Check::new()
            .text("review_notes", &self.review_notes, 5000)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Risk assessments, scored from their answers

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskAssessmentInput {
    pub kind: RiskKind,
    /// Item → points, from the kind's item list ([`risk_items`]).
    pub answers: BTreeMap<String, u8>,
    #[serde(default)]
    pub control_measures: String,
    pub review_date: Date,
}

/// The items a kind of assessment asks about, with the most points each can score.
/// Pressure ulcers follow the Waterlow score's sections, malnutrition the MUST steps; falls and
/// moving and handling use simple weighted checklists.
pub fn risk_items(kind: RiskKind) -> &'static [(&'static str, u8)] {
    match kind {
        RiskKind::PressureUlcers => &[
            ("build_weight_for_height", 3),
            ("skin_type", 3),
            ("sex_and_age", 5),
            ("continence", 3),
            ("mobility", 5),
            ("appetite", 3),
            ("tissue_malnutrition", 8),
            ("neurological_deficit", 6),
            ("major_surgery_or_trauma", 5),
            ("medication", 4),
        ],
        RiskKind::Malnutrition => &[
            ("bmi_score", 2),
            ("weight_loss_score", 2),
            ("acute_disease_effect", 2),
        ],
        RiskKind::Falls => &[
            ("history_of_falls", 3),
            ("medication", 2),
            ("mobility", 3),
            ("cognition", 2),
            ("continence", 1),
            ("vision", 1),
            ("footwear_environment", 1),
        ],
        RiskKind::MovingHandling => &[
            ("weight_bearing", 3),
            ("transfers", 3),
            ("cognition", 2),
            ("pain", 2),
            ("equipment_needed", 2),
        ],
    }
}

/// The score and level for a set of answers.
pub fn risk_score(kind: RiskKind, answers: &BTreeMap<String, u8>) -> (i32, RiskLevel) {
    let score: i32 = answers.values().map(|&v| i32::from(v)).sum();
    let level = match kind {
        // Waterlow: 10+ at risk, 15+ high risk, 20+ very high risk.
        RiskKind::PressureUlcers => match score {
            s if s >= 20 => RiskLevel::VeryHigh,
            s if s >= 15 => RiskLevel::High,
            s if s >= 10 => RiskLevel::Medium,
            _ => RiskLevel::Low,
        },
        // MUST: 0 low, 1 medium, 2 or more high.
        RiskKind::Malnutrition => match score {
            0 => RiskLevel::Low,
            1 => RiskLevel::Medium,
            _ => RiskLevel::High,
        },
        RiskKind::Falls | RiskKind::MovingHandling => match score {
            s if s >= 9 => RiskLevel::VeryHigh,
            s if s >= 6 => RiskLevel::High,
            s if s >= 3 => RiskLevel::Medium,
            _ => RiskLevel::Low,
        },
    };
    (score, level)
}

impl Validate for RiskAssessmentInput {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut c = Check::new();
        let items = risk_items(self.kind);
        for (item, &points) in &self.answers {
            match items.iter().find(|(name, _)| name == item) {
                Some((_, max)) if points <= *max => {}
                Some((_, max)) => {
                    c.fail("answers", format!("{item}: at most {max} points."));
                }
                None => {
                    c.fail("answers", format!("{item} is not part of this assessment."));
                }
            }
        }
        for (item, _) in items {
            if !self.answers.contains_key(*item) {
                c.fail("answers", format!("Answer {item}."));
            }
        }
        c.optional_text("control_measures", &self.control_measures, 5000);
        c.finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskAssessment {
    pub id: Uuid,
    pub service_user_id: Uuid,
    pub kind: RiskKind,
    pub answers: BTreeMap<String, u8>,
    pub score: i32,
    pub level: RiskLevel,
    pub control_measures: String,
    pub review_date: Date,
    pub status: ReviewedStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_reviewed_at: Option<OffsetDateTime>,
    pub review_notes: Option<String>,
    pub signed_off_by: Option<Uuid>,
    pub created_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The signed-off version this one amends, why, and which version this is (1 for an
    /// original). An amendment is signed off again; then the version it amends is archived.
    #[serde(default)]
    pub amends_id: Option<Uuid>,
    #[serde(default)]
    pub amendment_reason: Option<String>,
    #[serde(default = "first_version")]
    pub version: i32,
}

// ---------------------------------------------------------------------------------------------
// Incidents and accidents

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentInput {
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub location: String,
    pub category: IncidentCategory,
    pub severity: Severity,
    pub description: String,
    #[serde(default)]
    pub injuries: String,
    #[serde(default)]
    pub witnesses: String,
    #[serde(default)]
    pub immediate_action: String,
}

impl Validate for IncidentInput {
    fn validate(&self) -> Result<(), FieldErrors> {
        Check::new()
            .text("location", &self.location, 200)
            .text("description", &self.description, 10_000)
            .optional_text("injuries", &self.injuries, 5000)
            .optional_text("witnesses", &self.witnesses, 2000)
            .optional_text("immediate_action", &self.immediate_action, 5000)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Investigation {
    pub investigation: String,
}

impl Validate for Investigation {
    fn validate(&self) -> Result<(), FieldErrors> {
        Check::new()
            .text("investigation", &self.investigation, 10_000)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseIncident {
    pub outcome: String,
    pub lessons: String,
}

impl Validate for CloseIncident {
    fn validate(&self) -> Result<(), FieldErrors> {
        Check::new()
            .text("outcome", &self.outcome, 5000)
            .text("lessons", &self.lessons, 5000)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifiable {
    pub notifiable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: Uuid,
    pub service_user_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub location: String,
    pub category: IncidentCategory,
    pub severity: Severity,
    pub description: String,
    pub injuries: String,
    pub witnesses: String,
    pub immediate_action: String,
    pub status: IncidentStatus,
    pub investigation: Option<String>,
    pub outcome: Option<String>,
    pub lessons: Option<String>,
    pub notifiable: bool,
    pub reported_by: Option<Uuid>,
    pub closed_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
}

// ---------------------------------------------------------------------------------------------
// Body maps

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyMapMarkInput {
    pub side: BodySide,
    pub region: String,
    /// Position on the figure, as fractions of its width and height.
    pub x: f32,
    pub y: f32,
    pub description: String,
    #[serde(default)]
    pub size: String,
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
}

impl Validate for BodyMapMarkInput {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut c = Check::new();
        c.text("region", &self.region, 100)
            .text("description", &self.description, 2000)
            .optional_text("size", &self.size, 100);
        if !(0.0..=1.0).contains(&self.x) || !(0.0..=1.0).contains(&self.y) {
            c.fail("x", "Place the mark on the figure.");
        }
        c.finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BodyMapMark {
    pub id: Uuid,
    pub service_user_id: Uuid,
    pub side: BodySide,
    pub region: String,
    pub x: f32,
    pub y: f32,
    pub description: String,
    pub size: String,
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
    pub recorded_by: Option<Uuid>,
}

// ---------------------------------------------------------------------------------------------
// Observations and charts

/// What was observed; the kind decides the fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ObservationData {
    Fluid {
        millilitres: u32,
        fluid: String,
    },
    Food {
        description: String,
        portion_eaten_percent: u8,
    },
    Repositioning {
        position: String,
        skin_checked: bool,
    },
    Vitals(Vitals),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vitals {
    pub respiration_rate: u16,
    pub spo2: u8,
    pub on_oxygen: bool,
    pub systolic_bp: u16,
    pub pulse: u16,
    pub consciousness: Consciousness,
    /// Degrees Celsius.
    pub temperature: f32,
}

impl Vitals {
    /// The NEWS2 aggregate score (SpO2 scale 1).
    pub fn news2(&self) -> i32 {
        let rr = match self.respiration_rate {
            0..=8 => 3,
            9..=11 => 1,
            12..=20 => 0,
            21..=24 => 2,
            _ => 3,
        };
        let spo2 = match self.spo2 {
            0..=91 => 3,
            92..=93 => 2,
            94..=95 => 1,
            _ => 0,
        };
        let oxygen = if self.on_oxygen { 2 } else { 0 };
        let bp = match self.systolic_bp {
            0..=90 => 3,
            91..=100 => 2,
            101..=110 => 1,
            111..=219 => 0,
            _ => 3,
        };
        let pulse = match self.pulse {
            0..=40 => 3,
            41..=50 => 1,
            51..=90 => 0,
            91..=110 => 1,
            111..=130 => 2,
            _ => 3,
        };
        let consciousness = if self.consciousness == Consciousness::Alert {
            0
        } else {
            3
        };
        let t = self.temperature;
        let temperature = if t <= 35.0 {
            3
        } else if t <= 36.0 {
            1
        } else if t <= 38.0 {
            0
        } else if t <= 39.0 {
            1
        } else {
            2
        };
        rr + spo2 + oxygen + bp + pulse + consciousness + temperature
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationInput {
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
    pub data: ObservationData,
}

impl ObservationInput {
    pub fn kind(&self) -> &'static str {
        match self.data {
            ObservationData::Fluid { .. } => "fluid",
            ObservationData::Food { .. } => "food",
            ObservationData::Repositioning { .. } => "repositioning",
            ObservationData::Vitals(_) => "vitals",
        }
    }

    pub fn news2(&self) -> Option<i32> {
        match &self.data {
            ObservationData::Vitals(v) => Some(v.news2()),
            _ => None,
        }
    }
}

impl Validate for ObservationInput {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut c = Check::new();
        match &self.data {
            ObservationData::Fluid { millilitres, fluid } => {
                c.range("millilitres", *millilitres, 1, 5000)
                    .text("fluid", fluid, 100);
            }
            ObservationData::Food {
                description,
                portion_eaten_percent,
            } => {
                c.text("description", description, 500).range(
                    "portion_eaten_percent",
                    *portion_eaten_percent,
                    0,
                    100,
                );
            }
            ObservationData::Repositioning { position, .. } => {
                c.text("position", position, 100);
            }
            ObservationData::Vitals(v) => {
                c.range("respiration_rate", v.respiration_rate, 1, 80)
                    .range("spo2", v.spo2, 50, 100)
                    .range("systolic_bp", v.systolic_bp, 40, 300)
                    .range("pulse", v.pulse, 20, 250)
                    .range("temperature", v.temperature, 30.0, 45.0);
            }
        }
        c.finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub id: Uuid,
    pub service_user_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
    pub data: ObservationData,
    pub news2: Option<i32>,
    pub recorded_by: Option<Uuid>,
}

// ---------------------------------------------------------------------------------------------
// Handovers

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoverInput {
    pub shift: Shift,
    pub summary: String,
    #[serde(default = "no_handover_assistance")]
    pub ai_assistance: HandoverAssistance,
}

fn no_handover_assistance() -> HandoverAssistance {
    HandoverAssistance::None
}

impl Validate for HandoverInput {
    fn validate(&self) -> Result<(), FieldErrors> {
        Check::new().text("summary", &self.summary, 10_000).finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handover {
    pub id: Uuid,
    pub service_user_id: Uuid,
    pub shift: Shift,
    pub summary: String,
    pub ai_assistance: HandoverAssistance,
    pub written_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

// ---------------------------------------------------------------------------------------------
// Medication

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrescriptionInput {
    pub drug: String,
    pub dose: String,
    pub route: Route,
    pub schedule: String,
    /// Times of day, "HH:MM".
    #[serde(default)]
    pub times: Vec<String>,
    #[serde(default)]
    pub as_needed: bool,
    pub as_needed_reason: Option<String>,
    #[serde(default)]
    pub prescriber: String,
    pub start_date: Date,
    pub end_date: Option<Date>,
}

impl Validate for PrescriptionInput {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut c = Check::new();
        c.text("drug", &self.drug, 200)
            .text("dose", &self.dose, 100)
            .text("schedule", &self.schedule, 200)
            .optional_text("prescriber", &self.prescriber, 200)
            .optional("as_needed_reason", self.as_needed_reason.as_deref(), 1000);
        if self.as_needed
            && self
                .as_needed_reason
                .as_deref()
                .is_none_or(|r| r.trim().is_empty())
        {
            c.fail(
                "as_needed_reason",
                "Say when an as-needed dose may be given.",
            );
        }
        for t in &self.times {
            let ok = t.len() == 5
                && t.as_bytes()[2] == b':'
                && t[..2].parse::<u8>().is_ok_and(|h| h < 24)
                && t[3..].parse::<u8>().is_ok_and(|m| m < 60);
            if !ok {
                c.fail("times", format!("{t} is not a time of day (HH:MM)."));
            }
        }
        if self.end_date.is_some_and(|end| end < self.start_date) {
            c.fail("end_date", "The end date is before the start date.");
        }
        c.finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prescription {
    pub id: Uuid,
    pub service_user_id: Uuid,
    pub drug: String,
    pub dose: String,
    pub route: Route,
    pub schedule: String,
    pub times: Vec<String>,
    pub as_needed: bool,
    pub as_needed_reason: Option<String>,
    pub prescriber: String,
    pub start_date: Date,
    pub end_date: Option<Date>,
    pub status: PrescriptionStatus,
    pub discontinued_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discontinue {
    pub discontinued_reason: String,
}

impl Validate for Discontinue {
    fn validate(&self) -> Result<(), FieldErrors> {
        Check::new()
            .text("discontinued_reason", &self.discontinued_reason, 1000)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoseInput {
    pub prescription_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub scheduled_for: OffsetDateTime,
    pub outcome: DoseOutcome,
    pub reason: Option<String>,
    #[serde(default)]
    pub dose_given: String,
}

impl Validate for DoseInput {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut c = Check::new();
        c.optional("reason", self.reason.as_deref(), 1000)
            .optional_text("dose_given", &self.dose_given, 100);
        if self.outcome != DoseOutcome::Given
            && self.reason.as_deref().is_none_or(|r| r.trim().is_empty())
        {
            c.fail("reason", "Say why the dose was not given.");
        }
        c.finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dose {
    pub id: Uuid,
    pub service_user_id: Uuid,
    pub prescription_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub scheduled_for: OffsetDateTime,
    pub outcome: DoseOutcome,
    pub reason: Option<String>,
    pub dose_given: String,
    pub recorded_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockInput {
    pub prescription_id: Uuid,
    pub kind: StockKind,
    pub quantity: i32,
    #[serde(default)]
    pub note: String,
}

impl Validate for StockInput {
    fn validate(&self) -> Result<(), FieldErrors> {
        Check::new()
            .range("quantity", self.quantity, 0, 100_000)
            .optional_text("note", &self.note, 1000)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockEntry {
    pub id: Uuid,
    pub service_user_id: Uuid,
    pub prescription_id: Uuid,
    pub kind: StockKind,
    pub quantity: i32,
    pub note: String,
    pub recorded_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

/// A page of a list, newest first; `next` is the cursor for the page after, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn news2_scores_follow_the_chart() {
        let calm = Vitals {
            respiration_rate: 16,
            spo2: 97,
            on_oxygen: false,
            systolic_bp: 125,
            pulse: 72,
            consciousness: Consciousness::Alert,
            temperature: 36.8,
        };
        assert_eq!(calm.news2(), 0);
        let unwell = Vitals {
            respiration_rate: 25,
            spo2: 91,
            on_oxygen: true,
            systolic_bp: 95,
            pulse: 115,
            consciousness: Consciousness::Confusion,
            temperature: 39.2,
        };
        assert_eq!(unwell.news2(), 3 + 3 + 2 + 2 + 2 + 3 + 2);
    }

    #[test]
    fn risk_scores_and_levels() {
        let mut answers: BTreeMap<String, u8> = risk_items(RiskKind::Malnutrition)
            .iter()
            .map(|(k, _)| ((*k).to_owned(), 0))
            .collect();
        assert_eq!(
            risk_score(RiskKind::Malnutrition, &answers),
            (0, RiskLevel::Low)
        );
        answers.insert("bmi_score".into(), 2);
        assert_eq!(
            risk_score(RiskKind::Malnutrition, &answers),
            (2, RiskLevel::High)
        );
        let input = RiskAssessmentInput {
            kind: RiskKind::Malnutrition,
            answers: answers.clone(),
            control_measures: String::new(),
            review_date: time::macros::date!(2027 - 01 - 01),
        };
        assert!(input.validate().is_ok());
        let mut bad = input.clone();
        bad.answers.insert("bmi_score".into(), 3);
        bad.answers.insert("shoe_size".into(), 1);
        bad.answers.remove("weight_loss_score");
        assert_eq!(bad.validate().expect_err("invalid")["answers"].len(), 3);
    }

    #[test]
    fn as_needed_prescriptions_need_a_reason_and_times_are_checked() {
        let p = PrescriptionInput {
            drug: "Paracetamol".into(),
            dose: "1 g".into(),
            route: Route::Oral,
            schedule: "Up to four times a day".into(),
            times: vec!["08:00".into(), "25:00".into()],
            as_needed: true,
            as_needed_reason: None,
            prescriber: String::new(),
            start_date: time::macros::date!(2026 - 11 - 01),
            end_date: Some(time::macros::date!(2026 - 10 - 01)),
        };
        let errors = p.validate().expect_err("invalid");
        assert!(errors.contains_key("as_needed_reason"));
        assert!(errors.contains_key("times"));
        assert!(errors.contains_key("end_date"));
    }

    #[test]
    fn observation_kinds_are_tagged() {
        let json = r#"{"observed_at":"2026-11-23T10:00:00Z","data":{"kind":"fluid","millilitres":200,"fluid":"tea"}}"#;
        let o: ObservationInput = serde_json::from_str(json).expect("parses");
        assert_eq!(o.kind(), "fluid");
        assert!(o.validate().is_ok());
    }
}

#[cfg(test)]
mod provenance_tests {
    use super::*;

    #[test]
    fn a_note_with_provenance_parses_and_validates() {
        let input: CareNoteInput = serde_json::from_str(
            r#"{"category": "mobility", "occurred_at": "2026-12-02T14:30:00Z", "body": "x",
                "ai_assistance": "drafted", "ai_provenance": [{"task": "draft", "model": "m.gguf",
                "model_sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                "engine": "aayu-wasm 0.1.0", "flagged": [{"text": "14:45", "reason": "r"}]}]}"#,
        )
        .expect("parses");
        assert!(input.validate().is_ok());
    }
}
