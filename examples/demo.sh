#!/usr/bin/env bash
# The whole story against the local sandbox: import a Twilio export (with faults and a few
# webhook failures), finish the webhook failures, let the account drift, reconcile it; then
# read a Twilio account straight from Twilio's API (the sandbox's Twilio stand-in): validate,
# link it to Cartesia, import, a number is bought in the console, the nightly reconcile finds
# it and imports it; then the parent's subaccounts: the plan, keys made and linked, the import;
# last, the plan of a rollback of the migration (not applied): what --apply would delete.
# Run it with `make demo`, which puts bulk-import on PATH.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${DEMO_DIR:-.demo}
rm -rf "$work" && mkdir -p "$work"
export CARTESIA_API_KEY=sk_car_sandbox   # the sandbox's own key; never a real one here
# The Twilio stand-in's own account and API key (printed by the sandbox); never real ones here.
export TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000
export TWILIO_API_KEY=SK00000000000000000000000000000000 TWILIO_API_SECRET=sandbox_secret
unset TWILIO_AUTH_TOKEN

# The log exists before the sandbox starts: the loop below may read it before the background
# job has opened it ("sed: can't read .demo/sandbox.log" on a fresh clone).
: > "$work/sandbox.log"
bulk-import sandbox --port 0 --faults "$here/demo-faults.json" --seed 7 > "$work/sandbox.log" 2>&1 &
sandbox=$!
trap 'kill $sandbox 2>/dev/null; wait $sandbox 2>/dev/null' EXIT
for _ in $(seq 100); do
  url=$(sed -n 's/^sandbox listening on //p' "$work/sandbox.log" 2>/dev/null)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "${url:-}" ] || { echo "the sandbox did not start:"; cat "$work/sandbox.log"; exit 1; }
export CARTESIA_BASE_URL=$url TWILIO_BASE_URL=$url
report="$work/twilio-export.report.csv"
fail=0

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi

step() {  # step EXPECTED_EXIT TITLE -- COMMAND...
  local want=$1 title=$2; shift 3
  printf '\n%s== %s%s\n$ %s\n' "$bold" "$title" "$plain" "$*"
  "$@"; local got=$?
  echo "(exit $got, expected $want)"
  [ "$got" -eq "$want" ] || fail=1
}

echo "sandbox at $url (20 ms latency, at most 12 requests in flight: 429 beyond, 503s, dropped connections, 3 webhook failures)"
step 0 "1a. validate the Twilio export first: no network, no key" -- \
  bulk-import validate "$here/twilio-export.csv" --report "$work/validate.report.csv"
step 1 "1b. validate a messy sheet: every kind of invalid row, with its reason" -- \
  bulk-import validate "$here/messy.csv" --report "$work/messy.report.csv"
python - "$work/messy.report.csv" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1], newline="")):
    print(f"   row {r['row']:>2}  {r['input_number'][:24]:<24}  {r['status']:<9}  {r['error']}")
PY
step 1 "2. migrate the Twilio export (webhook failures need attention; the run page shows it all)" -- \
  bulk-import run "$here/twilio-export.csv" --agent-id agent_sandbox --concurrency 16 --report "$report" --html "$work/migration.html"
step 0 "3. assign the agents the webhook failures left out" -- \
  bulk-import retry-patch "$report"
printf '\n== 4. the account drifts\n'
moved=$(awk -F, 'NR==2 {print $3}' "$report")
python "$here/sandbox_drift.py" "$url" "$moved" || fail=1
step 1 "5. nightly reconcile sees the drift" -- \
  bulk-import reconcile "$here/twilio-export.csv" --agent-id agent_sandbox --report "$work/reconcile.report.csv"
step 0 "6. reconcile --apply fixes it (the extra number is reported, never deleted)" -- \
  bulk-import reconcile "$here/twilio-export.csv" --agent-id agent_sandbox --apply --report "$work/reconcile.report.csv" --summary-json "$work/reconcile.json"
step 0 "7. a final reconcile is in sync" -- \
  bulk-import reconcile "$here/twilio-export.csv" --agent-id agent_sandbox --report "$work/reconcile.report.csv"
step 0 "8. an ops one-off: a hand-typed Excel sheet (numbers typed as numbers)" -- \
  bulk-import run "$here/ops-sheet.xlsx" --report "$work/ops-sheet.report.csv"

echo
echo "== straight from Twilio: account $TWILIO_ACCOUNT_SID in the stand-in (1,200 numbers, a 429 on page 2), not linked to Cartesia yet"
twilio_report="$work/twilio-$TWILIO_ACCOUNT_SID.report.csv"
step 0 "9. validate twilio: lists the account (no Cartesia key needed)" -- \
  env -u CARTESIA_API_KEY bulk-import validate twilio: --report "$work/twilio-validate.report.csv"
step 2 "10a. a run before the account is linked stops before row 1, naming the command that links it" -- \
  bulk-import run twilio: --agent-id agent_sandbox --report "$twilio_report"
step 0 "10b. link the account (the API key goes to Cartesia only; again would be a no-op)" -- \
  bulk-import providers link twilio:
step 0 "10c. the providers the account has now" -- \
  bulk-import providers
step 0 "10d. migrate the account straight from Twilio" -- \
  bulk-import run twilio: --agent-id agent_sandbox --concurrency 16 --report "$twilio_report"
printf '\n== 11. a number is bought in the Twilio console\n'
python - "$url" <<'PY' || fail=1
import json, os, sys, urllib.request
request = urllib.request.Request(
    sys.argv[1] + "/_sandbox/twilio/numbers",
    data=json.dumps({"phone_number": "+13105550142", "friendly_name": "LA support"}).encode(),
    headers={"Authorization": "Bearer " + os.environ["CARTESIA_API_KEY"],
             "Content-Type": "application/json"},
)
with urllib.request.urlopen(request, timeout=10) as answer:
    print(f"   bought {json.load(answer)['phone_number']} (LA support)")
PY
step 1 "12. the nightly reconcile against the live account sees it missing" -- \
  bulk-import reconcile twilio: --agent-id agent_sandbox --report "$work/twilio-reconcile.report.csv"
step 0 "13. reconcile twilio: --apply imports it (the numbers not in Twilio are extra, never deleted)" -- \
  bulk-import reconcile twilio: --agent-id agent_sandbox --apply --report "$work/twilio-reconcile.report.csv"

echo
echo "== an organisation: the parent and its subaccounts (2 active, 1 suspended), with the parent's auth token"
as_parent=(env -u TWILIO_API_KEY -u TWILIO_API_SECRET TWILIO_AUTH_TOKEN=sandbox_auth_token)
step 0 "14. the plan: which accounts are linked (nothing changes)" -- \
  "${as_parent[@]}" bulk-import providers link twilio: --subaccounts
step 0 "15. a key made in each subaccount not linked, and linked at once" -- \
  "${as_parent[@]}" bulk-import providers link twilio: --subaccounts --create-keys
step 0 "16. migrate the whole organisation: each number with its own account (the parent's are there already)" -- \
  "${as_parent[@]}" bulk-import run twilio: --subaccounts --agent-id agent_sandbox --concurrency 16 --report "$work/twilio-org.report.csv"

echo
echo "== and if the migration of step 2 was a mistake (the wrong agent, the wrong account):"
undo="$work/twilio-export.rollback.csv"
step 0 "17. plan its rollback: each number it created is looked up; only GETs, nothing changed" -- \
  bulk-import rollback "$report" --report "$undo"
python - "$undo" <<'PY'
import collections, csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
for (status, why), n in collections.Counter((r["status"], r["error"]) for r in rows).most_common():
    print(f"   {n:>3}  {status:<12}  {why or '(created by the run, unchanged since)'}")
PY
echo "   not applied here: bulk-import rollback $report --apply would delete them"

echo
echo "reports are in $work/"
exit $fail
