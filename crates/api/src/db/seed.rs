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
    Ok(logins)
}
