#!/usr/bin/env bash
# Measures the audit API's filtered query over a million entries.
#
# Usage: scripts/audit-at-scale.sh ADMIN_URL TEMPLATE_DB
#   ADMIN_URL    a superuser URL of the cluster (e.g. the test cluster's, see target/thrive/test/secrets.env)
#   TEMPLATE_DB  a migrated database to clone (e.g. thrive_test_template after `cargo xtask test`)
#
# Clones the template, creates one organisation with a member holding audit.view, appends
# 1,000,000 synthetic entries (spread over 200 staff, 2,000 service users, 16 tools, a year),
# then runs the API's query (as built by crates/api/src/http/audit.rs; keep the two in step) for each filter as thrive_app with
# that member's identity, printing EXPLAIN ANALYZE's execution time. Drops the clone after.
set -euo pipefail
ADMIN_URL="$1"; TEMPLATE="$2"; DB="thrive_audit_scale"
base="${ADMIN_URL%/*}"
psql "$ADMIN_URL" -qc "drop database if exists $DB" -c "create database $DB template $TEMPLATE owner thrive_owner"
trap 'psql "$ADMIN_URL" -qc "drop database if exists $DB"' EXIT
psql "$base/$DB" -q <<'SQL'
insert into organizations (id, name) values ('00000000-0000-0000-0000-0000000000aa', 'Scale');
insert into roles (id, organization_id, name) values ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000aa', 'Auditor');
insert into role_permissions select '00000000-0000-0000-0000-0000000000aa', '00000000-0000-0000-0000-0000000000a1', key, key in ('audit.view') from permissions;
insert into users (id, email, display_name) values ('00000000-0000-0000-0000-0000000000b1', 'auditor@scale.example', 'Auditor');
insert into memberships (organization_id, user_id, role_id) values ('00000000-0000-0000-0000-0000000000aa', '00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1');
\timing on
insert into audit.audit_log (organization_id, seq, at, actor_user_id, actor_role, tool, action, operation, table_name, record_id, service_user_id, changes, prev_hash, hash)
select '00000000-0000-0000-0000-0000000000aa', 1000 + g, now() - interval '365 days' + g * interval '31 seconds',
       ('00000000-0000-0000-0001-' || lpad((g % 200)::text, 12, '0'))::uuid, 'Carer',
       (array['care_notes','care_plans','risk_assessments','incidents','body_maps','medication','handovers','observations','service_users','staff','roles','assignments','audit','export','organisation','assistant'])[1 + g % 16],
       'care_notes.' || (array['create','update_draft','submit','sign_off'])[1 + g % 4], 'update', 'care_notes', gen_random_uuid(),
       ('00000000-0000-0000-0002-' || lpad((g % 2000)::text, 12, '0'))::uuid,
       '{"body": {"old": "a", "new": "b"}}', '\x00', '\x00'
from generate_series(1, 1000000) g;
analyze audit.audit_log;
SQL
q() {
  psql "$base/$DB" -qAt <<SQL | grep -E "Execution Time" | sed "s/^/$1: /"
begin;
set local role thrive_app;
select set_config('app.user_id', '00000000-0000-0000-0000-0000000000b1', true), set_config('app.org_id', '00000000-0000-0000-0000-0000000000aa', true) \g /dev/null
explain (analyze, format text) select a.seq, a.at, a.actor_user_id, u.display_name, a.actor_role, a.tool, a.action, a.operation, a.table_name, a.record_id, a.service_user_id, a.changes
  from audit.audit_log a left join users u on u.id = a.actor_user_id
 where a.organization_id = app.current_org() $2
 order by a.seq desc limit 101;
rollback;
SQL
}
q "no filter (newest page)" ""
q "staff member" "and a.actor_user_id = '00000000-0000-0000-0001-000000000007'"
q "service user" "and a.service_user_id = '00000000-0000-0000-0002-000000000123'"
q "action" "and a.action = 'care_notes.sign_off'"
q "tool" "and a.tool = 'incidents'"
range() {
  echo "and a.at >= now() - interval '$1' and a.seq >= coalesce((select s.seq from audit.audit_log s where s.organization_id = app.current_org() and s.at >= now() - interval '$1' order by s.at limit 1), 9223372036854775807)
        and a.at < now() - interval '$2' and a.seq <= coalesce((select s.seq from audit.audit_log s where s.organization_id = app.current_org() and s.at < now() - interval '$2' order by s.at desc limit 1), 0)"
}
q "date range (one week, six months ago)" "$(range '180 days' '173 days')"
q "staff member + date range" "and a.actor_user_id = '00000000-0000-0000-0001-000000000007' $(range '180 days' '90 days')"
q "service user, second page" "and a.service_user_id = '00000000-0000-0000-0002-000000000123' and a.seq < 900000"
