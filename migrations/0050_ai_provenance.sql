-- Provenance of Aayu's contributions to a care note (issue 12): every accepted contribution
-- records the task, the model's file name and sha256, the engine's version and what the fact
-- check flagged in the reply, on the note itself, so the audit trigger (app.audit_row) writes
-- it into the note's audit entry with the rest of the change.
--
-- The list only grows: an edit may append contributions, never change or drop one, so a note
-- cannot be made to look less AI-written than it was. Adding one needs the matching
-- assistant action (as ai_assistance does). A separate trigger keeps the note's guard
-- (0005) as it is; triggers fire in name order, so `guard` has run when this one does.

alter table care_notes
    add column ai_provenance jsonb not null default '[]'
        check (jsonb_typeof(ai_provenance) = 'array' and jsonb_array_length(ai_provenance) <= 50);

-- One contribution: the shape the API and the SPA write (thrive_domain::records::AiContribution).
create function app.valid_ai_contribution(c jsonb) returns boolean
language sql immutable
set search_path = pg_catalog
as $$
    select jsonb_typeof(c) = 'object'
       and c->>'task' in ('draft', 'rewrite', 'summarise', 'check')
       and length(coalesce(c->>'model', '')) between 1 and 200
       and coalesce(c->>'model_sha256', '') ~ '^[0-9a-f]{64}$'
       and length(coalesce(c->>'engine', '')) between 1 and 100
       and jsonb_typeof(coalesce(c->'flagged', '[]')) = 'array'
       and jsonb_array_length(coalesce(c->'flagged', '[]')) <= 100
$$;

create function app.care_notes_provenance_guard() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
declare
    old_list jsonb := case when TG_OP = 'UPDATE' then OLD.ai_provenance else '[]'::jsonb end;
    n_old int := jsonb_array_length(old_list);
    c jsonb;
    i int;
begin
    if NEW.ai_provenance = old_list then
        return NEW;
    end if;
    if TG_OP = 'UPDATE' and NEW.status <> OLD.status then
        perform app.refuse('a note''s content and its status change separately');
    end if;
    if jsonb_array_length(NEW.ai_provenance) < n_old then
        perform app.refuse('Aayu''s contributions to a note are never removed');
    end if;
    for i in 0 .. n_old - 1 loop
        if NEW.ai_provenance->i is distinct from old_list->i then
            perform app.refuse('Aayu''s contributions to a note are never changed');
        end if;
    end loop;
    for i in n_old .. jsonb_array_length(NEW.ai_provenance) - 1 loop
        c := NEW.ai_provenance->i;
        if not app.valid_ai_contribution(c) then
            perform app.refuse('an AI contribution needs its task, model, model sha256 and engine');
        end if;
        perform app.require_assistance(case c->>'task'
            when 'draft' then 'drafted' when 'rewrite' then 'rewritten'
            when 'check' then 'checked' when 'summarise' then 'drafted' end);
    end loop;
    if NEW.ai_assistance = 'none' then
        perform app.refuse('a note with Aayu''s contributions is marked as assisted');
    end if;
    return NEW;
end
$$;

create trigger provenance_guard before insert or update on care_notes
    for each row execute function app.care_notes_provenance_guard();

revoke all on function app.valid_ai_contribution(jsonb), app.care_notes_provenance_guard() from public;
grant execute on function app.valid_ai_contribution(jsonb) to thrive_app;
