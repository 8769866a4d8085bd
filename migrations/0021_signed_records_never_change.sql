-- One rule for every clinical tool (issue 10, finding 2): once signed off or closed, a record
-- never changes. A correction is an amendment — a new version with a reason, signed off again —
-- as care notes already do; deleting is only for a record entered in error, before anyone
-- signed it off or closed it. The guard triggers enforce it, so raw SQL as thrive_app meets the
-- same rule as the API.
--
-- Care plans and risk assessments (draft → active (signed off) → archived):
--   * an active record keeps its content; only a review (notes, next review date) or archiving
--     touches it. Editing it is refused with "amend it".
--   * an amendment is a new draft naming the record it amends (`amends_id`) with a reason; it
--     starts as a copy (a care plan's sections are copied too), is edited as a draft and signed
--     off like any other; when it is signed off, the record it amends is archived (superseded).
--   * a care plan's sections change only while the plan is a draft.
-- Incidents (open → investigating → closed): a closed incident was already never changed; now
-- only an open one (not yet investigated or closed) can be deleted.

alter table care_plans
    add column amends_id uuid references care_plans (id),
    add column amendment_reason text check (amendment_reason is null or length(amendment_reason) <= 2000),
    add column version int not null default 1;
alter table risk_assessments
    add column amends_id uuid references risk_assessments (id),
    add column amendment_reason text check (amendment_reason is null or length(amendment_reason) <= 2000),
    add column version int not null default 1;
-- One amendment at a time per record (a second would fork the history).
create unique index care_plans_one_amendment_idx on care_plans (amends_id) where amends_id is not null;
create unique index risk_assessments_one_amendment_idx on risk_assessments (amends_id) where amends_id is not null;

-- TG_ARGV[0]: the tool (care_plans or risk_assessments).
create or replace function app.reviewed_record_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
declare
    tool text := TG_ARGV[0];
    what text := replace(TG_ARGV[0], '_', ' ');
    changed text[];
    me uuid := app.current_user_id();
    o_status text;
    o_service_user uuid;
    o_version int;
    superseded boolean;
    lifecycle text[] := array['status', 'last_reviewed_at', 'last_reviewed_by', 'review_notes',
                              'signed_off_by', 'signed_off_at'];
    review text[] := array['last_reviewed_at', 'last_reviewed_by', 'review_notes', 'review_date'];
begin
    if TG_OP = 'INSERT' then
        perform app.require(tool || '.create');
        NEW.status := 'draft';
        NEW.created_by := coalesce(me, NEW.created_by);
        NEW.last_reviewed_at := null; NEW.last_reviewed_by := null; NEW.review_notes := null;
        NEW.signed_off_by := null; NEW.signed_off_at := null;
        if NEW.amends_id is null then
            NEW.version := 1;
            NEW.amendment_reason := null;
        else
            perform app.require(tool || '.update');
            execute format('select status, service_user_id, version from public.%I where id = $1', TG_TABLE_NAME)
               into o_status, o_service_user, o_version using NEW.amends_id;
            if o_status is distinct from 'active' or o_service_user is distinct from NEW.service_user_id then
                perform app.refuse('only a signed-off ' || what || ' record of the same service user can be amended');
            end if;
            if coalesce(btrim(NEW.amendment_reason), '') = '' then
                perform app.refuse('an amendment needs a reason');
            end if;
            NEW.version := o_version + 1;
        end if;
        return NEW;
    elsif TG_OP = 'DELETE' then
        perform app.refuse('a ' || what || ' record is archived, never deleted');
    end if;
    if OLD.status = 'archived' then
        perform app.refuse('an archived record is not changed');
    end if;
    changed := array_remove(app.changed_keys(to_jsonb(OLD), to_jsonb(NEW)), 'updated_at');
    perform app.refuse_identity_change(changed);
    if changed && array['amends_id', 'amendment_reason', 'version'] then
        perform app.refuse('what a record amends, why, and its version are kept');
    end if;
    if NEW.status = 'archived' then
        -- Superseded by its own signed-off amendment: archived as part of that sign-off.
        execute format('select exists (select 1 from public.%I a where a.amends_id = $1 and a.status = ''active'')', TG_TABLE_NAME)
           into superseded using OLD.id;
        if not superseded then
            perform app.require(tool || '.archive');
        end if;
        if cardinality(array_remove(changed, 'status')) > 0 then
            perform app.refuse('archiving changes nothing else');
        end if;
    elsif NEW.status = 'active' and OLD.status = 'draft' then
        perform app.require(tool || '.sign_off');
        if cardinality(array_remove(changed, 'status')) > 0 then
            perform app.refuse('signing off changes nothing else');
        end if;
        NEW.signed_off_by := me;
        NEW.signed_off_at := now();
    elsif NEW.status <> OLD.status then
        perform app.refuse(format('cannot go from %s to %s', OLD.status, NEW.status));
    elsif changed && array['last_reviewed_at', 'review_notes'] then
        perform app.require(tool || '.review');
        if coalesce(btrim(NEW.review_notes), '') = '' then
            perform app.refuse('a review needs notes');
        end if;
        if cardinality(app.except(changed, review)) > 0 then
            perform app.refuse('a review records its notes and the next review date only');
        end if;
        NEW.last_reviewed_at := now();
        NEW.last_reviewed_by := me;
    elsif changed && lifecycle then
        perform app.refuse('lifecycle fields are set by review, sign-off and archive');
    elsif cardinality(changed) > 0 then
        if OLD.status <> 'draft' then
            perform app.refuse('a signed-off ' || what || ' record is never changed: amend it (a new version with a reason, signed off again)');
        end if;
        perform app.require(tool || '.update');
    end if;
    NEW.updated_at := now();
    return NEW;
end
$$;

-- After an amendment is created: a care plan's sections are copied into it. After it is signed
-- off: the record it amends is archived (superseded), in the same transaction.
create function app.amendment_follow_up() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
    if TG_OP = 'INSERT' and NEW.amends_id is not null and TG_TABLE_NAME = 'care_plans' then
        insert into public.care_plan_sections (organization_id, service_user_id, care_plan_id,
                                               section, needs, goals, interventions)
        select s.organization_id, s.service_user_id, NEW.id, s.section, s.needs, s.goals, s.interventions
          from public.care_plan_sections s where s.care_plan_id = NEW.amends_id;
    elsif TG_OP = 'UPDATE' and NEW.amends_id is not null and OLD.status = 'draft' and NEW.status = 'active' then
        execute format('update public.%I set status = ''archived'' where id = $1 and status = ''active''', TG_TABLE_NAME)
          using NEW.amends_id;
    end if;
    return null;
end
$$;
create trigger amendment_follow_up after insert or update on care_plans
    for each row execute function app.amendment_follow_up();
create trigger amendment_follow_up after insert or update on risk_assessments
    for each row execute function app.amendment_follow_up();

-- Sections change only while their plan is a draft (a signed plan's sections are part of what
-- was signed).
create or replace function app.care_plan_sections_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
declare
    plan_status text;
begin
    perform app.require('care_plans.update');
    select status into plan_status from public.care_plans where id = coalesce(NEW.care_plan_id, OLD.care_plan_id);
    if plan_status is null then
        perform app.refuse('no such care plan');
    elsif plan_status <> 'draft' then
        perform app.refuse('sections of a signed-off care plan are never changed: amend the plan (a new version with a reason, signed off again)');
    end if;
    if TG_OP = 'DELETE' then
        return OLD;
    end if;
    if TG_OP = 'INSERT' then
        perform app.same_service_user('care_plans', NEW.care_plan_id, NEW.service_user_id);
    end if;
    if TG_OP = 'UPDATE' then
        perform app.refuse_identity_change(app.changed_keys(to_jsonb(OLD), to_jsonb(NEW)));
        if NEW.care_plan_id <> OLD.care_plan_id then
            perform app.refuse('a section stays in its plan');
        end if;
    end if;
    NEW.updated_at := now();
    return NEW;
end
$$;

-- Incidents: deleting is for one reported in error, before investigation or closure.
create or replace function app.incidents_delete_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
    if OLD.status <> 'open' then
        perform app.refuse(format('an incident that is %s is never deleted', OLD.status));
    end if;
    return OLD;
end
$$;
-- Named to fire after `guard` (triggers fire in name order), which checks incidents.delete.
create trigger guard_delete before delete on incidents
    for each row execute function app.incidents_delete_guard();

revoke all on function app.amendment_follow_up(), app.incidents_delete_guard() from public;
