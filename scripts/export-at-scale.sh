#!/usr/bin/env bash
# Measures the streamed organisation export on a large organisation.
#
# Usage: scripts/export-at-scale.sh ADMIN_URL [ENTRIES]
#   ADMIN_URL  a superuser URL of a PostgreSQL cluster (e.g. postgres://postgres@127.0.0.1:5432/postgres)
#   ENTRIES    synthetic audit entries to add to the demo organisation (default 1,000,000)
#
# Builds thrive-api (release), provisions a demo database, appends ENTRIES audit entries to the
# first demo organisation, starts the server as thrive_app, signs in as its registered manager
# (the PKCE flow, as the SPA does it) and downloads the CSV zip and the XLSX workbook, printing
# for each the time to the first byte, the total time, the size, and the server's peak resident
# memory (VmHWM) before and after. Drops the database after.
set -euo pipefail
ADMIN_URL="$1"; ENTRIES="${2:-1000000}"; DB="thrive_export_scale"
base="${ADMIN_URL%/*}"
cd "$(dirname "$0")/.."
cargo build -q --release -p thrive-api --bin thrive-api
API=target/release/thrive-api
export THRIVE_OWNER_PASSWORD="owner-$RANDOM-Scale-9" THRIVE_APP_PASSWORD="app-$RANDOM-Scale-9"
export THRIVE_DEMO_PASSWORD="Scale-Demo-Password-$RANDOM"
psql "$ADMIN_URL" -qc "drop database if exists $DB with (force)"
logins=$($API provision --admin-url "$ADMIN_URL" --database "$DB" --seed-demo | grep '^demo-login')
trap 'kill $server 2>/dev/null || true; psql "$ADMIN_URL" -qc "drop database if exists $DB with (force)"' EXIT
manager=$(echo "$logins" | awk -F'\t' '$3 ~ /Manager/ {print $4; exit}')
org=$(psql "$base/$DB" -qAt -c "select o.id from organizations o join memberships m on m.organization_id = o.id join users u on u.id = m.user_id where u.email = '$manager'")
echo "organisation $org, manager $manager; adding $ENTRIES audit entries"
psql "$base/$DB" -q <<SQL
insert into audit.audit_log (organization_id, seq, at, actor_user_id, actor_role, tool, action, operation, table_name, record_id, service_user_id, changes, prev_hash, hash)
select '$org', 10000000 + g, now() - interval '365 days' + g * interval '31 seconds', null, 'Carer',
       'care_notes', 'care_notes.update_draft', 'update', 'care_notes', gen_random_uuid(), null,
       '{"body": {"old": "Ate half of lunch, drank tea.", "new": "Ate all of lunch, drank two cups of tea."}}', '\x00', '\x00'
from generate_series(1, $ENTRIES) g;
analyze audit.audit_log;
SQL
port=$((20000 + RANDOM % 20000))
DATABASE_URL="${base%%://*}://thrive_app:$THRIVE_APP_PASSWORD@${base#*@}/$DB" THRIVE_ADDR="127.0.0.1:$port" THRIVE_LOG=warn $API serve &
server=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/api/health" && break; sleep 0.2; done
python3 - "$port" "$manager" "$THRIVE_DEMO_PASSWORD" "$server" <<'PY'
import base64, hashlib, json, os, secrets, sys, time, urllib.request
port, email, password, pid = sys.argv[1:5]
url = f"http://127.0.0.1:{port}"
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM"): return line.split()[1] + " kB"
def post(path, body, cookie=None):
    req = urllib.request.Request(url + path, json.dumps(body).encode(), {"content-type": "application/json", **({"cookie": cookie} if cookie else {})})
    return urllib.request.urlopen(req)
verifier = secrets.token_urlsafe(48)
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
code = json.load(post("/api/auth/authorize", {"email": email, "password": password, "code_challenge": challenge}))["code"]
resp = post("/api/auth/token", {"code": code, "code_verifier": verifier})
cookie = resp.headers["set-cookie"].split(";")[0]
print(f"server peak RSS before: {rss()}")
for path in ["/api/exports/organisation.zip", "/api/exports/organisation.xlsx"]:
    start = time.monotonic()
    r = urllib.request.urlopen(urllib.request.Request(url + path, headers={"cookie": cookie}))
    first, size = None, 0
    while chunk := r.read(1 << 16):
        first = first or time.monotonic() - start
        size += len(chunk)
    total = time.monotonic() - start
    print(f"{path}: first byte {first*1000:.0f} ms, complete {total:.1f} s, {size/1e6:.1f} MB, server peak RSS now {rss()}")
PY
