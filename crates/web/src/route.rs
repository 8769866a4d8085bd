//! Hash routes (`#/service-users/…`): they survive a reload without any server help and need
//! no interception of link clicks.

use uuid::Uuid;

/// A tab of the service user record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordTab {
    Profile,
    Notes,
    CarePlans,
    Risks,
    Incidents,
    BodyMap,
    Observations,
    Handovers,
    Medication,
}

impl RecordTab {
    pub const ALL: [RecordTab; 9] = [
        RecordTab::Profile,
        RecordTab::Notes,
        RecordTab::CarePlans,
        RecordTab::Risks,
        RecordTab::Incidents,
        RecordTab::BodyMap,
        RecordTab::Observations,
        RecordTab::Handovers,
        RecordTab::Medication,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            RecordTab::Profile => "profile",
            RecordTab::Notes => "notes",
            RecordTab::CarePlans => "care-plans",
            RecordTab::Risks => "risk-assessments",
            RecordTab::Incidents => "incidents",
            RecordTab::BodyMap => "body-map",
            RecordTab::Observations => "observations",
            RecordTab::Handovers => "handovers",
            RecordTab::Medication => "medication",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RecordTab::Profile => "Profile",
            RecordTab::Notes => "Care notes",
            RecordTab::CarePlans => "Care plans",
            RecordTab::Risks => "Risk assessments",
            RecordTab::Incidents => "Incidents",
            RecordTab::BodyMap => "Body map",
            RecordTab::Observations => "Observations",
            RecordTab::Handovers => "Handovers",
            RecordTab::Medication => "Medication",
        }
    }

    fn from_slug(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.slug() == s)
    }
}

/// Which note the editor has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteOpen {
    List,
    New,
    Note(Uuid),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Home,
    ServiceUsers,
    Record {
        id: Uuid,
        tab: RecordTab,
        note: NoteOpen,
    },
    Review,
    Audit,
    Ladder,
    Staff,
    Organisation,
    Exports,
    Assistant,
    Account,
    /// `#/invitation/<token>`: the page reads the token from the fragment itself.
    Invitation,
    NotFound,
}

impl Route {
    pub fn parse(hash: &str) -> Route {
        let path = hash.trim_start_matches('#').trim_start_matches('/');
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            [] => Route::Home,
            ["service-users"] => Route::ServiceUsers,
            ["service-users", id, rest @ ..] => {
                let Ok(id) = Uuid::parse_str(id) else {
                    return Route::NotFound;
                };
                let tab = match rest.first() {
                    None => RecordTab::Notes,
                    Some(t) => match RecordTab::from_slug(t) {
                        Some(t) => t,
                        None => return Route::NotFound,
                    },
                };
                let note = match (tab, rest.get(1)) {
                    (RecordTab::Notes, Some(&"new")) => NoteOpen::New,
                    (RecordTab::Notes, Some(n)) => match Uuid::parse_str(n) {
                        Ok(n) => NoteOpen::Note(n),
                        Err(_) => return Route::NotFound,
                    },
                    _ => NoteOpen::List,
                };
                Route::Record { id, tab, note }
            }
            ["review"] => Route::Review,
            ["audit"] => Route::Audit,
            ["ladder"] => Route::Ladder,
            ["staff"] => Route::Staff,
            ["organisation"] => Route::Organisation,
            ["exports"] => Route::Exports,
            ["assistant"] => Route::Assistant,
            ["account"] => Route::Account,
            ["invitation", _] => Route::Invitation,
            _ => Route::NotFound,
        }
    }

    pub fn href(self) -> String {
        match self {
            Route::Home | Route::NotFound => "#/".into(),
            Route::ServiceUsers => "#/service-users".into(),
            Route::Record { id, tab, note } => match note {
                NoteOpen::List => format!("#/service-users/{id}/{}", tab.slug()),
                NoteOpen::New => format!("#/service-users/{id}/notes/new"),
                NoteOpen::Note(n) => format!("#/service-users/{id}/notes/{n}"),
            },
            Route::Review => "#/review".into(),
            Route::Audit => "#/audit".into(),
            Route::Ladder => "#/ladder".into(),
            Route::Staff => "#/staff".into(),
            Route::Organisation => "#/organisation".into(),
            Route::Exports => "#/exports".into(),
            Route::Assistant => "#/assistant".into(),
            Route::Account => "#/account".into(),
            Route::Invitation => "#/".into(),
        }
    }

    pub fn record(id: Uuid, tab: RecordTab) -> Route {
        Route::Record {
            id,
            tab,
            note: NoteOpen::List,
        }
    }
}
