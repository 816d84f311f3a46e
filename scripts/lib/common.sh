# Shared helpers for scripts/setup, scripts/run and scripts/test. Sourced, not executed.
# shellcheck shell=bash

LOYALTY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOYALTY_BUILD_DIR="${LOYALTY_BUILD_DIR:-$LOYALTY_ROOT/build}"
PG_BIN="/usr/lib/postgresql/15/bin"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
# us_per_call CORES RATE: microseconds of CPU per call for a process that used CORES cores at
# RATE calls a second (0 when no call was made); the benchmarks' per-call CPU figures.
us_per_call() { awk -v c="$1" -v r="$2" 'BEGIN {printf "%.0f", (r > 0 ? c * 1e6 / r : 0)}'; }

# PostgreSQL refuses to run as root, so as root the cluster belongs to the Debian 'postgres'
# system user (created by the postgresql-15 package); otherwise it is the caller's own.
pg_owner() { if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi; }
as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_init DATA_DIR: initdb on first use (trust auth: the cluster listens only on loopback and a
# socket inside DATA_DIR, for development and tests).
pg_init() {
  local data_dir="$1"
  if [ -f "$data_dir/pgdata/PG_VERSION" ]; then return 0; fi
  mkdir -p "$data_dir/pgdata" "$data_dir/socket"
  chown -R "$(pg_owner)" "$data_dir"
  as_pg_owner test -x "$data_dir" || die "the cluster owner '$(pg_owner)' cannot reach $data_dir \
(a parent directory is private); make the parents traversable or set LOYALTY_DATA_DIR"
  chmod 700 "$data_dir/pgdata"
  say "initdb in $data_dir/pgdata"
  as_pg_owner "$PG_BIN/initdb" -D "$data_dir/pgdata" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 >"$data_dir/initdb.log" 2>&1 \
    || { cat "$data_dir/initdb.log" >&2; die "initdb failed"; }
}

# pg_start DATA_DIR PORT LISTEN: LISTEN is '' for socket only, or '127.0.0.1'.
pg_start() {
  local data_dir="$1" port="$2" listen="$3"
  # The directory above the data dir must be reachable by the cluster owner.
  chown "$(pg_owner)" "$data_dir" "$data_dir/socket"
  as_pg_owner "$PG_BIN/pg_ctl" -D "$data_dir/pgdata" -l "$data_dir/postgres.log" -w -t 60 \
    -o "-p $port -k $data_dir/socket -c listen_addresses='$listen' -c max_connections=200 \
        -c fsync=${LOYALTY_PG_FSYNC:-on} -c synchronous_commit=on" start >/dev/null \
    || { tail -n 30 "$data_dir/postgres.log" >&2; die "PostgreSQL did not start"; }
}

pg_stop() {
  local data_dir="$1"
  if [ -f "$data_dir/pgdata/postmaster.pid" ]; then
    as_pg_owner "$PG_BIN/pg_ctl" -D "$data_dir/pgdata" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
}

# psql_super DATA_DIR PORT DB SQL...: runs SQL as the superuser over the socket.
psql_super() {
  local data_dir="$1" port="$2" db="$3"; shift 3
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$data_dir/socket" -p "$port" -U postgres -d "$db" "$@"
}

# ensure_service_role DATA_DIR PORT DB SCHEMA ROLE: the service's own role owns its schema and
# has no rights elsewhere (PostgreSQL 15 already denies CREATE on public to ordinary roles).
ensure_service_role() {
  local data_dir="$1" port="$2" db="$3" schema="$4" role="$5"
  psql_super "$data_dir" "$port" "$db" <<SQL
SET client_min_messages = warning;
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN
    CREATE ROLE $role LOGIN;
  END IF;
END \$\$;
CREATE SCHEMA IF NOT EXISTS $schema AUTHORIZATION $role;
REVOKE ALL ON SCHEMA $schema FROM PUBLIC;
SQL
}

ensure_database() {
  local data_dir="$1" port="$2" db="$3"
  if ! psql_super "$data_dir" "$port" postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" \
      | grep -q 1; then
    psql_super "$data_dir" "$port" postgres -c "CREATE DATABASE $db"
  fi
}

# port_in_use PORT: true when something listens on 127.0.0.1:PORT or *:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pick_port VARIABLE: sets VARIABLE (which may be an array element, e.g. 'port[points]') to a
# random port in 20000-49999 that nothing listens on and that no earlier pick_port of this script
# handed out. Tests and benchmarks use these, never the default ports.
picked_ports=" "
pick_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 30000))
    if [[ "$picked_ports" != *" $port "* ]] && ! port_in_use "$port"; then
      picked_ports+="$port "
      printf -v "$1" %s "$port"
      return
    fi
  done
  die "no free port found"
}
