-- Cluster-wide roles Thrive needs, created by an administrator connection (never by the API).
-- Idempotent: safe to run on every start. Passwords are set separately, by the caller.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'thrive_owner') then
        create role thrive_owner login;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'thrive_app') then
        create role thrive_app login;
    end if;
    -- The sign-in, session and invitation routes' own login role (it only executes auth.*).
    if not exists (select 1 from pg_roles where rolname = 'thrive_auth') then
        create role thrive_auth login;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'thrive_definer') then
        create role thrive_definer nologin;
    end if;
    -- Owns the audit trail (schema `audit`, its tables and functions). Nobody is a member of
    -- it, so no login can act as it: see audit.sql.
    if not exists (select 1 from pg_roles where rolname = 'thrive_audit') then
        create role thrive_audit nologin;
    end if;
end
$$;
-- None of them may bypass Row Level Security or administer the cluster.
alter role thrive_owner nosuperuser nocreatedb nocreaterole noreplication nobypassrls;
alter role thrive_app nosuperuser nocreatedb nocreaterole noreplication nobypassrls noinherit;
alter role thrive_auth nosuperuser nocreatedb nocreaterole noreplication nobypassrls noinherit;
alter role thrive_definer nosuperuser nocreatedb nocreaterole noreplication nobypassrls nologin;
alter role thrive_audit nosuperuser nocreatedb nocreaterole noreplication nobypassrls nologin;
-- The owner hands the SECURITY DEFINER helpers to thrive_definer during migrations.
grant thrive_definer to thrive_owner;
-- No login may become the audit owner (an earlier grant, by hand or by mistake, is undone).
do $$
declare
    member text;
begin
    for member in select m.rolname from pg_auth_members a
                    join pg_roles r on r.oid = a.roleid
                    join pg_roles m on m.oid = a.member
                   where r.rolname = 'thrive_audit' loop
        execute format('revoke thrive_audit from %I', member);
    end loop;
end
$$;
-- The last safety net against a connection left inside a transaction (issue 13): PostgreSQL
-- ends a session idle in one for longer than this. The API sets the same per connection.
alter role thrive_app set idle_in_transaction_session_timeout = '5min';
alter role thrive_auth set idle_in_transaction_session_timeout = '1min';
