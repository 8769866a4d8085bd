-- The account basics: change password, sign out everywhere, an administrator's one-time reset
-- link (handed over like an invitation), and moving between one's organisations.

grant create on schema auth to thrive_definer;

-- Sign out everywhere: every live session of the session's person.
create function auth.revoke_all_sessions(p_session_hash bytea, p_now timestamptz, p_idle interval)
returns int
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    me record;
    n int;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    if me.user_id is null then
        return 0;
    end if;
    update auth.sessions set revoked_at = p_now where user_id = me.user_id and revoked_at is null;
    get diagnostics n = row_count;
    return n;
end
$$;

-- A new password for the session's person (the API checked the current one through the
-- lockout, and the new one against the policy): every other session ends.
create function auth.change_password(p_session_hash bytea, p_user uuid, p_hash text,
                                     p_now timestamptz, p_idle interval)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    me record;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    if me.user_id is null or me.user_id <> p_user then
        return false;
    end if;
    update auth.credentials set password_hash = p_hash, updated_at = p_now where user_id = p_user;
    update auth.sessions set revoked_at = p_now
     where user_id = p_user and revoked_at is null and id <> me.session_id;
    update auth.sessions set authenticated_at = p_now where id = me.session_id;
    return true;
end
$$;

-- One-time password reset links, made by an administrator for a member.
create table auth.password_resets (
    token_hash       bytea primary key check (length(token_hash) = 32),
    user_id          uuid not null references public.users (id) on delete cascade,
    organization_id  uuid not null references public.organizations (id) on delete cascade,
    created_by       uuid not null,
    created_at       timestamptz not null,
    expires_at       timestamptz not null,
    used_at          timestamptz
);
alter table auth.password_resets owner to thrive_definer;
-- Organisation data, so under forced RLS like every such table, its owner included: made and
-- cleared within the caller's organisation, used through its own token only.
alter table auth.password_resets enable row level security;
alter table auth.password_resets force row level security;
create policy made_in_org on auth.password_resets for insert to thrive_definer
    with check (organization_id = app.setting_uuid('app.org_id'));
create policy cleared_in_org on auth.password_resets for delete to thrive_definer
    using (organization_id = app.setting_uuid('app.org_id'));
create policy used_by_token_select on auth.password_resets for select to thrive_definer
    using (token_hash = decode(nullif(current_setting('auth.reset_token', true), ''), 'hex')
           or organization_id = app.setting_uuid('app.org_id'));
create policy used_by_token_update on auth.password_resets for update to thrive_definer
    using (token_hash = decode(nullif(current_setting('auth.reset_token', true), ''), 'hex'))
    with check (token_hash = decode(nullif(current_setting('auth.reset_token', true), ''), 'hex'));

-- An administrator (staff.update) makes a reset link for a member of their organisation whose
-- role is within their reach and who works nowhere else (their password is theirs across
-- organisations). Written to the audit trail. The token is 256 random bits from the API.
create function app.create_password_reset(p_user uuid, p_token_hash bytea) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    v_role uuid;
begin
    perform app.require('staff.update');
    select m.role_id into v_role from public.memberships m
     where m.user_id = p_user and m.organization_id = app.current_org() and m.active;
    if v_role is null then
        return false;
    end if;
    if p_user = app.current_user_id() then
        perform app.refuse('change your own password from your account page');
    end if;
    if not app.role_within_reach(v_role) then
        raise exception 'you cannot reset the password of someone whose role allows actions you do not hold'
            using errcode = 'insufficient_privilege';
    end if;
    perform set_config('auth.subject', p_user::text, true);
    if exists (select 1 from public.memberships m
                where m.user_id = p_user and m.organization_id <> app.current_org()) then
        perform set_config('auth.subject', '', true);
        perform app.refuse('this person also works for another organisation: they reset their own password');
    end if;
    perform set_config('auth.subject', '', true);
    delete from auth.password_resets where user_id = p_user and used_at is null;
    insert into auth.password_resets (token_hash, user_id, organization_id, created_by, created_at, expires_at)
    values (p_token_hash, p_user, app.current_org(), app.current_user_id(), now(), now() + interval '24 hours');
    perform set_config('app.action', 'staff.update', true);
    perform app.audit_append(app.current_org(), 'staff', 'password_resets', 'insert', p_user, null,
                             jsonb_build_object('password_reset', jsonb_build_object('new', 'link made')));
    return true;
end
$$;

-- Using a reset link: the new password (hashed by the API after the policy check) replaces the
-- old, every session ends, the lock is lifted, the link is spent.
create function auth.reset_password(p_token_hash bytea, p_hash text, p_now timestamptz)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    r auth.password_resets;
begin
    perform set_config('auth.reset_token', encode(p_token_hash, 'hex'), true);
    select * into r from auth.password_resets
     where token_hash = p_token_hash and used_at is null and expires_at > p_now for update;
    if not found then
        perform set_config('auth.reset_token', '', true);
        return false;
    end if;
    update auth.password_resets set used_at = p_now where token_hash = p_token_hash;
    update auth.credentials set password_hash = p_hash, updated_at = p_now where user_id = r.user_id;
    update auth.sessions set revoked_at = p_now where user_id = r.user_id and revoked_at is null;
    delete from auth.lockouts where user_id = r.user_id;
    update auth.login_attempts set outcome = 'refused'
     where user_id = r.user_id and outcome in ('pending', 'failure');
    perform set_config('auth.reset_token', '', true);
    return true;
end
$$;

-- The organisations the session's person may sign in to (for the chooser).
create function auth.my_organisations(p_session_hash bytea, p_now timestamptz, p_idle interval,
                                      out organization_id uuid, out name text)
returns setof record
language plpgsql stable security definer
set search_path = pg_catalog
as $$
declare
    me record;
    m record;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    if me.user_id is null then
        return;
    end if;
    perform set_config('auth.subject', me.user_id::text, true);
    for m in select ms.organization_id from public.memberships ms
              where ms.user_id = me.user_id and ms.active loop
        perform set_config('app.org_id', m.organization_id::text, true);
        organization_id := m.organization_id;
        select o.name into name from public.organizations o where o.id = m.organization_id;
        return next;
    end loop;
    perform set_config('app.org_id', '', true);
    perform set_config('auth.subject', '', true);
end
$$;

-- Moving the session to another of the person's organisations: a new session there (same
-- authentication time), this one revoked.
create function auth.switch_organisation(p_session_hash bytea, p_org uuid, p_new_token_hash bytea,
                                         p_now timestamptz, p_idle interval)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    me record;
    s auth.sessions;
    v_membership uuid;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    if me.user_id is null then
        return false;
    end if;
    perform set_config('auth.subject', me.user_id::text, true);
    select ms.id into v_membership from public.memberships ms
     where ms.user_id = me.user_id and ms.organization_id = p_org and ms.active;
    perform set_config('auth.subject', '', true);
    if v_membership is null then
        return false;
    end if;
    select * into s from auth.sessions where id = me.session_id;
    update auth.sessions set revoked_at = p_now where id = me.session_id;
    insert into auth.sessions (token_hash, user_id, membership_id, created_at, last_seen_at,
                               absolute_expires_at, authenticated_at)
    values (p_new_token_hash, me.user_id, v_membership, p_now, p_now, s.absolute_expires_at,
            s.authenticated_at);
    return true;
end
$$;

do $$
declare f record;
begin
    for f in select p.oid::regprocedure as sig from pg_proc p where p.pronamespace = 'auth'::regnamespace loop
        execute format('alter function %s owner to thrive_definer', f.sig);
        execute format('revoke all on function %s from public, thrive_app', f.sig);
    end loop;
end
$$;
revoke create on schema auth from thrive_definer;
grant execute on function auth.revoke_all_sessions(bytea, timestamptz, interval),
                          auth.change_password(bytea, uuid, text, timestamptz, interval),
                          auth.reset_password(bytea, text, timestamptz),
                          auth.my_organisations(bytea, timestamptz, interval),
                          auth.switch_organisation(bytea, uuid, bytea, timestamptz, interval)
      to thrive_auth;

grant create on schema app to thrive_definer;
alter function app.create_password_reset(uuid, bytea) owner to thrive_definer;
revoke create on schema app from thrive_definer;
revoke all on function app.create_password_reset(uuid, bytea) from public;
grant execute on function app.create_password_reset(uuid, bytea) to thrive_app;
