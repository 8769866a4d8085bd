-- WebAuthn passkeys (webauthn-rs) as a second factor beside TOTP.
--
-- * auth.passkeys holds each person's registered credentials: webauthn-rs's `Passkey` as JSON
--   (public key, counter, flags), a name the person chose, when it was made and last used.
--   Readable only by the definer, like the TOTP secrets: the sign-in role reaches it through
--   the functions below, the data role not at all.
-- * Enrolment is two steps (options, then the authenticator's answer); the ceremony's state
--   waits in auth.passkey_registrations, one per session, for five minutes, and is taken
--   (deleted) by the second step, so a ceremony is finished at most once.
-- * Sign-in: a right password gives the second-factor token (auth.begin_second_factor now
--   counts passkeys as a second factor); the passkey options keep the ceremony's state on the
--   token's row; an answer is admitted under the same lockout as a TOTP code (auth.begin_factor)
--   and recorded by auth.finish_passkey_factor: a wrong or missing passkey is a failure that
--   counts towards the lock, the state is spent by any answer, a right one spends the token and
--   issues the PKCE code (or, for step-up, only proves the person).
-- * "Has a second factor" (sign-in, the role that demands one, a right password forgetting
--   earlier failures) is now auth.has_second_factor: a confirmed TOTP or a passkey.
-- Enrolment, use and removal are written to the organisation's audit trail.

grant create on schema auth to thrive_definer;

create table auth.passkeys (
    id             uuid primary key default gen_random_uuid(),
    user_id        uuid not null references public.users (id) on delete cascade,
    credential_id  bytea not null unique check (length(credential_id) between 16 and 1023),
    passkey        jsonb not null,
    name           text not null check (length(name) between 1 and 100),
    created_at     timestamptz not null,
    last_used_at   timestamptz
);
create index passkeys_user_idx on auth.passkeys (user_id);

create table auth.passkey_registrations (
    session_id  uuid primary key references auth.sessions (id) on delete cascade,
    state       jsonb not null,
    expires_at  timestamptz not null
);

alter table auth.second_factor add column passkey_state jsonb;

alter table auth.passkeys owner to thrive_definer;
alter table auth.passkey_registrations owner to thrive_definer;

create function auth.has_second_factor(p_user uuid) returns boolean
language sql stable security definer
set search_path = pg_catalog
as $$
    select exists (select 1 from auth.totp t where t.user_id = p_user and t.confirmed_at is not null)
        or exists (select 1 from auth.passkeys k where k.user_id = p_user)
$$;

-- Audit entries for passkeys too: their enrolment is an insert, their removal a delete.
create or replace function auth.audit_factor(p_user uuid, p_membership uuid, p_what text) returns void
language plpgsql volatile
set search_path = pg_catalog
as $$
declare
    org uuid;
begin
    perform set_config('auth.subject', p_user::text, true);
    select m.organization_id into org from public.memberships m where m.id = p_membership;
    perform set_config('auth.subject', '', true);
    if org is null then
        return;
    end if;
    perform set_config('app.user_id', p_user::text, true);
    perform set_config('app.org_id', org::text, true);
    perform set_config('app.action', 'account.second_factor', true);
    perform app.audit_append(org, 'staff', 'second_factor',
                             case when p_what in ('enrol', 'passkey_enrol') then 'insert'
                                  when p_what in ('remove', 'passkey_remove') then 'delete'
                                  else 'update' end,
                             p_user, null,
                             jsonb_build_object('factor', jsonb_build_object('new', p_what)));
    perform set_config('app.user_id', '', true);
    perform set_config('app.org_id', '', true);
    perform set_config('app.action', '', true);
end
$$;

-- The session's person as a passkey's owner: the user handle, names, when they last proved
-- who they are, and their credentials (to exclude re-registering one).
create function auth.passkey_subject(p_session_hash bytea, p_now timestamptz, p_idle interval,
                                     out user_id uuid, out email text, out display_name text,
                                     out authenticated_at timestamptz, out credential_ids bytea[])
language plpgsql stable security definer
set search_path = pg_catalog
as $$
declare
    me record;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    if me.user_id is null then
        return;
    end if;
    user_id := me.user_id;
    email := me.email;
    authenticated_at := me.authenticated_at;
    perform set_config('auth.subject', me.user_id::text, true);
    select u.display_name into display_name from public.users u where u.id = me.user_id;
    perform set_config('auth.subject', '', true);
    select coalesce(array_agg(k.credential_id order by k.created_at), '{}') into credential_ids
      from auth.passkeys k where k.user_id = me.user_id;
end
$$;

-- Enrolment, step 1: the ceremony's state for this session (a new one replaces the last).
create function auth.passkey_registration_start(p_session_hash bytea, p_state jsonb,
                                                p_now timestamptz, p_idle interval)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    me record;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    if me.session_id is null then
        return false;
    end if;
    delete from auth.passkey_registrations where expires_at <= p_now;
    insert into auth.passkey_registrations (session_id, state, expires_at)
    values (me.session_id, p_state, p_now + interval '5 minutes')
    on conflict (session_id) do update set state = excluded.state, expires_at = excluded.expires_at;
    return true;
end
$$;

-- Enrolment, step 2a: the ceremony's state, taken (a ceremony finishes at most once).
create function auth.passkey_registration_take(p_session_hash bytea, p_now timestamptz, p_idle interval)
returns jsonb
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    me record;
    v_state jsonb;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    if me.session_id is null then
        return null;
    end if;
    delete from auth.passkey_registrations r
     where r.session_id = me.session_id
    returning case when r.expires_at > p_now then r.state end into v_state;
    return v_state;
end
$$;

-- Enrolment, step 2b: the verified passkey kept and audited. Null when the credential is
-- already registered (to anyone).
create function auth.passkey_add(p_session_hash bytea, p_credential_id bytea, p_passkey jsonb,
                                 p_name text, p_now timestamptz, p_idle interval)
returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    me record;
    v_id uuid;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    if me.user_id is null then
        return null;
    end if;
    insert into auth.passkeys (user_id, credential_id, passkey, name, created_at)
    values (me.user_id, p_credential_id, p_passkey, p_name, p_now)
    on conflict (credential_id) do nothing
    returning id into v_id;
    if v_id is not null then
        perform auth.audit_factor(me.user_id, me.membership_id, 'passkey_enrol');
    end if;
    return v_id;
end
$$;

create function auth.passkey_list(p_session_hash bytea, p_now timestamptz, p_idle interval)
returns table (id uuid, name text, created_at timestamptz, last_used_at timestamptz)
language plpgsql stable security definer
set search_path = pg_catalog
as $$
declare
    me record;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    return query
        select k.id, k.name, k.created_at, k.last_used_at from auth.passkeys k
         where k.user_id = me.user_id order by k.created_at;
end
$$;

-- Removal (the API demands step-up first); only the session's person's own passkey.
create function auth.passkey_remove(p_session_hash bytea, p_id uuid, p_now timestamptz, p_idle interval)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    me record;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    delete from auth.passkeys k where k.id = p_id and k.user_id = me.user_id;
    if not found then
        return false;
    end if;
    perform auth.audit_factor(me.user_id, me.membership_id, 'passkey_remove');
    return true;
end
$$;

-- Sign-in (or step-up) with a passkey, step 1: the passkeys of the second-factor token's
-- person, to build the challenge from. Empty for a spent, expired or unknown token.
create function auth.passkeys_for_factor(p_token_hash bytea, p_now timestamptz)
returns setof jsonb
language sql stable security definer
set search_path = pg_catalog
as $$
    select k.passkey from auth.second_factor f
      join auth.passkeys k on k.user_id = f.user_id
     where f.token_hash = p_token_hash and f.used_at is null and f.expires_at > p_now
     order by k.created_at
$$;

-- Step 2: the ceremony's state kept on the token's row.
create function auth.passkey_factor_start(p_token_hash bytea, p_state jsonb, p_now timestamptz)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
begin
    update auth.second_factor set passkey_state = p_state
     where token_hash = p_token_hash and used_at is null and expires_at > p_now;
    return found;
end
$$;

-- Step 3, after auth.begin_factor admitted the attempt: the ceremony's state, taken (any
-- answer spends it), and the person's passkeys to verify against.
create function auth.passkey_factor_take(p_token_hash bytea, p_now timestamptz,
                                         out state jsonb, out passkeys jsonb[])
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    v_user uuid;
begin
    select f.passkey_state, f.user_id into state, v_user from auth.second_factor f
     where f.token_hash = p_token_hash and f.used_at is null and f.expires_at > p_now
       for update;
    if v_user is null then
        return;
    end if;
    update auth.second_factor set passkey_state = null where token_hash = p_token_hash;
    select coalesce(array_agg(k.passkey order by k.created_at), '{}') into passkeys
      from auth.passkeys k where k.user_id = v_user;
end
$$;

-- Step 4: the outcome. p_credential_id names the passkey that verified (null: a failure,
-- counted towards the lock like a wrong code); p_passkey is its state after use (counter).
-- For a right one the locks are checked again, the token is spent, and a PKCE code is issued
-- when p_code_hash is given (sign-in), or only the user returned (step-up).
create function auth.finish_passkey_factor(p_attempt uuid, p_token_hash bytea, p_credential_id bytea,
                                           p_passkey jsonb, p_code_hash bytea, p_now timestamptz,
                                           p_ttl interval)
returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    f auth.second_factor;
    ok boolean := false;
    v_user uuid;
    v_membership uuid;
begin
    select * into f from auth.second_factor where token_hash = p_token_hash
       and used_at is null and expires_at > p_now for update;
    if found and p_credential_id is not null then
        ok := exists (select 1 from auth.passkeys k
                       where k.user_id = f.user_id and k.credential_id = p_credential_id);
    end if;
    v_user := auth.finish_login(p_attempt, ok, p_now);
    if v_user is null or f.token_hash is null or v_user <> f.user_id then
        return null;
    end if;
    update auth.second_factor set used_at = p_now, passkey_state = null where token_hash = p_token_hash;
    update auth.passkeys k set passkey = coalesce(p_passkey, k.passkey), last_used_at = p_now
     where k.user_id = v_user and k.credential_id = p_credential_id;
    delete from auth.login_attempts l
     where l.user_id = v_user and l.outcome = 'failure'
       and l.address is not distinct from (select a.address from auth.login_attempts a where a.id = p_attempt);
    if p_code_hash is not null then
        if not auth.issue_code(v_user, p_code_hash, f.code_challenge, p_now, p_ttl) then
            return null;
        end if;
        select c.membership_id into v_membership from auth.codes c where c.code_hash = p_code_hash;
        perform auth.audit_factor(v_user, v_membership, 'sign_in_passkey');
    end if;
    return v_user;
end
$$;

-- Passkeys count as a second factor wherever "has one" is asked.
create or replace function auth.begin_second_factor(p_user uuid, p_token_hash bytea, p_challenge text, p_now timestamptz)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
begin
    if not auth.has_second_factor(p_user) then
        return false;
    end if;
    delete from auth.second_factor where expires_at <= p_now;
    insert into auth.second_factor (token_hash, user_id, code_challenge, expires_at)
    values (p_token_hash, p_user, p_challenge, p_now + interval '5 minutes');
    return true;
end
$$;

create or replace function auth.finish_login(p_attempt uuid, p_verified boolean, p_now timestamptz)
returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    a auth.login_attempts;
begin
    select * into a from auth.login_attempts where id = p_attempt;
    if not found or a.outcome <> 'pending' then
        return null;
    end if;
    if a.user_id is not null then
        perform 1 from auth.credentials c where c.user_id = a.user_id for update;
    end if;
    if not p_verified or a.user_id is null then
        update auth.login_attempts set outcome = 'failure' where id = p_attempt;
        if a.user_id is not null then
            perform auth.apply_locks(a.user_id, a.address, p_now);
        end if;
        return null;
    end if;
    if exists (select 1 from auth.lockouts l
                where l.user_id = a.user_id and l.locked_until > p_now
                  and (l.address is null or l.address is not distinct from a.address)) then
        update auth.login_attempts set outcome = 'refused' where id = p_attempt;
        return null;
    end if;
    update auth.login_attempts set outcome = 'success' where id = p_attempt;
    if not auth.has_second_factor(a.user_id) then
        delete from auth.login_attempts
         where user_id = a.user_id and address is not distinct from a.address and outcome = 'failure';
    end if;
    return a.user_id;
end
$$;

create or replace function auth.resolve_session(p_token_hash bytea, p_now timestamptz, p_idle interval,
                                                out session_id uuid, out user_id uuid,
                                                out organization_id uuid, out membership_id uuid,
                                                out authenticated_at timestamptz, out mfa_missing boolean)
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    v_user uuid;
    v_membership uuid;
    v_seen timestamptz;
    v_role uuid;
begin
    select s.id, s.user_id, s.membership_id, s.last_seen_at, s.authenticated_at
      into session_id, v_user, v_membership, v_seen, authenticated_at
      from auth.sessions s
     where s.token_hash = p_token_hash
       and s.revoked_at is null
       and s.last_seen_at > p_now - p_idle
       and s.absolute_expires_at > p_now;
    if session_id is null then
        return;
    end if;
    perform set_config('auth.subject', v_user::text, true);
    select m.user_id, m.organization_id, m.id, m.role_id
      into user_id, organization_id, membership_id, v_role
      from public.memberships m
      join public.users u on u.id = m.user_id
     where m.id = v_membership and m.active and u.active;
    perform set_config('auth.subject', '', true);
    if membership_id is null then
        session_id := null;
        return;
    end if;
    perform set_config('app.org_id', organization_id::text, true);
    mfa_missing := coalesce((select r.mfa_required from public.roles r where r.id = v_role), false)
                   and not auth.has_second_factor(v_user);
    perform set_config('app.org_id', '', true);
    if v_seen <= p_now - interval '1 minute' then
        update auth.sessions s set last_seen_at = p_now
         where s.id = session_id and s.last_seen_at <= p_now - interval '1 minute';
    end if;
end
$$;

do $$
declare f record;
begin
    for f in select p.oid::regprocedure as sig from pg_proc p
              where p.pronamespace = 'auth'::regnamespace
                and p.proname in ('has_second_factor', 'passkey_subject', 'passkey_registration_start',
                                  'passkey_registration_take', 'passkey_add', 'passkey_list',
                                  'passkey_remove', 'passkeys_for_factor', 'passkey_factor_start',
                                  'passkey_factor_take', 'finish_passkey_factor') loop
        execute format('alter function %s owner to thrive_definer', f.sig);
        execute format('revoke all on function %s from public, thrive_app', f.sig);
    end loop;
end
$$;
revoke create on schema auth from thrive_definer;
grant execute on function auth.passkey_subject(bytea, timestamptz, interval),
                          auth.passkey_registration_start(bytea, jsonb, timestamptz, interval),
                          auth.passkey_registration_take(bytea, timestamptz, interval),
                          auth.passkey_add(bytea, bytea, jsonb, text, timestamptz, interval),
                          auth.passkey_list(bytea, timestamptz, interval),
                          auth.passkey_remove(bytea, uuid, timestamptz, interval),
                          auth.passkeys_for_factor(bytea, timestamptz),
                          auth.passkey_factor_start(bytea, jsonb, timestamptz),
                          auth.passkey_factor_take(bytea, timestamptz),
                          auth.finish_passkey_factor(uuid, bytea, bytea, jsonb, bytea, timestamptz, interval)
      to thrive_auth;
grant execute on function auth.has_second_factor(uuid) to thrive_definer;
