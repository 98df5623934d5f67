#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine with Node.js lacks for this kit: PostgreSQL's
# server and client programs (the demo and the tests start a throw-away cluster), MariaDB's (the
# tests of the coming second engine start a throw-away server; Debian/Ubuntu only), pnpm 10, and
# the project's dependencies. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup: need root to run: $*" >&2; exit 1
  fi
}

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# need <command> <Debian packages> <Homebrew formula, or - when only the tests need it> <what for>
need() {
  command -v "$1" >/dev/null && return 0
  if command -v apt-get >/dev/null; then
    echo "setup: installing $2 with apt-get ($4)" >&2
    # shellcheck disable=SC2086 # a list of packages
    apt_install $2
  elif [ "$3" != - ] && command -v brew >/dev/null; then
    brew install "$3"
  elif [ "$3" != - ]; then
    echo "setup: install $2 ($4), then run this again" >&2
    exit 1
  fi
}

have_server() {
  [ -n "${PG_SERVER_BIN:-}" ] && [ -x "$PG_SERVER_BIN/initdb" ] && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return 0
  command -v initdb >/dev/null
}

if ! have_server || ! command -v pg_dump >/dev/null; then
  if command -v apt-get >/dev/null; then
    echo "setup: installing PostgreSQL (server and client) with apt-get" >&2
    apt_install postgresql postgresql-client
  elif command -v brew >/dev/null; then
    brew install postgresql@17
  else
    echo "setup: install PostgreSQL's server and client programs, then run this again" >&2
    exit 1
  fi
fi

need age age age 'encrypts backups when recipients are configured; the tests prove interop with it'
need lz4 lz4 lz4 'physical backups are lz4-compressed tar files'
need s3cmd s3cmd - 'a standard S3 client: the tests check a remote backup with it and sha256sum -c'
need python3 python3-minimal - "the export tests read every CSV back with Python's csv module"
need faketime faketime - 'a test freezes the clock to take several backups within one second'

# The regression-corpus test takes PostgreSQL's own regression scripts from Debian's source
# package (apt-get source), which needs dpkg-dev and a deb-src entry beside the distribution's deb
# one. Only the distribution's own entry is copied: a third-party repository may have no sources.
add_deb_src() {
  command -v apt-get >/dev/null || return 0
  grep -rqsE '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
  local own
  for own in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/ubuntu.sources; do
    [ -f "$own" ] || continue
    sed -E 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb-src/' "$own" | as_root tee /etc/apt/sources.list.d/pg-backup-kit-src.sources >/dev/null
    break
  done
  if [ ! -f /etc/apt/sources.list.d/pg-backup-kit-src.sources ] && grep -qsE '^deb[[:space:]]' /etc/apt/sources.list; then
    sed -nE 's/^deb([[:space:]])/deb-src\1/p' /etc/apt/sources.list | as_root tee /etc/apt/sources.list.d/pg-backup-kit-src.list >/dev/null
  fi
  echo "setup: added a deb-src entry (the regression-corpus test downloads PostgreSQL's source package)" >&2
  as_root apt-get update -qq
  apt_updated=1
}
add_deb_src
need dpkg-source dpkg-dev - "apt-get source unpacks PostgreSQL's regression scripts for the corpus test"
# The extension tests restore a database built on PostGIS and pg_partman. Debian packages them
# per server major version: each server found here gets both, unless its extension directory
# already has them.
if command -v apt-get >/dev/null; then
  for bin in /usr/lib/postgresql/*/bin/initdb; do
    [ -x "$bin" ] || continue
    major=$(basename "$(dirname "$(dirname "$bin")")")
    for pair in postgis:postgis-3 pg_partman:partman; do
      [ -f "/usr/share/postgresql/$major/extension/${pair%%:*}.control" ] && continue
      echo "setup: installing postgresql-$major-${pair#*:} with apt-get (the extension tests need ${pair%%:*})" >&2
      apt_install "postgresql-$major-${pair#*:}" || echo "setup: postgresql-$major-${pair#*:} could not be installed; the extension tests will fail on PostgreSQL $major" >&2
    done
  done
fi

# The MariaDB tests (the coming second engine) start their own throw-away mariadbd, so the
# distribution's service must not run: a policy-rc.d that refuses every start is in place while
# apt installs the server (its postinst then neither starts it nor fails), and the service is
# disabled afterwards. MySQL 8 itself is not packaged on Debian 12.
if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ] && command -v apt-get >/dev/null; then
  echo "setup: installing mariadb-server with apt-get (the MariaDB tests start their own server)" >&2
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    own_policy=1
  fi
  apt_install mariadb-server mariadb-client || { [ -n "$own_policy" ] && as_root rm -f "$policy"; exit 1; }
  [ -n "$own_policy" ] && as_root rm -f "$policy"
  if [ -x /etc/init.d/mariadb ]; then
    as_root /etc/init.d/mariadb stop >/dev/null 2>&1 || true
    as_root update-rc.d mariadb disable >/dev/null 2>&1 || true
  fi
fi

for tool in sha256sum gzip script; do
  command -v "$tool" >/dev/null || { echo "setup: $tool is missing (coreutils, gzip, bsdutils)" >&2; exit 1; }
done

if ! command -v pnpm >/dev/null; then
  echo "setup: installing pnpm 10" >&2
  as_root npm install -g pnpm@10 >/dev/null
fi

pnpm install --frozen-lockfile --reporter=silent
