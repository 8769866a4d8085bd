-- Organisation Ladder guards: an organisation always keeps at least one active member able to
-- manage its roles (roles.set_permissions), whatever allow/deny changes, role moves or
-- deactivations are made. Checked in the database, so raw SQL cannot lock an organisation out.

-- The definer may read the memberships of the organisation named by the caller's settings; the
-- functions below check the settings against a real membership before using them.
create policy definer_reads_org on memberships for select to thrive_definer
    using (organization_id = app.setting_uuid('app.org_id'));
create policy definer_reads_org on users for select to thrive_definer
    using (exists (select 1 from memberships m
                   where m.user_id = users.id and m.organization_id = app.setting_uuid('app.org_id')));

-- Whether the caller's organisation still has an active member whose role allows managing
-- roles. True when there is no caller (provisioning from an administrator connection).
create function app.org_keeps_role_manager() returns boolean
language sql stable security definer
set search_path = pg_catalog
as $$
    select app.current_org() is null or exists (
        select 1
        from public.memberships m
        join public.users u on u.id = m.user_id and u.active
        join public.role_permissions rp
          on rp.role_id = m.role_id and rp.permission_key = 'roles.set_permissions' and rp.allowed
        where m.organization_id = app.current_org() and m.active
    )
$$;

create function app.keep_role_manager() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
    if not app.org_keeps_role_manager() then
        raise exception 'the last member able to manage roles cannot lose that ability';
    end if;
    return null;
end
$$;

-- Deferred to the end of the transaction, so a change made in several steps (move someone in,
-- then the other out) is judged on its result.
create constraint trigger keep_role_manager after update or delete on role_permissions
    deferrable initially deferred
    for each row execute function app.keep_role_manager();
create constraint trigger keep_role_manager after update or delete on memberships
    deferrable initially deferred
    for each row execute function app.keep_role_manager();

-- Role moves, deactivation and reactivation are separate actions.
create function app.memberships_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
declare
    changed text[];
begin
    if TG_OP = 'INSERT' then
        perform app.require('staff.invite');
        return NEW;
    elsif TG_OP = 'DELETE' then
        perform app.refuse('staff are deactivated, not deleted');
    end if;
    changed := app.changed_keys(to_jsonb(OLD), to_jsonb(NEW));
    if changed && array['id', 'organization_id', 'user_id', 'created_at'] then
        perform app.refuse('a membership stays with its person and organisation');
    end if;
    if 'role_id' = any (changed) then
        perform app.require('roles.assign_members');
    end if;
    if 'active' = any (changed) then
        perform app.require(case when NEW.active then 'staff.reactivate' else 'staff.deactivate' end);
        if NEW.user_id = app.current_user_id() and not NEW.active then
            perform app.refuse('you cannot deactivate yourself');
        end if;
    end if;
    return NEW;
end
$$;
create trigger guard before insert or update or delete on memberships
    for each row execute function app.memberships_guard();

-- Changes need the same actions whatever the policies already say.
drop policy staff_update on memberships;
create policy staff_update on memberships for update to thrive_app
    using (organization_id = (select app.current_org()) and (select app.has_permission('staff.view')))
    with check (organization_id = (select app.current_org()));

grant create on schema app to thrive_definer;
alter function app.org_keeps_role_manager() owner to thrive_definer;
revoke create on schema app from thrive_definer;
revoke all on function app.org_keeps_role_manager() from public;
grant execute on function app.org_keeps_role_manager() to thrive_app, thrive_owner;
