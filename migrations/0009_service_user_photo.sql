-- A service user's profile photo, through the same file mechanism as body map photos and the
-- logo (checked by content, metadata stripped, stored under RLS, served only to those allowed);
-- and each kind of file audited under its own tool.

alter table files drop constraint files_purpose_check;
alter table files add constraint files_purpose_check
    check (purpose in ('body_map_photo', 'organisation_logo', 'service_user_photo'));
alter table files drop constraint files_check;
alter table files add constraint files_check check (
    case purpose
        when 'body_map_photo' then service_user_id is not null and body_map_mark_id is not null
        when 'service_user_photo' then service_user_id is not null and body_map_mark_id is null
        else service_user_id is null and body_map_mark_id is null
    end);
create unique index files_one_profile_photo on files (organization_id, service_user_id)
    where purpose = 'service_user_photo';

-- Seeing a profile photo is seeing the service user.
drop policy visible_select on files;
create policy visible_select on files for select to thrive_app
    using (organization_id = (select app.current_org())
           and case purpose
                 when 'body_map_photo' then (select app.has_permission('body_maps.photos_view'))
                                            and app.can_see_service_user(service_user_id)
                 when 'service_user_photo' then app.can_see_service_user(service_user_id)
                 else true
               end);

create or replace function app.files_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
declare
    row_purpose text := case TG_OP when 'DELETE' then OLD.purpose else NEW.purpose end;
    action text;
begin
    if TG_OP = 'UPDATE' then
        perform app.refuse('a stored file is not changed: upload a new one');
    end if;
    action := case row_purpose
                when 'body_map_photo' then
                    case TG_OP when 'DELETE' then 'body_maps.photos_delete' else 'body_maps.photos_upload' end
                when 'service_user_photo' then 'service_users.update'
                else 'organisation.upload_logo'
              end;
    perform app.require(action);
    if TG_OP = 'DELETE' then
        return OLD;
    end if;
    if NEW.purpose = 'body_map_photo' then
        perform app.same_service_user('body_map_marks', NEW.body_map_mark_id, NEW.service_user_id);
    end if;
    NEW.uploaded_by := coalesce(app.current_user_id(), NEW.uploaded_by);
    return NEW;
end
$$;

-- One audit trigger per kind of file, so each is filed under its own tool (updates are refused
-- by the guard, so inserts and deletes are all there is).
drop trigger audit on files;
create trigger audit_body_map_photo_insert after insert on files
    for each row when (NEW.purpose = 'body_map_photo') execute function app.audit_row('body_maps', 'content');
create trigger audit_body_map_photo_delete after delete on files
    for each row when (OLD.purpose = 'body_map_photo') execute function app.audit_row('body_maps', 'content');
create trigger audit_service_user_photo_insert after insert on files
    for each row when (NEW.purpose = 'service_user_photo') execute function app.audit_row('service_users', 'content');
create trigger audit_service_user_photo_delete after delete on files
    for each row when (OLD.purpose = 'service_user_photo') execute function app.audit_row('service_users', 'content');
create trigger audit_logo_insert after insert on files
    for each row when (NEW.purpose = 'organisation_logo') execute function app.audit_row('organisation', 'content');
create trigger audit_logo_delete after delete on files
    for each row when (OLD.purpose = 'organisation_logo') execute function app.audit_row('organisation', 'content');
