-- Export, closure and staff invitations.
--
-- Exports are read under the caller's own RLS (an export holds what its requester may see) and
-- are audited by `app.audit_export` in a transaction of their own, committed before the first
-- byte is sent, so even an interrupted download leaves its entry. Closing an organisation is a
-- request by an administrator that starts a retention period; `thrive-api purge-closed` deletes
-- the organisation once that period has passed and leaves a tombstone without personal data.

-- ---------------------------------------------------------------------------------------------
-- Export audit events

create function app.audit_export(what text, service_user uuid, details jsonb)
returns void
language plpgsql security definer
set search_path = pg_catalog
as $$
declare
    org uuid := app.current_org();
begin
    if org is null then
        raise exception 'permission denied: no organisation' using errcode = 'insufficient_privilege';
    end if;
    case what
        when 'organisation_csv' then
            perform app.require('export.organisation_csv');
            perform app.audit_append(org, 'export', 'organizations', 'export', org, null, details);
        when 'organisation_xlsx' then
            perform app.require('export.organisation_xlsx');
            perform app.audit_append(org, 'export', 'organizations', 'export', org, null, details);
        when 'report' then
            perform app.require('export.reports');
            perform app.audit_append(org, 'export', 'organizations', 'export', org, null, details);
        when 'audit' then
            perform app.require('audit.export');
            perform app.audit_append(org, 'audit', 'audit_log', 'export', null, service_user, details);
        when 'service_user' then
            perform app.require('service_users.export');
            if service_user is null or not app.can_see_service_user(service_user) then
                raise exception 'permission denied: service user' using errcode = 'insufficient_privilege';
            end if;
            perform app.audit_append(org, 'service_users', 'service_users', 'export', service_user,
                                     service_user, details);
        else
            raise exception 'unknown export %', what using errcode = 'invalid_parameter_value';
    end case;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Closure: requested (or withdrawn) by an administrator; purged by the operator's command.

alter table organizations
    add column closure_requested_at  timestamptz,
    add column closure_requested_by  uuid,
    add column purge_after           timestamptz,
    add constraint closure_complete check (
        (closure_requested_at is null) = (purge_after is null)
        and (closure_requested_at is null) = (closure_requested_by is null)
        and (purge_after is null or purge_after >= closure_requested_at + interval '30 days'));

-- Renaming needs organisation.update; requesting or withdrawing closure needs
-- organisation.request_closure. The request time and requester are the database's to set.
drop policy settings_update on organizations;
create policy settings_update on organizations for update to thrive_app
    using (id = (select app.current_org())
           and ((select app.has_permission('organisation.update'))
                or (select app.has_permission('organisation.request_closure'))))
    with check (id = (select app.current_org()));

create function app.organizations_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
    if NEW.id is distinct from OLD.id or NEW.created_at is distinct from OLD.created_at then
        perform app.refuse('an organisation keeps its identity');
    end if;
    if NEW.name is distinct from OLD.name then
        perform app.require('organisation.update');
    end if;
    if (NEW.closure_requested_at, NEW.closure_requested_by, NEW.purge_after)
       is distinct from (OLD.closure_requested_at, OLD.closure_requested_by, OLD.purge_after) then
        perform app.require('organisation.request_closure');
        if NEW.purge_after is not null then
            if OLD.purge_after is not null then
                perform app.refuse('closure is already requested: withdraw it first');
            end if;
            NEW.closure_requested_at := now();
            NEW.closure_requested_by := app.current_user_id();
            if NEW.closure_requested_by is null and current_user = 'thrive_app' then
                perform app.refuse('closure needs a signed-in administrator');
            end if;
            if NEW.purge_after < now() + interval '30 days' then
                perform app.refuse('the retention period before purge is at least 30 days');
            end if;
        else
            NEW.closure_requested_at := null;
            NEW.closure_requested_by := null;
        end if;
    end if;
    return NEW;
end
$$;
create trigger guard before update on organizations
    for each row execute function app.organizations_guard();

-- What is left of a purged organisation: no personal data, only what an auditor needs to know
-- that it existed, when it was closed and purged, and the last link of its audit chain.
create table purged_organizations (
    id                    uuid primary key,
    name                  text not null,
    created_at            timestamptz not null,
    closure_requested_at  timestamptz not null,
    purge_after           timestamptz not null,
    purged_at             timestamptz not null default now(),
    audit_entries         bigint not null,
    audit_head_hash       bytea,
    rows_deleted          jsonb not null
);
alter table purged_organizations enable row level security;
alter table purged_organizations force row level security;
-- No policy and no grant for the API's role: only the operator (cluster administrator) reads it.

-- ---------------------------------------------------------------------------------------------
-- Staff invitations: a manager invites by email; the invitee accepts with the one-time token
-- (stored as its SHA-256 only) and a password. Nothing is emailed by Thrive: the manager hands
-- the link over.

create table staff_invitations (
    id                uuid primary key default gen_random_uuid(),
    organization_id   uuid not null references organizations (id) on delete cascade,
    email             text not null check (email = lower(email) and length(email) between 3 and 254),
    display_name      text not null check (length(btrim(display_name)) between 1 and 200),
    role_id           uuid not null,
    token_hash        bytea not null unique check (length(token_hash) = 32),
    invited_by        uuid,
    created_at        timestamptz not null default now(),
    expires_at        timestamptz not null,
    accepted_at       timestamptz,
    accepted_user_id  uuid,
    revoked_at        timestamptz,
    unique (organization_id, id),
    foreign key (organization_id, role_id) references roles (organization_id, id) on delete cascade
);
create index staff_invitations_org_idx on staff_invitations (organization_id, created_at desc);
create unique index staff_invitations_pending_key on staff_invitations (organization_id, email)
    where accepted_at is null and revoked_at is null;

alter table staff_invitations enable row level security;
alter table staff_invitations force row level security;
create policy staff_select on staff_invitations for select to thrive_app
    using (organization_id = (select app.current_org()) and (select app.has_permission('staff.view')));
create policy invite_insert on staff_invitations for insert to thrive_app
    with check (organization_id = (select app.current_org()) and (select app.has_permission('staff.invite')));
create policy invite_update on staff_invitations for update to thrive_app
    using (organization_id = (select app.current_org()) and (select app.has_permission('staff.invite')))
    with check (organization_id = (select app.current_org()));
-- The acceptance function (owned by thrive_definer) names the invitation it is accepting by
-- putting its token's hash in `app.invitation_token` for the transaction; the definer's
-- policies below reach only that invitation, its invitee's account and its membership.
create function app.invitation_token() returns bytea
language sql stable
set search_path = pg_catalog
as $$ select decode(nullif(current_setting('app.invitation_token', true), ''), 'hex') $$;

create policy definer_accepts on staff_invitations for select to thrive_definer
    using (token_hash = app.invitation_token());
create policy definer_marks_accepted on staff_invitations for update to thrive_definer
    using (token_hash = app.invitation_token() and accepted_at is null and revoked_at is null)
    with check (token_hash = app.invitation_token());

create function app.staff_invitations_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
    if TG_OP = 'INSERT' then
        NEW.invited_by := app.current_user_id();
        NEW.created_at := now();
        NEW.accepted_at := null;
        NEW.accepted_user_id := null;
        NEW.revoked_at := null;
        if NEW.expires_at > now() + interval '30 days' or NEW.expires_at <= now() then
            perform app.refuse('an invitation lasts between a minute and 30 days');
        end if;
        return NEW;
    end if;
    if (NEW.id, NEW.organization_id, NEW.email, NEW.role_id, NEW.token_hash, NEW.created_at, NEW.expires_at)
       is distinct from (OLD.id, OLD.organization_id, OLD.email, OLD.role_id, OLD.token_hash, OLD.created_at, OLD.expires_at) then
        perform app.refuse('an invitation is not changed: revoke it and invite again');
    end if;
    if OLD.accepted_at is not null or OLD.revoked_at is not null then
        perform app.refuse('this invitation has already been used or revoked');
    end if;
    if current_user = 'thrive_app' and NEW.accepted_at is not null then
        perform app.refuse('an invitation is accepted only by its invitee');
    end if;
    return NEW;
end
$$;
create trigger guard before insert or update on staff_invitations
    for each row execute function app.staff_invitations_guard();
create trigger audit after insert or update or delete on staff_invitations
    for each row execute function app.audit_row('staff', 'token_hash');

-- The API's role never reads a token's hash back.
grant select (id, organization_id, email, display_name, role_id, invited_by, created_at, expires_at,
              accepted_at, accepted_user_id, revoked_at)
    on staff_invitations to thrive_app;
grant insert, update on staff_invitations to thrive_app;
grant select, update on staff_invitations to thrive_definer;

-- The definer also creates the invitee's account and membership: only the invited ones.
create function app.invited(p_email text, p_org uuid, p_role uuid) returns boolean
language sql stable
set search_path = pg_catalog
as $$
    select exists (select 1 from public.staff_invitations i
                    where i.token_hash = app.invitation_token()
                      and (p_email is null or i.email = p_email)
                      and (p_org is null or (i.organization_id = p_org and i.role_id = p_role)))
$$;
create policy definer_creates on users for insert to thrive_definer
    with check (app.invited(email, null, null));
create policy definer_reads_invitee on users for select to thrive_definer
    using (app.invited(email, null, null));
create policy definer_joins on memberships for insert to thrive_definer
    with check (app.invited(null, organization_id, role_id));
grant insert on users to thrive_definer;
grant insert on memberships to thrive_definer;

-- Accepting: the token's hash, and for a new account the password hash the API computed after
-- its policy check. Returns the user id and whether the account already existed (the API then
-- verified the existing password itself, before calling). Refuses an unknown, expired, used or
-- revoked token with one generic message.
create function auth.accept_invitation(p_token_hash bytea, p_password_hash text, p_now timestamptz,
                                       out user_id uuid, out organization_id uuid)
language plpgsql security definer
set search_path = pg_catalog
as $$
declare
    inv public.staff_invitations;
begin
    perform set_config('app.invitation_token', encode(p_token_hash, 'hex'), true);
    select * into inv from public.staff_invitations i
     where i.token_hash = p_token_hash and i.accepted_at is null and i.revoked_at is null
       and i.expires_at > p_now
     for update;
    if not found then
        raise exception 'this invitation is not valid any more' using errcode = 'P0001';
    end if;
    perform set_config('app.action', 'staff.accept_invitation', true);

    select u.id into user_id from public.users u where u.email = inv.email;
    if user_id is null then
        if p_password_hash is null then
            raise exception 'a password is needed' using errcode = 'P0001';
        end if;
        insert into public.users (email, display_name) values (inv.email, inv.display_name)
        returning id into user_id;
        perform auth.set_password(user_id, p_password_hash, p_now);
    end if;
    if exists (select 1 from public.memberships m
                where m.organization_id = inv.organization_id and m.user_id = accept_invitation.user_id) then
        raise exception 'this account is already a member of the organisation' using errcode = 'P0001';
    end if;
    insert into public.memberships (organization_id, user_id, role_id)
    values (inv.organization_id, user_id, inv.role_id);
    update public.staff_invitations set accepted_at = p_now, accepted_user_id = user_id
     where id = inv.id;
    organization_id := inv.organization_id;
    perform set_config('app.invitation_token', '', true);
end
$$;

-- Whether an invitation's email already has an account (so the API knows to verify the
-- existing password rather than set one). Only for a valid token.
create function auth.invitation_account(p_token_hash bytea, p_now timestamptz,
                                        out email text, out existing_user uuid)
language plpgsql security definer
set search_path = pg_catalog
as $$
begin
    perform set_config('app.invitation_token', encode(p_token_hash, 'hex'), true);
    select i.email, u.id into email, existing_user
      from public.staff_invitations i
      left join public.users u on u.email = i.email
     where i.token_hash = p_token_hash and i.accepted_at is null and i.revoked_at is null
       and i.expires_at > p_now;
    perform set_config('app.invitation_token', '', true);
end
$$;

-- Editing a colleague's details (staff.update): the display name of a member of the caller's
-- organisation.
create policy definer_updates_member on users for update to thrive_definer
    using (exists (select 1 from public.memberships m
                    where m.user_id = users.id
                      and m.organization_id = app.setting_uuid('app.org_id')))
    with check (exists (select 1 from public.memberships m
                         where m.user_id = users.id
                           and m.organization_id = app.setting_uuid('app.org_id')));
grant update (display_name) on users to thrive_definer;

create function app.update_staff_member(p_user uuid, p_display_name text) returns boolean
language plpgsql security definer
set search_path = pg_catalog
as $$
begin
    perform app.require('staff.update');
    if not exists (select 1 from public.memberships m
                    where m.user_id = p_user and m.organization_id = app.current_org()) then
        return false;
    end if;
    update public.users set display_name = btrim(p_display_name) where id = p_user;
    return true;
end
$$;

grant create on schema app to thrive_definer;
grant create on schema auth to thrive_definer;
alter function app.audit_export(text, uuid, jsonb) owner to thrive_definer;
alter function auth.accept_invitation(bytea, text, timestamptz) owner to thrive_definer;
alter function auth.invitation_account(bytea, timestamptz) owner to thrive_definer;
alter function app.update_staff_member(uuid, text) owner to thrive_definer;
revoke create on schema app from thrive_definer;
revoke create on schema auth from thrive_definer;

revoke all on function app.audit_export(text, uuid, jsonb) from public;
revoke all on function auth.accept_invitation(bytea, text, timestamptz) from public;
revoke all on function auth.invitation_account(bytea, timestamptz) from public;
revoke all on function app.update_staff_member(uuid, text) from public;
revoke all on function app.organizations_guard() from public;
revoke all on function app.invitation_token() from public;
revoke all on function app.invited(text, uuid, uuid) from public;
grant execute on function app.invitation_token() to thrive_definer;
grant execute on function app.invited(text, uuid, uuid) to thrive_definer;
revoke all on function app.staff_invitations_guard() from public;
grant execute on function app.audit_export(text, uuid, jsonb) to thrive_app;
grant execute on function auth.accept_invitation(bytea, text, timestamptz) to thrive_app;
grant execute on function auth.invitation_account(bytea, timestamptz) to thrive_app;
grant execute on function app.update_staff_member(uuid, text) to thrive_app;
-- The definer's functions (and the guards that fire under them, as the invitation's membership
-- insert does) check actions and refuse changes with the same helpers the API's role uses.
grant execute on function app.require(text) to thrive_definer;
grant execute on function app.refuse(text) to thrive_definer;
