-- Sign-in behind its own database role, a lockout that cannot be raced, longer windows, a limit
-- per address, invitations that are no password oracle, and a session check that writes at
-- most once a minute.
--
-- thrive_auth (crates/api/src/db/roles.sql) is the login role of the sign-in, session and
-- invitation routes. It owns nothing and reads no table: it may only execute the auth.*
-- functions, which run as thrive_definer. thrive_app, the data role, executes none of them,
-- so a compromised data handler cannot start a sign-in, issue a code or mint a session.
--
-- The lockout (all of it here, so it holds across API instances and restarts):
--   * every sign-in attempt is admitted by auth.begin_login in one locked step: it checks the
--     locks and counts the attempt (as a failure until proved otherwise) before the API runs
--     argon2, so concurrent guesses cannot all slip in before the first is counted;
--   * auth.finish_login records the outcome in one locked step and, for a right password,
--     re-checks the locks before it issues the one-time code;
--   * windows: 5 failures for one account from one address in 5 minutes lock that address out
--     of that account for 15 minutes; 20 failures for one account from anywhere in an hour
--     lock the account for an hour; 50 in a day lock it for a day (OWASP ASVS 2.2.1: at most
--     100 failures an hour per account); 50 failures from one address in an hour, whatever the
--     accounts, block sign-in from that address for the rest of the hour (spraying).
--   * administrators see and lift their members' locks (app.member_locks, app.lift_member_lock).

-- ---------------------------------------------------------------------------------------------
-- Attempts and locks

drop function auth.record_failure(uuid, timestamptz, interval, int, interval);
drop function auth.begin_login(text, timestamptz);
drop function auth.issue_code(uuid, bytea, text, timestamptz, interval);
drop table auth.login_failures;
drop table auth.lockouts;

grant create on schema auth to thrive_definer;

-- One row per sign-in (or step-up, or second factor) attempt that was admitted. user_id is NULL
-- for an unknown email: the attempt still counts against its address.
create table auth.login_attempts (
    id          uuid primary key default gen_random_uuid(),
    user_id     uuid references public.users (id) on delete cascade,
    address     inet,
    started_at  timestamptz not null,
    outcome     text not null default 'pending'
                check (outcome in ('pending', 'failure', 'success', 'refused'))
);
create index login_attempts_user_idx on auth.login_attempts (user_id, started_at);
create index login_attempts_address_idx on auth.login_attempts (address, started_at);

-- An active lock: for one account from one address (address set), or for the account from
-- everywhere (address NULL).
create table auth.lockouts (
    id            uuid primary key default gen_random_uuid(),
    user_id       uuid not null references public.users (id) on delete cascade,
    address       inet,
    locked_at     timestamptz not null,
    locked_until  timestamptz not null,
    reason        text not null
);
create index lockouts_user_idx on auth.lockouts (user_id, locked_until);

alter table auth.login_attempts owner to thrive_definer;
alter table auth.lockouts owner to thrive_definer;

-- The policy, in one place.
create function auth.policy(out short_window interval, out short_max int, out short_lock interval,
                            out hour_max int, out day_max int,
                            out address_window interval, out address_max int)
language sql immutable
set search_path = pg_catalog
as $$ select interval '5 minutes', 5, interval '15 minutes', 20, 50, interval '1 hour', 50 $$;

-- Whether `p_user` may attempt a password from `p_address` now: NULL when it may, else when it
-- may next. Counts pending attempts too, so concurrent attempts are capped, not only finished
-- ones. The caller holds the account's row lock.
create function auth.locked_until(p_user uuid, p_address inet, p_now timestamptz)
returns timestamptz
language plpgsql stable
set search_path = pg_catalog
as $$
declare
    p record := auth.policy();
    until timestamptz;
begin
    select max(l.locked_until) into until
      from auth.lockouts l
     where l.user_id = p_user and l.locked_until > p_now
       and (l.address is null or l.address is not distinct from p_address);
    if until is not null then
        return until;
    end if;
    if (select count(*) from auth.login_attempts a
         where a.user_id = p_user and a.address is not distinct from p_address
           and a.started_at > p_now - p.short_window and a.outcome in ('pending', 'failure')) >= p.short_max
       or (select count(*) from auth.login_attempts a
            where a.user_id = p_user and a.started_at > p_now - interval '1 hour'
              and a.outcome in ('pending', 'failure')) >= p.hour_max
       or (select count(*) from auth.login_attempts a
            where a.user_id = p_user and a.started_at > p_now - interval '1 day'
              and a.outcome in ('pending', 'failure')) >= p.day_max then
        return p_now + p.short_window;
    end if;
    return null;
end
$$;

-- Step 1 of every password check (sign-in, step-up): admit the attempt or refuse it, in one
-- step under the account's row lock. verdict: 'ok' (verify `password_hash`, then call
-- auth.finish_login), 'locked' (verify a dummy hash anyway, then finish: every failure looks
-- alike) or 'address_blocked' (too many failures from this address: answer 429).
create function auth.begin_login(p_email text, p_address inet, p_now timestamptz,
                                 out attempt_id uuid, out password_hash text, out verdict text,
                                 out retry_after timestamptz)
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    p record := auth.policy();
    v_user uuid;
    v_hash text;
    v_failures int;
begin
    if p_address is not null then
        -- One address's failures across every account (spraying), serialised per address.
        perform pg_advisory_xact_lock(hashtextextended('auth.address:' || host(p_address), 0));
        select count(*) into v_failures from auth.login_attempts a
         where a.address = p_address and a.started_at > p_now - p.address_window
           and a.outcome in ('pending', 'failure');
        if v_failures >= p.address_max then
            select min(a.started_at) + p.address_window into retry_after
              from (select started_at from auth.login_attempts a
                     where a.address = p_address and a.started_at > p_now - p.address_window
                       and a.outcome in ('pending', 'failure')
                     order by started_at desc limit p.address_max) a;
            verdict := 'address_blocked';
            return;
        end if;
    end if;

    perform set_config('auth.email', p_email, true);
    select u.id, c.password_hash into v_user, v_hash
      from public.users u
      join auth.credentials c on c.user_id = u.id
     where u.email = p_email and u.active
       for update of c;
    perform set_config('auth.email', '', true);

    if v_user is not null then
        retry_after := auth.locked_until(v_user, p_address, p_now);
        if retry_after is not null then
            insert into auth.login_attempts (user_id, address, started_at, outcome)
            values (v_user, p_address, p_now, 'refused') returning id into attempt_id;
            verdict := 'locked';
            return;
        end if;
    end if;
    insert into auth.login_attempts (user_id, address, started_at)
    values (v_user, p_address, p_now) returning id into attempt_id;
    password_hash := v_hash;
    verdict := 'ok';
end
$$;

-- The locks a failure brings, once recorded. The caller holds the account's row lock.
create function auth.apply_locks(p_user uuid, p_address inet, p_now timestamptz)
returns void
language plpgsql volatile
set search_path = pg_catalog
as $$
declare
    p record := auth.policy();
begin
    if (select count(*) from auth.login_attempts a
         where a.user_id = p_user and a.address is not distinct from p_address
           and a.started_at > p_now - p.short_window and a.outcome = 'failure') >= p.short_max then
        insert into auth.lockouts (user_id, address, locked_at, locked_until, reason)
        values (p_user, p_address, p_now, p_now + p.short_lock,
                format('%s failures from one address within %s', p.short_max, p.short_window));
    end if;
    if (select count(*) from auth.login_attempts a
         where a.user_id = p_user and a.started_at > p_now - interval '1 hour'
           and a.outcome = 'failure') >= p.hour_max then
        insert into auth.lockouts (user_id, address, locked_at, locked_until, reason)
        values (p_user, null, p_now, p_now + interval '1 hour',
                format('%s failures within an hour', p.hour_max));
    end if;
    if (select count(*) from auth.login_attempts a
         where a.user_id = p_user and a.started_at > p_now - interval '1 day'
           and a.outcome = 'failure') >= p.day_max then
        insert into auth.lockouts (user_id, address, locked_at, locked_until, reason)
        values (p_user, null, p_now, p_now + interval '1 day',
                format('%s failures within a day', p.day_max));
    end if;
end
$$;

-- Step 2: the outcome of an admitted attempt, in one step under the account's row lock.
-- A wrong password (or a refused or unknown account) is counted and may lock. A right one is
-- checked against the locks again (a lock another attempt set meanwhile wins), forgets this
-- address's earlier failures, and returns the user, ready for a code. Returns NULL when no
-- code may be issued.
create function auth.finish_login(p_attempt uuid, p_verified boolean, p_now timestamptz)
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
    delete from auth.login_attempts
     where user_id = a.user_id and address is not distinct from a.address and outcome = 'failure';
    return a.user_id;
end
$$;

-- A one-time code bound to the PKCE challenge, for a user auth.finish_login returned (or a
-- passed second factor). The membership is the one asked for, else the oldest active one.
-- Returns false when the user has no active membership to sign in to.
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
    if v_membership is null then
        return false;
    end if;
    delete from auth.codes where expires_at <= p_now;
    insert into auth.codes (code_hash, user_id, membership_id, code_challenge, expires_at)
    values (p_code_hash, p_user_id, v_membership, p_challenge, p_now + p_ttl);
    return true;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Sessions: the check on every request writes only when last_seen_at is over a minute old.
-- The idle rule (last_seen_at within p_idle) therefore ends a session up to a minute early,
-- never late.

create or replace function auth.resolve_session(p_token_hash bytea, p_now timestamptz, p_idle interval,
                                                out session_id uuid, out user_id uuid,
                                                out organization_id uuid, out membership_id uuid)
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    v_user uuid;
    v_membership uuid;
    v_seen timestamptz;
begin
    select s.id, s.user_id, s.membership_id, s.last_seen_at
      into session_id, v_user, v_membership, v_seen
      from auth.sessions s
     where s.token_hash = p_token_hash
       and s.revoked_at is null
       and s.last_seen_at > p_now - p_idle
       and s.absolute_expires_at > p_now;
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
        return;
    end if;
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
$$;

-- ---------------------------------------------------------------------------------------------
-- Invitations: no password oracle. A password is taken only to create a NEW account; for an
-- email that already has one, nothing is verified and nothing changes, and the answer is the
-- same. Either way the token's password use is spent. An existing account joins by signing in
-- normally and accepting with that session (auth.accept_invitation_with_session).

alter table public.staff_invitations add column password_used_at timestamptz;
grant select (password_used_at) on public.staff_invitations to thrive_app;

drop function auth.accept_invitation(bytea, text, timestamptz);
drop function auth.invitation_account(bytea, timestamptz);

-- The invitation a token names, locked, if it can still be accepted.
create function auth.open_invitation(p_token_hash bytea, p_now timestamptz)
returns public.staff_invitations
language plpgsql volatile
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
    return inv;
end
$$;

create function auth.join_invited(inv public.staff_invitations, p_user uuid, p_now timestamptz)
returns void
language plpgsql volatile
set search_path = pg_catalog
as $$
begin
    perform set_config('app.action', 'staff.accept_invitation', true);
    insert into public.memberships (organization_id, user_id, role_id)
    values (inv.organization_id, p_user, inv.role_id);
    update public.staff_invitations
       set accepted_at = p_now, accepted_user_id = p_user, password_used_at = coalesce(password_used_at, p_now)
     where id = inv.id;
end
$$;

-- What the invitation page shows: the organisation, the role and the invitee, for a token that
-- can still be accepted (nothing about whether the email has an account).
create function auth.invitation_info(p_token_hash bytea, p_now timestamptz,
                                     out organization_name text, out role_name text,
                                     out email text, out display_name text)
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    inv public.staff_invitations := auth.open_invitation(p_token_hash, p_now);
begin
    if inv.id is null then
        return;
    end if;
    perform set_config('app.org_id', inv.organization_id::text, true);
    select o.name into organization_name from public.organizations o where o.id = inv.organization_id;
    select r.name into role_name from public.roles r where r.id = inv.role_id;
    perform set_config('app.org_id', '', true);
    email := inv.email;
    display_name := inv.display_name;
    perform set_config('app.invitation_token', '', true);
end
$$;
create policy definer_reads_invited_org on public.organizations for select to thrive_definer
    using (id = app.setting_uuid('app.org_id'));
grant select on public.organizations to thrive_definer;

-- The password route. p_password_hash was computed by the API after the policy check, for
-- every request alike. Returns whether the token was still usable (the API answers 409 when
-- not), never whether the email had an account.
create function auth.accept_invitation(p_token_hash bytea, p_password_hash text, p_now timestamptz)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    inv public.staff_invitations := auth.open_invitation(p_token_hash, p_now);
    v_user uuid;
begin
    if inv.id is null or inv.password_used_at is not null or p_password_hash is null then
        return false;
    end if;
    update public.staff_invitations set password_used_at = p_now where id = inv.id;
    select u.id into v_user from public.users u where u.email = inv.email;
    if v_user is null then
        insert into public.users (email, display_name) values (inv.email, inv.display_name)
        returning id into v_user;
        insert into auth.credentials (user_id, password_hash, updated_at)
        values (v_user, p_password_hash, p_now);
        perform auth.join_invited(inv, v_user, p_now);
    end if;
    perform set_config('app.invitation_token', '', true);
    return true;
end
$$;

-- The session route: the signed-in person (from their session token) accepts an invitation
-- addressed to their own email. Returns false for a token that cannot be used, another
-- person's invitation, or an organisation they already belong to.
create function auth.accept_invitation_with_session(p_token_hash bytea, p_session_hash bytea,
                                                    p_now timestamptz, p_idle interval)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
declare
    inv public.staff_invitations := auth.open_invitation(p_token_hash, p_now);
    v_user uuid;
    v_email text;
begin
    if inv.id is null then
        return false;
    end if;
    select s.user_id into v_user from auth.sessions s
     where s.token_hash = p_session_hash and s.revoked_at is null
       and s.last_seen_at > p_now - p_idle and s.absolute_expires_at > p_now;
    if v_user is null then
        return false;
    end if;
    perform set_config('auth.subject', v_user::text, true);
    select u.email into v_email from public.users u where u.id = v_user and u.active;
    if v_email is distinct from inv.email
       or exists (select 1 from public.memberships m
                   where m.user_id = v_user and m.organization_id = inv.organization_id) then
        perform set_config('auth.subject', '', true);
        return false;
    end if;
    perform auth.join_invited(inv, v_user, p_now);
    perform set_config('auth.subject', '', true);
    perform set_config('app.invitation_token', '', true);
    return true;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Locks, as administrators see and lift them (staff.view to see, staff.reactivate to lift),
-- for members of their own organisation only.

create function app.member_locks(out user_id uuid, out locked_until timestamptz, out reason text,
                                 out whole_account boolean)
returns setof record
language sql stable security definer
set search_path = pg_catalog
as $$
    select l.user_id, l.locked_until, l.reason, l.address is null
      from auth.lockouts l
      join public.memberships m on m.user_id = l.user_id and m.organization_id = app.current_org()
     where l.locked_until > now() and app.has_permission('staff.view')
     order by l.locked_until desc
$$;

create function app.lift_member_lock(p_user uuid) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog
as $$
begin
    perform app.require('staff.reactivate');
    if app.current_org() is null or not exists (
        select 1 from public.memberships m
         where m.user_id = p_user and m.organization_id = app.current_org()) then
        return false;
    end if;
    perform set_config('app.action', 'staff.reactivate', true);
    delete from auth.lockouts where user_id = p_user;
    update auth.login_attempts set outcome = 'refused'
     where user_id = p_user and outcome in ('pending', 'failure');
    perform app.audit_append(app.current_org(), 'staff', 'lockouts', 'delete', p_user, null,
                             jsonb_build_object('lock', jsonb_build_object('old', 'locked', 'new', 'lifted')));
    return true;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Ownership and grants: thrive_auth executes the auth functions; thrive_app none of them.

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
revoke usage on schema auth from thrive_app;
grant usage on schema auth to thrive_auth;
grant execute on function auth.begin_login(text, inet, timestamptz),
                          auth.finish_login(uuid, boolean, timestamptz),
                          auth.issue_code(uuid, bytea, text, timestamptz, interval),
                          auth.consume_code(bytea, timestamptz),
                          auth.create_session(bytea, uuid, uuid, timestamptz, interval),
                          auth.resolve_session(bytea, timestamptz, interval),
                          auth.revoke_session(bytea, timestamptz),
                          auth.prune(timestamptz, interval),
                          auth.invitation_info(bytea, timestamptz),
                          auth.accept_invitation(bytea, text, timestamptz),
                          auth.accept_invitation_with_session(bytea, bytea, timestamptz, interval)
      to thrive_auth;
-- The helpers run inside the definer's functions.
grant execute on function auth.policy(), auth.locked_until(uuid, inet, timestamptz),
                          auth.apply_locks(uuid, inet, timestamptz),
                          auth.open_invitation(bytea, timestamptz),
                          auth.join_invited(public.staff_invitations, uuid, timestamptz)
      to thrive_definer;

grant create on schema app to thrive_definer;
alter function app.member_locks() owner to thrive_definer;
alter function app.lift_member_lock(uuid) owner to thrive_definer;
revoke create on schema app from thrive_definer;
revoke all on function app.member_locks(), app.lift_member_lock(uuid) from public;
grant execute on function app.member_locks(), app.lift_member_lock(uuid) to thrive_app;
