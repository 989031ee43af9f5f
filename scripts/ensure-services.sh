#!/usr/bin/env bash
# Makes sure what netmon's tests and demo need is on this machine and running: a PostgreSQL
# server on 127.0.0.1:5432 that the postgres role can reach without a password, the Pushgateway
# binary, Prometheus and promtool (which checks the alert rules; the dashboard test runs the
# server), and Chromium (the web view's browser test). Installs Debian packages when missing
# (root needed). Idempotent.
set -euo pipefail

say() { echo "ensure-services: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root to run: $*"; return 1; fi
}

apt_install() {
  say "installing $*"
  if [ ! -f /tmp/.netmon-apt-updated ]; then as_root apt-get update -qq && touch /tmp/.netmon-apt-updated; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }

# --- PostgreSQL -----------------------------------------------------------------------------
if ! pg_ready; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    apt_install postgresql
    fresh=1
  fi
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ "${fresh:-0}" = 1 ]; then
    # A fresh local install: let the postgres role in over loopback without a password, as on
    # the development machines. Never done to an existing installation.
    hba=/etc/postgresql/$ver/main/pg_hba.conf
    as_root sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+$/\1trust/; s/^(host\s+all\s+all\s+::1\/128\s+)\S+$/\1trust/' "$hba"
  fi
  say "starting PostgreSQL $ver"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 60); do pg_ready && break; sleep 0.5; done
  pg_ready || { say "PostgreSQL did not come up on 127.0.0.1:5432"; exit 1; }
fi
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  say "PostgreSQL is up but the postgres role cannot connect over 127.0.0.1 without a password;"
  say "set NETMON_TEST_POSTGRES=postgres://USER:PASS@HOST:PORT/postgres to a role that may create databases"
  [ -n "${NETMON_TEST_POSTGRES:-}" ] || exit 1
fi

# --- Pushgateway binary -------------------------------------------------------------------------
if ! command -v prometheus-pushgateway >/dev/null 2>&1 && ! command -v pushgateway >/dev/null 2>&1 \
   && [ -z "${NETMON_PUSHGATEWAY_BIN:-}" ]; then
  apt_install prometheus-pushgateway
fi

# --- Debian's nats-server (2.9): the test that netmon refuses a server older than 2.10 runs it ---
if [ ! -x /usr/sbin/nats-server ] && [ -z "${NETMON_OLD_NATS_SERVER:-}" ]; then
  apt_install nats-server
fi

# --- prometheus and promtool (Debian package prometheus) --------------------------------------------
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  apt_install prometheus
fi

# --- Chromium, headless, for the web view's browser test (internal/web) ----------------------------
if ! command -v chromium >/dev/null 2>&1 && [ -z "${NETMON_CHROMIUM:-}" ]; then
  apt_install chromium
fi
say "ok"
