-- No escalation on the Organisation Ladder, enforced here so raw SQL as the API's role cannot
-- do what the API refuses:
--   * nobody invites into, assigns, or grants a role holding an action they do not hold;
--   * nobody changes their own role, or their own role's actions;
--   * requesting an organisation's closure needs an administrator: a role allowing every
--     action in the catalogue (the API also demands a fresh re-authentication, step-up);
--   * the ladder itself (roles, role_permissions) is read with roles.view; every member reads
--     their own role's actions through app.my_permissions(), and role names with staff.view.
-- The checks apply whenever a caller is identified, and always to the API's role; provisioning
-- from an administrator connection and the invitation acceptance (which has no caller: the
-- invitation was checked when it was made) pass.

-- Whether the caller's role allows every action `p_role` allows.
create function app.role_within_reach(p_role uuid) returns boolean
language sql stable security definer
set search_path = pg_catalog
as $$
    select not exists (
        select 1
          from public.role_permissions rp
         where rp.role_id = p_role and rp.allowed
           and not coalesce((select mine.allowed
                               from app.caller_membership() c
                               join public.role_permissions mine
                                 on mine.role_id = c.role_id and mine.permission_key = rp.permission_key), false)
    )
$$;

-- Whether the caller's role allows every action of the catalogue.
create function app.caller_is_administrator() returns boolean
language sql stable security definer
set search_path = pg_catalog
as $$
    select exists (select 1 from app.caller_membership())
       and not exists (
        select 1 from public.permissions p
         where not coalesce((select rp.allowed
                               from app.caller_membership() c
                               join public.role_permissions rp
                                 on rp.role_id = c.role_id and rp.permission_key = p.key), false))
$$;

-- Whether this change is made by an organisation member (or the API's role), so the ladder
-- rules bind.
create function app.ladder_rules_bind() returns boolean
language sql stable
set search_path = pg_catalog
as $$ select current_user = 'thrive_app' or app.setting_uuid('app.user_id') is not null $$;

create function app.refuse_escalation(message text) returns void
language plpgsql volatile
set search_path = pg_catalog
as $$
begin
    raise exception '%', message using errcode = 'insufficient_privilege';
end
$$;

-- Memberships: joining into a role, moving between roles.
create function app.memberships_no_escalation() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
    if not app.ladder_rules_bind() then
        return NEW;
    end if;
    if TG_OP = 'UPDATE' and NEW.role_id is not distinct from OLD.role_id then
        return NEW;
    end if;
    if NEW.user_id = app.current_user_id() and NEW.organization_id = app.current_org() then
        perform app.refuse_escalation('you cannot change your own role');
    end if;
    if not app.role_within_reach(NEW.role_id) then
        perform app.refuse_escalation('you cannot give someone a role that allows actions you do not hold');
    end if;
    return NEW;
end
$$;
create trigger no_escalation before insert or update on memberships
    for each row execute function app.memberships_no_escalation();

-- Invitations into a role.
create function app.invitations_no_escalation() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
    if app.ladder_rules_bind() and not app.role_within_reach(NEW.role_id) then
        perform app.refuse_escalation('you cannot invite someone into a role that allows actions you do not hold');
    end if;
    return NEW;
end
$$;
create trigger no_escalation before insert on staff_invitations
    for each row execute function app.invitations_no_escalation();

-- A role's actions: never your own role's; never allowing what you do not hold; never on a
-- role that already allows more than you hold.
create function app.role_permissions_no_escalation() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
declare
    target uuid := case TG_OP when 'DELETE' then OLD.role_id else NEW.role_id end;
    mine uuid := (select role_id from app.caller_membership());
begin
    if not app.ladder_rules_bind() then
        return case TG_OP when 'DELETE' then OLD else NEW end;
    end if;
    if target = mine or (TG_OP = 'UPDATE' and OLD.role_id = mine) then
        perform app.refuse_escalation('you cannot change the actions of your own role');
    end if;
    if TG_OP <> 'DELETE' and NEW.allowed and not app.has_permission(NEW.permission_key) then
        perform app.refuse_escalation(format('you cannot allow %s: your own role does not', NEW.permission_key));
    end if;
    if not app.role_within_reach(target) then
        perform app.refuse_escalation('you cannot change a role that allows actions you do not hold');
    end if;
    return case TG_OP when 'DELETE' then OLD else NEW end;
end
$$;
create trigger no_escalation before insert or update or delete on role_permissions
    for each row execute function app.role_permissions_no_escalation();

-- Closure needs an administrator.
create function app.closure_needs_administrator() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
    if NEW.purge_after is not null and OLD.purge_after is null and app.ladder_rules_bind()
       and not app.caller_is_administrator() then
        perform app.refuse_escalation('closing the organisation needs an administrator');
    end if;
    return NEW;
end
$$;
create trigger closure_needs_administrator before update on organizations
    for each row execute function app.closure_needs_administrator();

-- ---------------------------------------------------------------------------------------------
-- Reading the ladder

-- The caller's own role's allowed actions (for /api/me), whatever they may read otherwise.
create function app.my_permissions() returns setof text
language sql stable security definer
set search_path = pg_catalog
as $$
    select rp.permission_key
      from app.caller_membership() c
      join public.role_permissions rp on rp.role_id = c.role_id and rp.allowed
     order by rp.permission_key
$$;

drop policy member_select on roles;
create policy ladder_select on roles for select to thrive_app
    using (organization_id = (select app.current_org())
           and ((select app.has_permission('roles.view'))
                or (select app.has_permission('staff.view'))
                or id = (select role_id from app.caller_membership())));
drop policy member_select on role_permissions;
create policy ladder_select on role_permissions for select to thrive_app
    using (organization_id = (select app.current_org()) and (select app.has_permission('roles.view')));

grant create on schema app to thrive_definer;
alter function app.role_within_reach(uuid) owner to thrive_definer;
alter function app.caller_is_administrator() owner to thrive_definer;
alter function app.my_permissions() owner to thrive_definer;
revoke create on schema app from thrive_definer;
grant select on public.permissions to thrive_definer;

revoke all on function app.role_within_reach(uuid), app.caller_is_administrator(),
                       app.my_permissions(), app.ladder_rules_bind(), app.refuse_escalation(text),
                       app.memberships_no_escalation(), app.invitations_no_escalation(),
                       app.role_permissions_no_escalation(), app.closure_needs_administrator()
    from public;
grant execute on function app.role_within_reach(uuid), app.caller_is_administrator(),
                          app.my_permissions(), app.ladder_rules_bind(), app.refuse_escalation(text)
    to thrive_app, thrive_definer;
