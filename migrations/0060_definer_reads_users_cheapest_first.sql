-- The definer's view of `users`: the same rows, the cheap tests first (issue 13).
--
-- Every request resolves its caller through SECURITY DEFINER helpers that read `users` as
-- thrive_definer (auth.resolve_session for the session, app.caller_membership() for the
-- policies). Three permissive policies gave that role its rows: definer_reads_caller (the
-- caller's own user, by the settings), definer_reads_invitee (an invitation's addressee) and
-- definer_reads_org (anyone with a membership of the caller's organisation). PostgreSQL ORs
-- permissive policies in reverse order of their names, so for each row it first built a hash of
-- every membership of the organisation (definer_reads_org's EXISTS), and only then looked at the
-- settings: the lookup of one user cost a scan of the organisation's staff. Measured on the
-- 2-core development machine (2026-12-02, 20 staff per organisation): 1,000 uncached
-- app.caller_membership() calls 165 ms → 61 ms; 1,000 auth.resolve_session calls 135 ms → 74 ms.
--
-- One policy with the same disjuncts, the per-row comparisons with the settings first and the
-- organisation's memberships last but one, the invitation (a function call) last. A row is
-- visible exactly when it was visible under one of the three before: the union is unchanged.

drop policy definer_reads_caller on users;
drop policy definer_reads_invitee on users;
drop policy definer_reads_org on users;

create policy definer_reads on users for select to thrive_definer
    using (id = app.setting_uuid('app.user_id')
           or id = app.setting_uuid('auth.subject')
           or email = nullif(current_setting('auth.email', true), '')
           or exists (select 1 from memberships m
                      where m.user_id = users.id and m.organization_id = app.setting_uuid('app.org_id'))
           or app.invited(email, null, null));
