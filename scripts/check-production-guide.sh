#!/usr/bin/env bash
# docs/guides/production.md ("Production on your own Postgres"), word for word.
#
#   scripts/check-production-guide.sh           the systemd variant ("As a systemd service")
#   scripts/check-production-guide.sh --local   "Locally, without root or systemd"
#
# Every command block of a variant is marked in docs/guides/production.md with
# `<!-- guide: STEP -->` (systemd) or `<!-- local: STEP -->` on the line before it. This script
# extracts them and runs them in order in one bash session, as the guide tells a person to,
# against a fresh database on the server of CHECK_DATABASE_URL (else DATABASE_URL, else
# postgres://postgres@127.0.0.1:5432/postgres), and ends with one SMS delivered through the
# simulator and one incoming SMS, sent with the simulator's control port, read back from
# sms_inbox; the local variant also stops its worker and checks that it drained.
#
# Only what must differ is substituted, and the run prints every block as it runs it.
# The systemd variant:
#   db.internal:5432/app          the server of CHECK_DATABASE_URL and a fresh database
#                                 sms_guide_<pid> (created here, dropped at the end)
#   postgres:OWNER_PASSWORD       the user (and password) of CHECK_DATABASE_URL
#   sms_worker_login, my_app      unique role names (roles are server-wide), dropped at the end
#   /etc/sms-outbox, /opt/sms-outbox, /etc/systemd/system
#                                 the same paths under a temporary directory
#   SMSC_HOST:2775                `sms-outbox simulator --control-port` from the installed package
#   9464                          a free port
# Three commands get stand-ins, because this runs without systemd (and must not install units or
# users on the machine running it):
#   systemctl   start / enable --now run the unit's ExecStart with its EnvironmentFile (read
#               literally, as `docker run --env-file` does), Environment= and WorkingDirectory,
#               as the user running this script: a oneshot in the foreground, others in the
#               background; status / stop act on that process
#   journalctl  -u UNIT prints what the stand-in captured of that unit
#   useradd     does nothing (the worker runs as the user running this script)
# The "build" step runs in a copy of this checkout (tracked and untracked files, no node_modules,
# no dist). Before "inbox", an incoming SMS is sent with the simulator's control port (standing in
# for the phone). "ready", "receipt" and "inbox" are run again, as the guide says, until their
# output shows what it should (ready; delivered; the incoming text), for at most 60 s each.
# The local variant needs no stand-ins and runs in a copy of this checkout as well:
#   postgres@127.0.0.1:5432, -h 127.0.0.1 -p 5432 -U postgres
#                                 the server and user of CHECK_DATABASE_URL (its password, if
#                                 any, in the URLs and in PGPASSWORD for createdb)
#   shop                          a fresh database sms_local_<pid> (created by the guide's
#                                 createdb, dropped at the end)
#   shop_sms_, shop_worker, shop_app
#                                 a unique role prefix and unique login roles, dropped at the end
#   SMSC_HOST:2775, 9464          as above
# Uses 127.0.0.1 only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
started=$(date +%s)
mode=systemd
case "${1:-}" in
  '') ;;
  --local) mode=local ;;
  *) echo "usage: $0 [--local]" >&2; exit 64 ;;
esac
if [ "$mode" = systemd ]; then
  marker=guide
  STEPS=(build install migrate roles worker ready send receipt status inbox)
else
  marker=local
  STEPS=(build migrate roles worker ready send receipt status inbox stop)
fi

tmp=$(mktemp -d)
fs="$tmp/fs"
journal="$tmp/journal"
mkdir -p "$fs/etc/systemd/system" "$journal" "$tmp/steps"
server=${CHECK_DATABASE_URL:-${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}
# The guide's blocks run as in a reader's fresh shell. A variable left in this one would win over
# the guide's env files (`node --env-file` fills in only what the environment lacks): an exported
# DATABASE_URL once sent the local variant's migration to the server's `postgres` database.
unset DATABASE_URL $(compgen -v | grep -E '^(SMPP_|SMS_|METRICS_|MO_|LOG_)' || true)
if [ "$mode" = systemd ]; then
  db="sms_guide_$$"
  worker_role="sms_worker_login_g$$"
  app_role="my_app_g$$"
  prefix=sms_
else
  db="sms_local_$$"
  worker_role="shop_worker_l$$"
  app_role="shop_app_l$$"
  prefix="shop_sms_l$$_"
fi
sim_pid=

fail() {
  echo "production guide: FAIL: $*" >&2
  exit 1
}
say() { echo "-- $*"; }

admin_psql() { psql "$server" -v ON_ERROR_STOP=1 -Atqc "$1"; }

cleanup() {
  local code=$?
  if [ -f "$tmp/checkout/worker.pid" ]; then
    kill -TERM "$(cat "$tmp/checkout/worker.pid")" 2>/dev/null || true
    wait "$(cat "$tmp/checkout/worker.pid")" 2>/dev/null || true
  fi
  if [ -f "$journal/sms-outbox-worker.pid" ]; then
    kill -TERM "$(cat "$journal/sms-outbox-worker.pid")" 2>/dev/null || true
    wait "$(cat "$journal/sms-outbox-worker.pid")" 2>/dev/null || true
  fi
  [ -z "$sim_pid" ] || { kill -TERM "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; }
  admin_psql "drop database if exists $db with (force)" >/dev/null 2>&1 || true
  admin_psql "drop role if exists $worker_role" >/dev/null 2>&1 || true
  admin_psql "drop role if exists $app_role" >/dev/null 2>&1 || true
  if [ "$prefix" != sms_ ]; then
    for r in sender reader worker; do admin_psql "drop role if exists ${prefix}$r" >/dev/null 2>&1 || true; done
  fi
  rm -rf "$tmp"
  exit "$code"
}
trap cleanup EXIT

for tool in psql createdb curl node npm git; do
  command -v "$tool" >/dev/null || fail "the guide needs $tool"
done
# The server to run against: host, port and the admin's user info.
# (user and password as they appear in the URL, percent-encoded: they go back into URLs)
read -r admin_userinfo hostport db_url admin_user admin_host admin_port < <(node -e '
  const u = new URL(process.argv[1]);
  const info = u.password ? `${u.username}:${u.password}` : u.username || "postgres";
  const d = new URL(u); d.pathname = `/${process.argv[2]}`;
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  console.log(info, `${u.hostname}:${u.port || 5432}`, d.toString(), decodeURIComponent(u.username) || "postgres", host, u.port || 5432);' "$server" "$db")
admin_password=$(node -e 'console.log(decodeURIComponent(new URL(process.argv[1]).password))' "$server")
case "$hostport" in 127.0.0.1:* | localhost:* | \[::1\]:*) ;; *) fail "CHECK_DATABASE_URL must point at this machine (127.0.0.1), not $hostport" ;; esac
admin_psql "select 1" >/dev/null || fail "no Postgres answers at $server"

# ------------------------------------------------------------------ the guide's blocks
say "extracting the $mode variant's command blocks from docs/guides/production.md (<!-- $marker: STEP -->)"
awk -v dir="$tmp/steps" -v marker="$marker" '
  $0 ~ "^<!-- " marker ": [a-z-]+ -->$" { name = $3; want = 1; next }
  want && /^```sh$/ { n++; file = sprintf("%s/%02d-%s.sh", dir, n, name); inblock = 1; want = 0; printf "" > file; next }
  want && !/^$/ { print "a " marker " marker (" name ") is not followed by a ```sh block" > "/dev/stderr"; exit 1 }
  inblock && /^```$/ { inblock = 0; close(file); next }
  inblock { print >> file }
' "$root/docs/guides/production.md"
mapfile -t found < <(cd "$tmp/steps" && ls | sed 's/^[0-9]*-//; s/\.sh$//')
[ "${found[*]}" = "${STEPS[*]}" ] || fail "the guide's blocks are (${found[*]}), this script knows (${STEPS[*]}): update one of them"

smpp_port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
metrics_port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
substitute_local() {
  sed -E \
    -e "s#-h 127\\.0\\.0\\.1 -p 5432 -U postgres#-h ${admin_host} -p ${admin_port} -U ${admin_user}#g" \
    -e "s#//postgres@127\\.0\\.0\\.1:5432/#//${admin_userinfo}@${hostport}/#g" \
    -e "s#@127\\.0\\.0\\.1:5432/#@${hostport}/#g" \
    -e "s#\\bshop_sms_#${prefix}#g" \
    -e "s#\\bshop_worker\\b#${worker_role}#g" \
    -e "s#\\bshop_app\\b#${app_role}#g" \
    -e "s#\\bshop\\b#${db}#g" \
    -e "s#SMSC_HOST:2775#127.0.0.1:${smpp_port}#g" \
    -e "s#\\b9464\\b#${metrics_port}#g"
}
substitute() {
  [ "$mode" = systemd ] || { substitute_local; return; }
  sed -E \
    -e "s#postgres:OWNER_PASSWORD@#${admin_userinfo}@#g" \
    -e "s#@db\\.internal:5432/app\\b#@${hostport}/${db}#g" \
    -e "s#\\bsms_worker_login\\b#${worker_role}#g" \
    -e "s#\\bmy_app\\b#${app_role}#g" \
    -e "s#/etc/systemd/system#${fs}/etc/systemd/system#g" \
    -e "s#/etc/sms-outbox#${fs}/etc/sms-outbox#g" \
    -e "s#/opt/sms-outbox#${fs}/opt/sms-outbox#g" \
    -e "s#SMSC_HOST:2775#127.0.0.1:${smpp_port}#g" \
    -e "s#\\b9464\\b#${metrics_port}#g"
}
for f in "$tmp"/steps/*.sh; do substitute <"$f" >"$f.run"; done

# ------------------------------------------------------------------ stand-ins for the host
cat >"$tmp/stand-ins.sh" <<'STANDINS'
# Sourced into the guide's shell. See the header of scripts/check-production-guide.sh.
unit_path() { local name=${1%.service}; echo "$GUIDE_FS/etc/systemd/system/$name.service"; }
unit_values() { sed -n "s/^$2=//p" "$1"; }
# The unit's own paths are the guide's paths: they live under the temporary directory here.
unit_paths() { sed -e "s#/etc/sms-outbox#$GUIDE_FS/etc/sms-outbox#g" -e "s#/opt/sms-outbox#$GUIDE_FS/opt/sms-outbox#g" -e "s#^/usr/bin/node #$(command -v node) #"; }
unit_run() {
  local name=${1%.service} file
  file=$(unit_path "$name")
  [ -f "$file" ] || { echo "Unit $name.service not found." >&2; return 5; }
  local type envfile wd exec
  type=$(unit_values "$file" Type | tail -n1)
  envfile=$(unit_values "$file" EnvironmentFile | tail -n1 | unit_paths)
  wd=$(unit_values "$file" WorkingDirectory | tail -n1 | unit_paths)
  exec=$(unit_values "$file" ExecStart | tail -n1 | unit_paths)
  local -a vars=("PATH=$PATH" "HOME=${HOME:-/tmp}")
  while IFS= read -r v; do [ -n "$v" ] && vars+=("$v"); done < <(unit_values "$file" Environment)
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'* | ';'*) continue ;; esac
    [[ "$line" == *=* ]] || { echo "$envfile: not VARIABLE=value: $line" >&2; return 1; }
    [[ "$line" != *[\"\'\\]* ]] || { echo "$envfile: quotes or backslashes read differently by systemd and docker --env-file: $line" >&2; return 1; }
    vars+=("$line")
  done <"$envfile"
  echo "(systemctl stand-in: $name.service: ExecStart=$exec, EnvironmentFile=$envfile, as $(id -un))"
  if [ "$type" = oneshot ]; then
    local code=0
    (cd "$wd" && exec env -i "${vars[@]}" $exec) >"$GUIDE_JOURNAL/$name.log" 2>&1 || code=$?
    [ "$code" -eq 0 ] || { echo "$name.service failed (exit $code):"; cat "$GUIDE_JOURNAL/$name.log"; }
    return "$code"
  else
    (cd "$wd" && exec env -i "${vars[@]}" $exec) >"$GUIDE_JOURNAL/$name.log" 2>&1 &
    echo $! >"$GUIDE_JOURNAL/$name.pid"
  fi
}
systemctl() {
  local verb=$1 now= name= a
  shift
  for a in "$@"; do case "$a" in --now) now=1 ;; -*) ;; *) name=$a ;; esac; done
  case "$verb" in
    daemon-reload) echo "(systemctl stand-in: daemon-reload: nothing to reload)" ;;
    start) unit_run "$name" ;;
    enable) echo "(systemctl stand-in: enable ${name%.service}: no boot here)"; [ -z "$now" ] || unit_run "$name" ;;
    status)
      local pidfile="$GUIDE_JOURNAL/${name%.service}.pid"
      if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "● ${name%.service}.service (stand-in): active (running), Main PID $(cat "$pidfile")"
      else
        echo "● ${name%.service}.service (stand-in): inactive (dead)"; tail -n 20 "$GUIDE_JOURNAL/${name%.service}.log" 2>/dev/null; return 3
      fi ;;
    stop)
      local pidfile="$GUIDE_JOURNAL/${name%.service}.pid" code=0
      [ -f "$pidfile" ] || return 0
      kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
      wait "$(cat "$pidfile")" || code=$?
      rm -f "$pidfile"
      echo "$code" >"$GUIDE_JOURNAL/${name%.service}.exit"
      echo "(systemctl stand-in: stopped ${name%.service}, exit $code)" ;;
    *) echo "systemctl stand-in: $verb is not used by the guide" >&2; return 1 ;;
  esac
}
journalctl() {
  local unit= prev=
  for a in "$@"; do [ "$prev" = -u ] && unit=${a%.service}; prev=$a; done
  cat "$GUIDE_JOURNAL/$unit.log"
}
useradd() { echo "(useradd stand-in: $*: skipped; the units run as $(id -un))"; }
STANDINS

# ------------------------------------------------------------------ the run
if [ "$mode" = systemd ]; then
  say "a fresh database $db on $hostport; roles $worker_role, $app_role"
  admin_psql "create database $db" >/dev/null
else
  say "the guide's createdb makes the database $db on $hostport; roles ${prefix}*, $worker_role, $app_role"
  # createdb reads the password from the environment, as libpq does (or from ~/.pgpass).
  [ -z "$admin_password" ] || export PGPASSWORD="$admin_password"
fi
say "the build step runs in a copy of this checkout"
mkdir -p "$tmp/checkout"
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf -) | tar -xf - -C "$tmp/checkout"

# The simulator for SMSC_HOST; it comes from the installed package (systemd: after "install"; the
# local variant: the built checkout, after "build").
start_simulator() {
  local from=$fs/opt/sms-outbox
  [ "$mode" = systemd ] || from=$tmp/checkout
  (cd "$from" && exec node bin/sms-outbox.js simulator --port "$smpp_port" --control-port 0) >"$tmp/simulator.log" 2>&1 &
  sim_pid=$!
  for _ in $(seq 100); do grep -q '^control port listening' "$tmp/simulator.log" && break; sleep 0.1; done
  control=$(sed -n 's#^control port listening on \(http://127\.0\.0\.1:[0-9]*\).*#\1#p' "$tmp/simulator.log")
  [ -n "$control" ] || fail "the simulator did not start: $(cat "$tmp/simulator.log")"
  say "simulator on 127.0.0.1:$smpp_port, control port $control"
}

incoming_text="Привет из CI $$"
declare -A until_pattern=([ready]='"status":"ready"' [receipt]=' delivered ' [inbox]="$incoming_text")

if [ "$mode" = systemd ]; then
  export GUIDE_FS="$fs" GUIDE_JOURNAL="$journal"
  # shellcheck source=/dev/null
  source "$tmp/stand-ins.sh"
fi
cd "$tmp/checkout"
set +u # the guide's blocks are written for an ordinary interactive shell
for f in "$tmp"/steps/*.sh.run; do
  step=$(basename "$f" .sh.run)
  step=${step#*-}
  echo
  echo "== guide step: $step"
  sed 's/^/   $ /' "$f"
  [ "$step" != inbox ] || {
    say "(the phone's reply, sent with the simulator's control port)"
    curl -s "$control/mo" -d "{\"from\":\"+79991234567\",\"to\":\"79990001234\",\"text\":\"$incoming_text\"}"
    echo
  }
  if [ -n "${until_pattern[$step]:-}" ]; then
    deadline=$(($(date +%s) + 60))
    until source "$f" >"$tmp/out" 2>&1 && grep -qF -- "${until_pattern[$step]}" "$tmp/out"; do
      [ "$(date +%s)" -lt "$deadline" ] || { cat "$tmp/out"; fail "step $step: its output never showed ${until_pattern[$step]}"; }
      sleep 1
    done
    cat "$tmp/out"
  else
    source "$f"
  fi
  if { [ "$mode" = systemd ] && [ "$step" = install ]; } || { [ "$mode" = local ] && [ "$step" = build ]; }; then start_simulator; fi
done
set -u

# ------------------------------------------------------------------ what the guide promised
echo
say "checking the result"
[ "$(psql "$db_url" -Atqc 'select default_sender from sms_settings')" = MyBrand ] || fail "the default sender is not MyBrand"
curl -s "$control/submits?limit=100" | node -e '
  const { submits } = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const s = submits.find((x) => x.text === "Hello from sms-outbox" && x.command_status === "ESME_ROK");
  if (!s) { console.error("the first SMS never reached the simulator"); process.exit(1); }
  console.log(`the simulator received "${s.text}" for ${s.destination} from ${s.source}, message id ${s.message_id}`);' ||
  fail "the first SMS did not go through the simulator"
got=$(psql "$db_url" -Atqc "select body from sms_inbox where sender = '79991234567'")
[ "$got" = "$incoming_text" ] || fail "sms_inbox holds '$got', not the incoming SMS"
echo "sms_inbox holds the incoming SMS: $got"
if [ "$mode" = systemd ]; then
  systemctl stop sms-outbox-worker
  [ "$(cat "$journal/sms-outbox-worker.exit")" = 0 ] || fail "the worker did not stop cleanly: $(tail -n 20 "$journal/sms-outbox-worker.log")"
  grep -q '"msg":"worker stopped"' "$journal/sms-outbox-worker.log" || fail "no 'worker stopped' in the worker's log"
else
  # The guide's "stop" step sent SIGTERM; the worker is a job of this shell.
  worker_pid=$(cat "$tmp/checkout/worker.pid")
  code=0
  wait "$worker_pid" || code=$?
  rm -f "$tmp/checkout/worker.pid"
  [ "$code" = 0 ] || fail "the worker did not stop cleanly (exit $code): $(tail -n 20 "$tmp/checkout/worker.log")"
  tail -n 1 "$tmp/checkout/worker.log" | grep -q '"msg":"worker stopped"' || fail "the last line of worker.log is not 'worker stopped': $(tail -n 5 "$tmp/checkout/worker.log")"
  roles=$(admin_psql "select string_agg(rolname, ' ' order by rolname) from pg_roles where rolname like '${prefix}%'")
  [ "$roles" = "${prefix}reader ${prefix}sender ${prefix}worker" ] || fail "the roles of prefix $prefix are ($roles)"
  echo "roles: $roles; the worker stopped cleanly"
fi

echo "production guide ($mode): ok (${#STEPS[@]} blocks of docs/guides/production.md run in order; one SMS delivered through the simulator, one incoming SMS in sms_inbox; $(($(date +%s) - started)) s)"
