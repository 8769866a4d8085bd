-- A person's name belongs to the person, not to one of the organisations they work for.
--
-- What a care organisation expects: its manager may correct the name of someone who works only
-- there (a typo at invitation); someone who also works elsewhere is renamed only by
-- themselves, and that change is written to the audit trail of every organisation they belong
-- to, so none of them finds its history silently relabelled. The audit views show each entry's
-- actor by the name recorded at the time, read back from the trail itself (the users entries),
-- never only by a live lookup.

create or replace function app.update_staff_member(p_user uuid, p_display_name text) returns boolean
language plpgsql security definer
set search_path = pg_catalog
as $$
begin
    perform app.require('staff.update');
    if not exists (select 1 from public.memberships m
                    where m.user_id = p_user and m.organization_id = app.current_org()) then
        return false;
    end if;
    perform set_config('auth.subject', p_user::text, true);
    if exists (select 1 from public.memberships m
                where m.user_id = p_user and m.organization_id <> app.current_org()) then
        perform set_config('auth.subject', '', true);
        perform app.refuse('this person also works for another organisation: only they can change their name');
    end if;
    perform set_config('auth.subject', '', true);
    update public.users set display_name = btrim(p_display_name) where id = p_user;
    return true;
end
$$;

-- The signed-in person renames themselves: one entry in each organisation's trail.
create function app.rename_self(p_display_name text) returns void
language plpgsql security definer
set search_path = pg_catalog
as $$
declare
    me uuid := app.current_user_id();
    old_name text;
    org uuid;
begin
    if me is null then
        raise exception 'permission denied: no caller' using errcode = 'insufficient_privilege';
    end if;
    if length(btrim(p_display_name)) not between 1 and 200 then
        perform app.refuse('a name has between 1 and 200 characters');
    end if;
    select u.display_name into old_name from public.users u where u.id = me;
    if old_name = btrim(p_display_name) then
        return;
    end if;
    perform set_config('app.action', 'account.rename', true);
    -- The update's own audit trigger writes the entry in the current organisation's trail.
    update public.users set display_name = btrim(p_display_name) where id = me;
    perform set_config('auth.subject', me::text, true);
    for org in select m.organization_id from public.memberships m
                where m.user_id = me and m.organization_id <> app.current_org() loop
        perform app.audit_append(org, 'staff', 'users', 'update', me, null,
            jsonb_build_object('display_name', jsonb_build_object('old', old_name, 'new', btrim(p_display_name))));
    end loop;
    perform set_config('auth.subject', '', true);
end
$$;
-- The person's own row, for the definer.
create policy definer_updates_self on public.users for update to thrive_definer
    using (id = app.setting_uuid('app.user_id')) with check (id = app.setting_uuid('app.user_id'));

-- The name an entry's actor had when it was written: the latest recorded rename at or before
-- the entry, else the old name of the first rename after it, else the name now.
create function app.actor_name_at(p_org uuid, p_user uuid, p_seq bigint) returns text
language sql stable
set search_path = pg_catalog
as $$
    select coalesce(
        (select c.changes->'display_name'->>'new' from public.audit_log c
          where c.organization_id = p_org and c.table_name = 'users' and c.record_id = p_user
            and c.seq <= p_seq and c.changes ? 'display_name'
          order by c.seq desc limit 1),
        (select c.changes->'display_name'->>'old' from public.audit_log c
          where c.organization_id = p_org and c.table_name = 'users' and c.record_id = p_user
            and c.seq > p_seq and c.changes ? 'display_name'
          order by c.seq limit 1),
        (select u.display_name from public.users u where u.id = p_user))
$$;
create index audit_log_users_idx on audit_log (organization_id, record_id, seq) where table_name = 'users';

grant create on schema app to thrive_definer;
alter function app.rename_self(text) owner to thrive_definer;
alter function app.update_staff_member(uuid, text) owner to thrive_definer;
revoke create on schema app from thrive_definer;
revoke all on function app.rename_self(text), app.actor_name_at(uuid, uuid, bigint) from public;
grant execute on function app.rename_self(text), app.actor_name_at(uuid, uuid, bigint) to thrive_app;
