-- Reads of clinical data are audited too (issue 10, finding 4): every list, record, photo and
-- photo list a person reads writes one entry per request — operation `view`, the tool's view
-- action, the table, the record (for one record) and the service users it touched — through
-- one helper every read path calls (`records::audit_read` in the API).
--
-- Repeats are collapsed: the same person reading the same thing (same action, table, record,
-- service users and query) again within 5 minutes of the entry adds nothing. The marks that
-- remember what was logged when live in `app.read_audit_marks`; they are bookkeeping, not the
-- record (the record is the entry in the trail), so they sit with the helpers in `app`, not with
-- the organisation's data (nothing exports or reads them but app.audit_read).

create table app.read_audit_marks (
    organization_id  uuid not null references organizations (id) on delete cascade,
    user_id          uuid not null,
    read_key         bytea not null,
    at               timestamptz not null,
    primary key (organization_id, user_id, read_key)
);
alter table app.read_audit_marks enable row level security;
alter table app.read_audit_marks force row level security;
-- Only app.audit_read (thrive_definer) touches the marks, for the caller's own organisation.
create policy definer_marks on app.read_audit_marks for all to thrive_definer
    using (organization_id = app.setting_uuid('app.org_id'))
    with check (organization_id = app.setting_uuid('app.org_id'));
grant select, insert, update on app.read_audit_marks to thrive_definer;

-- Records that the caller read `table_name` under `action` (a `*.view` action: the entry's tool
-- is its prefix), `record` (one record) or a page of records touching `service_users`, with
-- `detail` (the query). Answers whether an entry was written (false when collapsed, or when
-- the settings name no active member).
create function app.audit_read(action text, table_name text, service_users uuid[], record uuid,
                               detail jsonb)
returns boolean
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    me uuid;
    org uuid;
    su uuid[] := coalesce((select array_agg(distinct s order by s) from unnest(service_users) s
                            where s is not null), '{}');
    key bytea;
    fresh boolean;
begin
    select c.user_id, c.organization_id into me, org from app.caller_membership() c;
    if me is null or action !~ '^[a-z_]+\.[a-z_]+$' then
        return false;
    end if;
    key := sha256(convert_to(concat_ws('|', action, table_name, coalesce(record::text, '-'),
                                       array_to_string(su, ','), coalesce(detail, '{}'::jsonb)::text), 'UTF8'));
    -- A repeat costs one index probe and leaves the request's transaction read-only.
    if exists (select 1 from app.read_audit_marks m
                where m.organization_id = org and m.user_id = me and m.read_key = key
                  and m.at > now() - interval '5 minutes') then
        return false;
    end if;
    insert into app.read_audit_marks as m (organization_id, user_id, read_key, at)
    values (org, me, key, now())
    on conflict (organization_id, user_id, read_key) do update set at = excluded.at
        where m.at <= excluded.at - interval '5 minutes'
    returning true into fresh;
    if fresh is null then
        return false;
    end if;
    perform set_config('app.action', action, true);
    perform app.audit_append(org, split_part(action, '.', 1), table_name, 'view', record,
        case when cardinality(su) = 1 then su[1] end,
        jsonb_build_object('service_users', jsonb_build_object('new', to_jsonb(su)),
                           'query', jsonb_build_object('new', coalesce(detail, '{}'::jsonb))));
    return true;
end
$$;

grant create on schema app to thrive_definer;
alter function app.audit_read(text, text, uuid[], uuid, jsonb) owner to thrive_definer;
revoke create on schema app from thrive_definer;
revoke all on function app.audit_read(text, text, uuid[], uuid, jsonb) from public;
grant execute on function app.audit_read(text, text, uuid[], uuid, jsonb) to thrive_app;
