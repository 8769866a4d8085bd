-- The audit trail: every insert, update and delete on audited tables, and every view of a
-- service user's record, appended to one log per organisation, hash-chained, and refused any
-- change afterwards (even by the table owner).
--
-- Writing: the AFTER trigger `app.audit_row()` (SECURITY DEFINER, owned by thrive_definer)
-- turns the change into field-level {"field": {"old": …, "new": …}} pairs and calls
-- `app.audit_append()`, which takes the organisation's chain head row lock (so entries of one
-- organisation are numbered and chained in commit order), computes the entry's hash over the
-- previous hash and the entry's own fields, and inserts it. thrive_app cannot insert, update or
-- delete audit rows itself; it can only read them with audit.view / audit.verify.
--
-- Who: the caller's membership (app.caller_membership(), from the transaction-local settings);
-- which action: `app.action`, set by the API in the same round trip as its permission check
-- (see `Caller::require`), else `<table>.<operation>`.
--
-- Tamper evidence: `app.audit_verify(org)` recomputes the chain and names the first broken
-- entry; `thrive-api verify-audit` runs it for every organisation from an administrator
-- connection. A superuser can still edit rows (it can do anything); the chain shows it.

create table audit_log (
    organization_id  uuid not null references organizations (id) on delete cascade,
    seq              bigint not null check (seq > 0),
    at               timestamptz not null,
    actor_user_id    uuid,
    actor_role_id    uuid,
    actor_role       text,
    tool             text not null,
    action           text not null,
    operation        text not null check (operation in ('insert', 'update', 'delete', 'view', 'export')),
    table_name       text not null,
    record_id        uuid,
    service_user_id  uuid,
    changes          jsonb not null,
    prev_hash        bytea not null,
    hash             bytea not null,
    primary key (organization_id, seq)
);
-- The five filters, each ending in seq so a filtered page is an index range scan in order.
create index audit_log_actor_idx on audit_log (organization_id, actor_user_id, seq);
create index audit_log_service_user_idx on audit_log (organization_id, service_user_id, seq);
create index audit_log_action_idx on audit_log (organization_id, action, seq);
create index audit_log_tool_idx on audit_log (organization_id, tool, seq);
create index audit_log_at_idx on audit_log (organization_id, at);

-- The newest entry of each organisation's chain. Updating it serialises appends per organisation.
create table audit_heads (
    organization_id  uuid primary key references organizations (id) on delete cascade,
    seq              bigint not null,
    hash             bytea not null
);

alter table audit_log enable row level security;
alter table audit_log force row level security;
alter table audit_heads enable row level security;
alter table audit_heads force row level security;

-- The bytes an entry's hash covers, besides the previous hash. Times in UTC with microseconds,
-- so the session's TimeZone cannot change the text.
create function app.audit_payload(e audit_log) returns bytea
language sql immutable
set search_path = pg_catalog
as $$
    select convert_to(concat_ws('|',
        e.organization_id::text, e.seq::text,
        to_char(e.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        coalesce(e.actor_user_id::text, '-'), coalesce(e.actor_role_id::text, '-'),
        coalesce(e.actor_role, '-'), e.tool, e.action, e.operation, e.table_name,
        coalesce(e.record_id::text, '-'), coalesce(e.service_user_id::text, '-'),
        e.changes::text), 'UTF8')
$$;

create function app.audit_entry_hash(e audit_log) returns bytea
language sql immutable
set search_path = pg_catalog
as $$ select public.digest(e.prev_hash || app.audit_payload(e), 'sha256') $$;

-- Appends one entry to `org`'s chain. Not callable by the API role: only through the triggers
-- and app.audit_view().
create function app.audit_append(org uuid, tool text, table_name text, operation text,
                                 record_id uuid, service_user_id uuid, changes jsonb)
returns void
language plpgsql security definer
set search_path = pg_catalog
as $$
declare
    e public.audit_log;
    caller record;
begin
    select c.user_id, c.role_id, r.name as role_name into caller
      from app.caller_membership() c
      left join public.roles r on r.id = c.role_id;

    insert into public.audit_heads (organization_id, seq, hash)
    values (org, 0, '\x'::bytea)
    on conflict (organization_id) do nothing;
    update public.audit_heads h set seq = h.seq + 1
     where h.organization_id = org
    returning h.seq, h.hash into e.seq, e.prev_hash;

    e.organization_id := org;
    e.at := clock_timestamp();
    e.actor_user_id := caller.user_id;
    e.actor_role_id := caller.role_id;
    e.actor_role := caller.role_name;
    e.tool := tool;
    e.action := coalesce(nullif(current_setting('app.action', true), ''),
                         table_name || '.' || operation);
    e.operation := operation;
    e.table_name := table_name;
    e.record_id := record_id;
    e.service_user_id := service_user_id;
    e.changes := changes;
    e.hash := app.audit_entry_hash(e);

    insert into public.audit_log values (e.*);
    update public.audit_heads h set hash = e.hash where h.organization_id = org;
end
$$;

-- AFTER INSERT OR UPDATE OR DELETE trigger. TG_ARGV[0] is the tool; further arguments name
-- columns left out of the entry (file contents, secrets), whose change is still recorded as
-- {"changed": true}.
create function app.audit_row() returns trigger
language plpgsql security definer
set search_path = pg_catalog
as $$
declare
    tool text := TG_ARGV[0];
    skipped text[] := TG_ARGV[1:];
    new_row jsonb;
    old_row jsonb;
    any_row jsonb;
    org uuid;
    changes jsonb;
begin
    if TG_OP <> 'DELETE' then new_row := to_jsonb(NEW); end if;
    if TG_OP <> 'INSERT' then old_row := to_jsonb(OLD); end if;
    any_row := coalesce(new_row, old_row);

    org := case when TG_TABLE_NAME = 'organizations' then (any_row->>'id')::uuid
                else coalesce((any_row->>'organization_id')::uuid, app.current_org()) end;
    if org is null then
        -- A user row changed outside any organisation's context (provisioning): no chain to
        -- write it to. Every organisation table carries organization_id, so this is only users.
        return null;
    end if;

    if TG_OP = 'UPDATE' then
        select coalesce(jsonb_object_agg(n.key,
                   case when n.key = any (skipped) then jsonb_build_object('changed', true)
                        else jsonb_build_object('old', old_row->n.key, 'new', n.value) end), '{}')
          into changes
          from jsonb_each(new_row) n
         where n.value is distinct from old_row->n.key;
        if changes = '{}'::jsonb then
            return null;
        end if;
    else
        select coalesce(jsonb_object_agg(n.key,
                   case when n.key = any (skipped) then jsonb_build_object('changed', true)
                        when TG_OP = 'INSERT' then jsonb_build_object('new', n.value)
                        else jsonb_build_object('old', n.value) end), '{}')
          into changes
          from jsonb_each(any_row) n;
    end if;

    perform app.audit_append(
        org, tool, TG_TABLE_NAME::text, lower(TG_OP),
        coalesce(any_row->>'id', any_row->>'role_id')::uuid,
        case when TG_TABLE_NAME = 'service_users' then (any_row->>'id')::uuid
             else (any_row->>'service_user_id')::uuid end,
        changes);
    return null;
end
$$;

-- A read of a service user's record (or an export of it). Records nothing and answers false
-- when the caller may not see that service user.
create function app.audit_view(service_user uuid, operation text default 'view') returns boolean
language plpgsql security definer
set search_path = pg_catalog
as $$
begin
    if operation not in ('view', 'export') or not app.can_see_service_user(service_user) then
        return false;
    end if;
    perform app.audit_append(app.current_org(), 'service_users', 'service_users', operation,
                             service_user, service_user, '{}'::jsonb);
    return true;
end
$$;

-- Append-only, for everyone: the API role has no UPDATE/DELETE/TRUNCATE grant, and these
-- triggers refuse them from the owner too.
create function app.audit_refuse() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
    raise exception 'the audit trail is append-only: % refused', TG_OP
        using errcode = 'insufficient_privilege';
end
$$;
create trigger audit_log_append_only before update or delete on audit_log
    for each row execute function app.audit_refuse();
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function app.audit_refuse();

-- Recomputes `org`'s chain, as the caller (RLS decides what it can read). Reports the number of
-- entries checked and the first broken one: a hash that does not match its fields, a previous
-- hash that does not match the entry before, a gap in the numbering, or a head that does not
-- match the last entry (entries removed from the end).
create function app.audit_verify(org uuid,
                                 out entries bigint, out first_broken_seq bigint, out problem text)
language plpgsql stable
set search_path = pg_catalog
as $$
declare
    e public.audit_log;
    expected_prev bytea := '\x'::bytea;
    expected_seq bigint := 1;
    head public.audit_heads;
begin
    entries := 0;
    for e in select * from public.audit_log a where a.organization_id = org order by a.seq loop
        if e.seq <> expected_seq then
            first_broken_seq := expected_seq;
            problem := format('entry %s is missing', expected_seq);
            return;
        end if;
        if e.prev_hash <> expected_prev then
            first_broken_seq := e.seq;
            problem := format('entry %s does not follow from entry %s', e.seq, e.seq - 1);
            return;
        end if;
        if e.hash <> app.audit_entry_hash(e) then
            first_broken_seq := e.seq;
            problem := format('entry %s was altered after it was written', e.seq);
            return;
        end if;
        entries := entries + 1;
        expected_prev := e.hash;
        expected_seq := e.seq + 1;
    end loop;
    select * into head from public.audit_heads h where h.organization_id = org;
    if found and (head.seq <> entries or head.hash <> expected_prev) then
        first_broken_seq := entries + 1;
        problem := format('the chain ends at entry %s but %s were written', entries, head.seq);
    end if;
end
$$;

-- What the definer (inside audit_append) may touch: the chain heads and the log, for the
-- organisation being written; and the caller's role name.
create policy definer_appends on audit_log for insert to thrive_definer
    with check (organization_id is not null);
create policy definer_heads_select on audit_heads for select to thrive_definer
    using (organization_id is not null);
create policy definer_heads_insert on audit_heads for insert to thrive_definer
    with check (organization_id is not null);
create policy definer_heads_update on audit_heads for update to thrive_definer
    using (organization_id is not null) with check (organization_id is not null);
create policy definer_reads_caller on roles for select to thrive_definer
    using (organization_id = app.setting_uuid('app.org_id'));

-- Readers: audit.view (and audit.verify, which must read to recompute).
create policy auditors_select on audit_log for select to thrive_app
    using (organization_id = (select app.current_org())
           and ((select app.has_permission('audit.view')) or (select app.has_permission('audit.verify'))));
create policy auditors_select on audit_heads for select to thrive_app
    using (organization_id = (select app.current_org())
           and ((select app.has_permission('audit.view')) or (select app.has_permission('audit.verify'))));

-- Audit the tables that exist so far; later migrations add their own.
create trigger audit after insert or update or delete on organizations
    for each row execute function app.audit_row('organisation');
create trigger audit after insert or update or delete on users
    for each row execute function app.audit_row('staff');
create trigger audit after insert or update or delete on roles
    for each row execute function app.audit_row('roles');
create trigger audit after insert or update or delete on role_permissions
    for each row execute function app.audit_row('roles');
create trigger audit after insert or update or delete on memberships
    for each row execute function app.audit_row('staff');
create trigger audit after insert or update or delete on service_users
    for each row execute function app.audit_row('service_users');
create trigger audit after insert or update or delete on staff_assignments
    for each row execute function app.audit_row('assignments');

-- A helper for guard triggers: raise 42501 unless the caller's role allows `action`. Binding
-- for the API role always, and for any session that carries an identity; provisioning from an
-- administrator connection (no identity: seeding, imports) is not an organisation member's
-- action and passes.
create function app.require(action text) returns void
language plpgsql stable
set search_path = pg_catalog
as $$
begin
    if not app.has_permission(action)
       and (current_user = 'thrive_app' or app.setting_uuid('app.user_id') is not null) then
        raise exception 'permission denied: %', action using errcode = 'insufficient_privilege';
    end if;
end
$$;

grant create on schema app to thrive_definer;
alter function app.audit_append(uuid, text, text, text, uuid, uuid, jsonb) owner to thrive_definer;
alter function app.audit_row() owner to thrive_definer;
alter function app.audit_view(uuid, text) owner to thrive_definer;
revoke create on schema app from thrive_definer;

revoke all on function app.audit_append(uuid, text, text, text, uuid, uuid, jsonb) from public;
revoke all on function app.audit_row() from public;
revoke all on function app.audit_view(uuid, text) from public;
revoke all on function app.audit_verify(uuid) from public;
revoke all on function app.audit_payload(audit_log) from public;
revoke all on function app.audit_entry_hash(audit_log) from public;
revoke all on function app.audit_refuse() from public;
revoke all on function app.require(text) from public;
grant execute on function app.audit_view(uuid, text), app.audit_verify(uuid),
                          app.audit_payload(audit_log), app.audit_entry_hash(audit_log),
                          app.require(text)
    to thrive_app;
grant execute on function app.audit_payload(audit_log), app.audit_entry_hash(audit_log)
    to thrive_definer;

grant select, insert on audit_log to thrive_definer;
grant select, insert, update on audit_heads to thrive_definer;
grant select on roles to thrive_definer;
grant select on audit_log, audit_heads to thrive_app;
