//! Provisioning organisations, staff and service users from an administrator connection.
//! Used to seed the demo organisations and, in tests, to arrange fixtures; the API itself never
//! runs these (it has no privilege to).

use std::collections::HashMap;

use anyhow::{Context, Result};
use secrecy::SecretString;
use sqlx::PgConnection;
use thrive_domain::{DefaultRole, Permission};
use uuid::Uuid;

use crate::passwords;

/// An organisation with the default ladder of roles.
#[derive(Debug, Clone)]
pub struct SeededOrganization {
    pub id: Uuid,
    pub name: String,
    pub roles: HashMap<&'static str, Uuid>,
}

impl SeededOrganization {
    pub fn role(&self, role: DefaultRole) -> Uuid {
        self.roles[role.name()]
    }
}

pub async fn create_organization(
    conn: &mut PgConnection,
    name: &str,
) -> Result<SeededOrganization> {
    let id: Uuid = sqlx::query_scalar("insert into organizations (name) values ($1) returning id")
        .bind(name)
        .fetch_one(&mut *conn)
        .await
        .context("creating organisation")?;
    let mut roles = HashMap::new();
    for role in DefaultRole::ALL {
        let role_id: Uuid = sqlx::query_scalar(
            "insert into roles (organization_id, name, description) values ($1, $2, $3) returning id",
        )
        .bind(id)
        .bind(role.name())
        .bind(format!("Default {} role", role.name()))
        .fetch_one(&mut *conn)
        .await?;
        let keys: Vec<&str> = Permission::ALL.iter().map(|p| p.key()).collect();
        let allowed: Vec<bool> = Permission::ALL.iter().map(|&p| role.allows(p)).collect();
        sqlx::query(
            "insert into role_permissions (organization_id, role_id, permission_key, allowed)
             select $1, $2, k, a from unnest($3::text[], $4::bool[]) as t(k, a)",
        )
        .bind(id)
        .bind(role_id)
        .bind(&keys)
        .bind(&allowed)
        .execute(&mut *conn)
        .await?;
        roles.insert(role.name(), role_id);
    }
    Ok(SeededOrganization {
        id,
        name: name.to_owned(),
        roles,
    })
}

/// A user with a password and a membership in `org` holding `role_id`.
pub async fn create_staff(
    conn: &mut PgConnection,
    org: Uuid,
    role_id: Uuid,
    email: &str,
    display_name: &str,
    password_hash: &str,
) -> Result<Uuid> {
    let user_id: Uuid = sqlx::query_scalar(
        "insert into users (email, display_name) values ($1, $2)
         on conflict (email) do update set display_name = excluded.display_name
         returning id",
    )
    .bind(email)
    .bind(display_name)
    .fetch_one(&mut *conn)
    .await
    .context("creating user")?;
    sqlx::query(
        "insert into auth.credentials (user_id, password_hash) values ($1, $2)
         on conflict (user_id) do update set password_hash = excluded.password_hash",
    )
    .bind(user_id)
    .bind(password_hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("insert into memberships (organization_id, user_id, role_id) values ($1, $2, $3)")
        .bind(org)
        .bind(user_id)
        .bind(role_id)
        .execute(&mut *conn)
        .await
        .context("creating membership")?;
    Ok(user_id)
}

pub async fn create_service_user(
    conn: &mut PgConnection,
    org: Uuid,
    given_name: &str,
    family_name: &str,
    room: &str,
) -> Result<Uuid> {
    Ok(sqlx::query_scalar(
        "insert into service_users (organization_id, given_name, family_name, room)
         values ($1, $2, $3, $4) returning id",
    )
    .bind(org)
    .bind(given_name)
    .bind(family_name)
    .bind(room)
    .fetch_one(&mut *conn)
    .await?)
}

pub async fn assign(
    conn: &mut PgConnection,
    org: Uuid,
    user: Uuid,
    service_user: Uuid,
) -> Result<()> {
    sqlx::query(
        "insert into staff_assignments (organization_id, user_id, service_user_id) values ($1, $2, $3)",
    )
    .bind(org)
    .bind(user)
    .bind(service_user)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One demo sign-in, printed by `cargo xtask run`.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub organization: String,
    pub role: &'static str,
    pub email: String,
    pub display_name: String,
    /// Names of the service users this person is assigned to (carers only).
    pub assigned: Vec<String>,
}

struct DemoOrg {
    name: &'static str,
    domain: &'static str,
    staff: [(&'static str, DefaultRole, &'static str); 5],
    residents: [(&'static str, &'static str, &'static str); 6],
}

const DEMO: [DemoOrg; 2] = [
    DemoOrg {
        name: "Meadowbank Care Home",
        domain: "meadowbank.example",
        staff: [
            ("admin", DefaultRole::Administrator, "Amara Okafor"),
            (
                "manager",
                DefaultRole::RegisteredManager,
                "Graham Whitfield",
            ),
            ("senior", DefaultRole::SeniorCarer, "Priya Sharma"),
            ("carer1", DefaultRole::Carer, "Tomasz Nowak"),
            ("carer2", DefaultRole::Carer, "Bethan Jones"),
        ],
        residents: [
            ("Edith", "Harrington", "Room 1"),
            ("Arthur", "Pennington", "Room 2"),
            ("Margaret", "O'Neill", "Room 3"),
            ("Harold", "Baxter", "Room 4"),
            ("Winifred", "Clarke", "Room 5"),
            ("Stanley", "Moss", "Room 6"),
        ],
    },
    DemoOrg {
        name: "Riverside Home Care",
        domain: "riverside.example",
        staff: [
            ("admin", DefaultRole::Administrator, "Samuel Adeyemi"),
            ("manager", DefaultRole::RegisteredManager, "Fiona MacLeod"),
            ("senior", DefaultRole::SeniorCarer, "Kwame Mensah"),
            ("carer1", DefaultRole::Carer, "Aisha Rahman"),
            ("carer2", DefaultRole::Carer, "Owen Price"),
        ],
        residents: [
            ("Doris", "Fairweather", "12 Mill Lane"),
            ("Cyril", "Ashworth", "4 Quay Street"),
            ("Ivy", "Lambert", "9 Church Row"),
            ("Reginald", "Hale", "31 Ferry Road"),
            ("Gladys", "Whitmore", "2 Orchard Close"),
            ("Percy", "Langford", "18 Weir View"),
        ],
    },
];

/// Which residents each carer looks after: carer1 the first, second and third, carer2 the
/// third, fourth and fifth; the sixth is assigned to no carer, so only roles with
/// `service_users.view_all` see them.
const CARER_ASSIGNMENTS: [(&str, [usize; 3]); 2] = [("carer1", [0, 1, 2]), ("carer2", [2, 3, 4])];

/// Seed the two demo organisations unless they exist. Every demo account gets `password`.
/// Returns the sign-ins either way.
pub async fn seed_demo(conn: &mut PgConnection, password: &SecretString) -> Result<Vec<DemoLogin>> {
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from organizations where name = $1)")
            .bind(DEMO[0].name)
            .fetch_one(&mut *conn)
            .await?;
    let mut logins = Vec::new();
    let hash = if exists {
        String::new()
    } else {
        passwords::hash(password).map_err(|e| anyhow::anyhow!("hashing the demo password: {e}"))?
    };
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let mut examples = Vec::new();
    for demo in &DEMO {
        let org = if exists {
            None
        } else {
            Some(create_organization(&mut tx, demo.name).await?)
        };
        let mut residents = Vec::new();
        if let Some(org) = &org {
            for (given, family, room) in demo.residents {
                residents.push(create_service_user(&mut tx, org.id, given, family, room).await?);
            }
        }
        for (local, role, display_name) in demo.staff {
            let email = format!("{local}@{}", demo.domain);
            let assigned_idx = CARER_ASSIGNMENTS
                .iter()
                .find(|(who, _)| *who == local)
                .map(|(_, idx)| idx.to_vec())
                .unwrap_or_default();
            if let Some(org) = &org {
                let user =
                    create_staff(&mut tx, org.id, org.role(role), &email, display_name, &hash)
                        .await?;
                for &i in &assigned_idx {
                    assign(&mut tx, org.id, user, residents[i]).await?;
                }
                if role == DefaultRole::RegisteredManager {
                    examples.push((org.id, residents[0], user));
                }
            }
            logins.push(DemoLogin {
                organization: demo.name.to_owned(),
                role: role.name(),
                email,
                display_name: display_name.to_owned(),
                assigned: assigned_idx
                    .iter()
                    .map(|&i| format!("{} {}", demo.residents[i].0, demo.residents[i].1))
                    .collect(),
            });
        }
    }
    tx.commit().await?;
    // A record of every tool for the first resident of each home, so every screen has data.
    for (org, resident, manager) in examples {
        clinical_examples(conn, org, resident, manager).await?;
    }
    Ok(logins)
}

/// One record of every clinical tool for `service_user`, written as `author` would have written
/// them (the demo's examples, and the fixture the RLS tests probe every table with).
pub async fn clinical_examples(
    conn: &mut PgConnection,
    org: Uuid,
    service_user: Uuid,
    author: Uuid,
) -> Result<()> {
    // Run as the author so the guards and the audit trail see a real member at work.
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query(
        "select set_config('app.user_id', $1, true), set_config('app.org_id', $2, true),
                set_config('seed.service_user', $3, true)",
    )
    .bind(author.to_string())
    .bind(org.to_string())
    .bind(service_user.to_string())
    .execute(&mut *tx)
    .await?;
    sqlx::raw_sql(
        "insert into care_notes (organization_id, service_user_id, category, occurred_at, body)
         select organization_id, id, 'personal_care', now() - interval '2 hours',
                'Supported with a morning wash and dressing; chose the blue cardigan. Ate most of breakfast.'
           from service_users where id = current_setting('seed.service_user')::uuid;
         insert into care_plans (organization_id, service_user_id, title, summary, review_date)
         select organization_id, id, 'Daily living', 'Independent with prompting.', current_date + 30
           from service_users where id = current_setting('seed.service_user')::uuid;
         insert into care_plan_sections (organization_id, service_user_id, care_plan_id, section, needs, goals, interventions)
         select organization_id, service_user_id, id, 'mobility', 'Walks with a frame.', 'Stay mobile indoors.', 'Frame within reach; walk to lunch.'
           from care_plans where service_user_id = current_setting('seed.service_user')::uuid;
         insert into risk_assessments (organization_id, service_user_id, kind, answers, score, level, control_measures, review_date)
         select organization_id, id, 'malnutrition', '{\"bmi_score\": 1, \"weight_loss_score\": 0, \"acute_disease_effect\": 0}',
                1, 'medium', 'Weigh weekly; fortified snacks.', current_date + 28
           from service_users where id = current_setting('seed.service_user')::uuid;
         insert into incidents (organization_id, service_user_id, occurred_at, location, category, severity, description, immediate_action)
         select organization_id, id, now() - interval '1 day', 'Lounge', 'fall', 'low',
                'Found sitting on the floor beside the armchair; no pain reported.', 'Checked for injury; helped up with a hoist.'
           from service_users where id = current_setting('seed.service_user')::uuid;
         insert into body_map_marks (organization_id, service_user_id, side, region, x, y, description, size, observed_at)
         select organization_id, id, 'front', 'left forearm', 0.28, 0.45, 'Small bruise, yellowing', '2 cm', now() - interval '1 day'
           from service_users where id = current_setting('seed.service_user')::uuid;
         insert into observations (organization_id, service_user_id, kind, observed_at, data)
         select organization_id, id, 'fluid', now() - interval '3 hours', '{\"kind\": \"fluid\", \"millilitres\": 200, \"fluid\": \"tea\"}'
           from service_users where id = current_setting('seed.service_user')::uuid;
         insert into handovers (organization_id, service_user_id, shift, summary)
         select organization_id, id, 'morning', 'Settled night; drank well. Review bruise on left forearm.'
           from service_users where id = current_setting('seed.service_user')::uuid;
         insert into handover_acknowledgements (organization_id, service_user_id, handover_id)
         select organization_id, service_user_id, id
           from handovers where service_user_id = current_setting('seed.service_user')::uuid;
         insert into prescriptions (organization_id, service_user_id, drug, dose, route, schedule, times, start_date, prescriber)
         select organization_id, id, 'Paracetamol 500 mg tablets', 'Two tablets', 'oral', 'Four times a day',
                '{08:00,12:00,17:00,22:00}', current_date - 7, 'Dr A. Patel'
           from service_users where id = current_setting('seed.service_user')::uuid;
         insert into medication_administrations (organization_id, service_user_id, prescription_id, scheduled_for, outcome, dose_given)
         select organization_id, service_user_id, id, date_trunc('day', now()) + interval '8 hours', 'given', 'Two tablets'
           from prescriptions where service_user_id = current_setting('seed.service_user')::uuid;
         insert into medication_stock (organization_id, service_user_id, prescription_id, kind, quantity, note)
         select organization_id, service_user_id, id, 'received', 100, 'Monthly delivery'
           from prescriptions where service_user_id = current_setting('seed.service_user')::uuid;
         insert into files (organization_id, purpose, service_user_id, body_map_mark_id, content_type, size, sha256, width, height, content)
         select organization_id, 'body_map_photo', service_user_id, id, 'image/png', 69, sha256('\\x89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c49444154789c63d0ca9b030001fa01355a5ae34a0000000049454e44ae426082'::bytea), 1, 1, '\\x89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c49444154789c63d0ca9b030001fa01355a5ae34a0000000049454e44ae426082'::bytea
           from body_map_marks where service_user_id = current_setting('seed.service_user')::uuid;",
    )
    .execute(&mut *tx)
    .await
    .context("seeding clinical examples")?;
    tx.commit().await?;
    Ok(())
}
