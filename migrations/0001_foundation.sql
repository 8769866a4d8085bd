-- Foundation: organisations, people, the Organisation Ladder, service users and assignments,
-- with Row Level Security doing the isolating.
--
-- Runs as thrive_owner. The cluster-wide roles exist already (crates/api/src/db/roles.sql):
--   thrive_owner    owns the schema; runs migrations; subject to RLS (every table is FORCEd).
--   thrive_app      the API's login role: no SUPERUSER, no BYPASSRLS, owns nothing.
--   thrive_definer  NOLOGIN; owns the SECURITY DEFINER helpers and the auth schema. It does not
--                   bypass RLS either: the policies written "to thrive_definer" below let it see
--                   only the caller's own membership rows, nothing more.
--
-- Identity arrives per transaction: set_config('app.user_id', …, true) and
-- set_config('app.org_id', …, true). Helpers read them with nullif(…, '') so a setting that is
-- missing, empty (after an earlier transaction ended) or not a uuid fails closed.

create extension if not exists pgcrypto;

create schema app;
revoke all on schema app from public;
revoke all on schema public from public;

-- ---------------------------------------------------------------------------------------------
-- Reading settings

-- A transaction-local setting as a uuid, or NULL when unset, empty or malformed.
create function app.setting_uuid(name text) returns uuid
language sql stable
set search_path = pg_catalog
as $$
    select case
        when s ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
        then s::uuid
    end
    from (select nullif(current_setting(name, true), '') as s) as setting
$$;

-- ---------------------------------------------------------------------------------------------
-- Tables

create table organizations (
    id          uuid primary key default gen_random_uuid(),
    name        text not null check (length(btrim(name)) between 1 and 200),
    created_at  timestamptz not null default now()
);

-- People who can sign in. A person may belong to several organisations (memberships), so users
-- carry no organization_id; they are visible only to themselves and to fellow members.
create table users (
    id            uuid primary key default gen_random_uuid(),
    email         text not null check (email = lower(email) and length(email) between 3 and 254),
    display_name  text not null check (length(btrim(display_name)) between 1 and 200),
    active        boolean not null default true,
    created_at    timestamptz not null default now()
);
create unique index users_email_key on users (email);

-- The action catalogue; the same list as crates/domain's Permission enum (a test compares them).
create table permissions (
    key          text primary key check (key ~ '^[a-z_]+\.[a-z_]+$'),
    tool         text not null,
    description  text not null
);

-- Each organisation's own ladder of roles.
create table roles (
    id               uuid primary key default gen_random_uuid(),
    organization_id  uuid not null references organizations (id) on delete cascade,
    name             text not null check (length(btrim(name)) between 1 and 100),
    description      text not null default '',
    created_at       timestamptz not null default now(),
    unique (organization_id, name),
    unique (organization_id, id)
);

-- Explicit allow or deny for every (role, action). A missing row is a deny.
create table role_permissions (
    organization_id  uuid not null,
    role_id          uuid not null,
    permission_key   text not null references permissions (key) on update restrict on delete restrict,
    allowed          boolean not null,
    primary key (role_id, permission_key),
    foreign key (organization_id, role_id) references roles (organization_id, id) on delete cascade
);
create index role_permissions_org_idx on role_permissions (organization_id);

-- A user's place in an organisation: exactly one role.
create table memberships (
    id               uuid primary key default gen_random_uuid(),
    organization_id  uuid not null references organizations (id) on delete cascade,
    user_id          uuid not null references users (id) on delete cascade,
    role_id          uuid not null,
    active           boolean not null default true,
    created_at       timestamptz not null default now(),
    unique (organization_id, user_id),
    unique (organization_id, id),
    foreign key (organization_id, role_id) references roles (organization_id, id)
);
create index memberships_user_idx on memberships (user_id);
create index memberships_role_idx on memberships (role_id);

create table service_users (
    id               uuid primary key default gen_random_uuid(),
    organization_id  uuid not null references organizations (id) on delete cascade,
    given_name       text not null check (length(btrim(given_name)) between 1 and 100),
    family_name      text not null check (length(btrim(family_name)) between 1 and 100),
    preferred_name   text check (preferred_name is null or length(btrim(preferred_name)) between 1 and 100),
    date_of_birth    date,
    room             text check (room is null or length(room) <= 50),
    status           text not null default 'active'
                     check (status in ('active', 'in_hospital', 'discharged', 'deceased')),
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    unique (organization_id, id)
);
create index service_users_org_name_idx on service_users (organization_id, family_name, given_name, id);

-- Which staff member looks after which service user. Both ends must be in the same organisation.
create table staff_assignments (
    id               uuid primary key default gen_random_uuid(),
    organization_id  uuid not null,
    user_id          uuid not null,
    service_user_id  uuid not null,
    created_at       timestamptz not null default now(),
    unique (user_id, service_user_id),
    foreign key (organization_id, user_id) references memberships (organization_id, user_id) on delete cascade,
    foreign key (organization_id, service_user_id) references service_users (organization_id, id) on delete cascade
);
create index staff_assignments_org_user_idx on staff_assignments (organization_id, user_id, service_user_id);
create index staff_assignments_su_idx on staff_assignments (service_user_id);

-- ---------------------------------------------------------------------------------------------
-- Who is calling: helpers the policies use. SECURITY DEFINER because they read membership
-- tables whose own policies would otherwise recurse; owned by thrive_definer (no BYPASSRLS).

-- The caller's membership, or nothing when the settings are missing, forged, or name a user
-- who is not an active member of that organisation.
create function app.caller_membership(out membership_id uuid, out user_id uuid,
                                      out organization_id uuid, out role_id uuid)
language sql stable security definer
set search_path = pg_catalog
as $$
    select m.id, m.user_id, m.organization_id, m.role_id
    from public.memberships m
    join public.users u on u.id = m.user_id
    where m.user_id = app.setting_uuid('app.user_id')
      and m.organization_id = app.setting_uuid('app.org_id')
      and m.active and u.active
$$;

create function app.current_user_id() returns uuid
language sql stable
set search_path = pg_catalog
as $$ select user_id from app.caller_membership() $$;

create function app.current_org() returns uuid
language sql stable
set search_path = pg_catalog
as $$ select organization_id from app.caller_membership() $$;

-- Whether the caller's role explicitly allows `action`.
create function app.has_permission(action text) returns boolean
language sql stable security definer
set search_path = pg_catalog
as $$
    select coalesce((
        select rp.allowed
        from app.caller_membership() c
        join public.role_permissions rp on rp.role_id = c.role_id and rp.permission_key = action
    ), false)
$$;

-- Whether the caller is assigned to the service user (ignoring view_all).
create function app.is_assigned(service_user uuid) returns boolean
language sql stable security definer
set search_path = pg_catalog
as $$
    select exists (
        select 1
        from app.caller_membership() c
        join public.staff_assignments a
          on a.user_id = c.user_id and a.organization_id = c.organization_id
        where a.service_user_id = service_user
    )
$$;

-- The one rule for seeing a service user and everything recorded about them.
create function app.can_see_service_user(service_user uuid) returns boolean
language sql stable
set search_path = pg_catalog
as $$
    select app.has_permission('service_users.view')
       and (app.has_permission('service_users.view_all') or app.is_assigned(service_user))
$$;

-- ---------------------------------------------------------------------------------------------
-- Row Level Security: enabled and forced everywhere organisation data lives.

alter table organizations enable row level security;
alter table organizations force row level security;
alter table users enable row level security;
alter table users force row level security;
alter table roles enable row level security;
alter table roles force row level security;
alter table role_permissions enable row level security;
alter table role_permissions force row level security;
alter table memberships enable row level security;
alter table memberships force row level security;
alter table service_users enable row level security;
alter table service_users force row level security;
alter table staff_assignments enable row level security;
alter table staff_assignments force row level security;

-- What the definer helpers may read: the caller's own user, membership, role permissions and
-- assignments (named by the raw settings; the helpers then check them against each other).
create policy definer_reads_caller on users for select to thrive_definer
    using (id = app.setting_uuid('app.user_id') or id = app.setting_uuid('auth.subject')
           or email = nullif(current_setting('auth.email', true), ''));
create policy definer_reads_caller on memberships for select to thrive_definer
    using ((user_id = app.setting_uuid('app.user_id') and organization_id = app.setting_uuid('app.org_id'))
           or user_id = app.setting_uuid('auth.subject'));
create policy definer_reads_caller on role_permissions for select to thrive_definer
    using (organization_id = app.setting_uuid('app.org_id'));
create policy definer_reads_caller on staff_assignments for select to thrive_definer
    using (organization_id = app.setting_uuid('app.org_id') and user_id = app.setting_uuid('app.user_id'));

-- organizations: members see their own organisation; settings change with the right action.
create policy member_select on organizations for select to thrive_app
    using (id = (select app.current_org()));
create policy settings_update on organizations for update to thrive_app
    using (id = (select app.current_org()) and (select app.has_permission('organisation.update')))
    with check (id = (select app.current_org()));

-- users: yourself, and the people who share your organisation and whom you may see as staff.
create policy self_or_colleague on users for select to thrive_app
    using (id = (select app.current_user_id())
           or exists (select 1 from memberships m where m.user_id = users.id));

-- roles and their permissions: every member reads their organisation's ladder (the SPA shows
-- only what a role may do); changing it needs the roles.* actions.
create policy member_select on roles for select to thrive_app
    using (organization_id = (select app.current_org()));
create policy roles_insert on roles for insert to thrive_app
    with check (organization_id = (select app.current_org()) and (select app.has_permission('roles.create')));
create policy roles_update on roles for update to thrive_app
    using (organization_id = (select app.current_org()) and (select app.has_permission('roles.update')))
    with check (organization_id = (select app.current_org()));
create policy roles_delete on roles for delete to thrive_app
    using (organization_id = (select app.current_org()) and (select app.has_permission('roles.delete')));

create policy member_select on role_permissions for select to thrive_app
    using (organization_id = (select app.current_org()));
create policy set_permissions_insert on role_permissions for insert to thrive_app
    with check (organization_id = (select app.current_org()) and (select app.has_permission('roles.set_permissions')));
create policy set_permissions_update on role_permissions for update to thrive_app
    using (organization_id = (select app.current_org()) and (select app.has_permission('roles.set_permissions')))
    with check (organization_id = (select app.current_org()));
create policy set_permissions_delete on role_permissions for delete to thrive_app
    using (organization_id = (select app.current_org()) and (select app.has_permission('roles.set_permissions')));

-- memberships: your own, or everyone's with staff.view.
create policy self_or_staff_view on memberships for select to thrive_app
    using (organization_id = (select app.current_org())
           and (user_id = (select app.current_user_id()) or (select app.has_permission('staff.view'))));
create policy invite_insert on memberships for insert to thrive_app
    with check (organization_id = (select app.current_org()) and (select app.has_permission('staff.invite')));
create policy staff_update on memberships for update to thrive_app
    using (organization_id = (select app.current_org())
           and ((select app.has_permission('roles.assign_members'))
                or (select app.has_permission('staff.deactivate'))
                or (select app.has_permission('staff.reactivate'))))
    with check (organization_id = (select app.current_org()));

-- service_users: patient assignment is enforced here, not by API filters.
create policy visible_select on service_users for select to thrive_app
    using (organization_id = (select app.current_org()) and app.can_see_service_user(id));
create policy create_insert on service_users for insert to thrive_app
    with check (organization_id = (select app.current_org()) and (select app.has_permission('service_users.create')));
create policy update_visible on service_users for update to thrive_app
    using (organization_id = (select app.current_org()) and app.can_see_service_user(id)
           and (select app.has_permission('service_users.update')))
    with check (organization_id = (select app.current_org()));
create policy delete_visible on service_users for delete to thrive_app
    using (organization_id = (select app.current_org()) and app.can_see_service_user(id)
           and (select app.has_permission('service_users.delete')));

-- staff_assignments: your own, or all with assignments.view; changes need the actions.
create policy own_or_view on staff_assignments for select to thrive_app
    using (organization_id = (select app.current_org())
           and (user_id = (select app.current_user_id()) or (select app.has_permission('assignments.view'))));
create policy assign_insert on staff_assignments for insert to thrive_app
    with check (organization_id = (select app.current_org()) and (select app.has_permission('assignments.create')));
create policy assign_delete on staff_assignments for delete to thrive_app
    using (organization_id = (select app.current_org()) and (select app.has_permission('assignments.delete')));

-- ---------------------------------------------------------------------------------------------
-- Ownership and grants

-- A new owner needs CREATE on the schema at the moment of the change; it keeps none after.
grant create on schema app to thrive_definer;
alter function app.caller_membership() owner to thrive_definer;
alter function app.has_permission(text) owner to thrive_definer;
alter function app.is_assigned(uuid) owner to thrive_definer;
revoke create on schema app from thrive_definer;

grant usage on schema app to thrive_app, thrive_definer;
grant usage on schema public to thrive_app, thrive_definer;
revoke all on all functions in schema app from public;
grant execute on all functions in schema app to thrive_app, thrive_definer;

grant select on users, memberships, role_permissions, staff_assignments to thrive_definer;

grant select on permissions to thrive_app;
grant select, update on organizations to thrive_app;
grant select on users to thrive_app;
grant select, insert, update, delete on roles, role_permissions to thrive_app;
grant select, insert, update on memberships to thrive_app;
grant select, insert, update, delete on service_users to thrive_app;
grant select, insert, delete on staff_assignments to thrive_app;
