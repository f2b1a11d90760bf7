#!/usr/bin/env bash
# The fuzz step of the test command: Schemathesis against both served OpenAPI documents of a
# real server, on SQLite and on PostgreSQL (scripts/fuzz/run.py says how). ACCORD_FUZZ_CASES
# is the budget of fuzzed cases per document and database (default 400: the whole step takes
# a few minutes on two cores); ACCORD_FUZZ_DATABASES=sqlite runs one database only. Under
# CI=true a PostgreSQL that cannot be reached is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

schemathesis_version="4.32.5"
target="${CARGO_TARGET_DIR:-target}"
venv="$target/fuzz-venv"
if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $schemathesis_version" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi

# The debug server binary: the test run has built it; build it when it is missing or older
# than the sources.
binary="$target/debug/accord"
if [ ! -x "$binary" ] || [ -n "$(find crates Cargo.toml Cargo.lock -newer "$binary" -print -quit)" ]; then
    cargo build -p accord --locked
fi

exec "$venv/bin/python" scripts/fuzz/run.py --binary "$binary" --venv "$venv" "$@"
