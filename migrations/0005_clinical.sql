-- The clinical tools: the service user's profile, care notes, care plans, risk assessments,
-- incidents, body maps, medication, handovers and observations.
--
-- Two mechanisms, the same for every table:
--   * Row Level Security decides which rows a caller sees: their organisation, the tool's
--     `.view` action, and app.can_see_service_user() (patient assignment).
--   * A BEFORE trigger (a "guard") decides which action a change needs, from what the change
--     does: inserting a note needs care_notes.create, moving it from submitted to signed_off
--     needs care_notes.sign_off, and so on. So a role denied an action cannot do it by raw SQL
--     either. Guards raise 42501 (insufficient_privilege) for a missing action and 23514
--     (check_violation) for a change the record's state does not allow.
-- Every table is audited by app.audit_row (0004).

-- ---------------------------------------------------------------------------------------------
-- Shared helpers

-- NHS number: ten digits, the tenth a modulus 11 check digit over the first nine.
create function app.valid_nhs_number(n text) returns boolean
language plpgsql immutable
set search_path = pg_catalog
as $$
declare
    total int := 0;
    check_digit int;
begin
    if n is null or n !~ '^[0-9]{10}$' then
        return false;
    end if;
    for i in 1..9 loop
        total := total + substr(n, i, 1)::int * (11 - i);
    end loop;
    check_digit := 11 - (total % 11);
    if check_digit = 11 then
        check_digit := 0;
    end if;
    return check_digit <> 10 and check_digit = substr(n, 10, 1)::int;
end
$$;

-- The keys whose values differ between two versions of a row.
create function app.changed_keys(old_row jsonb, new_row jsonb) returns text[]
language sql immutable
set search_path = pg_catalog
as $$
    select coalesce(array_agg(n.key order by n.key), '{}')
    from jsonb_each(new_row) n
    where n.value is distinct from old_row->n.key
$$;

-- The elements of `a` not in `b`.
create function app.except(a text[], b text[]) returns text[]
language sql immutable
set search_path = pg_catalog
as $$ select coalesce(array_agg(x), '{}') from unnest(a) as x where not x = any (b) $$;

create function app.refuse(message text) returns void
language plpgsql volatile
set search_path = pg_catalog
as $$
begin
    raise exception '%', message;  -- P0001: our own words, shown to the client (409)
end
$$;

-- Identity columns no update may change.
create function app.refuse_identity_change(changed text[]) returns void
language plpgsql volatile
set search_path = pg_catalog
as $$
begin
    if changed && array['id', 'organization_id', 'service_user_id', 'created_at', 'created_by'] then
        perform app.refuse('a record cannot be moved to another service user or organisation');
    end if;
end
$$;

-- What an AI-assisted draft needs: assistant.use, and the kind of help.
create function app.require_assistance(kind text) returns void
language plpgsql stable
set search_path = pg_catalog
as $$
begin
    if kind is null or kind = 'none' then
        return;
    end if;
    perform app.require('assistant.use');
    case kind
        when 'drafted', 'rewritten' then perform app.require('assistant.draft_notes');
        when 'checked' then perform app.require('assistant.check_notes');
        when 'summarised' then perform app.require('assistant.summarise');
        else perform app.refuse('unknown kind of assistance');
    end case;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Service user profile

alter table service_users
    add column nhs_number text check (nhs_number is null or app.valid_nhs_number(nhs_number)),
    add column address text check (address is null or length(address) <= 500),
    add column next_of_kin_name text check (next_of_kin_name is null or length(next_of_kin_name) <= 200),
    add column next_of_kin_relationship text check (next_of_kin_relationship is null or length(next_of_kin_relationship) <= 100),
    add column next_of_kin_phone text check (next_of_kin_phone is null or length(next_of_kin_phone) <= 40),
    add column allergies text check (allergies is null or length(allergies) <= 2000),
    add column gp_name text check (gp_name is null or length(gp_name) <= 200),
    add column gp_practice text check (gp_practice is null or length(gp_practice) <= 200),
    add column gp_phone text check (gp_phone is null or length(gp_phone) <= 40),
    add column key_worker_id uuid,
    add column photo_file_id uuid,
    add constraint service_users_key_worker_fk foreign key (organization_id, key_worker_id)
        references memberships (organization_id, user_id) on delete set null (key_worker_id);
create unique index service_users_nhs_number_key on service_users (organization_id, nhs_number)
    where nhs_number is not null;

-- Status changes (hospital, discharge, death) and profile edits are separate actions.
create function app.service_users_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
declare
    changed text[];
begin
    if TG_OP = 'INSERT' then
        perform app.require('service_users.create');
        return NEW;
    elsif TG_OP = 'DELETE' then
        perform app.require('service_users.delete');
        return OLD;
    end if;
    changed := array_remove(app.changed_keys(to_jsonb(OLD), to_jsonb(NEW)), 'updated_at');
    perform app.refuse_identity_change(changed);
    if 'status' = any (changed) then
        perform app.require('service_users.change_status');
    end if;
    if cardinality(array_remove(changed, 'status')) > 0 then
        perform app.require('service_users.update');
    end if;
    NEW.updated_at := now();
    return NEW;
end
$$;
create trigger guard before insert or update or delete on service_users
    for each row execute function app.service_users_guard();

-- The action is the guard's business now; the policy keeps visibility.
drop policy update_visible on service_users;
create policy update_visible on service_users for update to thrive_app
    using (organization_id = (select app.current_org()) and app.can_see_service_user(id))
    with check (organization_id = (select app.current_org()) and app.can_see_service_user(id));

-- ---------------------------------------------------------------------------------------------
-- Care notes: draft → submitted → signed_off, or → returned (with a comment) → submitted again.
-- A signed note is never changed; an amendment is a new version (amends_id, reason) that goes
-- through sign-off itself.

create table care_notes (
    id                uuid primary key default gen_random_uuid(),
    organization_id   uuid not null,
    service_user_id   uuid not null,
    category          text not null check (category in ('personal_care', 'nutrition', 'mobility',
                          'medication', 'health', 'wellbeing', 'social', 'behaviour', 'sleep', 'other')),
    occurred_at       timestamptz not null,
    body              text not null check (length(btrim(body)) between 1 and 10000),
    status            text not null default 'draft'
                      check (status in ('draft', 'submitted', 'returned', 'signed_off')),
    ai_assistance     text not null default 'none'
                      check (ai_assistance in ('none', 'drafted', 'rewritten', 'checked')),
    author_id         uuid,
    submitted_at      timestamptz,
    reviewed_by       uuid,
    reviewed_at       timestamptz,
    review_comment    text check (review_comment is null or length(review_comment) <= 2000),
    amends_id         uuid,
    amendment_reason  text check (amendment_reason is null or length(amendment_reason) <= 2000),
    version           int not null default 1,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    unique (organization_id, id),
    foreign key (organization_id, service_user_id) references service_users (organization_id, id) on delete cascade,
    foreign key (organization_id, amends_id) references care_notes (organization_id, id) on delete restrict,
    check ((amends_id is null) = (amendment_reason is null))
);
create index care_notes_list_idx on care_notes (organization_id, service_user_id, occurred_at desc, id desc);
create index care_notes_status_idx on care_notes (organization_id, status, occurred_at desc, id desc);
create unique index care_notes_one_amendment_idx on care_notes (amends_id) where amends_id is not null;

create function app.care_notes_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
declare
    orig public.care_notes;
    changed text[];
    me uuid := app.current_user_id();
begin
    if TG_OP = 'INSERT' then
        if NEW.amends_id is null then
            perform app.require('care_notes.create');
            if NEW.status <> 'draft' then
                perform app.refuse('a new care note starts as a draft');
            end if;
            NEW.version := 1;
        else
            perform app.require('care_notes.amend');
            select * into orig from public.care_notes n where n.id = NEW.amends_id;
            if not found or orig.status <> 'signed_off' or orig.service_user_id <> NEW.service_user_id then
                perform app.refuse('only a signed-off note of the same service user can be amended');
            end if;
            if coalesce(btrim(NEW.amendment_reason), '') = '' then
                perform app.refuse('an amendment needs a reason');
            end if;
            NEW.status := 'submitted';
            NEW.submitted_at := now();
            NEW.version := orig.version + 1;
        end if;
        perform app.require_assistance(NEW.ai_assistance);
        NEW.author_id := coalesce(me, NEW.author_id);
        NEW.reviewed_by := null;
        NEW.reviewed_at := null;
        NEW.review_comment := null;
        return NEW;
    elsif TG_OP = 'DELETE' then
        perform app.require('care_notes.delete_draft');
        if OLD.status <> 'draft' or OLD.submitted_at is not null then
            perform app.refuse('only a draft that was never submitted can be deleted');
        end if;
        return OLD;
    end if;

    if OLD.status = 'signed_off' then
        perform app.refuse('a signed-off care note is never changed: amend it instead');
    end if;
    changed := array_remove(app.changed_keys(to_jsonb(OLD), to_jsonb(NEW)), 'updated_at');
    perform app.refuse_identity_change(changed);
    if changed && array['author_id', 'amends_id', 'amendment_reason', 'version'] then
        perform app.refuse('the author and version of a note cannot be changed');
    end if;

    if NEW.status = OLD.status then
        perform app.require('care_notes.update_draft');
        if OLD.status not in ('draft', 'returned') then
            perform app.refuse('a submitted note cannot be edited until it is returned');
        end if;
        if OLD.author_id is distinct from me then
            raise exception 'only the author edits a draft note' using errcode = 'insufficient_privilege';
        end if;
        if changed && array['submitted_at', 'reviewed_by', 'reviewed_at', 'review_comment'] then
            perform app.refuse('review fields are set by review actions');
        end if;
        if 'ai_assistance' = any (changed) then
            perform app.require_assistance(NEW.ai_assistance);
        end if;
    else
        if changed && array['category', 'occurred_at', 'body', 'ai_assistance'] then
            perform app.refuse('a note''s content and its status change separately');
        end if;
        if OLD.status in ('draft', 'returned') and NEW.status = 'submitted' then
            perform app.require('care_notes.submit');
            NEW.submitted_at := now();
            NEW.reviewed_by := OLD.reviewed_by;
            NEW.reviewed_at := OLD.reviewed_at;
            NEW.review_comment := OLD.review_comment;
        elsif OLD.status = 'submitted' and NEW.status = 'signed_off' then
            perform app.require('care_notes.sign_off');
            if OLD.author_id = me then
                raise exception 'a note is signed off by someone other than its author'
                    using errcode = 'insufficient_privilege';
            end if;
            NEW.reviewed_by := me;
            NEW.reviewed_at := now();
            NEW.review_comment := OLD.review_comment;
        elsif OLD.status = 'submitted' and NEW.status = 'returned' then
            perform app.require('care_notes.return');
            if coalesce(btrim(NEW.review_comment), '') = '' then
                perform app.refuse('returning a note needs a comment for its author');
            end if;
            NEW.reviewed_by := me;
            NEW.reviewed_at := now();
        else
            perform app.refuse(format('a care note cannot go from %s to %s', OLD.status, NEW.status));
        end if;
    end if;
    NEW.updated_at := now();
    return NEW;
end
$$;
create trigger guard before insert or update or delete on care_notes
    for each row execute function app.care_notes_guard();

-- ---------------------------------------------------------------------------------------------
-- Care plans and risk assessments share a lifecycle: draft → active (signed off) → archived,
-- with reviews (last_reviewed_at/by, a new review_date) in between.

create table care_plans (
    id                uuid primary key default gen_random_uuid(),
    organization_id   uuid not null,
    service_user_id   uuid not null,
    title             text not null check (length(btrim(title)) between 1 and 200),
    summary           text not null default '' check (length(summary) <= 5000),
    review_date       date not null,
    status            text not null default 'draft' check (status in ('draft', 'active', 'archived')),
    last_reviewed_at  timestamptz,
    last_reviewed_by  uuid,
    review_notes      text check (review_notes is null or length(review_notes) <= 5000),
    signed_off_by     uuid,
    signed_off_at     timestamptz,
    created_by        uuid,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    unique (organization_id, id),
    foreign key (organization_id, service_user_id) references service_users (organization_id, id) on delete cascade
);
create index care_plans_list_idx on care_plans (organization_id, service_user_id, created_at desc, id desc);
create index care_plans_review_idx on care_plans (organization_id, status, review_date);

create table care_plan_sections (
    id                uuid primary key default gen_random_uuid(),
    organization_id   uuid not null,
    service_user_id   uuid not null,
    care_plan_id      uuid not null,
    section           text not null check (section in ('personal_care', 'nutrition', 'mobility',
                          'medication', 'communication', 'continence', 'skin', 'sleep',
                          'emotional_wellbeing', 'social', 'end_of_life', 'other')),
    needs             text not null default '' check (length(needs) <= 5000),
    goals             text not null default '' check (length(goals) <= 5000),
    interventions     text not null default '' check (length(interventions) <= 5000),
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    unique (care_plan_id, section),
    foreign key (organization_id, care_plan_id) references care_plans (organization_id, id) on delete cascade,
    foreign key (organization_id, service_user_id) references service_users (organization_id, id) on delete cascade
);
create index care_plan_sections_plan_idx on care_plan_sections (organization_id, care_plan_id);

create table risk_assessments (
    id                uuid primary key default gen_random_uuid(),
    organization_id   uuid not null,
    service_user_id   uuid not null,
    kind              text not null check (kind in ('falls', 'pressure_ulcers', 'malnutrition', 'moving_handling')),
    answers           jsonb not null default '{}' check (jsonb_typeof(answers) = 'object'),
    score             int not null check (score between 0 and 100),
    level             text not null check (level in ('low', 'medium', 'high', 'very_high')),
    control_measures  text not null default '' check (length(control_measures) <= 5000),
    review_date       date not null,
    status            text not null default 'draft' check (status in ('draft', 'active', 'archived')),
    last_reviewed_at  timestamptz,
    last_reviewed_by  uuid,
    review_notes      text check (review_notes is null or length(review_notes) <= 5000),
    signed_off_by     uuid,
    signed_off_at     timestamptz,
    created_by        uuid,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    unique (organization_id, id),
    foreign key (organization_id, service_user_id) references service_users (organization_id, id) on delete cascade
);
create index risk_assessments_list_idx on risk_assessments (organization_id, service_user_id, created_at desc, id desc);
create index risk_assessments_review_idx on risk_assessments (organization_id, status, review_date);

-- TG_ARGV[0]: the tool (care_plans or risk_assessments).
create function app.reviewed_record_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
declare
    tool text := TG_ARGV[0];
    changed text[];
    me uuid := app.current_user_id();
    lifecycle text[] := array['status', 'last_reviewed_at', 'last_reviewed_by', 'review_notes',
                              'signed_off_by', 'signed_off_at'];
begin
    if TG_OP = 'INSERT' then
        perform app.require(tool || '.create');
        NEW.status := 'draft';
        NEW.created_by := coalesce(me, NEW.created_by);
        NEW.last_reviewed_at := null; NEW.last_reviewed_by := null; NEW.review_notes := null;
        NEW.signed_off_by := null; NEW.signed_off_at := null;
        return NEW;
    elsif TG_OP = 'DELETE' then
        perform app.refuse('a ' || replace(tool, '_', ' ') || ' record is archived, never deleted');
    end if;
    if OLD.status = 'archived' then
        perform app.refuse('an archived record is not changed');
    end if;
    changed := array_remove(app.changed_keys(to_jsonb(OLD), to_jsonb(NEW)), 'updated_at');
    perform app.refuse_identity_change(changed);
    if NEW.status = 'archived' then
        perform app.require(tool || '.archive');
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
        if cardinality(app.except(changed, array['last_reviewed_at', 'last_reviewed_by', 'review_notes', 'review_date'])) > 0 then
            perform app.refuse('a review records its notes and the next review date only');
        end if;
        NEW.last_reviewed_at := now();
        NEW.last_reviewed_by := me;
    elsif changed && lifecycle then
        perform app.refuse('lifecycle fields are set by review, sign-off and archive');
    elsif cardinality(changed) > 0 then
        perform app.require(tool || '.update');
    end if;
    NEW.updated_at := now();
    return NEW;
end
$$;
create trigger guard before insert or update or delete on care_plans
    for each row execute function app.reviewed_record_guard('care_plans');
create trigger guard before insert or update or delete on risk_assessments
    for each row execute function app.reviewed_record_guard('risk_assessments');

-- Sections are edited with care_plans.update, while the plan is not archived.
create function app.care_plan_sections_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
declare
    plan_status text;
begin
    perform app.require('care_plans.update');
    select status into plan_status from public.care_plans where id = coalesce(NEW.care_plan_id, OLD.care_plan_id);
    if plan_status is null or plan_status = 'archived' then
        perform app.refuse('sections of an archived plan are not changed');
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
create trigger guard before insert or update or delete on care_plan_sections
    for each row execute function app.care_plan_sections_guard();

-- ---------------------------------------------------------------------------------------------
-- Incidents and accidents: reported (open) → investigating → closed.

create table incidents (
    id                uuid primary key default gen_random_uuid(),
    organization_id   uuid not null,
    service_user_id   uuid not null,
    occurred_at       timestamptz not null,
    location          text not null check (length(btrim(location)) between 1 and 200),
    category          text not null check (category in ('fall', 'skin_damage', 'medication_error',
                          'behaviour', 'safeguarding', 'injury', 'missing_person', 'other')),
    severity          text not null check (severity in ('no_harm', 'low', 'moderate', 'severe', 'death')),
    description       text not null check (length(btrim(description)) between 1 and 10000),
    injuries          text not null default '' check (length(injuries) <= 5000),
    witnesses         text not null default '' check (length(witnesses) <= 2000),
    immediate_action  text not null default '' check (length(immediate_action) <= 5000),
    status            text not null default 'open' check (status in ('open', 'investigating', 'closed')),
    investigation     text check (investigation is null or length(investigation) <= 10000),
    outcome           text check (outcome is null or length(outcome) <= 5000),
    lessons           text check (lessons is null or length(lessons) <= 5000),
    notifiable        boolean not null default false,
    reported_by       uuid,
    closed_by         uuid,
    closed_at         timestamptz,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    unique (organization_id, id),
    foreign key (organization_id, service_user_id) references service_users (organization_id, id) on delete cascade
);
create index incidents_list_idx on incidents (organization_id, service_user_id, occurred_at desc, id desc);
create index incidents_status_idx on incidents (organization_id, status, occurred_at desc, id desc);

create function app.incidents_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
declare
    changed text[];
    me uuid := app.current_user_id();
begin
    if TG_OP = 'INSERT' then
        perform app.require('incidents.report');
        if NEW.notifiable then
            perform app.require('incidents.mark_notifiable');
        end if;
        NEW.status := 'open';
        NEW.investigation := null; NEW.outcome := null; NEW.lessons := null;
        NEW.closed_by := null; NEW.closed_at := null;
        NEW.reported_by := coalesce(me, NEW.reported_by);
        return NEW;
    elsif TG_OP = 'DELETE' then
        perform app.require('incidents.delete');
        return OLD;
    end if;
    if OLD.status = 'closed' then
        perform app.refuse('a closed incident is not changed');
    end if;
    changed := array_remove(app.changed_keys(to_jsonb(OLD), to_jsonb(NEW)), 'updated_at');
    perform app.refuse_identity_change(changed);
    if changed && array['reported_by', 'closed_by', 'closed_at'] then
        perform app.refuse('who reported and who closed are recorded by the system');
    end if;
    if changed && array['occurred_at', 'location', 'category', 'severity', 'description',
                        'injuries', 'witnesses', 'immediate_action'] then
        perform app.require('incidents.update');
    end if;
    if 'notifiable' = any (changed) then
        perform app.require('incidents.mark_notifiable');
    end if;
    if 'investigation' = any (changed) or (NEW.status = 'investigating' and OLD.status = 'open') then
        perform app.require('incidents.investigate');
    end if;
    if NEW.status = 'closed' then
        perform app.require('incidents.close');
        if coalesce(btrim(NEW.outcome), '') = '' or coalesce(btrim(NEW.lessons), '') = '' then
            perform app.refuse('closing an incident needs its outcome and the lessons learned');
        end if;
        NEW.closed_by := me;
        NEW.closed_at := now();
    elsif changed && array['outcome', 'lessons'] then
        perform app.require('incidents.close');
    end if;
    if NEW.status = 'open' and OLD.status = 'investigating' then
        perform app.refuse('an incident under investigation does not go back to open');
    end if;
    NEW.updated_at := now();
    return NEW;
end
$$;
create trigger guard before insert or update or delete on incidents
    for each row execute function app.incidents_guard();

-- ---------------------------------------------------------------------------------------------
-- Body maps: marks placed on a front/back figure (x, y as fractions of the figure).

create table body_map_marks (
    id                uuid primary key default gen_random_uuid(),
    organization_id   uuid not null,
    service_user_id   uuid not null,
    side              text not null check (side in ('front', 'back')),
    region            text not null check (length(btrim(region)) between 1 and 100),
    x                 real not null check (x between 0 and 1),
    y                 real not null check (y between 0 and 1),
    description       text not null check (length(btrim(description)) between 1 and 2000),
    size              text not null default '' check (length(size) <= 100),
    observed_at       timestamptz not null,
    recorded_by       uuid,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    unique (organization_id, id),
    foreign key (organization_id, service_user_id) references service_users (organization_id, id) on delete cascade
);
create index body_map_marks_list_idx on body_map_marks (organization_id, service_user_id, observed_at desc, id desc);

-- ---------------------------------------------------------------------------------------------
-- Observations and charts: fluids, food, repositioning, vital signs (with a NEWS2-style score).

create table observations (
    id                uuid primary key default gen_random_uuid(),
    organization_id   uuid not null,
    service_user_id   uuid not null,
    kind              text not null check (kind in ('fluid', 'food', 'repositioning', 'vitals')),
    observed_at       timestamptz not null,
    data              jsonb not null check (jsonb_typeof(data) = 'object'),
    news2             int check (news2 is null or news2 between 0 and 20),
    recorded_by       uuid,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    unique (organization_id, id),
    foreign key (organization_id, service_user_id) references service_users (organization_id, id) on delete cascade
);
create index observations_list_idx on observations (organization_id, service_user_id, observed_at desc, id desc);

-- ---------------------------------------------------------------------------------------------
-- Handovers between shifts, with acknowledgements.

create table handovers (
    id                uuid primary key default gen_random_uuid(),
    organization_id   uuid not null,
    service_user_id   uuid not null,
    shift             text not null check (shift in ('morning', 'afternoon', 'evening', 'night')),
    summary           text not null check (length(btrim(summary)) between 1 and 10000),
    ai_assistance     text not null default 'none' check (ai_assistance in ('none', 'summarised')),
    written_by        uuid,
    created_at        timestamptz not null default now(),
    unique (organization_id, id),
    foreign key (organization_id, service_user_id) references service_users (organization_id, id) on delete cascade
);
create index handovers_list_idx on handovers (organization_id, service_user_id, created_at desc, id desc);

create table handover_acknowledgements (
    id                uuid primary key default gen_random_uuid(),
    organization_id   uuid not null,
    service_user_id   uuid not null,
    handover_id       uuid not null,
    user_id           uuid,
    acknowledged_at   timestamptz not null default now(),
    unique (handover_id, user_id),
    foreign key (organization_id, handover_id) references handovers (organization_id, id) on delete cascade,
    foreign key (organization_id, service_user_id) references service_users (organization_id, id) on delete cascade
);

-- ---------------------------------------------------------------------------------------------
-- Medication administration record: prescriptions, doses and their outcome, stock.

create table prescriptions (
    id                   uuid primary key default gen_random_uuid(),
    organization_id      uuid not null,
    service_user_id      uuid not null,
    drug                 text not null check (length(btrim(drug)) between 1 and 200),
    dose                 text not null check (length(btrim(dose)) between 1 and 100),
    route                text not null check (route in ('oral', 'topical', 'inhaled', 'subcutaneous',
                             'intramuscular', 'rectal', 'transdermal', 'eye', 'ear', 'nasal', 'other')),
    schedule             text not null check (length(btrim(schedule)) between 1 and 200),
    times                time[] not null default '{}',
    as_needed            boolean not null default false,
    as_needed_reason     text check (as_needed_reason is null or length(as_needed_reason) <= 1000),
    prescriber           text not null default '' check (length(prescriber) <= 200),
    start_date           date not null,
    end_date             date,
    status               text not null default 'active' check (status in ('active', 'discontinued')),
    discontinued_reason  text check (discontinued_reason is null or length(discontinued_reason) <= 1000),
    created_by           uuid,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    unique (organization_id, id),
    foreign key (organization_id, service_user_id) references service_users (organization_id, id) on delete cascade,
    check (not as_needed or coalesce(btrim(as_needed_reason), '') <> ''),
    check (end_date is null or end_date >= start_date)
);
create index prescriptions_list_idx on prescriptions (organization_id, service_user_id, created_at desc, id desc);

create table medication_administrations (
    id                uuid primary key default gen_random_uuid(),
    organization_id   uuid not null,
    service_user_id   uuid not null,
    prescription_id   uuid not null,
    scheduled_for     timestamptz not null,
    outcome           text not null check (outcome in ('given', 'refused', 'omitted')),
    reason            text check (reason is null or length(reason) <= 1000),
    dose_given        text not null default '' check (length(dose_given) <= 100),
    recorded_by       uuid,
    recorded_at       timestamptz not null default now(),
    foreign key (organization_id, prescription_id) references prescriptions (organization_id, id) on delete cascade,
    foreign key (organization_id, service_user_id) references service_users (organization_id, id) on delete cascade,
    check (outcome = 'given' or coalesce(btrim(reason), '') <> '')
);
create index medication_administrations_list_idx on medication_administrations (organization_id, service_user_id, scheduled_for desc, id desc);

create table medication_stock (
    id                uuid primary key default gen_random_uuid(),
    organization_id   uuid not null,
    service_user_id   uuid not null,
    prescription_id   uuid not null,
    kind              text not null check (kind in ('received', 'disposed', 'count')),
    quantity          int not null check (quantity between 0 and 100000),
    note              text not null default '' check (length(note) <= 1000),
    recorded_by       uuid,
    recorded_at       timestamptz not null default now(),
    foreign key (organization_id, prescription_id) references prescriptions (organization_id, id) on delete cascade,
    foreign key (organization_id, service_user_id) references service_users (organization_id, id) on delete cascade
);
create index medication_stock_list_idx on medication_stock (organization_id, prescription_id, recorded_at desc);

-- Child rows must belong to the same service user as their parent.
create function app.same_service_user(parent_table text, parent_id uuid, service_user uuid) returns void
language plpgsql stable
set search_path = pg_catalog
as $$
declare
    owner_su uuid;
begin
    execute format('select service_user_id from public.%I where id = $1', parent_table)
       into owner_su using parent_id;
    if owner_su is distinct from service_user then
        perform app.refuse('the record belongs to another service user');
    end if;
end
$$;

create function app.prescriptions_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
declare
    changed text[];
begin
    if TG_OP = 'INSERT' then
        perform app.require('medication.prescribe');
        NEW.status := 'active';
        NEW.discontinued_reason := null;
        NEW.created_by := coalesce(app.current_user_id(), NEW.created_by);
        return NEW;
    elsif TG_OP = 'DELETE' then
        perform app.refuse('a prescription is discontinued, never deleted');
    end if;
    if OLD.status = 'discontinued' then
        perform app.refuse('a discontinued prescription is not changed');
    end if;
    changed := array_remove(app.changed_keys(to_jsonb(OLD), to_jsonb(NEW)), 'updated_at');
    perform app.refuse_identity_change(changed);
    if NEW.status = 'discontinued' then
        perform app.require('medication.discontinue');
        if coalesce(btrim(NEW.discontinued_reason), '') = '' then
            perform app.refuse('discontinuing needs a reason');
        end if;
        if cardinality(app.except(changed, array['status', 'discontinued_reason', 'end_date'])) > 0 then
            perform app.refuse('discontinuing changes nothing else');
        end if;
    elsif cardinality(changed) > 0 then
        perform app.require('medication.update_prescription');
        if 'discontinued_reason' = any (changed) then
            perform app.refuse('a reason is given when discontinuing');
        end if;
    end if;
    NEW.updated_at := now();
    return NEW;
end
$$;
create trigger guard before insert or update or delete on prescriptions
    for each row execute function app.prescriptions_guard();

-- MAR entries and stock movements are written once; a correction is a new entry.
create function app.medication_entry_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
declare
    p_status text;
begin
    if TG_OP <> 'INSERT' then
        perform app.refuse('medication records are never changed: record a correction as a new entry');
    end if;
    if TG_TABLE_NAME = 'medication_stock' then
        perform app.require('medication.manage_stock');
        perform app.same_service_user('prescriptions', NEW.prescription_id, NEW.service_user_id);
    else
        if NEW.outcome = 'given' then
            perform app.require('medication.administer');
        else
            perform app.require('medication.record_omission');
        end if;
        perform app.same_service_user('prescriptions', NEW.prescription_id, NEW.service_user_id);
        select status into p_status from public.prescriptions where id = NEW.prescription_id;
        if p_status <> 'active' then
            perform app.refuse('the prescription is discontinued');
        end if;
        NEW.recorded_at := now();
    end if;
    NEW.recorded_by := coalesce(app.current_user_id(), NEW.recorded_by);
    return NEW;
end
$$;
create trigger guard before insert or update or delete on medication_administrations
    for each row execute function app.medication_entry_guard();
create trigger guard before insert or update or delete on medication_stock
    for each row execute function app.medication_entry_guard();

-- ---------------------------------------------------------------------------------------------
-- Simple create / update / delete tools. TG_ARGV: the create, update and delete actions (an
-- empty string refuses that operation) and the column recording who made the record.

create function app.simple_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
declare
    action text;
    who_column text := TG_ARGV[3];
begin
    action := case TG_OP when 'INSERT' then TG_ARGV[0] when 'UPDATE' then TG_ARGV[1] else TG_ARGV[2] end;
    if action = '' then
        perform app.refuse(format('%s records are not %s', replace(TG_TABLE_NAME, '_', ' '),
                                  case TG_OP when 'UPDATE' then 'changed' else 'deleted' end));
    end if;
    perform app.require(action);
    if TG_OP = 'DELETE' then
        return OLD;
    end if;
    if TG_OP = 'UPDATE' then
        perform app.refuse_identity_change(
            array_remove(app.changed_keys(to_jsonb(OLD), to_jsonb(NEW)), 'updated_at'));
        if to_jsonb(NEW)->who_column is distinct from to_jsonb(OLD)->who_column then
            perform app.refuse('who recorded it is kept');
        end if;
        NEW := jsonb_populate_record(NEW, jsonb_build_object('updated_at', now()));
    else
        NEW := jsonb_populate_record(NEW, jsonb_build_object(who_column,
                   coalesce(app.current_user_id()::text, to_jsonb(NEW)->>who_column)));
    end if;
    return NEW;
end
$$;
create trigger guard before insert or update or delete on body_map_marks
    for each row execute function app.simple_guard('body_maps.create', 'body_maps.update', 'body_maps.delete', 'recorded_by');
create trigger guard before insert or update or delete on observations
    for each row execute function app.simple_guard('observations.record', 'observations.update', 'observations.delete', 'recorded_by');

create function app.handovers_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
    if TG_OP <> 'INSERT' then
        perform app.refuse('a handover is not changed once written');
    end if;
    if TG_TABLE_NAME = 'handovers' then
        perform app.require('handovers.create');
        perform app.require_assistance(NEW.ai_assistance);
        NEW.written_by := coalesce(app.current_user_id(), NEW.written_by);
    else
        perform app.require('handovers.acknowledge');
        perform app.same_service_user('handovers', NEW.handover_id, NEW.service_user_id);
        NEW.user_id := coalesce(app.current_user_id(), NEW.user_id);
        NEW.acknowledged_at := now();
    end if;
    return NEW;
end
$$;
create trigger guard before insert or update or delete on handovers
    for each row execute function app.handovers_guard();
create trigger guard before insert or update or delete on handover_acknowledgements
    for each row execute function app.handovers_guard();

-- ---------------------------------------------------------------------------------------------
-- Row Level Security, audit and grants: the same for every clinical table.

do $$
declare
    t record;
begin
    for t in select * from (values
        ('care_notes', 'care_notes', 'care_notes.view'),
        ('care_plans', 'care_plans', 'care_plans.view'),
        ('care_plan_sections', 'care_plans', 'care_plans.view'),
        ('risk_assessments', 'risk_assessments', 'risk_assessments.view'),
        ('incidents', 'incidents', 'incidents.view'),
        ('body_map_marks', 'body_maps', 'body_maps.view'),
        ('observations', 'observations', 'observations.view'),
        ('handovers', 'handovers', 'handovers.view'),
        ('handover_acknowledgements', 'handovers', 'handovers.view'),
        ('prescriptions', 'medication', 'medication.view'),
        ('medication_administrations', 'medication', 'medication.view'),
        ('medication_stock', 'medication', 'medication.view')
    ) as v (tbl, tool, view_action) loop
        execute format('alter table %I enable row level security', t.tbl);
        execute format('alter table %I force row level security', t.tbl);
        execute format($p$create policy visible_select on %I for select to thrive_app
            using (organization_id = (select app.current_org()) and (select app.has_permission(%L))
                   and app.can_see_service_user(service_user_id))$p$, t.tbl, t.view_action);
        execute format($p$create policy visible_insert on %I for insert to thrive_app
            with check (organization_id = (select app.current_org())
                        and app.can_see_service_user(service_user_id))$p$, t.tbl);
        execute format($p$create policy visible_update on %I for update to thrive_app
            using (organization_id = (select app.current_org()) and (select app.has_permission(%L))
                   and app.can_see_service_user(service_user_id))
            with check (organization_id = (select app.current_org())
                        and app.can_see_service_user(service_user_id))$p$, t.tbl, t.view_action);
        execute format($p$create policy visible_delete on %I for delete to thrive_app
            using (organization_id = (select app.current_org()) and (select app.has_permission(%L))
                   and app.can_see_service_user(service_user_id))$p$, t.tbl, t.view_action);
        execute format('create trigger audit after insert or update or delete on %I
            for each row execute function app.audit_row(%L)', t.tbl, t.tool);
        execute format('grant select, insert, update, delete on %I to thrive_app', t.tbl);
    end loop;
end
$$;

revoke all on function app.valid_nhs_number(text), app.changed_keys(jsonb, jsonb), app.except(text[], text[]), app.refuse(text),
    app.refuse_identity_change(text[]), app.require_assistance(text),
    app.same_service_user(text, uuid, uuid) from public;
grant execute on function app.valid_nhs_number(text), app.changed_keys(jsonb, jsonb), app.except(text[], text[]), app.refuse(text),
    app.refuse_identity_change(text[]), app.require_assistance(text),
    app.same_service_user(text, uuid, uuid) to thrive_app;
