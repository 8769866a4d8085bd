-- Files kept in PostgreSQL under the same Row Level Security as everything else: body map
-- evidence photos (with their service user and mark) and the organisation's logo. The API
-- checks content by magic bytes, decodes it fully (a truncated image is refused), strips EXIF
-- and other metadata before storing, and serves them only through authenticated routes named
-- by the file's random id; there is no public URL.

create table files (
    id                uuid primary key default gen_random_uuid(),
    organization_id   uuid not null references organizations (id) on delete cascade,
    purpose           text not null check (purpose in ('body_map_photo', 'organisation_logo')),
    service_user_id   uuid,
    body_map_mark_id  uuid,
    content_type      text not null check (content_type in ('image/jpeg', 'image/png', 'image/webp')),
    size              int not null check (size between 1 and 10485760),
    sha256            bytea not null,
    width             int not null,
    height            int not null,
    content           bytea not null,
    uploaded_by       uuid,
    created_at        timestamptz not null default now(),
    unique (organization_id, id),
    foreign key (organization_id, service_user_id) references service_users (organization_id, id) on delete cascade,
    foreign key (organization_id, body_map_mark_id) references body_map_marks (organization_id, id) on delete cascade,
    check ((purpose = 'body_map_photo') = (service_user_id is not null and body_map_mark_id is not null))
);
create index files_mark_idx on files (organization_id, body_map_mark_id, created_at);
create index files_purpose_idx on files (organization_id, purpose, created_at desc);

alter table files enable row level security;
alter table files force row level security;

-- Photos: the body map's visibility plus photos_view. The logo: every member.
create policy visible_select on files for select to thrive_app
    using (organization_id = (select app.current_org())
           and case purpose
                 when 'body_map_photo' then (select app.has_permission('body_maps.photos_view'))
                                            and app.can_see_service_user(service_user_id)
                 else true
               end);
create policy upload_insert on files for insert to thrive_app
    with check (organization_id = (select app.current_org())
                and (service_user_id is null or app.can_see_service_user(service_user_id)));
create policy remove_delete on files for delete to thrive_app
    using (organization_id = (select app.current_org())
           and (service_user_id is null or app.can_see_service_user(service_user_id)));

create function app.files_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
    if TG_OP = 'UPDATE' then
        perform app.refuse('a stored file is not changed: upload a new one');
    end if;
    if TG_OP = 'DELETE' then
        perform app.require(case OLD.purpose when 'body_map_photo' then 'body_maps.photos_delete'
                                             else 'organisation.upload_logo' end);
        return OLD;
    end if;
    perform app.require(case NEW.purpose when 'body_map_photo' then 'body_maps.photos_upload'
                                         else 'organisation.upload_logo' end);
    if NEW.purpose = 'body_map_photo' then
        perform app.same_service_user('body_map_marks', NEW.body_map_mark_id, NEW.service_user_id);
    end if;
    NEW.uploaded_by := coalesce(app.current_user_id(), NEW.uploaded_by);
    return NEW;
end
$$;
create trigger guard before insert or update or delete on files
    for each row execute function app.files_guard();
-- The audit entry records the file's metadata; its bytes are left out.
create trigger audit after insert or update or delete on files
    for each row execute function app.audit_row('body_maps', 'content');

grant select, insert, delete on files to thrive_app;
