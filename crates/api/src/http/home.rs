//! The home pages' aggregates (issue 13 item 3, one request per screen): what the carer's home
//! used to ask three requests per service user for, in one statement under RLS as the caller,
//! with the service-users card's list beside it (so a home is `/api/me` and one aggregate).

use axum::extract::State;
use axum::Json;
use thrive_domain::home::{Dashboard, Today, TodayTask};
use thrive_domain::Permission;

use super::extract::Caller;
use super::routes::Routes;
use crate::error::Result;
use crate::startup::AppState;

pub fn routes() -> Routes {
    Routes::new().get(
        "/home/today",
        &[Permission::ServiceUsersView],
        "A carer's tasks today for the service users visible to them: doses due and not yet \
         recorded, handovers to acknowledge, fluid charts overdue (each only with its permission)",
        today,
    )
    .get(
        "/home/dashboard",
        &[Permission::ServiceUsersView],
        "A manager's exact counts (notes awaiting sign-off, open incidents, overdue reviews) and \
         chart series (incidents by week, notes signed off per day), each only with its permission",
        dashboard,
    )
}

/// One statement. Each part asks `app.has_permission` for the permission its list route needs,
/// and RLS limits every table to what the caller may see (a carer: assigned service users).
const TODAY: &str = r#"
with su as (
    select id, given_name || ' ' || family_name as display_name
    from service_users order by family_name, given_name, id limit 500
),
tasks as (
    select su.id as service_user_id, su.display_name, 'dose' as kind, p.id,
           to_char(t, 'HH24:MI') as due_time, null::timestamptz as at,
           p.drug, p.dose, p.route, null::text as shift
    from su
    join prescriptions p on p.service_user_id = su.id and p.status = 'active'
                         and not p.as_needed
                         and p.start_date <= current_date
                         and (p.end_date is null or p.end_date >= current_date)
    cross join lateral unnest(p.times) as t
    where app.has_permission('medication.view')
      and not exists (
          select 1 from medication_administrations m
          where m.prescription_id = p.id
            and m.scheduled_for = current_date + t)
    union all
    select su.id, su.display_name, 'handover', h.id, null, h.created_at, null, null, null, h.shift
    from su
    join handovers h on h.service_user_id = su.id and h.created_at >= now() - interval '24 hours'
    where app.has_permission('handovers.view')
      and not exists (
          select 1 from handover_acknowledgements a
          where a.handover_id = h.id and a.user_id = app.current_user_id())
    union all
    select su.id, su.display_name, 'fluid_overdue', null::uuid, null, last.observed_at, null, null, null, null
    from su
    left join lateral (
        select o.observed_at from observations o
        where o.service_user_id = su.id and o.kind = 'fluid'
        order by o.observed_at desc limit 1) last on true
    where app.has_permission('observations.view')
      and (last.observed_at is null or last.observed_at < now() - interval '4 hours')
)
select coalesce(json_agg(json_build_object(
    'service_user_id', service_user_id, 'display_name', display_name, 'kind', kind, 'id', id,
    'time', due_time, 'at', at, 'drug', drug, 'dose', dose, 'route', route, 'shift', shift)
    order by coalesce(due_time, 'Overdue'), display_name, at), '[]'::json)
from tasks
"#;

async fn today(State(s): State<AppState>, c: Caller) -> Result<Json<Today>> {
    let mut tx = c.begin(&s).await?;
    let rows: serde_json::Value = sqlx::query_scalar(TODAY).fetch_one(&mut *tx).await?;
    let tasks: Vec<TodayTask> =
        serde_json::from_value(rows).map_err(|e| crate::error::ApiError::Internal(e.into()))?;
    // A read of clinical data like any list (issue 10 finding 4): one entry naming the people
    // whose doses, handovers and charts were shown, collapsed like every repeated read.
    let mut touched: Vec<uuid::Uuid> = tasks.iter().map(|t| t.service_user_id).collect();
    touched.sort_unstable();
    touched.dedup();
    if !touched.is_empty() {
        super::records::audit_read(
            &mut tx,
            Permission::ServiceUsersView,
            "service_users",
            &touched,
            None,
            serde_json::json!({"home": "today"}),
        )
        .await?;
    }
    let service_users = super::service_users::visible(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(Today {
        tasks,
        service_users,
    }))
}

/// One statement: exact counts (the list pages stop at 200) and both chart series, under RLS.
const DASHBOARD: &str = r#"
select json_build_object(
    'awaiting_sign_off', case when app.has_permission('care_notes.view')
        then (select count(*) from care_notes where status = 'submitted') else 0 end,
    'open_incidents', case when app.has_permission('incidents.view')
        then (select count(*) from incidents where status <> 'closed') else 0 end,
    'overdue_reviews',
        case when app.has_permission('care_plans.view')
            then (select count(*) from care_plans
                  where status = 'active' and review_date < current_date) else 0 end
      + case when app.has_permission('risk_assessments.view')
            then (select count(*) from risk_assessments
                  where status = 'active' and review_date < current_date) else 0 end,
    'incidents_by_week', (
        select json_agg(case when app.has_permission('incidents.view') then (
                   select count(*) from incidents i
                   where i.occurred_at > now() - make_interval(weeks => w + 1)
                     and i.occurred_at <= now() - make_interval(weeks => w)) else 0 end
               order by w desc)
        from generate_series(0, 5) as w),
    'signed_off_by_day', (
        select json_agg(json_build_object('date', to_char(d, 'YYYY-MM-DD'),
                   'count', case when app.has_permission('care_notes.view') then (
                       select count(*) from care_notes n
                       where n.status = 'signed_off'
                         and n.reviewed_at >= d and n.reviewed_at < d + 1) else 0 end)
               order by d)
        from generate_series(current_date - 6, current_date, interval '1 day') as g(dt),
             lateral (select dt::date as d) as day)
)
"#;

async fn dashboard(State(s): State<AppState>, c: Caller) -> Result<Json<Dashboard>> {
    let mut tx = c.begin(&s).await?;
    let row: serde_json::Value = sqlx::query_scalar(DASHBOARD).fetch_one(&mut *tx).await?;
    let service_users = super::service_users::visible(&mut tx).await?;
    tx.commit().await?;
    let mut dashboard: Dashboard =
        serde_json::from_value(row).map_err(|e| crate::error::ApiError::Internal(e.into()))?;
    dashboard.service_users = service_users;
    Ok(Json(dashboard))
}
