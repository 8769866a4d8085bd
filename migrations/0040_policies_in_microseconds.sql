-- Policies that cost microseconds (issue 13, item 1), with the same meaning.
--
-- Before: the caller helpers were SQL functions with a pinned search_path. Such a function is
-- never inlined and, on PostgreSQL 15, is parsed and planned afresh on every call; the policies
-- reach app.caller_membership() through four to six of them per statement, and
-- app.can_see_service_user(id) ran three of them for every row. 1,000 calls of
-- app.current_org() took about a second; `select count(*) from service_users` (100 rows) as a
-- manager took 180 ms, as a carer 290 ms.
--
-- After:
--   1. The membership is resolved once per transaction: app.caller_membership() looks it up
--      on its first call and keeps it, with an HMAC the app role cannot make, in the
--      transaction-local setting app.caller; later calls check the HMAC and reuse it (below).
--   2. The helpers are PL/pgSQL, whose statements are prepared once per connection. Still
--      SECURITY DEFINER where they were, with the same pinned search_path, owners and grants;
--      missing, malformed or forged settings still resolve to no membership, and no
--      membership to nothing.
--   3. app.setting_uuid(), app.current_org() and app.current_user_id() are inlined by the
--      planner (plain SQL expressions, every name qualified).
--   4. The per-row rule "may see this service user" is split into what does not depend on the
--      row, resolved once per statement (an InitPlan), and a cheap per-row test:
--        app.can_see_service_user(x)
--      becomes, in every policy,
--        ((SELECT app.sees_all_service_users()) OR x = ANY ((SELECT app.assigned_service_users())::uuid[]))
--      where sees_all_service_users() = has_permission('service_users.view') and
--      has_permission('service_users.view_all'), and assigned_service_users() is the caller's
--      assigned service users when they hold service_users.view (else none). That is the
--      function's definition rewritten; app.can_see_service_user() itself stays (triggers and
--      the audit helpers call it once per row written) and is rewritten the same way.
-- Measured on the 2-core development machine (2026-12-01), 100 service users per organisation:
-- 1,000 calls of app.current_org() 950 ms → 20 ms; `select count(*) from service_users` as a
-- manager 180 ms → 0.4 ms, as a carer 290 ms → 0.6 ms (the same count bypassing RLS: 0.15 ms).
--
-- One consequence of resolving once per transaction: a transaction that deactivates the
-- caller's own membership keeps acting as that member until it ends (the API never does so
-- and then reads on; nobody changes their own role).

-- A transaction-local setting as a uuid, or NULL when unset, empty or malformed. Now a plain
-- SQL expression that the planner inlines (no SET clause, no sub-select): every name in it is
-- schema-qualified, so inlining it into a caller's query resolves nothing through the caller's
-- search_path.
create or replace function app.setting_uuid(name text) returns uuid
language sql stable
as $$
    select case
        when pg_catalog.current_setting(name, true)
             operator(pg_catalog.~) '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
        then pg_catalog.uuid_in(pg_catalog.textout(pg_catalog.current_setting(name, true)))
    end
$$;

-- The key that proves a cached caller was resolved by app.caller_membership() itself in this
-- transaction. Only thrive_definer reads it; the app role cannot, so it cannot make a proof.
create table app.caller_key (key bytea not null);
insert into app.caller_key (key) values (public.gen_random_bytes(32));
revoke all on app.caller_key from public;
grant select on app.caller_key to thrive_definer;

-- The caller's membership, or a row of NULLs when the settings are missing, malformed, forged
-- (no such active membership of an active user), or the user or membership is inactive.
--
-- Resolved once per transaction: the first call looks the membership up and keeps it in the
-- transaction-local setting app.caller with an HMAC (app.caller_key) over the membership, the
-- backend and the transaction's start, so a later call in the same transaction with the same
-- settings reuses it after checking the HMAC. The app role can write app.caller like any
-- setting but cannot produce the HMAC, so a forged, altered, replayed (another transaction or
-- backend) or stale (other settings) value is ignored and the membership looked up again. A
-- lookup that finds nothing is not cached: missing or forged settings are checked every time.
create or replace function app.caller_membership(out membership_id uuid, out user_id uuid,
                                                 out organization_id uuid, out role_id uuid)
language plpgsql stable security definer
set search_path = pg_catalog
as $$
#variable_conflict use_column
declare
    raw_user text := current_setting('app.user_id', true);
    raw_org text := current_setting('app.org_id', true);
    cached text[] := string_to_array(current_setting('app.caller', true), '|');
    k bytea;
    payload text;
begin
    if raw_user is null or raw_org is null then
        return;
    end if;
    select c.key into k from app.caller_key c;
    if array_length(cached, 1) = 6 and cached[1] = 'v1'
       and cached[2] = raw_user and cached[3] = raw_org then
        payload := array_to_string(cached[1:5], '|') || '|' || pg_backend_pid()::text
                   || '|' || extract(epoch from now())::text;
        if cached[6] = encode(public.hmac(convert_to(payload, 'UTF8'), k, 'sha256'), 'hex') then
            membership_id := cached[4]::uuid;
            user_id := cached[2]::uuid;
            organization_id := cached[3]::uuid;
            role_id := cached[5]::uuid;
            return;
        end if;
    end if;
    select m.id, m.user_id, m.organization_id, m.role_id
      into membership_id, user_id, organization_id, role_id
      from public.memberships m
      join public.users u on u.id = m.user_id
     where m.user_id = app.setting_uuid('app.user_id')
       and m.organization_id = app.setting_uuid('app.org_id')
       and m.active and u.active;
    if membership_id is not null then
        payload := 'v1|' || raw_user || '|' || raw_org || '|' || membership_id::text || '|'
                   || role_id::text || '|';
        perform set_config('app.caller',
            payload || encode(public.hmac(convert_to(payload || pg_backend_pid()::text || '|'
                                                     || extract(epoch from now())::text, 'UTF8'),
                                          k, 'sha256'), 'hex'),
            true);
    end if;
end
$$;

-- Plain SQL with no SET clause, so the planner inlines them: a policy's
-- (SELECT app.current_org()) costs one PL/pgSQL call, not two (twice the list query's
-- throughput under RLS). Every name in them is schema-qualified, so inlining resolves nothing
-- through the caller's search_path.
create or replace function app.current_user_id() returns uuid
language sql stable
as $$ select (app.caller_membership()).user_id $$;

create or replace function app.current_org() returns uuid
language sql stable
as $$ select (app.caller_membership()).organization_id $$;

-- Whether the caller's role explicitly allows `action`.
create or replace function app.has_permission(action text) returns boolean
language plpgsql stable security definer
set search_path = pg_catalog
as $$
declare
    caller_role uuid := (app.caller_membership()).role_id;
begin
    return coalesce((
        select rp.allowed from public.role_permissions rp
         where rp.role_id = caller_role and rp.permission_key = action
    ), false);
end
$$;

-- Whether the caller is assigned to the service user (ignoring view_all).
create or replace function app.is_assigned(service_user uuid) returns boolean
language plpgsql stable security definer
set search_path = pg_catalog
as $$
declare
    c record := app.caller_membership();
begin
    return exists (
        select 1 from public.staff_assignments a
         where a.user_id = c.user_id and a.organization_id = c.organization_id
           and a.service_user_id = service_user
    );
end
$$;

-- Whether the caller sees every service user of their organisation: their role allows both
-- service_users.view and service_users.view_all.
create function app.sees_all_service_users() returns boolean
language plpgsql stable security definer
set search_path = pg_catalog
as $$
declare
    caller_role uuid := (app.caller_membership()).role_id;
begin
    return coalesce((
        select count(*) filter (where rp.allowed) = 2 from public.role_permissions rp
         where rp.role_id = caller_role
           and rp.permission_key in ('service_users.view', 'service_users.view_all')
    ), false);
end
$$;

-- The service users the caller is assigned to, when their role allows service_users.view;
-- otherwise none. Never NULL.
create function app.assigned_service_users() returns uuid[]
language plpgsql stable security definer
set search_path = pg_catalog
as $$
declare
    c record := app.caller_membership();
begin
    if not coalesce((select rp.allowed from public.role_permissions rp
                      where rp.role_id = c.role_id and rp.permission_key = 'service_users.view'), false) then
        return '{}'::uuid[];
    end if;
    return coalesce((
        select array_agg(a.service_user_id) from public.staff_assignments a
         where a.user_id = c.user_id and a.organization_id = c.organization_id
    ), '{}'::uuid[]);
end
$$;

-- The one rule for seeing a service user and everything recorded about them. The policies
-- inline the same rule (below); this form serves triggers and helpers.
create or replace function app.can_see_service_user(service_user uuid) returns boolean
language plpgsql stable
set search_path = pg_catalog
as $$
begin
    return app.sees_all_service_users() or service_user = any (app.assigned_service_users());
end
$$;

grant create on schema app to thrive_definer;
alter function app.sees_all_service_users() owner to thrive_definer;
alter function app.assigned_service_users() owner to thrive_definer;
revoke create on schema app from thrive_definer;

revoke all on function app.sees_all_service_users(), app.assigned_service_users() from public;
grant execute on function app.sees_all_service_users(), app.assigned_service_users()
    to thrive_app, thrive_definer;

-- Rewrite every policy that calls app.can_see_service_user(x) per row.
do $$
declare
    p record;
    pattern constant text := 'app\.can_see_service_user\(([a-z_][a-z_0-9.]*)\)';
    replacement constant text :=
        '((SELECT app.sees_all_service_users()) OR \1 = ANY ((SELECT app.assigned_service_users())::uuid[]))';
    qual text;
    chk text;
    remaining int;
begin
    for p in
        select n.nspname, c.relname, pol.polname,
               pg_get_expr(pol.polqual, pol.polrelid) as qual,
               pg_get_expr(pol.polwithcheck, pol.polrelid) as chk
          from pg_policy pol
          join pg_class c on c.oid = pol.polrelid
          join pg_namespace n on n.oid = c.relnamespace
         where pg_get_expr(pol.polqual, pol.polrelid) ~ pattern
            or pg_get_expr(pol.polwithcheck, pol.polrelid) ~ pattern
    loop
        qual := regexp_replace(p.qual, pattern, replacement, 'g');
        chk := regexp_replace(p.chk, pattern, replacement, 'g');
        if qual is not null then
            execute format('alter policy %I on %I.%I using (%s)', p.polname, p.nspname, p.relname, qual);
        end if;
        if chk is not null then
            execute format('alter policy %I on %I.%I with check (%s)', p.polname, p.nspname, p.relname, chk);
        end if;
    end loop;
    select count(*) into remaining
      from pg_policy pol
     where coalesce(pg_get_expr(pol.polqual, pol.polrelid), '') ~ 'can_see_service_user'
        or coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '') ~ 'can_see_service_user';
    if remaining <> 0 then
        raise exception '% policies still call app.can_see_service_user per row', remaining;
    end if;
end
$$;
