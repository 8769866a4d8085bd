//! The action matrix, generated from the catalogue: for every action, a role allowed that
//! action (plus only the actions needed to reach the record: seeing the service user, viewing the
//! tool) succeeds, and a role allowed everything except that action is refused — 403 through the
//! API and, where the action guards data, refused by PostgreSQL itself when the same change is
//! tried by raw SQL as the API's role with that member's identity.

use serde_json::{json, Value};
use thrive_domain::Permission::{self, *};
use uuid::Uuid;

use crate::helpers::{as_app_with, TestApp, World};
use crate::records::{member_with, set_role_permissions};

/// Actions not probed here. The test fails if one of these gains a probe without leaving this
/// list, or if an action is neither probed nor listed here. Every action is probed now.
const PENDING: &[Permission] = &[];

struct Probe {
    /// Needed besides the action itself to reach the record.
    needs: Vec<Permission>,
    method: &'static str,
    path: String,
    body: Option<Value>,
    ok: u16,
    /// The status when the action is denied (403, or 404 where the action decides visibility).
    denied: u16,
    /// The same change as raw SQL (`$1` = the record or service user), refused by the database
    /// (insufficient_privilege from a guard, or no row touched because a policy hides it).
    sql: Option<(&'static str, Uuid)>,
    /// A raw body (an upload) instead of JSON.
    bytes: Option<Vec<u8>>,
}

/// A small, valid PNG for the upload probes.
fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 30, y as u8 * 30, 90]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_with_encoder(image::codecs::png::PngEncoder::new(&mut out))
        .expect("encode");
    out
}

const NOW: &str = "2026-11-23T10:00:00Z";

fn see() -> Vec<Permission> {
    vec![ServiceUsersView, ServiceUsersViewAll]
}

fn with(mut a: Vec<Permission>, more: &[Permission]) -> Vec<Permission> {
    a.extend_from_slice(more);
    a
}

fn id(v: &Value) -> Uuid {
    v["id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(|| panic!("no id in {v}"))
}

struct Ctx<'a> {
    app: &'a TestApp,
    world: &'a World,
    admin: &'a str,
    su: Uuid,
    probe_user: Uuid,
}

impl Ctx<'_> {
    async fn make(&self, path: &str, body: Value) -> Uuid {
        id(&self
            .app
            .expect(201, "POST", path, self.admin, Some(&body))
            .await)
    }

    async fn note(&self) -> Uuid {
        self.make(
            &format!("/api/service-users/{}/care-notes", self.su),
            json!({"category": "other", "occurred_at": NOW, "body": "Fixture note."}),
        )
        .await
    }

    /// A draft written by the probe member (inserted from the administrator connection,
    /// which is provisioning and names the author directly).
    async fn own_draft(&self) -> Uuid {
        sqlx::query_scalar(
            "insert into care_notes (organization_id, service_user_id, category, occurred_at, body, author_id)
             values ($1, $2, 'other', now(), 'My draft.', $3) returning id",
        )
        .bind(self.world.a.id())
        .bind(self.su)
        .bind(self.probe_user)
        .fetch_one(&self.app.db.admin)
        .await
        .expect("draft")
    }

    async fn submitted_note(&self) -> Uuid {
        let n = self.note().await;
        self.app
            .expect(
                200,
                "POST",
                &format!("/api/care-notes/{n}/submit"),
                self.admin,
                None,
            )
            .await;
        n
    }

    async fn signed_note(&self) -> Uuid {
        let n = self.submitted_note().await;
        sqlx::query("update care_notes set status = 'signed_off' where id = $1")
            .bind(n)
            .execute(&self.app.db.admin)
            .await
            .expect("sign");
        n
    }

    async fn plan(&self, kind: &str) -> Uuid {
        match kind {
            "care-plans" => {
                self.make(
                    &format!("/api/service-users/{}/care-plans", self.su),
                    json!({"title": "Fixture plan", "review_date": "2027-01-01"}),
                )
                .await
            }
            _ => {
                self.make(
                    &format!("/api/service-users/{}/risk-assessments", self.su),
                    risk(),
                )
                .await
            }
        }
    }

    async fn incident(&self) -> Uuid {
        self.make(
            &format!("/api/service-users/{}/incidents", self.su),
            incident(),
        )
        .await
    }

    async fn mark(&self) -> Uuid {
        self.make(
            &format!("/api/service-users/{}/body-map-marks", self.su),
            mark(),
        )
        .await
    }

    async fn observation(&self) -> Uuid {
        self.make(
            &format!("/api/service-users/{}/observations", self.su),
            observation(),
        )
        .await
    }

    async fn prescription(&self) -> Uuid {
        self.make(
            &format!("/api/service-users/{}/prescriptions", self.su),
            prescription(),
        )
        .await
    }

    async fn handover(&self) -> Uuid {
        self.make(
            &format!("/api/service-users/{}/handovers", self.su),
            json!({"shift": "night", "summary": "Fixture."}),
        )
        .await
    }

    async fn spare_role(&self) -> Uuid {
        id(&self
            .app
            .expect(
                201,
                "POST",
                "/api/roles",
                self.admin,
                Some(&json!({"name": format!("Spare {}", Uuid::new_v4())})),
            )
            .await)
    }
}

fn risk() -> Value {
    json!({"kind": "falls", "answers": {"history_of_falls": 1, "medication": 0, "mobility": 1, "cognition": 0, "continence": 0, "vision": 0, "footwear_environment": 0}, "review_date": "2027-01-01"})
}
fn incident() -> Value {
    json!({"occurred_at": NOW, "location": "Hall", "category": "other", "severity": "no_harm", "description": "Fixture."})
}
fn mark() -> Value {
    json!({"side": "front", "region": "knee", "x": 0.4, "y": 0.8, "description": "Graze", "observed_at": NOW})
}
fn observation() -> Value {
    json!({"observed_at": NOW, "data": {"kind": "fluid", "millilitres": 150, "fluid": "water"}})
}
fn prescription() -> Value {
    json!({"drug": "Fixture", "dose": "1", "route": "oral", "schedule": "Daily", "start_date": "2026-11-01"})
}
fn profile() -> Value {
    json!({"given_name": "Probe", "family_name": "Person", "preferred_name": null, "date_of_birth": "1940-02-03",
           "room": null, "nhs_number": null, "address": null, "next_of_kin_name": null,
           "next_of_kin_relationship": null, "next_of_kin_phone": null, "allergies": "Penicillin",
           "gp_name": null, "gp_practice": null, "gp_phone": null, "key_worker_id": null})
}

fn probe(
    needs: Vec<Permission>,
    method: &'static str,
    path: String,
    body: Option<Value>,
    ok: u16,
) -> Probe {
    Probe {
        needs,
        method,
        path,
        body,
        ok,
        denied: 403,
        sql: None,
        bytes: None,
    }
}

impl Probe {
    fn sql(mut self, sql: &'static str, target: Uuid) -> Self {
        self.sql = Some((sql, target));
        self
    }

    fn bytes(mut self, bytes: Vec<u8>) -> Self {
        self.bytes = Some(bytes);
        self
    }

    async fn send(&self, app: &TestApp, cookie: &str) -> reqwest::Response {
        match &self.bytes {
            None => {
                app.send(self.method, &self.path, cookie, self.body.as_ref())
                    .await
            }
            Some(bytes) => {
                let method = reqwest::Method::from_bytes(self.method.as_bytes()).expect("method");
                app.http
                    .request(method, app.url(&self.path))
                    .header(reqwest::header::COOKIE, cookie)
                    .header(reqwest::header::CONTENT_TYPE, "image/png")
                    .body(bytes.clone())
                    .send()
                    .await
                    .expect("upload")
            }
        }
    }
}

impl Ctx<'_> {
    /// A body map mark with one photo, uploaded by the administrator: (mark, photo).
    async fn photo(&self) -> (Uuid, Uuid) {
        let mark = self.mark().await;
        let resp = probe(
            vec![],
            "POST",
            format!("/api/body-map-marks/{mark}/photos"),
            None,
            201,
        )
        .bytes(png())
        .send(self.app, self.admin)
        .await;
        assert_eq!(resp.status(), 201, "fixture photo");
        let v: Value = resp.json().await.expect("json");
        (mark, id(&v))
    }

    async fn organisation_name(&self) -> String {
        self.app
            .expect(200, "GET", "/api/organisation", self.admin, None)
            .await["name"]
            .as_str()
            .expect("name")
            .to_owned()
    }
}

async fn probe_for(c: &Ctx<'_>, p: Permission) -> Option<Probe> {
    let su = c.su;
    let view = |tool: Permission| with(see(), &[tool]);
    Some(match p {
        ServiceUsersView => probe(vec![ServiceUsersViewAll], "GET", format!("/api/service-users/{su}"), None, 200),
        ServiceUsersViewAll => Probe { denied: 404, ..probe(vec![ServiceUsersView], "GET", format!("/api/service-users/{su}"), None, 200) },
        ServiceUsersCreate => probe(see(), "POST", "/api/service-users".into(), Some(profile()), 201)
            .sql("insert into service_users (organization_id, given_name, family_name) values (app.current_org(), 'X', 'Y')", su),
        ServiceUsersUpdate => probe(see(), "PUT", format!("/api/service-users/{su}"), Some(profile()), 200)
            .sql("update service_users set allergies = 'none' where id = $1", su),
        ServiceUsersChangeStatus => probe(see(), "POST", format!("/api/service-users/{su}/status"), Some(json!({"status": "in_hospital"})), 200)
            .sql("update service_users set status = 'discharged' where id = $1", su),
        ServiceUsersDelete => {
            let other = c.make("/api/service-users", profile()).await;
            probe(see(), "DELETE", format!("/api/service-users/{other}"), None, 204)
                .sql("delete from service_users where id = $1", other)
        }
        CareNotesView => { let n = c.note().await; probe(see(), "GET", format!("/api/care-notes/{n}"), None, 200) }
        CareNotesCreate => probe(view(CareNotesView), "POST", format!("/api/service-users/{su}/care-notes"),
            Some(json!({"category": "other", "occurred_at": NOW, "body": "Probe."})), 201)
            .sql("insert into care_notes (organization_id, service_user_id, category, occurred_at, body) values (app.current_org(), $1, 'other', now(), 'x')", su),
        CareNotesUpdateDraft => { let n = c.own_draft().await;
            probe(view(CareNotesView), "PUT", format!("/api/care-notes/{n}"), Some(json!({"category": "other", "occurred_at": NOW, "body": "Edited."})), 200)
                .sql("update care_notes set body = 'x' where id = $1", n) }
        CareNotesSubmit => { let n = c.own_draft().await;
            probe(view(CareNotesView), "POST", format!("/api/care-notes/{n}/submit"), None, 200)
                .sql("update care_notes set status = 'submitted' where id = $1", n) }
        CareNotesSignOff => { let n = c.submitted_note().await;
            probe(view(CareNotesView), "POST", format!("/api/care-notes/{n}/sign-off"), None, 200)
                .sql("update care_notes set status = 'signed_off' where id = $1", n) }
        CareNotesReturn => { let n = c.submitted_note().await;
            probe(view(CareNotesView), "POST", format!("/api/care-notes/{n}/return"), Some(json!({"review_comment": "More detail."})), 200)
                .sql("update care_notes set status = 'returned', review_comment = 'x' where id = $1", n) }
        CareNotesAmend => { let n = c.signed_note().await;
            probe(view(CareNotesView), "POST", format!("/api/care-notes/{n}/amend"),
                Some(json!({"category": "other", "occurred_at": NOW, "body": "Corrected.", "amendment_reason": "Wrong time."})), 201)
                .sql("insert into care_notes (organization_id, service_user_id, category, occurred_at, body, amends_id, amendment_reason) select organization_id, service_user_id, category, occurred_at, 'x', id, 'r' from care_notes where id = $1", n) }
        CareNotesDeleteDraft => { let n = c.own_draft().await;
            probe(view(CareNotesView), "DELETE", format!("/api/care-notes/{n}"), None, 204)
                .sql("delete from care_notes where id = $1", n) }

        CarePlansView => { let x = c.plan("care-plans").await; probe(see(), "GET", format!("/api/care-plans/{x}"), None, 200) }
        CarePlansCreate => probe(view(CarePlansView), "POST", format!("/api/service-users/{su}/care-plans"), Some(json!({"title": "P", "review_date": "2027-01-01"})), 201)
            .sql("insert into care_plans (organization_id, service_user_id, title, review_date) values (app.current_org(), $1, 'x', current_date)", su),
        CarePlansUpdate => { let x = c.plan("care-plans").await;
            probe(view(CarePlansView), "PUT", format!("/api/care-plans/{x}"), Some(json!({"title": "Renamed", "review_date": "2027-01-01"})), 200)
                .sql("update care_plans set title = 'x' where id = $1", x) }
        CarePlansReview => { let x = c.plan("care-plans").await;
            probe(view(CarePlansView), "POST", format!("/api/care-plans/{x}/review"), Some(json!({"review_notes": "Fine.", "review_date": "2027-02-01"})), 200)
                .sql("update care_plans set review_notes = 'x', last_reviewed_at = now() where id = $1", x) }
        CarePlansSignOff => { let x = c.plan("care-plans").await;
            probe(view(CarePlansView), "POST", format!("/api/care-plans/{x}/sign-off"), None, 200)
                .sql("update care_plans set status = 'active' where id = $1", x) }
        CarePlansArchive => { let x = c.plan("care-plans").await;
            probe(view(CarePlansView), "POST", format!("/api/care-plans/{x}/archive"), None, 200)
                .sql("update care_plans set status = 'archived' where id = $1", x) }

        RiskAssessmentsView => { let x = c.plan("risk").await; probe(see(), "GET", format!("/api/risk-assessments/{x}"), None, 200) }
        RiskAssessmentsCreate => probe(view(RiskAssessmentsView), "POST", format!("/api/service-users/{su}/risk-assessments"), Some(risk()), 201)
            .sql("insert into risk_assessments (organization_id, service_user_id, kind, score, level, review_date) values (app.current_org(), $1, 'falls', 0, 'low', current_date)", su),
        RiskAssessmentsUpdate => { let x = c.plan("risk").await;
            probe(view(RiskAssessmentsView), "PUT", format!("/api/risk-assessments/{x}"), Some(risk()), 200)
                .sql("update risk_assessments set control_measures = 'x' where id = $1", x) }
        RiskAssessmentsReview => { let x = c.plan("risk").await;
            probe(view(RiskAssessmentsView), "POST", format!("/api/risk-assessments/{x}/review"), Some(json!({"review_notes": "Fine.", "review_date": "2027-02-01"})), 200)
                .sql("update risk_assessments set review_notes = 'x', last_reviewed_at = now() where id = $1", x) }
        RiskAssessmentsSignOff => { let x = c.plan("risk").await;
            probe(view(RiskAssessmentsView), "POST", format!("/api/risk-assessments/{x}/sign-off"), None, 200)
                .sql("update risk_assessments set status = 'active' where id = $1", x) }
        RiskAssessmentsArchive => { let x = c.plan("risk").await;
            probe(view(RiskAssessmentsView), "POST", format!("/api/risk-assessments/{x}/archive"), None, 200)
                .sql("update risk_assessments set status = 'archived' where id = $1", x) }

        IncidentsView => { let x = c.incident().await; probe(see(), "GET", format!("/api/incidents/{x}"), None, 200) }
        IncidentsReport => probe(view(IncidentsView), "POST", format!("/api/service-users/{su}/incidents"), Some(incident()), 201)
            .sql("insert into incidents (organization_id, service_user_id, occurred_at, location, category, severity, description) values (app.current_org(), $1, now(), 'x', 'other', 'low', 'x')", su),
        IncidentsUpdate => { let x = c.incident().await;
            probe(view(IncidentsView), "PUT", format!("/api/incidents/{x}"), Some(json!({"occurred_at": NOW, "location": "Dining room", "category": "other", "severity": "no_harm", "description": "Fixture."})), 200)
                .sql("update incidents set location = 'x' where id = $1", x) }
        IncidentsInvestigate => { let x = c.incident().await;
            probe(view(IncidentsView), "POST", format!("/api/incidents/{x}/investigate"), Some(json!({"investigation": "Spoke to staff."})), 200)
                .sql("update incidents set investigation = 'x', status = 'investigating' where id = $1", x) }
        IncidentsClose => { let x = c.incident().await;
            probe(view(IncidentsView), "POST", format!("/api/incidents/{x}/close"), Some(json!({"outcome": "Resolved.", "lessons": "Clear the hall."})), 200)
                .sql("update incidents set status = 'closed', outcome = 'o', lessons = 'l' where id = $1", x) }
        IncidentsMarkNotifiable => { let x = c.incident().await;
            probe(view(IncidentsView), "POST", format!("/api/incidents/{x}/notifiable"), Some(json!({"notifiable": true})), 200)
                .sql("update incidents set notifiable = true where id = $1", x) }
        IncidentsDelete => { let x = c.incident().await;
            probe(view(IncidentsView), "DELETE", format!("/api/incidents/{x}"), None, 204)
                .sql("delete from incidents where id = $1", x) }

        BodyMapsView => { let x = c.mark().await; probe(see(), "GET", format!("/api/body-map-marks/{x}"), None, 200) }
        BodyMapsCreate => probe(view(BodyMapsView), "POST", format!("/api/service-users/{su}/body-map-marks"), Some(mark()), 201)
            .sql("insert into body_map_marks (organization_id, service_user_id, side, region, x, y, description, observed_at) values (app.current_org(), $1, 'front', 'x', 0.1, 0.1, 'x', now())", su),
        BodyMapsUpdate => { let x = c.mark().await;
            probe(view(BodyMapsView), "PUT", format!("/api/body-map-marks/{x}"), Some(mark()), 200)
                .sql("update body_map_marks set description = 'x' where id = $1", x) }
        BodyMapsDelete => { let x = c.mark().await;
            probe(view(BodyMapsView), "DELETE", format!("/api/body-map-marks/{x}"), None, 204)
                .sql("delete from body_map_marks where id = $1", x) }

        BodyMapPhotosView => { let x = c.mark().await; probe(see(), "GET", format!("/api/body-map-marks/{x}/photos"), None, 200) }
        ObservationsView => { let x = c.observation().await; probe(see(), "GET", format!("/api/observations/{x}"), None, 200) }
        ObservationsRecord => probe(view(ObservationsView), "POST", format!("/api/service-users/{su}/observations"), Some(observation()), 201)
            .sql("insert into observations (organization_id, service_user_id, kind, observed_at, data) values (app.current_org(), $1, 'fluid', now(), '{}')", su),
        ObservationsUpdate => { let x = c.observation().await;
            probe(view(ObservationsView), "PUT", format!("/api/observations/{x}"), Some(observation()), 200)
                .sql("update observations set data = '{\"a\": 1}' where id = $1", x) }
        ObservationsDelete => { let x = c.observation().await;
            probe(view(ObservationsView), "DELETE", format!("/api/observations/{x}"), None, 204)
                .sql("delete from observations where id = $1", x) }

        MedicationView => { let x = c.prescription().await; probe(see(), "GET", format!("/api/prescriptions/{x}"), None, 200) }
        MedicationPrescribe => probe(view(MedicationView), "POST", format!("/api/service-users/{su}/prescriptions"), Some(prescription()), 201)
            .sql("insert into prescriptions (organization_id, service_user_id, drug, dose, route, schedule, start_date) values (app.current_org(), $1, 'x', 'x', 'oral', 'x', current_date)", su),
        MedicationUpdatePrescription => { let x = c.prescription().await;
            probe(view(MedicationView), "PUT", format!("/api/prescriptions/{x}"), Some(json!({"drug": "Fixture", "dose": "2", "route": "oral", "schedule": "Daily", "start_date": "2026-11-01"})), 200)
                .sql("update prescriptions set dose = 'x' where id = $1", x) }
        MedicationDiscontinue => { let x = c.prescription().await;
            probe(view(MedicationView), "POST", format!("/api/prescriptions/{x}/discontinue"), Some(json!({"discontinued_reason": "Course complete."})), 200)
                .sql("update prescriptions set status = 'discontinued', discontinued_reason = 'x' where id = $1", x) }
        MedicationAdminister => { let x = c.prescription().await;
            probe(view(MedicationView), "POST", format!("/api/service-users/{su}/medication-administrations"),
                Some(json!({"prescription_id": x, "scheduled_for": NOW, "outcome": "given", "dose_given": "1"})), 201)
                .sql("insert into medication_administrations (organization_id, service_user_id, prescription_id, scheduled_for, outcome) select organization_id, service_user_id, id, now(), 'given' from prescriptions where id = $1", x) }
        MedicationRecordOmission => { let x = c.prescription().await;
            probe(view(MedicationView), "POST", format!("/api/service-users/{su}/medication-administrations"),
                Some(json!({"prescription_id": x, "scheduled_for": NOW, "outcome": "refused", "reason": "Asleep."})), 201)
                .sql("insert into medication_administrations (organization_id, service_user_id, prescription_id, scheduled_for, outcome, reason) select organization_id, service_user_id, id, now(), 'omitted', 'x' from prescriptions where id = $1", x) }
        MedicationManageStock => { let x = c.prescription().await;
            probe(view(MedicationView), "POST", format!("/api/service-users/{su}/medication-stock"),
                Some(json!({"prescription_id": x, "kind": "received", "quantity": 28})), 201)
                .sql("insert into medication_stock (organization_id, service_user_id, prescription_id, kind, quantity) select organization_id, service_user_id, id, 'count', 1 from prescriptions where id = $1", x) }

        HandoversView => { let x = c.handover().await; probe(see(), "GET", format!("/api/handovers/{x}"), None, 200) }
        HandoversCreate => probe(view(HandoversView), "POST", format!("/api/service-users/{su}/handovers"), Some(json!({"shift": "morning", "summary": "All well."})), 201)
            .sql("insert into handovers (organization_id, service_user_id, shift, summary) values (app.current_org(), $1, 'night', 'x')", su),
        HandoversAcknowledge => { let x = c.handover().await;
            probe(view(HandoversView), "POST", format!("/api/handovers/{x}/acknowledge"), None, 201)
                .sql("insert into handover_acknowledgements (organization_id, service_user_id, handover_id) select organization_id, service_user_id, id from handovers where id = $1", x) }

        StaffView => probe(vec![], "GET", "/api/staff".into(), None, 200),
        StaffDeactivate => {
            sqlx::query("update memberships set active = true where user_id = $1").bind(c.world.a.user("carer2")).execute(&c.app.db.admin).await.expect("reactivate");
            probe(vec![StaffView], "POST", format!("/api/staff/{}/deactivate", c.world.a.user("carer2")), None, 204)
                .sql("update memberships set active = false where user_id = $1", c.world.a.user("carer2"))
        }
        StaffReactivate => {
            sqlx::query("update memberships set active = false where user_id = $1").bind(c.world.a.user("senior")).execute(&c.app.db.admin).await.expect("deactivate");
            probe(vec![StaffView], "POST", format!("/api/staff/{}/reactivate", c.world.a.user("senior")), None, 204)
                .sql("update memberships set active = true where user_id = $1", c.world.a.user("senior"))
        }

        RolesView => probe(vec![], "GET", "/api/roles".into(), None, 200),
        RolesCreate => probe(vec![RolesView], "POST", "/api/roles".into(), Some(json!({"name": format!("New {}", Uuid::new_v4())})), 201)
            .sql("insert into roles (organization_id, name) values (app.current_org(), 'x')", su),
        RolesUpdate => { let r = c.spare_role().await;
            probe(vec![RolesView], "PUT", format!("/api/roles/{r}"), Some(json!({"name": format!("Renamed {r}")})), 200)
                .sql("update roles set name = 'x' where id = $1", r) }
        RolesDelete => { let r = c.spare_role().await;
            probe(vec![RolesView], "DELETE", format!("/api/roles/{r}"), None, 204)
                .sql("delete from roles where id = $1", r) }
        RolesSetPermissions => { let r = c.spare_role().await;
            // An action the prober holds itself: nobody allows what they do not hold.
            probe(vec![RolesView], "PUT", format!("/api/roles/{r}/permissions"), Some(json!({"permissions": {"roles.view": true}})), 200)
                .sql("update role_permissions set allowed = true where role_id = $1", r) }
        RolesAssignMembers => { let r = c.spare_role().await;
            probe(vec![RolesView, StaffView], "PUT", format!("/api/staff/{}/role", c.world.a.user("carer2")), Some(json!({"role_id": r})), 204)
                .sql("update memberships set role_id = (select id from roles where name = 'Administrator' and organization_id = app.current_org()) where user_id = $1", c.world.a.user("carer2")) }

        AssignmentsCreate => probe(see(), "POST", format!("/api/service-users/{su}/assignments"), Some(json!({"user_id": c.world.a.user("carer2")})), 201)
            .sql("insert into staff_assignments (organization_id, user_id, service_user_id) values (app.current_org(), app.current_user_id(), $1)", su),
        AssignmentsView => probe(see(), "GET", format!("/api/service-users/{su}/assignments"), None, 200),
        AssignmentsDelete => probe(with(see(), &[AssignmentsView]), "DELETE", format!("/api/service-users/{su}/assignments/{}", c.world.a.user("carer1")), None, 204)
            .sql("delete from staff_assignments where service_user_id = $1", su),

        AuditView => probe(vec![], "GET", "/api/audit".into(), None, 200),
        AuditVerify => probe(vec![], "GET", "/api/audit/verify".into(), None, 200),
        OrganisationView => probe(vec![], "GET", "/api/organisation".into(), None, 200),
        OrganisationUpdate => probe(vec![], "PUT", "/api/organisation".into(), Some(json!({"name": "Org a (renamed)"})), 200)
            .sql("update organizations set name = 'x' where id = app.current_org() and $1::uuid is not null", su),

        // The assistant actions guard what a note or handover may say about AI help.
        AssistantUse | AssistantDraftNotes | AssistantCheckNotes => {
            let (kind, other) = match p {
                AssistantCheckNotes => ("checked", AssistantUse),
                AssistantDraftNotes => ("drafted", AssistantUse),
                _ => ("drafted", AssistantDraftNotes),
            };
            probe(with(view(CareNotesView), &[CareNotesCreate, other]), "POST", format!("/api/service-users/{su}/care-notes"),
                Some(json!({"category": "other", "occurred_at": NOW, "body": "Drafted with Aayu.", "ai_assistance": kind})), 201)
                .sql(match kind {
                    "checked" => "insert into care_notes (organization_id, service_user_id, category, occurred_at, body, ai_assistance) values (app.current_org(), $1, 'other', now(), 'x', 'checked')",
                    _ => "insert into care_notes (organization_id, service_user_id, category, occurred_at, body, ai_assistance) values (app.current_org(), $1, 'other', now(), 'x', 'drafted')",
                }, su)
        }
        AssistantSummarise => probe(with(view(HandoversView), &[HandoversCreate, AssistantUse]), "POST", format!("/api/service-users/{su}/handovers"),
            Some(json!({"shift": "night", "summary": "Summarised by Aayu.", "ai_assistance": "summarised"})), 201)
            .sql("insert into handovers (organization_id, service_user_id, shift, summary, ai_assistance) values (app.current_org(), $1, 'night', 'x', 'summarised')", su),

        AssistantDownloadModel => probe(vec![], "GET", "/api/models/manifest.json".into(), None, 200),

        BodyMapPhotosUpload => { let x = c.mark().await;
            probe(with(view(BodyMapsView), &[BodyMapPhotosView]), "POST", format!("/api/body-map-marks/{x}/photos"), None, 201).bytes(png())
                .sql("insert into files (organization_id, purpose, service_user_id, body_map_mark_id, content_type, size, sha256, width, height, content)
                      select organization_id, 'body_map_photo', service_user_id, id, 'image/png', 1, '\\x00', 1, 1, '\\x00' from body_map_marks where id = $1", x) }
        BodyMapPhotosDelete => { let (_, photo) = c.photo().await;
            probe(with(view(BodyMapsView), &[BodyMapPhotosView]), "DELETE", format!("/api/files/{photo}"), None, 204)
                .sql("delete from files where id = $1", photo) }
        OrganisationUploadLogo => probe(vec![], "PUT", "/api/organisation/logo".into(), None, 201).bytes(png())
            .sql("insert into files (organization_id, purpose, content_type, size, sha256, width, height, content)
                  select app.current_org(), 'organisation_logo', 'image/png', 1, '\\x00', 1, 1, '\\x00' where $1::uuid is not null", su),
        OrganisationRequestClosure => {
            let name = c.organisation_name().await;
            // Closure needs an administrator: a role allowing every action.
            probe(Permission::ALL.to_vec(), "POST", "/api/organisation/closure".into(), Some(json!({"confirm_name": name, "retention_days": 30})), 200)
                .sql("update organizations set purge_after = now() + interval '60 days' where id = app.current_org() and $1::uuid is not null", su)
        }

        ServiceUsersExport => probe(see(), "GET", format!("/api/service-users/{su}/export.zip"), None, 200)
            .sql("select app.audit_export('service_user', $1, '{}'::jsonb)", su),
        ExportOrganisationCsv => probe(vec![], "GET", "/api/exports/organisation.zip".into(), None, 200)
            .sql("select app.audit_export('organisation_csv', $1, '{}'::jsonb)", su),
        ExportOrganisationXlsx => probe(vec![], "GET", "/api/exports/organisation.xlsx".into(), None, 200)
            .sql("select app.audit_export('organisation_xlsx', $1, '{}'::jsonb)", su),
        ExportAuditedReports => probe(see(), "GET", "/api/exports/inspection-report.csv".into(), None, 200)
            .sql("select app.audit_export('report', $1, '{}'::jsonb)", su),
        AuditExport => probe(vec![AuditView], "GET", "/api/audit/export.csv".into(), None, 200)
            .sql("select app.audit_export('audit', $1, '{}'::jsonb)", su),

        StaffInvite => { let r = c.spare_role().await;
            probe(vec![StaffView], "POST", "/api/staff/invitations".into(),
                Some(json!({"email": format!("probe-{}@a.example", Uuid::new_v4()), "display_name": "Probe Invitee", "role_id": r})), 201)
                .sql("insert into staff_invitations (organization_id, email, display_name, role_id, token_hash, expires_at)
                      values (app.current_org(), 'raw@a.example', 'Raw', $1, sha256('raw'::bytea), now() + interval '1 day')", r) }
        StaffUpdate => probe(vec![StaffView], "PUT", format!("/api/staff/{}", c.world.a.user("carer2")), Some(json!({"display_name": "Carer Two"})), 204)
            .sql("select app.update_staff_member($1, 'Renamed by SQL')", c.world.a.user("carer2")),
    })
}

#[tokio::test]
async fn every_action_is_allowed_to_a_role_that_has_it_and_refused_to_one_that_does_not() {
    let app = TestApp::spawn().await;
    let world = World::seed(&app.db).await;
    let admin = app.sign_in(world.a.email("admin")).await;
    let (probe_user, role, cookie) = member_with(&app, &world, "Probe", &[]).await;
    let ctx = Ctx {
        app: &app,
        world: &world,
        admin: &admin,
        su: world.a.service_users[0],
        probe_user,
    };
    let mut probed = 0;
    let mut sql_checked = 0;

    for &p in Permission::ALL {
        // Allowed: the action and what is needed to reach the record.
        let Some(allowed) = probe_for(&ctx, p).await else {
            assert!(
                PENDING.contains(&p),
                "{p} has no probe and is not listed as pending"
            );
            continue;
        };
        assert!(
            !PENDING.contains(&p),
            "{p} has a probe: take it off PENDING"
        );
        let mut conn = app.db.admin_conn().await;
        set_role_permissions(
            &mut conn,
            world.a.id(),
            role,
            &with(allowed.needs.clone(), &[p]),
        )
        .await;
        let resp = allowed.send(&app, &cookie).await;
        let status = resp.status().as_u16();
        assert_eq!(
            status,
            allowed.ok,
            "{p} allowed: {} {} → {}",
            allowed.method,
            allowed.path,
            resp.text().await.unwrap_or_default()
        );

        // Denied: everything but the action, on a fresh fixture.
        let denied = probe_for(&ctx, p).await.expect("probe");
        let everything_else: Vec<Permission> = Permission::ALL
            .iter()
            .copied()
            .filter(|q| *q != p)
            .collect();
        set_role_permissions(&mut conn, world.a.id(), role, &everything_else).await;
        drop(conn);
        let resp = denied.send(&app, &cookie).await;
        let status = resp.status().as_u16();
        assert_eq!(
            status,
            denied.denied,
            "{p} denied: {} {} → {}",
            denied.method,
            denied.path,
            resp.text().await.unwrap_or_default()
        );

        if let Some((sql, target)) = denied.sql {
            let mut tx = as_app_with(&app.db.app, Some(probe_user), Some(world.a.id())).await;
            let result = sqlx::query(sql).bind(target).execute(&mut *tx).await;
            match result {
                Err(e) => assert_eq!(
                    e.as_database_error().and_then(|d| d.code()).as_deref(),
                    Some("42501"),
                    "{p}: raw SQL refused with insufficient_privilege: {e}"
                ),
                // Row security hid the row from this role: refused just the same.
                Ok(done) => assert_eq!(
                    done.rows_affected(),
                    0,
                    "{p}: raw SQL `{sql}` was not refused"
                ),
            }
            tx.rollback().await.expect("rollback");
            sql_checked += 1;
        }
        probed += 1;
    }
    assert_eq!(probed + PENDING.len(), Permission::ALL.len());
    println!("action matrix: {probed} actions probed through the API, {sql_checked} also by raw SQL; {} pending", PENDING.len());
}
