//! Must-show 2 and the role rules: RLS enabled and forced wherever organisation data lives, no
//! permissive-by-default policy, thrive_app without special powers, and the permission
//! catalogue the same in Rust and SQL.

use std::collections::BTreeSet;

use thrive_domain::Permission;

use crate::helpers::TestDb;

/// Problems with Row Level Security in the database `pool` points at (empty when sound).
async fn rls_problems(pool: &sqlx::PgPool) -> Vec<String> {
    let mut problems: Vec<String> = sqlx::query_scalar(
        "select format('%I.%I: row level security %s', n.nspname, c.relname,
                       case when not c.relrowsecurity then 'not enabled' else 'not forced' end)
           from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
          where c.relkind in ('r', 'p')
            and n.nspname not in ('pg_catalog', 'information_schema')
            and exists (select 1 from pg_attribute a where a.attrelid = c.oid
                         and a.attname = 'organization_id' and not a.attisdropped)
            and not (c.relrowsecurity and c.relforcerowsecurity)",
    )
    .fetch_all(pool)
    .await
    .expect("rls query");
    let permissive: Vec<String> = sqlx::query_scalar(
        "select format('%I.%I: policy %I is unconditional', schemaname, tablename, policyname)
           from pg_policies
          where btrim(coalesce(qual, '')) in ('true', '(true)')
             or btrim(coalesce(with_check, '')) in ('true', '(true)')",
    )
    .fetch_all(pool)
    .await
    .expect("policy query");
    problems.extend(permissive);
    problems
}

#[tokio::test]
async fn every_organisation_table_has_rls_enabled_and_forced_and_no_unconditional_policy() {
    let db = TestDb::new().await;
    assert_eq!(rls_problems(&db.admin).await, Vec::<String>::new());
}

#[tokio::test]
async fn the_catalogue_check_catches_a_table_added_without_rls() {
    let db = TestDb::new().await;
    sqlx::query("create table careless (id int primary key, organization_id uuid not null)")
        .execute(&db.owner)
        .await
        .expect("create");
    assert_eq!(
        rls_problems(&db.admin).await,
        vec!["public.careless: row level security not enabled".to_owned()]
    );
    sqlx::query("alter table careless enable row level security")
        .execute(&db.owner)
        .await
        .expect("enable");
    assert_eq!(
        rls_problems(&db.admin).await,
        vec!["public.careless: row level security not forced".to_owned()]
    );
    sqlx::query("alter table careless force row level security")
        .execute(&db.owner)
        .await
        .expect("force");
    sqlx::query("create policy open on careless using (true)")
        .execute(&db.owner)
        .await
        .expect("policy");
    assert_eq!(
        rls_problems(&db.admin).await,
        vec!["public.careless: policy open is unconditional".to_owned()]
    );
}

#[tokio::test]
async fn the_app_role_has_no_special_powers_and_owns_nothing() {
    let db = TestDb::new().await;
    let (superuser, bypass, createrole, createdb): (bool, bool, bool, bool) = sqlx::query_as(
        "select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles where rolname = 'thrive_app'",
    )
    .fetch_one(&db.admin)
    .await
    .expect("role");
    assert!(!superuser && !bypass && !createrole && !createdb);
    let owned: i64 = sqlx::query_scalar(
        "select (select count(*) from pg_class where relowner = 'thrive_app'::regrole)
              + (select count(*) from pg_proc where proowner = 'thrive_app'::regrole)
              + (select count(*) from pg_namespace where nspowner = 'thrive_app'::regrole)",
    )
    .fetch_one(&db.admin)
    .await
    .expect("owned");
    assert_eq!(owned, 0);
    // The definer role and the owner do not bypass RLS either.
    let bypassers: Vec<String> = sqlx::query_scalar(
        "select rolname::text from pg_roles where rolname in ('thrive_owner', 'thrive_app', 'thrive_definer') and (rolbypassrls or rolsuper)",
    )
    .fetch_all(&db.admin)
    .await
    .expect("roles");
    assert_eq!(bypassers, Vec::<String>::new());
}

#[tokio::test]
async fn the_app_role_cannot_touch_sign_in_state_directly() {
    let db = TestDb::new().await;
    for table in [
        "auth.credentials",
        "auth.sessions",
        "auth.codes",
        "auth.login_failures",
        "auth.lockouts",
    ] {
        let err = sqlx::query(&format!("select count(*) from {table}"))
            .execute(&db.app)
            .await
            .expect_err(table);
        assert_eq!(
            err.as_database_error().and_then(|d| d.code()).as_deref(),
            Some("42501"),
            "{table}"
        );
    }
    let err = sqlx::query("select auth.set_password(gen_random_uuid(), 'x', now())")
        .execute(&db.app)
        .await
        .expect_err("set_password is not for the API");
    assert_eq!(
        err.as_database_error().and_then(|d| d.code()).as_deref(),
        Some("42501")
    );
}

#[tokio::test]
async fn the_database_knows_exactly_the_rust_permission_catalogue() {
    let db = TestDb::new().await;
    let in_db: BTreeSet<String> = sqlx::query_scalar("select key from permissions")
        .fetch_all(&db.app)
        .await
        .expect("keys")
        .into_iter()
        .collect();
    let in_rust: BTreeSet<String> = Permission::ALL.iter().map(|p| p.key().to_owned()).collect();
    assert_eq!(
        in_db, in_rust,
        "migrations/ and crates/domain disagree on the permission catalogue"
    );
    let tools: Vec<(String, String)> = sqlx::query_as("select key, tool from permissions")
        .fetch_all(&db.app)
        .await
        .expect("tools");
    for (key, tool) in tools {
        let p: Permission = key.parse().expect("known");
        let rust_tool = serde_json::to_value(p.tool()).expect("tool json");
        assert_eq!(rust_tool.as_str(), Some(tool.as_str()), "{key}");
    }
}
