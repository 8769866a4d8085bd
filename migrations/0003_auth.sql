-- Sign-in state: password hashes, failed attempts and lockouts, one-time PKCE codes, sessions.
--
-- Lives in its own schema owned by thrive_definer. None of it is organisation data and the API's
-- role has no privilege on any of these tables: it can only call the SECURITY DEFINER functions
-- below, each doing one step of the flow. Secrets are stored hashed (codes and session tokens as
-- SHA-256 of 256 random bits, passwords as argon2id). Times come from the API's clock as
-- parameters so tests can move time without sleeping.

create schema auth;
revoke all on schema auth from public;

create table auth.credentials (
    user_id        uuid primary key references public.users (id) on delete cascade,
    password_hash  text not null,
    updated_at     timestamptz not null default now()
);

create table auth.login_failures (
    user_id    uuid not null references public.users (id) on delete cascade,
    failed_at  timestamptz not null
);
create index login_failures_user_idx on auth.login_failures (user_id, failed_at);

create table auth.lockouts (
    user_id       uuid primary key references public.users (id) on delete cascade,
    locked_until  timestamptz not null
);

create table auth.codes (
    code_hash       bytea primary key check (length(code_hash) = 32),
    user_id         uuid not null references public.users (id) on delete cascade,
    membership_id   uuid not null references public.memberships (id) on delete cascade,
    code_challenge  text not null,
    expires_at      timestamptz not null,
    used_at         timestamptz
);

create table auth.sessions (
    id                   uuid primary key default gen_random_uuid(),
    token_hash           bytea not null unique check (length(token_hash) = 32),
    user_id              uuid not null references public.users (id) on delete cascade,
    membership_id        uuid not null references public.memberships (id) on delete cascade,
    created_at           timestamptz not null,
    last_seen_at         timestamptz not null,
    absolute_expires_at  timestamptz not null,
    revoked_at           timestamptz
);
create index sessions_user_idx on auth.sessions (user_id);

-- A new owner needs CREATE on the schema at the moment of the change; revoked again below.
grant create on schema auth to thrive_definer;
alter table auth.credentials owner to thrive_definer;
alter table auth.login_failures owner to thrive_definer;
alter table auth.lockouts owner to thrive_definer;
alter table auth.codes owner to thrive_definer;
alter table auth.sessions owner to thrive_definer;

-- Step 1 of sign-in: the stored hash for an email, and whether the account is locked.
-- Returns no row for an unknown or deactivated account; the API then verifies against a dummy
-- hash so the three failure kinds take the same time.
create function auth.begin_login(p_email text, p_now timestamptz,
                                 out user_id uuid, out password_hash text, out locked boolean)
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
begin
    perform set_config('auth.email', p_email, true);
    select u.id, c.password_hash,
           exists (select 1 from auth.lockouts l where l.user_id = u.id and l.locked_until > p_now)
      into user_id, password_hash, locked
      from public.users u
      join auth.credentials c on c.user_id = u.id
     where u.email = p_email and u.active;
    if not found then
        user_id := null; password_hash := null; locked := false;
    end if;
    perform set_config('auth.email', '', true);
end
$$;

-- A wrong password: count it, and lock the account once 5 failures fall within 5 minutes.
create function auth.record_failure(p_user_id uuid, p_now timestamptz,
                                    p_window interval, p_max_failures int, p_lock_for interval)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    recent int;
begin
    -- Serialise concurrent attempts on one account so none is lost.
    perform 1 from auth.credentials where user_id = p_user_id for update;
    delete from auth.login_failures where user_id = p_user_id and failed_at <= p_now - p_window;
    insert into auth.login_failures (user_id, failed_at) values (p_user_id, p_now);
    select count(*) into recent from auth.login_failures where user_id = p_user_id;
    if recent >= p_max_failures then
        insert into auth.lockouts (user_id, locked_until) values (p_user_id, p_now + p_lock_for)
        on conflict on constraint lockouts_pkey do update set locked_until = excluded.locked_until;
        delete from auth.login_failures where user_id = p_user_id;
        return true;
    end if;
    return false;
end
$$;

-- A correct password: forget earlier failures and issue a one-time code bound to the PKCE
-- challenge. Returns false when the user has no active membership to sign in to.
create function auth.issue_code(p_user_id uuid, p_code_hash bytea, p_challenge text,
                                p_now timestamptz, p_ttl interval)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    v_membership uuid;
begin
    perform set_config('auth.subject', p_user_id::text, true);
    select m.id into v_membership
      from public.memberships m
     where m.user_id = p_user_id and m.active
     order by m.created_at, m.id
     limit 1;
    perform set_config('auth.subject', '', true);
    delete from auth.login_failures where user_id = p_user_id;
    if v_membership is null then
        return false;
    end if;
    delete from auth.codes where expires_at <= p_now;
    insert into auth.codes (code_hash, user_id, membership_id, code_challenge, expires_at)
    values (p_code_hash, p_user_id, v_membership, p_challenge, p_now + p_ttl);
    return true;
end
$$;

-- Step 2: consume a code (once, before it expires), returning the challenge to verify against.
-- A code is spent by any attempt, right or wrong verifier, so it cannot be guessed at.
create function auth.consume_code(p_code_hash bytea, p_now timestamptz,
                                  out user_id uuid, out membership_id uuid, out code_challenge text)
language sql volatile security definer
set search_path = pg_catalog
as $$
    update auth.codes c
       set used_at = p_now
     where c.code_hash = p_code_hash and c.used_at is null and c.expires_at > p_now
    returning c.user_id, c.membership_id, c.code_challenge
$$;

create function auth.create_session(p_token_hash bytea, p_user_id uuid, p_membership_id uuid,
                                    p_now timestamptz, p_lifetime interval)
returns uuid
language sql volatile security definer
set search_path = pg_catalog
as $$
    insert into auth.sessions (token_hash, user_id, membership_id, created_at, last_seen_at, absolute_expires_at)
    values (p_token_hash, p_user_id, p_membership_id, p_now, p_now, p_now + p_lifetime)
    returning id
$$;

-- Every authenticated request: a live session (not revoked, used within the idle timeout,
-- inside its absolute lifetime, its user and membership still active) and who it belongs to.
-- Touching it slides the idle timeout.
create function auth.resolve_session(p_token_hash bytea, p_now timestamptz, p_idle interval,
                                     out session_id uuid, out user_id uuid,
                                     out organization_id uuid, out membership_id uuid)
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    v_user uuid;
    v_membership uuid;
begin
    update auth.sessions s
       set last_seen_at = greatest(s.last_seen_at, p_now)
     where s.token_hash = p_token_hash
       and s.revoked_at is null
       and s.last_seen_at > p_now - p_idle
       and s.absolute_expires_at > p_now
    returning s.id, s.user_id, s.membership_id into session_id, v_user, v_membership;
    if session_id is null then
        return;
    end if;
    perform set_config('auth.subject', v_user::text, true);
    select m.user_id, m.organization_id, m.id
      into user_id, organization_id, membership_id
      from public.memberships m
      join public.users u on u.id = m.user_id
     where m.id = v_membership and m.active and u.active;
    perform set_config('auth.subject', '', true);
    if membership_id is null then
        session_id := null;
    end if;
end
$$;

create function auth.revoke_session(p_token_hash bytea, p_now timestamptz)
returns void
language sql volatile security definer
set search_path = pg_catalog
as $$
    update auth.sessions set revoked_at = p_now where token_hash = p_token_hash and revoked_at is null
$$;

-- Housekeeping the API runs periodically: spent codes, ended sessions, old failures.
create function auth.prune(p_now timestamptz, p_keep interval)
returns void
language sql volatile security definer
set search_path = pg_catalog
as $$
    delete from auth.codes where expires_at <= p_now or used_at is not null;
    delete from auth.sessions where coalesce(revoked_at, absolute_expires_at) <= p_now - p_keep
                                 or last_seen_at <= p_now - p_keep;
    delete from auth.login_failures where failed_at <= p_now - p_keep;
    delete from auth.lockouts where locked_until <= p_now;
$$;

-- Setting a password (seeding, the change-password flow) — the API checks the policy first.
create function auth.set_password(p_user_id uuid, p_hash text, p_now timestamptz)
returns void
language sql volatile security definer
set search_path = pg_catalog
as $$
    insert into auth.credentials (user_id, password_hash, updated_at) values (p_user_id, p_hash, p_now)
    on conflict (user_id) do update set password_hash = excluded.password_hash, updated_at = excluded.updated_at
$$;

do $$
declare f record;
begin
    for f in select p.oid::regprocedure as sig from pg_proc p where p.pronamespace = 'auth'::regnamespace loop
        execute format('alter function %s owner to thrive_definer', f.sig);
        execute format('revoke all on function %s from public', f.sig);
    end loop;
end
$$;

revoke create on schema auth from thrive_definer;
grant usage on schema auth to thrive_app, thrive_definer;
grant execute on function auth.begin_login(text, timestamptz),
                          auth.record_failure(uuid, timestamptz, interval, int, interval),
                          auth.issue_code(uuid, bytea, text, timestamptz, interval),
                          auth.consume_code(bytea, timestamptz),
                          auth.create_session(bytea, uuid, uuid, timestamptz, interval),
                          auth.resolve_session(bytea, timestamptz, interval),
                          auth.revoke_session(bytea, timestamptz),
                          auth.prune(timestamptz, interval)
      to thrive_app;
