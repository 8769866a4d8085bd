#!/usr/bin/env bash
# Replays the attack tests of issues 9 and 10 against the code those issues were filed on
# (64fb027), to show each fails there: the tests as they stand on main, copied with a small
# shim for what was renamed since (docs/replay/README.md says which and why).
#   scripts/replay-attacks.sh [test filter …]    (default: every replayed test, `new_`)
# Needs what `cargo xtask test` needs; builds the old tree under target/replay/ (a cold build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
old=$root/target/replay/64fb027
if [ ! -f "$old/.applied" ]; then
  rm -rf "$old" && mkdir -p "$old"
  git archive 64fb027 | tar -x -C "$old"
  (cd "$old" && patch -s -p1 < "$root/docs/replay/64fb027-attack-tests.patch")
  touch "$old/.applied"
fi
cd "$old"
export THRIVE_PG_PORT=${THRIVE_PG_PORT:-54349}
filters=("$@")
[ ${#filters[@]} -gt 0 ] || filters=(new_)
cargo xtask test rust -p thrive-api --test api -- --test-threads=2 "${filters[@]}" || true
cargo xtask test rust -p thrive-api --test new_flood -- --nocapture || true
