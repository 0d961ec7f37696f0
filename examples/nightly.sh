#!/usr/bin/env bash
# Nightly reconciliation for cron: fix drift between fleet.csv and the Cartesia account.
# FLEET=twilio: (or twilio:AC...) reads the live Twilio account instead of a file, so numbers
# bought in the Twilio console since yesterday are imported too; its credentials come from
# TWILIO_CREDENTIALS (a file holding KEY:SECRET) when it is readable, else from the
# environment (TWILIO_API_KEY + TWILIO_API_SECRET, or TWILIO_AUTH_TOKEN; TWILIO_ACCOUNT_SID).
# PROVIDER is the provider for rows that name none (--provider-id): a fleet file without a
# provider_id or account_sid column needs it, or every row is invalid.
# Exit code is bulk-import's: 0 in sync, 1 drift left (see the report), 2 bad input or no key
# (a Twilio listing that failed included: nothing is then changed), 3 stopped early (key
# refused, too many failures); 127 when bulk-import cannot be found. The summary JSON feeds
# dashboards/alerts; latest.json links to the newest summary that was written.
set -uo pipefail
FLEET=${FLEET:-/srv/telephony/fleet.csv}          # the source of truth: a file, or twilio:
OUT=${OUT:-/var/lib/bulk-import}                  # reports and summaries, mode 0600
KEY_FILE=${KEY_FILE:-/etc/bulk-import/api-key}    # never put the key on the command line
AGENT=${AGENT:-}                                  # agent for rows that name none (optional)
PROVIDER=${PROVIDER:-}                            # provider for rows that name none (a file)
TWILIO_CREDENTIALS=${TWILIO_CREDENTIALS:-/etc/bulk-import/twilio-credentials}  # FLEET=twilio:

# Which bulk-import: BULK_IMPORT when set, else the one on PATH (the crontab sets PATH), else
# the .venv of the clone this script is in (cron's own PATH is /usr/bin:/bin, which holds no
# venv).
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${BULK_IMPORT:-}" ]; then
  tool=$BULK_IMPORT
elif command -v bulk-import > /dev/null 2>&1; then
  tool=bulk-import
elif [ -x "$here/../.venv/bin/bulk-import" ]; then
  tool=$here/../.venv/bin/bulk-import
else
  echo "nightly.sh: bulk-import not found on PATH ($PATH) nor in $here/../.venv:" \
    "set PATH in the crontab to the venv's bin folder, or BULK_IMPORT=/path/to/bulk-import" >&2
  exit 127
fi

mkdir -p "$OUT"
stamp=$(date -u +%Y-%m-%d)
summary="$OUT/reconcile-$stamp.json"
args=(reconcile "$FLEET" --apply --quiet --no-progress
      --api-key-file "$KEY_FILE"
      --report "$OUT/reconcile-$stamp.report.csv"
      --summary-json "$summary")
[ -n "$AGENT" ] && args+=(--agent-id "$AGENT")
if [[ $FLEET == twilio:* ]]; then
  [ -r "$TWILIO_CREDENTIALS" ] && args+=(--twilio-credentials-file "$TWILIO_CREDENTIALS")
elif [ -n "$PROVIDER" ]; then
  args+=(--provider-id "$PROVIDER")
fi
"$tool" "${args[@]}"
code=$?
# Link only to a summary that exists: a dashboard never follows a link to nothing.
if [ -s "$summary" ]; then
  ln -sfn "reconcile-$stamp.json" "$OUT/latest.json"
fi
exit $code
