-- A second factor (TOTP, RFC 6238, with one-time recovery codes), step-up, and roles that must
-- have one.
--
-- * auth.totp holds each person's TOTP secret (readable only by the definer, handed to the
--   sign-in role's functions to verify a code) and the last time step used (a code is never
--   accepted twice). auth.recovery_codes holds SHA-256 of ten one-time codes.
-- * Sign-in with a second factor: a right password gives a short-lived second-factor token,
--   not a code; auth.begin_factor admits a code attempt under the same lockout as passwords
--   (a wrong code is a failure, counted and locking like a wrong password); auth.finish_factor
--   records it and, for a right code, issues the PKCE code.
-- * Step-up: auth.sessions.authenticated_at is when the person last proved who they are (sign
--   in, password or second factor again). The API demands it within 5 minutes before exports,
--   ladder changes, deactivation and closure.
-- * roles.mfa_required: members of such a role reach nothing but their own account until they
--   have enrolled (resolve_session says so on every request).
-- Enrolment, use and removal are written to the organisation's audit trail.

grant create on schema auth to thrive_definer;

create table auth.totp (
    user_id       uuid primary key references public.users (id) on delete cascade,
    secret        bytea not null check (length(secret) >= 20),
    created_at    timestamptz not null,
    confirmed_at  timestamptz,
    last_step     bigint not null default 0
);
create table auth.recovery_codes (
    user_id    uuid not null references public.users (id) on delete cascade,
    code_hash  bytea not null check (length(code_hash) = 32),
    used_at    timestamptz,
    primary key (user_id, code_hash)
);
create table auth.second_factor (
    token_hash      bytea primary key check (length(token_hash) = 32),
    user_id         uuid not null references public.users (id) on delete cascade,
    code_challenge  text,
    expires_at      timestamptz not null,
    used_at         timestamptz
);
alter table auth.totp owner to thrive_definer;
alter table auth.recovery_codes owner to thrive_definer;
alter table auth.second_factor owner to thrive_definer;

alter table auth.sessions add column authenticated_at timestamptz;
update auth.sessions set authenticated_at = created_at;
alter table auth.sessions alter column authenticated_at set not null;

alter table public.roles add column mfa_required boolean not null default false;

-- A new session has just been authenticated.
create or replace function auth.create_session(p_token_hash bytea, p_user_id uuid, p_membership_id uuid,
                                               p_now timestamptz, p_lifetime interval)
returns uuid
language sql volatile security definer
set search_path = pg_catalog
as $$
    insert into auth.sessions (token_hash, user_id, membership_id, created_at, last_seen_at,
                               absolute_expires_at, authenticated_at)
    values (p_token_hash, p_user_id, p_membership_id, p_now, p_now, p_now + p_lifetime, p_now)
    returning id
$$;

-- A live session and its person (no touch: for the account routes).
create function auth.session_person(p_session_hash bytea, p_now timestamptz, p_idle interval,
                                    out session_id uuid, out user_id uuid, out membership_id uuid,
                                    out email text, out authenticated_at timestamptz)
language plpgsql stable security definer
set search_path = pg_catalog
as $$
begin
    select s.id, s.user_id, s.membership_id, s.authenticated_at
      into session_id, user_id, membership_id, authenticated_at
      from auth.sessions s
     where s.token_hash = p_session_hash and s.revoked_at is null
       and s.last_seen_at > p_now - p_idle and s.absolute_expires_at > p_now;
    if user_id is not null then
        perform set_config('auth.subject', user_id::text, true);
        select u.email into email from public.users u where u.id = user_id;
        perform set_config('auth.subject', '', true);
    end if;
end
$$;

-- An entry about `p_user`'s second factor in the trail of the organisation of `p_membership`.
create function auth.audit_factor(p_user uuid, p_membership uuid, p_what text) returns void
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
                             case p_what when 'enrol' then 'insert' when 'remove' then 'delete' else 'update' end,
                             p_user, null,
                             jsonb_build_object('factor', jsonb_build_object('new', p_what)));
    perform set_config('app.user_id', '', true);
    perform set_config('app.org_id', '', true);
    perform set_config('app.action', '', true);
end
$$;

-- Enrolment, step 1: a new, unconfirmed secret (refused while one is confirmed).
create function auth.totp_enrol(p_session_hash bytea, p_secret bytea, p_now timestamptz, p_idle interval)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    me record;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    if me.user_id is null
       or exists (select 1 from auth.totp t where t.user_id = me.user_id and t.confirmed_at is not null) then
        return false;
    end if;
    insert into auth.totp (user_id, secret, created_at) values (me.user_id, p_secret, p_now)
    on conflict (user_id) do update set secret = excluded.secret, created_at = excluded.created_at;
    return true;
end
$$;

-- The secret and last step of the session's person, confirmed or not (to verify a code).
create function auth.totp_for_session(p_session_hash bytea, p_now timestamptz, p_idle interval,
                                      out secret bytea, out confirmed boolean, out last_step bigint)
language plpgsql stable security definer
set search_path = pg_catalog
as $$
declare
    me record;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    select t.secret, t.confirmed_at is not null, t.last_step into secret, confirmed, last_step
      from auth.totp t where t.user_id = me.user_id;
end
$$;

-- Enrolment, step 2: a right code (its time step) confirms it; the recovery codes' hashes are
-- kept; the session counts as freshly authenticated.
create function auth.totp_confirm(p_session_hash bytea, p_step bigint, p_recovery bytea[],
                                  p_now timestamptz, p_idle interval)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    me record;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    update auth.totp t set confirmed_at = p_now, last_step = p_step
     where t.user_id = me.user_id and t.confirmed_at is null and p_step > t.last_step;
    if not found then
        return false;
    end if;
    delete from auth.recovery_codes where user_id = me.user_id;
    insert into auth.recovery_codes (user_id, code_hash)
    select me.user_id, h from unnest(p_recovery) as h;
    update auth.sessions set authenticated_at = p_now where id = me.session_id;
    perform auth.audit_factor(me.user_id, me.membership_id, 'enrol');
    return true;
end
$$;

-- Removal (the API demands step-up first).
create function auth.totp_remove(p_session_hash bytea, p_now timestamptz, p_idle interval)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    me record;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    delete from auth.totp where user_id = me.user_id;
    if not found then
        return false;
    end if;
    delete from auth.recovery_codes where user_id = me.user_id;
    perform auth.audit_factor(me.user_id, me.membership_id, 'remove');
    return true;
end
$$;

create function auth.mfa_status(p_session_hash bytea, p_now timestamptz, p_idle interval,
                                out totp boolean, out recovery_codes_left int)
language plpgsql stable security definer
set search_path = pg_catalog
as $$
declare
    me record;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    totp := exists (select 1 from auth.totp t where t.user_id = me.user_id and t.confirmed_at is not null);
    select count(*) into recovery_codes_left from auth.recovery_codes r
     where r.user_id = me.user_id and r.used_at is null;
end
$$;

-- After a right password: whether a second factor is needed, and if so its token.
create function auth.begin_second_factor(p_user uuid, p_token_hash bytea, p_challenge text, p_now timestamptz)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
begin
    if not exists (select 1 from auth.totp t where t.user_id = p_user and t.confirmed_at is not null) then
        return false;
    end if;
    delete from auth.second_factor where expires_at <= p_now;
    insert into auth.second_factor (token_hash, user_id, code_challenge, expires_at)
    values (p_token_hash, p_user, p_challenge, p_now + interval '5 minutes');
    return true;
end
$$;

-- A second-factor attempt, admitted under the account's lock like a password attempt.
create function auth.begin_factor(p_token_hash bytea, p_address inet, p_now timestamptz,
                                  out attempt_id uuid, out secret bytea, out last_step bigint,
                                  out verdict text)
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    v_user uuid;
begin
    select f.user_id into v_user from auth.second_factor f
     where f.token_hash = p_token_hash and f.used_at is null and f.expires_at > p_now;
    if v_user is null then
        verdict := 'invalid';
        return;
    end if;
    perform 1 from auth.credentials c where c.user_id = v_user for update;
    if auth.locked_until(v_user, p_address, p_now) is not null then
        insert into auth.login_attempts (user_id, address, started_at, outcome)
        values (v_user, p_address, p_now, 'refused') returning id into attempt_id;
        verdict := 'locked';
        return;
    end if;
    insert into auth.login_attempts (user_id, address, started_at)
    values (v_user, p_address, p_now) returning id into attempt_id;
    select t.secret, t.last_step into secret, last_step
      from auth.totp t where t.user_id = v_user and t.confirmed_at is not null;
    verdict := 'ok';
end
$$;

-- The outcome: a TOTP time step (newer than the last used) or a recovery code's hash, or
-- neither (a wrong code: a failure). For a right one the locks are checked again, the step or
-- recovery code is spent, and a PKCE code is issued when p_code_hash is given (sign-in) — or
-- only true is returned (step-up). Returns the user on success.
create function auth.finish_factor(p_attempt uuid, p_token_hash bytea, p_step bigint,
                                   p_recovery_hash bytea, p_code_hash bytea, p_now timestamptz,
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
    if found then
        if p_step is not null then
            update auth.totp t set last_step = p_step
             where t.user_id = f.user_id and t.confirmed_at is not null and p_step > t.last_step;
            ok := found;
        elsif p_recovery_hash is not null then
            update auth.recovery_codes r set used_at = p_now
             where r.user_id = f.user_id and r.code_hash = p_recovery_hash and r.used_at is null;
            ok := found;
        end if;
    end if;
    v_user := auth.finish_login(p_attempt, ok, p_now);
    if v_user is null or f.token_hash is null or v_user <> f.user_id then
        return null;
    end if;
    update auth.second_factor set used_at = p_now where token_hash = p_token_hash;
    delete from auth.login_attempts l
     where l.user_id = v_user and l.outcome = 'failure'
       and l.address is not distinct from (select a.address from auth.login_attempts a where a.id = p_attempt);
    if p_code_hash is not null then
        if not auth.issue_code(v_user, p_code_hash, f.code_challenge, p_now, p_ttl) then
            return null;
        end if;
        select c.membership_id into v_membership from auth.codes c where c.code_hash = p_code_hash;
        perform auth.audit_factor(v_user, v_membership,
                                  case when p_step is not null then 'sign_in_totp' else 'sign_in_recovery_code' end);
    end if;
    return v_user;
end
$$;

-- A right password forgets the address's earlier failures only when it completes the sign-in:
-- for an account with a second factor, only a right code does (else knowing the password would
-- reset the count of wrong codes at every try).
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
    if not exists (select 1 from auth.totp t where t.user_id = a.user_id and t.confirmed_at is not null) then
        delete from auth.login_attempts
         where user_id = a.user_id and address is not distinct from a.address and outcome = 'failure';
    end if;
    return a.user_id;
end
$$;

-- Step-up for a session whose person just proved themselves again.
create function auth.step_up(p_session_hash bytea, p_user uuid, p_now timestamptz, p_idle interval)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
begin
    update auth.sessions s set authenticated_at = p_now
     where s.token_hash = p_session_hash and s.user_id = p_user and s.revoked_at is null
       and s.last_seen_at > p_now - p_idle and s.absolute_expires_at > p_now;
    return found;
end
$$;

-- Step-up with the second factor: a token for the session's person, as at sign-in.
create function auth.second_factor_for_session(p_session_hash bytea, p_token_hash bytea,
                                               p_now timestamptz, p_idle interval)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    me record;
begin
    select * into me from auth.session_person(p_session_hash, p_now, p_idle);
    if me.user_id is null then
        return false;
    end if;
    return auth.begin_second_factor(me.user_id, p_token_hash, null, p_now);
end
$$;

-- The session check, now also saying when the person last authenticated and whether their
-- role demands a second factor they have not enrolled.
drop function auth.resolve_session(bytea, timestamptz, interval);
create function auth.resolve_session(p_token_hash bytea, p_now timestamptz, p_idle interval,
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
                   and not exists (select 1 from auth.totp t where t.user_id = v_user and t.confirmed_at is not null);
    perform set_config('app.org_id', '', true);
    if v_seen <= p_now - interval '1 minute' then
        update auth.sessions s set last_seen_at = p_now
         where s.id = session_id and s.last_seen_at <= p_now - interval '1 minute';
    end if;
end
$$;

create or replace function auth.prune(p_now timestamptz, p_keep interval)
returns void
language sql volatile security definer
set search_path = pg_catalog
as $$
    delete from auth.codes where expires_at <= p_now or used_at is not null;
    delete from auth.sessions where coalesce(revoked_at, absolute_expires_at) <= p_now - p_keep
                                 or last_seen_at <= p_now - p_keep;
    delete from auth.login_attempts where started_at <= p_now - greatest(p_keep, interval '1 day');
    delete from auth.lockouts where locked_until <= p_now;
    delete from auth.second_factor where expires_at <= p_now or used_at is not null;
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
grant execute on function auth.resolve_session(bytea, timestamptz, interval),
                          auth.session_person(bytea, timestamptz, interval),
                          auth.totp_enrol(bytea, bytea, timestamptz, interval),
                          auth.totp_for_session(bytea, timestamptz, interval),
                          auth.totp_confirm(bytea, bigint, bytea[], timestamptz, interval),
                          auth.totp_remove(bytea, timestamptz, interval),
                          auth.mfa_status(bytea, timestamptz, interval),
                          auth.begin_second_factor(uuid, bytea, text, timestamptz),
                          auth.begin_factor(bytea, inet, timestamptz),
                          auth.finish_factor(uuid, bytea, bigint, bytea, bytea, timestamptz, interval),
                          auth.step_up(bytea, uuid, timestamptz, interval),
                          auth.second_factor_for_session(bytea, bytea, timestamptz, interval)
      to thrive_auth;
grant execute on function auth.audit_factor(uuid, uuid, text) to thrive_definer;
