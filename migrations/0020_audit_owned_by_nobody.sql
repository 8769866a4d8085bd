-- The audit trail moves out of the owner login's reach (issue 10, finding 1).
--
-- The tables `audit.audit_log` and `audit.audit_heads` and the function that appends to them,
-- `audit.append`, belong to `thrive_audit`, a NOLOGIN role nobody is a member of; they are set up
-- by the administrator connection during provisioning (crates/api/src/db/audit.sql), not here,
-- because whatever this migration login creates it can alter later.
--
-- What stays in `app`, owned by thrive_definer: `app.audit_append`, the wrapper every trigger
-- and definer function already calls. It resolves the caller (membership, role name, action) as
-- before and hands plain values to `audit.append`, so no code the owner login can replace ever
-- runs with the audit owner's rights.

-- Function bodies name `audit.audit_log`, which a fresh database only has once provisioning
-- has moved the table (after the migrations).
set local check_function_bodies = off;

create or replace function app.audit_append(org uuid, tool text, table_name text, operation text,
                                            record_id uuid, service_user_id uuid, changes jsonb)
returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    caller record;
begin
    select c.user_id, c.role_id, r.name as role_name into caller
      from app.caller_membership() c
      left join public.roles r on r.id = c.role_id;
    perform audit.append(
        org, caller.user_id, caller.role_id, caller.role_name, tool,
        coalesce(nullif(current_setting('app.action', true), ''), table_name || '.' || operation),
        operation, table_name, record_id, service_user_id, changes);
end
$$;

-- The name an entry's actor had when it was written (0012), reading the log's new home.
create or replace function app.actor_name_at(p_org uuid, p_user uuid, p_seq bigint) returns text
language sql stable
set search_path = pg_catalog
as $$
    select coalesce(
        (select c.changes->'display_name'->>'new' from audit.audit_log c
          where c.organization_id = p_org and c.table_name = 'users' and c.record_id = p_user
            and c.seq <= p_seq and c.changes ? 'display_name'
          order by c.seq desc limit 1),
        (select c.changes->'display_name'->>'old' from audit.audit_log c
          where c.organization_id = p_org and c.table_name = 'users' and c.record_id = p_user
            and c.seq > p_seq and c.changes ? 'display_name'
          order by c.seq limit 1),
        (select u.display_name from public.users u where u.id = p_user))
$$;
