#!/usr/bin/env bash
# Local services for the system and the tests, on any Debian machine.
#
#   scripts/services.sh up      NATS + PostgreSQL ready; writes .data/services.env
#   scripts/services.sh tools   only makes sure nats-server and PostgreSQL are installed and PostgreSQL runs
#   scripts/services.sh down    stops what `up` started (never a server it did not start)
#   scripts/services.sh status  prints what is in use
#
# NATS_URL / DATABASE_URL set in the environment are used as they are. Otherwise:
#  - NATS: a private `nats-server -js` on 127.0.0.1:${LOCAL_NATS_PORT:-14222} (monitoring on
#    ${LOCAL_NATS_HTTP_PORT:-18222}) with its store under .data/nats; Debian's nats-server is
#    installed when missing.
#  - PostgreSQL: the system server on 127.0.0.1:5432 when it answers (started with
#    pg_ctlcluster when installed but stopped); else a private cluster under .data/pg on
#    127.0.0.1:${LOCAL_PG_PORT:-15432}; Debian's postgresql is installed when missing.
#    The database `signals` is created by the application on first start.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="$PWD/.data"
mkdir -p "$DATA"
ENV_FILE="$DATA/services.env"
NATS_PORT="${LOCAL_NATS_PORT:-14222}"
NATS_HTTP_PORT="${LOCAL_NATS_HTTP_PORT:-18222}"
PG_PORT="${LOCAL_PG_PORT:-15432}"
SYSTEM_PG_PORT="${SYSTEM_PG_PORT:-5432}"

say() { echo "services: $*" >&2; }

# Writes stdin to a file only its owner may read: the env files hold connection URLs,
# possibly with a password. The file is created under umask 077 and chmod'ed before
# any content goes in, so one left by an older version with a wider mode is fixed too.
write_private() {
  (umask 077 && : > "$1")
  chmod 600 "$1"
  cat > "$1"
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then say "need root to apt-get install $*"; exit 1; fi
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    say "apt-get update"; apt-get update -qq >&2
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_nats_binary() {
  command -v nats-server >/dev/null 2>&1 || apt_install nats-server
}

pg_bin_dir() {
  local v
  v=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
  [ -n "$v" ] && echo "/usr/lib/postgresql/$v/bin"
}

ensure_pg_binary() {
  [ -n "$(pg_bin_dir)" ] || apt_install postgresql
}

# Prints a DATABASE_URL of a running server (without database name suffix handled by caller).
ensure_postgres() {
  if port_open "$SYSTEM_PG_PORT"; then echo "postgresql://postgres@127.0.0.1:$SYSTEM_PG_PORT"; return; fi
  ensure_pg_binary
  if command -v pg_lsclusters >/dev/null 2>&1 && [ -n "$(pg_lsclusters -h 2>/dev/null | head -1)" ]; then
    local ver name
    read -r ver name _ < <(pg_lsclusters -h | head -1)
    say "starting system PostgreSQL cluster $ver/$name"
    pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 || true
    for _ in $(seq 1 30); do port_open 5432 && break; sleep 1; done
    if port_open "$SYSTEM_PG_PORT"; then echo "postgresql://postgres@127.0.0.1:$SYSTEM_PG_PORT"; return; fi
  fi
  # A private cluster owned by the postgres user, under .data/pg.
  local bin; bin=$(pg_bin_dir)
  id postgres >/dev/null 2>&1 || useradd --system --home "$DATA/pg" postgres
  if [ ! -f "$DATA/pg/PG_VERSION" ]; then
    say "initialising a private PostgreSQL cluster in $DATA/pg"
    mkdir -p "$DATA/pg"; chown postgres "$DATA/pg"
    su postgres -s /bin/sh -c "$bin/initdb -D '$DATA/pg' -U postgres --auth=trust -E UTF8" >&2
  fi
  if ! port_open "$PG_PORT"; then
    say "starting private PostgreSQL on 127.0.0.1:$PG_PORT"
    su postgres -s /bin/sh -c "$bin/pg_ctl -D '$DATA/pg' -l '$DATA/pg/server.log' -o '-p $PG_PORT -c listen_addresses=127.0.0.1 -k /tmp' -w start" >&2 \
      || { say "private PostgreSQL did not start; see $DATA/pg/server.log"; exit 1; }
    touch "$DATA/pg.started-by-us"
  fi
  echo "postgresql://postgres@127.0.0.1:$PG_PORT"
}

ensure_nats() {
  ensure_nats_binary
  if ! port_open "$NATS_PORT"; then
    say "starting private nats-server -js on 127.0.0.1:$NATS_PORT (store $DATA/nats)"
    mkdir -p "$DATA/nats"
    nohup nats-server -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_HTTP_PORT" -js -sd "$DATA/nats" -l "$DATA/nats.log" \
      >/dev/null 2>&1 &
    echo $! > "$DATA/nats.pid"
    for _ in $(seq 1 50); do port_open "$NATS_PORT" && break; sleep 0.2; done
    port_open "$NATS_PORT" || { say "nats-server did not start; see $DATA/nats.log"; exit 1; }
  fi
  echo "nats://127.0.0.1:$NATS_PORT"
}

case "${1:-up}" in
  up)
    nats_url="${NATS_URL:-}"; db_url="${DATABASE_URL:-}"
    if [ -z "$nats_url" ]; then nats_url=$(ensure_nats) || exit 1; fi
    if [ -z "$db_url" ]; then base=$(ensure_postgres) || exit 1; db_url="$base/signals"; fi
    ensure_nats_binary
    printf 'export NATS_URL=%q\nexport DATABASE_URL=%q\n' "$nats_url" "$db_url" | write_private "$ENV_FILE"
    say "NATS_URL=$nats_url"
    say "DATABASE_URL=$(echo "$db_url" | sed -E 's#//([^:/@]+):[^@]*@#//\1:***@#')"
    ;;
  tools)
    ensure_nats_binary
    # The dashboard's tests drive Debian's chromium (playwright-core with its executablePath).
    [ -n "${CHROMIUM_PATH:-}" ] || command -v chromium >/dev/null 2>&1 || apt_install chromium
    if [ -z "${TEST_PG_URL:-}" ]; then
      base=$(ensure_postgres) || exit 1
      printf 'export TEST_PG_URL=%q\n' "$base/postgres" | write_private "$DATA/test.env"
    else
      printf 'export TEST_PG_URL=%q\n' "$TEST_PG_URL" | write_private "$DATA/test.env"
    fi
    ;;
  down)
    if [ -f "$DATA/nats.pid" ]; then
      pid=$(cat "$DATA/nats.pid")
      if kill -0 "$pid" 2>/dev/null; then say "stopping nats-server ($pid)"; kill "$pid"; fi
      rm -f "$DATA/nats.pid"
    fi
    if [ -f "$DATA/pg.started-by-us" ]; then
      say "stopping private PostgreSQL"
      su postgres -s /bin/sh -c "$(pg_bin_dir)/pg_ctl -D '$DATA/pg' -m fast stop" >&2 || true
      rm -f "$DATA/pg.started-by-us"
    fi
    rm -f "$ENV_FILE"
    ;;
  status)
    [ -f "$ENV_FILE" ] && sed -E 's#//([^:/@]+):[^@]*@#//\1:***@#' "$ENV_FILE" || echo "no services started by this project"
    ;;
  *) echo "usage: $0 up|tools|down|status" >&2; exit 2 ;;
esac
