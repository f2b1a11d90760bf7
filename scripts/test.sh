#!/usr/bin/env bash
# The test command: formatting, lints, every unit, HTTP and process test on SQLite and
# PostgreSQL, then a fuzz run of both OpenAPI documents on each.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each PostgreSQL test creates its own database; drop the ones earlier runs left behind.
drop_test_databases() {
    command -v psql >/dev/null 2>&1 || return 0
    local url="${ACCORD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
    # One session for all the drops: a psql per database is slow when many are left.
    psql "$url" -Atqc "SELECT format('DROP DATABASE IF EXISTS %I;', datname) FROM pg_database WHERE datname LIKE 'accord\_test\_%' OR datname LIKE 'accord\_process\_%'" 2>/dev/null |
        psql "$url" -q >/dev/null 2>&1 || true
}
drop_test_databases
trap drop_test_databases EXIT

# The SMTP tests deliver to a real SMTP server process: aiosmtpd.
if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check aiosmtpd
fi

# The widget's accessibility tests load axe-core from its npm package into the browser.
if [ ! -f target/npm/node_modules/axe-core/axe.min.js ]; then
    npm install --silent --no-audit --no-fund --prefix target/npm axe-core@4
fi

cargo fmt --all -- --check
# One compilation serves the lints and the tests: clippy's driver compiles the workspace's
# own crates for the test run (as `cargo clippy` does), with warnings denied.
if driver="$(command -v clippy-driver)"; then
    export RUSTC_WORKSPACE_WRAPPER="$driver"
    export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
else
    cargo clippy --all-targets --locked -- -D warnings
fi
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi

# Schemathesis against both published OpenAPI documents of a real server, on both databases.
bash scripts/fuzz.sh
