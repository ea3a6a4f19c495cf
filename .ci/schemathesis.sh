#!/usr/bin/env bash
# The requester API against its own OpenAPI schema: schemathesis 4 generates
# requests for every operation of /api/v1/schema/ (valid and invalid ones, and
# sequences that follow one answer's ids into the next call) and fails on a
# server error or an answer the schema doesn't describe.
#
#   .ci/schemathesis.sh                    # 50 examples an operation
#   .ci/schemathesis.sh --max-examples 200 --seed 7   # more; any `st run` option
#
# Everything runs on 127.0.0.1 against a throwaway SQLite file: `manage.py demo`
# launches two runs on the mock provider and sends its scripted workers through
# them (so there are submissions to list, decide and export), the demo's admin
# account gets a token, and gunicorn serves the site as in production. No
# provider is called: the demo's runs are mock runs, and Celery tasks run
# in-process. The server's log is printed when schemathesis fails.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v st >/dev/null || {
  echo "schemathesis.sh: no 'st' on PATH; pip install -e '.[dev]' first" >&2
  exit 2
}

tmp=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill "$server"  # gunicorn's master stops its worker
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

export DATABASE_URL="sqlite:///$tmp/api.sqlite3"
export MEDIA_ROOT="$tmp/media" STATIC_ROOT="$tmp/static"
mkdir -p "$STATIC_ROOT"
# No broker: tasks run in the server's process. No in-process beat either, so
# nothing but the fuzzed requests changes the data while they run.
unset CELERY_BROKER_URL
export IN_PROCESS_BEAT=false
# The setup runs with DEBUG on (the demo refuses to run without it); the server
# below runs with it off.
export DEBUG=true

echo "== a database with two demo runs (mock provider, scripted workers)"
python manage.py demo >"$tmp/demo.log"
python manage.py demo >>"$tmp/demo.log"
token=$(python manage.py drf_create_token admin | awk '{print $3}')

port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "== gunicorn on 127.0.0.1:$port"
# Served as in production, DEBUG off: the answers are the ones clients get (a
# 500's traceback still goes to the log), over plain HTTP on 127.0.0.1.
DEBUG=false SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))') \
  SECURE_SSL_REDIRECT=false \
  python -m gunicorn crowdsite.wsgi:application --bind "127.0.0.1:$port" \
  --workers 1 --timeout 60 >"$tmp/server.log" 2>&1 &
server=$!
up=""
for _ in $(seq 60); do
  curl -fs -o /dev/null "http://127.0.0.1:$port/api/v1/schema/" && up=1 && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$up" ]; then
  echo "schemathesis.sh: the server did not answer:" >&2
  cat "$tmp/server.log" >&2
  exit 1
fi

# Checks: all of them but one.
# - positive_data_acceptance is left out: it expects every request the schema
#   allows to succeed, but a well-formed request can still break a rule of the
#   data, which the API refuses with 400 and says why, by design: a bonus of
#   0 or one above 10 times the reward without confirm_large, a decision on a
#   unit that has no submission, a bulk approve with neither unit_ids nor
#   "all". A schema can't say what state a unit is in.
# One schemathesis worker: the server is one process on SQLite, and parallel
# writes would only measure SQLite's lock.
echo "== schemathesis"
status=0
project=$PWD
# From the temporary folder: st keeps what it found (for `st replay`) and
# Hypothesis its files in the working directory.
cd "$tmp"
st run "http://127.0.0.1:$port/api/v1/schema/" \
  --header "Authorization: Token $token" \
  --checks all \
  --exclude-checks positive_data_acceptance \
  --max-examples 50 \
  --workers 1 \
  --request-timeout 30 \
  --generation-database none \
  --no-color \
  "$@" || status=$?

cd "$project"
if [ "$status" -ne 0 ]; then
  echo "== the server's errors (a 500's traceback; 4xx lines left out)"
  awk '/^Internal Server Error: /{show=1}
       /^[A-Z][A-Za-z ]*: \// && !/^Internal Server Error: /{show=0}
       show' "$tmp/server.log" | tail -n 300
fi
exit "$status"
