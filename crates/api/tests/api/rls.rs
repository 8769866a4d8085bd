//! Must-show 1: raw SQL as `thrive_app` with missing or forged settings sees nothing and
//! changes nothing, on every organisation table.

use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use crate::helpers::{as_app_with, TestDb, World};

/// Every table holding organisation data: those with organization_id, plus organizations and
/// users themselves. Read from the catalogue, so a new table is covered without editing this.
async fn organisation_tables(db: &TestDb) -> Vec<String> {
    let mut tables: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind = 'r'
            and (exists (select 1 from pg_attribute a where a.attrelid = c.oid
                          and a.attname = 'organization_id' and not a.attisdropped)
                 or c.relname in ('organizations', 'users'))
          order by 1",
    )
    .fetch_all(&db.admin)
    .await
    .expect("tables");
    tables.dedup();
    assert!(tables.len() >= 7, "{tables:?}");
    tables
}

/// Rows of `table` that belong to `org`, as JSON (via the administrator connection).
async fn rows_of(db: &TestDb, table: &str, org: Uuid) -> Vec<Value> {
    let filter = match table {
        "organizations" => "t.id = $1",
        "users" => {
            "exists (select 1 from memberships m where m.user_id = t.id and m.organization_id = $1)"
        }
        _ => "t.organization_id = $1",
    };
    sqlx::query_scalar(&format!("select to_jsonb(t) from {table} t where {filter}"))
        .bind(org)
        .fetch_all(&db.admin)
        .await
        .expect("rows")
}

async fn count_as(db: &TestDb, table: &str, user: Option<Uuid>, org: Option<Uuid>) -> i64 {
    let mut tx = as_app_with(&db.app, user, org).await;
    let n = sqlx::query_scalar(&format!("select count(*) from {table}"))
        .fetch_one(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("count {table}: {e}"));
    tx.rollback().await.expect("rollback");
    n
}

/// Attempt every kind of write on `victim`'s rows of `table`; each must be refused (an error)
/// or touch no row.
async fn assert_no_writes(
    db: &TestDb,
    table: &str,
    victim: Uuid,
    user: Option<Uuid>,
    org: Option<Uuid>,
    label: &str,
) {
    let before = rows_of(db, table, victim).await;
    assert!(
        !before.is_empty(),
        "{table}: fixture has rows for the victim"
    );

    // UPDATE and DELETE: row security hides the rows, or privileges refuse the statement.
    for stmt in [
        format!("update {table} set organization_id = organization_id"),
        format!("delete from {table}"),
    ] {
        let stmt = if table == "organizations" {
            stmt.replace("organization_id", "name")
        } else if table == "users" {
            stmt.replace("organization_id", "display_name")
        } else {
            stmt
        };
        let mut tx = as_app_with(&db.app, user, org).await;
        match sqlx::query(&stmt).execute(&mut *tx).await {
            Ok(done) => assert_eq!(done.rows_affected(), 0, "{label}: `{stmt}` touched rows"),
            Err(e) => assert_refused(&e, label, &stmt),
        }
        let _ = tx.rollback().await;
    }

    // INSERT: a copy of a real row of the victim with a new id must be refused.
    let mut row = before[0].clone();
    if let Some(obj) = row.as_object_mut() {
        if obj.contains_key("id") {
            obj.insert("id".into(), Value::String(Uuid::new_v4().to_string()));
        }
        if table == "users" {
            obj.insert(
                "email".into(),
                Value::String(format!("{}@forged.example", Uuid::new_v4())),
            );
        }
    }
    let stmt =
        format!("insert into {table} select * from jsonb_populate_record(null::{table}, $1)");
    let mut tx = as_app_with(&db.app, user, org).await;
    let result = sqlx::query(&stmt).bind(&row).execute(&mut *tx).await;
    match result {
        Ok(_) => panic!("{label}: insert into {table} was accepted"),
        Err(e) => assert_refused(&e, label, &stmt),
    }
    let _ = tx.rollback().await;

    assert_eq!(
        rows_of(db, table, victim).await,
        before,
        "{label}: {table} changed"
    );
}

fn assert_refused(e: &sqlx::Error, label: &str, stmt: &str) {
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned());
    // 42501: insufficient_privilege, which is also how PostgreSQL reports a policy violation.
    assert_eq!(
        code.as_deref(),
        Some("42501"),
        "{label}: `{stmt}` failed otherwise: {e}"
    );
}

#[tokio::test]
async fn app_role_with_missing_or_forged_settings_sees_and_changes_nothing() {
    let db = TestDb::new().await;
    let world = World::seed(&db).await;
    let victim = world.b.id();
    let scenarios = [
        ("no settings", None, None),
        ("victim org id forged, no user", None, Some(victim)),
        (
            "user of another org with the victim's org id",
            Some(world.a.user("admin")),
            Some(victim),
        ),
        (
            "unknown user with the victim's org id",
            Some(Uuid::new_v4()),
            Some(victim),
        ),
        (
            "victim's user id with another org's id",
            Some(world.b.user("admin")),
            Some(world.a.id()),
        ),
    ];
    for table in organisation_tables(&db).await {
        for (label, user, org) in scenarios {
            assert_eq!(
                count_as(&db, &table, user, org).await,
                0,
                "{label}: {table} visible"
            );
            assert_no_writes(
                &db,
                &table,
                victim,
                user,
                org,
                &format!("{label} / {table}"),
            )
            .await;
        }
    }
}

#[tokio::test]
async fn settings_that_are_not_uuids_fail_closed() {
    let db = TestDb::new().await;
    World::seed(&db).await;
    let mut tx = db.app.begin().await.expect("begin");
    sqlx::query("select set_config('app.user_id', 'x'' or true --', true), set_config('app.org_id', '', true)")
        .execute(&mut *tx)
        .await
        .expect("set");
    let n: i64 = sqlx::query_scalar("select count(*) from service_users")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_real_member_sees_their_own_organisation_only() {
    // The control for the test above: the same probes with honest settings do see rows, so
    // "zero rows" there is the policies at work, not an empty fixture.
    let db = TestDb::new().await;
    let world = World::seed(&db).await;
    let (admin, org) = (world.a.user("admin"), world.a.id());
    for table in organisation_tables(&db).await {
        let mut tx = as_app_with(&db.app, Some(admin), Some(org)).await;
        // The columns the API's role may read (a token's hash, for one, it may not).
        let columns: Vec<String> = sqlx::query_scalar(
            "select quote_ident(a.attname) from pg_attribute a
              where a.attrelid = ('public.' || quote_ident($1))::regclass and a.attnum > 0
                and not a.attisdropped
                and has_column_privilege('thrive_app', a.attrelid, a.attnum, 'SELECT')
              order by a.attnum",
        )
        .bind(&table)
        .fetch_all(&db.admin)
        .await
        .expect("columns");
        let rows: Vec<Value> = sqlx::query_scalar(&format!(
            "select to_jsonb(t) from (select {} from {table}) t",
            columns.join(", ")
        ))
        .fetch_all(&mut *tx)
        .await
        .expect("select");
        assert!(
            !rows.is_empty(),
            "{table}: the administrator sees their organisation's rows"
        );
        for row in rows {
            if let Some(o) = row.get("organization_id") {
                assert_eq!(
                    o.as_str(),
                    Some(org.to_string().as_str()),
                    "{table}: foreign row {row}"
                );
            }
        }
    }
}

#[tokio::test]
async fn identity_settings_do_not_outlive_the_transaction_on_a_pooled_connection() {
    let db = TestDb::new().await;
    let world = World::seed(&db).await;
    // One connection, so the next "request" surely reuses the connection the first one had.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*db.app.connect_options()).clone())
        .await
        .expect("pool");
    let who = thrive_api::db::Identity {
        user_id: world.a.user("admin"),
        organization_id: world.a.id(),
    };
    // The API's own per-request helper.
    let mut tx = thrive_api::db::begin_as(&pool, who)
        .await
        .expect("begin_as");
    let n: i64 = sqlx::query_scalar("select count(*) from service_users")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert_eq!(n, 4);
    tx.commit().await.expect("commit");
    // Same connection, next "request": the settings are gone ('' after a local value ended).
    let row = sqlx::query("select current_setting('app.user_id', true) as u, (select count(*) from service_users) as n")
        .fetch_one(&pool)
        .await
        .expect("select");
    assert_eq!(row.get::<Option<String>, _>("u").unwrap_or_default(), "");
    assert_eq!(row.get::<i64, _>("n"), 0);
}
