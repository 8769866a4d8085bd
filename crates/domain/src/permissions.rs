//! The permission catalogue: every action a role can be allowed or denied, defined once.
//!
//! Each action has a stable string key (`tool.action`) that the database knows too
//! (`permissions` table, seeded by migration); a test fails if the two lists drift.
//! Keys are part of the stored data: never rename one, add a new action instead.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The clinical or administrative tool an action belongs to, for grouping in the ladder editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    ServiceUsers,
    CareNotes,
    CarePlans,
    RiskAssessments,
    Incidents,
    BodyMaps,
    Medication,
    Handovers,
    Observations,
    Staff,
    Roles,
    Assignments,
    Audit,
    Export,
    Organisation,
    Assistant,
}

impl Tool {
    pub const ALL: [Tool; 16] = [
        Tool::ServiceUsers,
        Tool::CareNotes,
        Tool::CarePlans,
        Tool::RiskAssessments,
        Tool::Incidents,
        Tool::BodyMaps,
        Tool::Medication,
        Tool::Handovers,
        Tool::Observations,
        Tool::Staff,
        Tool::Roles,
        Tool::Assignments,
        Tool::Audit,
        Tool::Export,
        Tool::Organisation,
        Tool::Assistant,
    ];

    /// Human label, in the care domain's words.
    pub fn label(self) -> &'static str {
        match self {
            Tool::ServiceUsers => "Service users",
            Tool::CareNotes => "Care notes",
            Tool::CarePlans => "Care plans",
            Tool::RiskAssessments => "Risk assessments",
            Tool::Incidents => "Incidents and accidents",
            Tool::BodyMaps => "Body maps and photos",
            Tool::Medication => "Medication records",
            Tool::Handovers => "Handovers",
            Tool::Observations => "Observations and charts",
            Tool::Staff => "Staff",
            Tool::Roles => "Roles (Organisation Ladder)",
            Tool::Assignments => "Assignments",
            Tool::Audit => "Audit trail",
            Tool::Export => "Export",
            Tool::Organisation => "Organisation settings",
            Tool::Assistant => "Aayu assistant",
        }
    }
}

macro_rules! permissions {
    ($( $variant:ident => $key:literal, $tool:ident, $desc:literal; )+) => {
        /// One action a role may be allowed or denied.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission { $( $variant, )+ }

        impl Permission {
            /// Every action, in catalogue order.
            pub const ALL: &'static [Permission] = &[ $( Permission::$variant, )+ ];

            /// The stable key stored in the database, e.g. `care_notes.sign_off`.
            pub const fn key(self) -> &'static str {
                match self { $( Permission::$variant => $key, )+ }
            }

            pub const fn tool(self) -> Tool {
                match self { $( Permission::$variant => Tool::$tool, )+ }
            }

            /// What the action lets a member do, for the ladder editor.
            pub const fn description(self) -> &'static str {
                match self { $( Permission::$variant => $desc, )+ }
            }
        }

        impl FromStr for Permission {
            type Err = UnknownPermission;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $key => Ok(Permission::$variant), )+
                    _ => Err(UnknownPermission(s.to_owned())),
                }
            }
        }
    };
}

permissions! {
    ServiceUsersView => "service_users.view", ServiceUsers, "Open the records of service users visible to them";
    ServiceUsersViewAll => "service_users.view_all", ServiceUsers, "See every service user, not only those assigned to them";
    ServiceUsersCreate => "service_users.create", ServiceUsers, "Admit a new service user";
    ServiceUsersUpdate => "service_users.update", ServiceUsers, "Edit a service user's profile";
    ServiceUsersChangeStatus => "service_users.change_status", ServiceUsers, "Record a hospital stay, discharge or death";
    ServiceUsersDelete => "service_users.delete", ServiceUsers, "Delete a service user record entered in error";
    ServiceUsersExport => "service_users.export", ServiceUsers, "Export one service user's record (subject access request)";

    CareNotesView => "care_notes.view", CareNotes, "Read care notes";
    CareNotesCreate => "care_notes.create", CareNotes, "Write a draft care note";
    CareNotesUpdateDraft => "care_notes.update_draft", CareNotes, "Edit a draft or returned care note";
    CareNotesSubmit => "care_notes.submit", CareNotes, "Submit a care note for sign-off";
    CareNotesSignOff => "care_notes.sign_off", CareNotes, "Sign off a submitted care note";
    CareNotesReturn => "care_notes.return", CareNotes, "Return a submitted care note with a comment";
    CareNotesAmend => "care_notes.amend", CareNotes, "Amend a signed care note with a reason";
    CareNotesDeleteDraft => "care_notes.delete_draft", CareNotes, "Delete an unsubmitted draft";

    CarePlansView => "care_plans.view", CarePlans, "Read care plans";
    CarePlansCreate => "care_plans.create", CarePlans, "Start a care plan";
    CarePlansUpdate => "care_plans.update", CarePlans, "Edit care plan sections, goals and interventions";
    CarePlansReview => "care_plans.review", CarePlans, "Record a care plan review";
    CarePlansSignOff => "care_plans.sign_off", CarePlans, "Sign off a care plan";
    CarePlansArchive => "care_plans.archive", CarePlans, "Archive a care plan";

    RiskAssessmentsView => "risk_assessments.view", RiskAssessments, "Read risk assessments";
    RiskAssessmentsCreate => "risk_assessments.create", RiskAssessments, "Carry out a risk assessment";
    RiskAssessmentsUpdate => "risk_assessments.update", RiskAssessments, "Edit a risk assessment";
    RiskAssessmentsReview => "risk_assessments.review", RiskAssessments, "Record a risk assessment review";
    RiskAssessmentsSignOff => "risk_assessments.sign_off", RiskAssessments, "Sign off a risk assessment";
    RiskAssessmentsArchive => "risk_assessments.archive", RiskAssessments, "Archive a risk assessment";

    IncidentsView => "incidents.view", Incidents, "Read incident and accident reports";
    IncidentsReport => "incidents.report", Incidents, "Report an incident or accident";
    IncidentsUpdate => "incidents.update", Incidents, "Add detail to an open incident";
    IncidentsInvestigate => "incidents.investigate", Incidents, "Record a manager's investigation";
    IncidentsClose => "incidents.close", Incidents, "Close an incident with outcome and lessons";
    IncidentsMarkNotifiable => "incidents.mark_notifiable", Incidents, "Flag an incident as notifiable to the regulator";
    IncidentsDelete => "incidents.delete", Incidents, "Delete an incident report entered in error";

    BodyMapsView => "body_maps.view", BodyMaps, "See body maps and their marks";
    BodyMapsCreate => "body_maps.create", BodyMaps, "Place marks on a body map";
    BodyMapsUpdate => "body_maps.update", BodyMaps, "Edit body map marks";
    BodyMapsDelete => "body_maps.delete", BodyMaps, "Remove body map marks";
    BodyMapPhotosView => "body_maps.photos_view", BodyMaps, "See evidence photos";
    BodyMapPhotosUpload => "body_maps.photos_upload", BodyMaps, "Upload evidence photos";
    BodyMapPhotosDelete => "body_maps.photos_delete", BodyMaps, "Delete evidence photos";

    MedicationView => "medication.view", Medication, "Read prescriptions and the administration record";
    MedicationPrescribe => "medication.prescribe", Medication, "Add a prescription to the record";
    MedicationUpdatePrescription => "medication.update_prescription", Medication, "Change a prescription";
    MedicationDiscontinue => "medication.discontinue", Medication, "Discontinue a prescription";
    MedicationAdminister => "medication.administer", Medication, "Record a dose as given";
    MedicationRecordOmission => "medication.record_omission", Medication, "Record a dose as refused or omitted with a reason";
    MedicationManageStock => "medication.manage_stock", Medication, "Record medication stock received and disposed";

    HandoversView => "handovers.view", Handovers, "Read shift handovers";
    HandoversCreate => "handovers.create", Handovers, "Write a shift handover";
    HandoversAcknowledge => "handovers.acknowledge", Handovers, "Acknowledge a handover";

    ObservationsView => "observations.view", Observations, "Read observations and charts";
    ObservationsRecord => "observations.record", Observations, "Record fluids, food, repositioning and vital signs";
    ObservationsUpdate => "observations.update", Observations, "Correct a recorded observation";
    ObservationsDelete => "observations.delete", Observations, "Delete an observation entered in error";

    StaffView => "staff.view", Staff, "See the organisation's staff list";
    StaffInvite => "staff.invite", Staff, "Invite a new staff member";
    StaffUpdate => "staff.update", Staff, "Edit a staff member's details";
    StaffDeactivate => "staff.deactivate", Staff, "Deactivate a staff member's access";
    StaffReactivate => "staff.reactivate", Staff, "Restore a deactivated staff member";

    RolesView => "roles.view", Roles, "See the organisation's roles and their permissions";
    RolesCreate => "roles.create", Roles, "Create a role";
    RolesUpdate => "roles.update", Roles, "Rename or describe a role";
    RolesDelete => "roles.delete", Roles, "Remove a role no one holds";
    RolesSetPermissions => "roles.set_permissions", Roles, "Allow or deny actions for a role";
    RolesAssignMembers => "roles.assign_members", Roles, "Move staff between roles";

    AssignmentsView => "assignments.view", Assignments, "See which staff are assigned to which service users";
    AssignmentsCreate => "assignments.create", Assignments, "Assign staff to a service user";
    AssignmentsDelete => "assignments.delete", Assignments, "Remove a staff assignment";

    AuditView => "audit.view", Audit, "Read the audit trail";
    AuditExport => "audit.export", Audit, "Export the audit trail";
    AuditVerify => "audit.verify", Audit, "Verify the audit trail's hash chain";

    ExportOrganisationCsv => "export.organisation_csv", Export, "Export all organisation data as CSV";
    ExportOrganisationXlsx => "export.organisation_xlsx", Export, "Export all organisation data as an Excel workbook";
    ExportAuditedReports => "export.reports", Export, "Download inspection reports";

    OrganisationView => "organisation.view", Organisation, "See organisation settings";
    OrganisationUpdate => "organisation.update", Organisation, "Change organisation settings";
    OrganisationUploadLogo => "organisation.upload_logo", Organisation, "Upload the organisation logo";
    OrganisationRequestClosure => "organisation.request_closure", Organisation, "Request closure of the organisation's account";

    AssistantUse => "assistant.use", Assistant, "Use Aayu in the note editor";
    AssistantDraftNotes => "assistant.draft_notes", Assistant, "Have Aayu draft a note from rough points";
    AssistantSummarise => "assistant.summarise", Assistant, "Have Aayu summarise notes for handover";
    AssistantCheckNotes => "assistant.check_notes", Assistant, "Have Aayu check a note for missing facts";
    AssistantDownloadModel => "assistant.download_model", Assistant, "Download the Aayu model to this device";
}

impl Permission {
    /// Actions belonging to one tool, in catalogue order.
    pub fn for_tool(tool: Tool) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| p.tool() == tool)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.key())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = String::deserialize(d)?;
        key.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission `{0}`")]
pub struct UnknownPermission(pub String);

/// The roles every new organisation starts with, and what each may do by default.
/// Organisations change these freely afterwards; this is only the starting ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultRole {
    Administrator,
    RegisteredManager,
    SeniorCarer,
    Carer,
}

impl DefaultRole {
    pub const ALL: [DefaultRole; 4] = [
        DefaultRole::Administrator,
        DefaultRole::RegisteredManager,
        DefaultRole::SeniorCarer,
        DefaultRole::Carer,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DefaultRole::Administrator => "Administrator",
            DefaultRole::RegisteredManager => "Registered Manager",
            DefaultRole::SeniorCarer => "Senior Carer",
            DefaultRole::Carer => "Carer",
        }
    }

    /// Whether this role is allowed `p` by default. Every other action is an explicit deny.
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            DefaultRole::Administrator => true,
            // Managers run the service but do not close the organisation's account.
            DefaultRole::RegisteredManager => !matches!(p, OrganisationRequestClosure),
            DefaultRole::SeniorCarer => {
                matches!(
                    p.tool(),
                    Tool::CareNotes
                        | Tool::CarePlans
                        | Tool::RiskAssessments
                        | Tool::BodyMaps
                        | Tool::Medication
                        | Tool::Handovers
                        | Tool::Observations
                        | Tool::Assistant
                ) && !matches!(
                    p,
                    CareNotesSignOff
                        | CareNotesReturn
                        | CareNotesAmend
                        | CarePlansSignOff
                        | CarePlansArchive
                        | RiskAssessmentsSignOff
                        | RiskAssessmentsArchive
                        | BodyMapsDelete
                        | BodyMapPhotosDelete
                        | MedicationPrescribe
                        | MedicationUpdatePrescription
                        | MedicationDiscontinue
                        | ObservationsDelete
                ) || matches!(
                    p,
                    ServiceUsersView
                        | ServiceUsersViewAll
                        | ServiceUsersUpdate
                        | IncidentsView
                        | IncidentsReport
                        | IncidentsUpdate
                        | StaffView
                        | AssignmentsView
                        | OrganisationView
                )
            }
            // Carers see only the people they are assigned to and record day-to-day care.
            DefaultRole::Carer => matches!(
                p,
                ServiceUsersView
                    | CareNotesView
                    | CareNotesCreate
                    | CareNotesUpdateDraft
                    | CareNotesSubmit
                    | CareNotesDeleteDraft
                    | CarePlansView
                    | RiskAssessmentsView
                    | IncidentsView
                    | IncidentsReport
                    | BodyMapsView
                    | BodyMapsCreate
                    | BodyMapPhotosView
                    | BodyMapPhotosUpload
                    | MedicationView
                    | MedicationAdminister
                    | MedicationRecordOmission
                    | HandoversView
                    | HandoversCreate
                    | HandoversAcknowledge
                    | ObservationsView
                    | ObservationsRecord
                    | AssistantUse
                    | AssistantDraftNotes
                    | AssistantSummarise
                    | AssistantCheckNotes
                    | AssistantDownloadModel
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn catalogue_has_at_least_seventy_actions_with_unique_keys() {
        assert!(Permission::ALL.len() >= 70, "{}", Permission::ALL.len());
        let keys: HashSet<_> = Permission::ALL.iter().map(|p| p.key()).collect();
        assert_eq!(keys.len(), Permission::ALL.len());
    }

    #[test]
    fn every_key_is_tool_dot_action_and_parses_back() {
        for &p in Permission::ALL {
            let (tool, action) = p.key().split_once('.').expect("key has a dot");
            assert!(!tool.is_empty() && !action.is_empty());
            assert!(p
                .key()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'));
            assert_eq!(p.key().parse::<Permission>(), Ok(p));
        }
        assert!("care_notes.fly".parse::<Permission>().is_err());
    }

    #[test]
    fn every_tool_named_by_the_issue_has_actions() {
        for tool in Tool::ALL {
            assert!(Permission::for_tool(tool).count() > 0, "{tool:?}");
        }
    }

    #[test]
    fn permissions_serialise_as_their_keys() {
        let json = serde_json::to_string(&Permission::IncidentsClose).expect("serialise");
        assert_eq!(json, "\"incidents.close\"");
        let back: Permission = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, Permission::IncidentsClose);
        assert!(serde_json::from_str::<Permission>("\"nope.nope\"").is_err());
    }

    #[test]
    fn default_ladder_narrows_from_administrator_to_carer() {
        let count = |r: DefaultRole| Permission::ALL.iter().filter(|&&p| r.allows(p)).count();
        assert_eq!(count(DefaultRole::Administrator), Permission::ALL.len());
        assert!(count(DefaultRole::RegisteredManager) > count(DefaultRole::SeniorCarer));
        assert!(count(DefaultRole::SeniorCarer) > count(DefaultRole::Carer));
        assert!(!DefaultRole::Carer.allows(Permission::ServiceUsersViewAll));
        assert!(DefaultRole::SeniorCarer.allows(Permission::ServiceUsersViewAll));
        assert!(!DefaultRole::Carer.allows(Permission::CareNotesSignOff));
        assert!(DefaultRole::RegisteredManager.allows(Permission::CareNotesSignOff));
        // Everything a carer may do, a senior carer may do too.
        for &p in Permission::ALL {
            if DefaultRole::Carer.allows(p) {
                assert!(DefaultRole::SeniorCarer.allows(p), "{p}");
            }
        }
    }
}
