-- The audit trail's home: schema `audit`, its two tables and every function that writes them,
-- all owned by `thrive_audit`, a role nobody can log in as and nobody is a member of.
--
-- Why not in a migration: migrations run as `thrive_owner`, and whatever that login creates or
-- owns it can later alter (disable the append-only trigger, drop forced RLS, rewrite rows,
-- replace a function that runs with the audit owner's rights). So an administrator connection
-- runs this file during provisioning, before the migrations (so they can call `audit.append`)
-- and again after them (on a fresh database the tables are created by migration 0004 in
-- `public`, and moved here then). It is idempotent.
--
-- What the owner login keeps: it owns the data tables and `app.audit_append`'s wrapper, so it
-- can still append entries with an identity of its choosing (as it could write data rows), but
-- it cannot change, remove or reorder an entry, nor run code as `thrive_audit`: the functions
-- here call only pg_catalog built-ins and name every relation by schema, and the search path is
-- pinned. What a superuser can do anyway (everything) is caught by the signed checkpoints kept
-- outside the database (`thrive-api audit-checkpoint`, `verify-audit`).
begin;
set local search_path = pg_catalog, pg_temp;

create schema if not exists audit authorization thrive_audit;
alter schema audit owner to thrive_audit;
revoke all on schema audit from public;
grant usage on schema audit to thrive_app, thrive_definer;

-- Move the tables migration 0004 created in `public` (a no-op once moved, or before 0004 ran).
do $$
begin
    if to_regclass('public.audit_log') is not null and to_regclass('audit.audit_log') is null then
        alter table public.audit_log set schema audit;
    end if;
    if to_regclass('public.audit_heads') is not null and to_regclass('audit.audit_heads') is null then
        alter table public.audit_heads set schema audit;
    end if;
end
$$;

set local role thrive_audit;

-- Refuses UPDATE, DELETE and TRUNCATE on the log, whoever asks (the purge of a closed
-- organisation, run by a superuser, disables it in its own transaction).
create or replace function audit.refuse() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception 'the audit trail is append-only: % refused', TG_OP
        using errcode = 'insufficient_privilege';
end
$$;

-- Appends one entry to `p_org`'s chain: takes the chain head's row lock (so one organisation's
-- entries are numbered and chained in commit order), hashes the previous hash with the entry's
-- fields (sha256 over prev_hash || payload; the payload format is the one `audit_chain.rs`
-- recomputes), inserts the entry and moves the head. Identity and action come in as arguments:
-- this function reads nothing the owner login could have defined.
create or replace function audit.append(
    p_org uuid, p_actor_user_id uuid, p_actor_role_id uuid, p_actor_role text,
    p_tool text, p_action text, p_operation text, p_table_name text,
    p_record_id uuid, p_service_user_id uuid, p_changes jsonb)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_seq bigint;
    v_prev bytea;
    v_at timestamptz := pg_catalog.clock_timestamp();
    v_hash bytea;
begin
    if p_org is null then
        raise exception 'an audit entry needs an organisation' using errcode = 'not_null_violation';
    end if;
    insert into audit.audit_heads (organization_id, seq, hash)
    values (p_org, 0, '\x'::bytea)
    on conflict (organization_id) do nothing;
    update audit.audit_heads h set seq = h.seq + 1
     where h.organization_id = p_org
    returning h.seq, h.hash into v_seq, v_prev;

    v_hash := pg_catalog.sha256(v_prev || pg_catalog.convert_to(pg_catalog.concat_ws('|',
        p_org::text, v_seq::text,
        pg_catalog.to_char(v_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        coalesce(p_actor_user_id::text, '-'), coalesce(p_actor_role_id::text, '-'),
        coalesce(p_actor_role, '-'), p_tool, p_action, p_operation, p_table_name,
        coalesce(p_record_id::text, '-'), coalesce(p_service_user_id::text, '-'),
        p_changes::text), 'UTF8'));

    insert into audit.audit_log (organization_id, seq, at, actor_user_id, actor_role_id,
                                 actor_role, tool, action, operation, table_name, record_id,
                                 service_user_id, changes, prev_hash, hash)
    values (p_org, v_seq, v_at, p_actor_user_id, p_actor_role_id, p_actor_role, p_tool,
            p_action, p_operation, p_table_name, p_record_id, p_service_user_id, p_changes,
            v_prev, v_hash);
    update audit.audit_heads h set hash = v_hash where h.organization_id = p_org;
    return v_seq;
end
$$;

reset role;

revoke all on function audit.append(uuid, uuid, uuid, text, text, text, text, text, uuid, uuid, jsonb) from public;
revoke all on function audit.refuse() from public;
-- Only the definer-owned wrappers in `app` (app.audit_append) call it.
grant execute on function audit.append(uuid, uuid, uuid, text, text, text, text, text, uuid, uuid, jsonb)
    to thrive_definer;

-- The tables: owned by thrive_audit, RLS forced (its own policies let it append and move heads),
-- the append-only triggers calling audit.refuse(), and no write grant to anyone else.
do $$
begin
    if to_regclass('audit.audit_log') is null then
        return;  -- before migration 0004 on a fresh database: the next run finishes the job
    end if;
    alter table audit.audit_log owner to thrive_audit;
    alter table audit.audit_heads owner to thrive_audit;
    alter table audit.audit_log enable row level security;
    alter table audit.audit_log force row level security;
    alter table audit.audit_heads enable row level security;
    alter table audit.audit_heads force row level security;

    drop trigger if exists audit_log_append_only on audit.audit_log;
    drop trigger if exists audit_log_no_truncate on audit.audit_log;
    create trigger audit_log_append_only before update or delete on audit.audit_log
        for each row execute function audit.refuse();
    create trigger audit_log_no_truncate before truncate on audit.audit_log
        for each statement execute function audit.refuse();
    drop trigger if exists audit_heads_no_truncate on audit.audit_heads;
    create trigger audit_heads_no_truncate before truncate on audit.audit_heads
        for each statement execute function audit.refuse();

    drop policy if exists definer_appends on audit.audit_log;
    drop policy if exists definer_heads_select on audit.audit_heads;
    drop policy if exists definer_heads_insert on audit.audit_heads;
    drop policy if exists definer_heads_update on audit.audit_heads;
    drop policy if exists owner_appends on audit.audit_log;
    drop policy if exists owner_heads_select on audit.audit_heads;
    drop policy if exists owner_heads_insert on audit.audit_heads;
    drop policy if exists owner_heads_update on audit.audit_heads;
    -- audit.append names the organisation it writes for; every row has one.
    create policy owner_appends on audit.audit_log for insert to thrive_audit
        with check (organization_id is not null);
    create policy owner_heads_select on audit.audit_heads for select to thrive_audit
        using (organization_id is not null);
    create policy owner_heads_insert on audit.audit_heads for insert to thrive_audit
        with check (organization_id is not null);
    create policy owner_heads_update on audit.audit_heads for update to thrive_audit
        using (organization_id is not null) with check (organization_id is not null);

    revoke all on audit.audit_log, audit.audit_heads from public, thrive_definer, thrive_owner, thrive_auth;
    revoke insert, update, delete, truncate, references, trigger on audit.audit_log, audit.audit_heads
        from thrive_app;
    grant select on audit.audit_log, audit.audit_heads to thrive_app;
end
$$;

-- The owner login's old helpers: they read the log as their caller and were run by the verifier
-- as a superuser (issue 10, finding 1). The chain is verified in Rust now (audit_chain.rs).
do $$
declare
    f regprocedure;
begin
    for f in select p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
              where n.nspname = 'app'
                and p.proname in ('audit_verify', 'audit_payload', 'audit_entry_hash', 'audit_refuse') loop
        if not exists (select 1 from pg_trigger t where t.tgfoid = f::oid) then
            execute format('drop function %s', f);
        end if;
    end loop;
end
$$;

commit;
