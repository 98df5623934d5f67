#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine with Node.js lacks for this kit: PostgreSQL's
# server and client programs (the demo and the tests start a throw-away cluster), pnpm 10, and
# the project's dependencies. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup: need root to run: $*" >&2; exit 1
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
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >/dev/null
  elif command -v brew >/dev/null; then
    brew install postgresql@17
  else
    echo "setup: install PostgreSQL's server and client programs, then run this again" >&2
    exit 1
  fi
fi

# s3cmd: a standard S3 client, to show (and test) that a remote backup checks out with
# `sha256sum -c` without the kit.
if ! command -v s3cmd >/dev/null && command -v apt-get >/dev/null; then
  echo "setup: installing s3cmd with apt-get" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq s3cmd >/dev/null
fi

# The export tests read every CSV back with Python's standard csv module.
if ! command -v python3 >/dev/null && command -v apt-get >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-minimal >/dev/null
fi

# age encrypts backups when recipients are configured (and the tests prove interop with it).
if ! command -v age >/dev/null; then
  if command -v apt-get >/dev/null; then
    echo "setup: installing age with apt-get" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq age >/dev/null
  elif command -v brew >/dev/null; then
    brew install age
  else
    echo "setup: install age (age-encryption.org), then run this again" >&2
    exit 1
  fi
fi

# Physical backups are lz4-compressed tar files: restoring and verifying them runs tar with lz4.
if ! command -v lz4 >/dev/null; then
  if command -v apt-get >/dev/null; then
    echo "setup: installing lz4 with apt-get" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lz4 >/dev/null
  elif command -v brew >/dev/null; then
    brew install lz4
  else
    echo "setup: install lz4, then run this again" >&2
    exit 1
  fi
fi

# faketime freezes the clock for a test that must take several backups within one second.
if ! command -v faketime >/dev/null && command -v apt-get >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null
fi

for tool in sha256sum gzip script; do
  command -v "$tool" >/dev/null || { echo "setup: $tool is missing (coreutils, gzip, bsdutils)" >&2; exit 1; }
done

if ! command -v pnpm >/dev/null; then
  echo "setup: installing pnpm 10" >&2
  as_root npm install -g pnpm@10 >/dev/null
fi

pnpm install --frozen-lockfile --reporter=silent
