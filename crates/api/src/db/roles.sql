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
end
$$;
-- None of them may bypass Row Level Security or administer the cluster.
alter role thrive_owner nosuperuser nocreatedb nocreaterole noreplication nobypassrls;
alter role thrive_app nosuperuser nocreatedb nocreaterole noreplication nobypassrls noinherit;
alter role thrive_auth nosuperuser nocreatedb nocreaterole noreplication nobypassrls noinherit;
alter role thrive_definer nosuperuser nocreatedb nocreaterole noreplication nobypassrls nologin;
-- The owner hands the SECURITY DEFINER helpers to thrive_definer during migrations.
grant thrive_definer to thrive_owner;
-- The last safety net against a connection left inside a transaction (issue 13): PostgreSQL
-- ends a session idle in one for longer than this. The API sets the same per connection.
alter role thrive_app set idle_in_transaction_session_timeout = '5min';
alter role thrive_auth set idle_in_transaction_session_timeout = '1min';
