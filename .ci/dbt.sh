#!/usr/bin/env bash
# CI, dbt stage: the dbt package in models/ against the fake API, checked with figures the
# test computes itself from the fake (integration_tests/dbt/test_dbt.py). With `answers`,
# the demo instead: sync the fake, build the models, print each mart's first rows.
#
#   bash .ci/dbt.sh            # the test (what .ci/run calls, after .ci/packaging.sh)
#   bash .ci/dbt.sh answers    # the demo (README, "Answers")
#
# Installs what it needs under target/: PyAirbyte in target/pyairbyte-venv (as packaging.sh
# does) and dbt in target/dbt-venv. The two write and read the same DuckDB file, so both
# pin the same duckdb: PyAirbyte 0.71.3 pins duckdb 1.4.3, and the dbt venv pins it too.
# dbt-core stays on 1.11: 1.12 pulls a parser wheel that its build downloads from outside
# the package registry. Builds the release binaries if packaging.sh has not.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

mode=${1:-test}
target=x86_64-unknown-linux-gnu
out=$(realpath "${CARGO_TARGET_DIR:-target}")/$target/release
connector="$out/source-100ms"
fake="$out/fake-100ms"
duckdb_version=1.4.3

if [ ! -x "$connector" ] || [ ! -x "$fake" ]; then
    echo "== static release build (source-100ms, fake-100ms)"
    RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --target "$target" -p source-100ms -p fake-100ms --bins
fi

# has VENV PACKAGE VERSION: the venv exists and holds that version of the package.
has() {
    [ -x "$1/bin/python" ] && "$1/bin/python" -m pip show "$2" 2>/dev/null | grep -x "Version: $3" >/dev/null
}

pyairbyte=target/pyairbyte-venv
if ! has "$pyairbyte" airbyte 0.71.3; then
    echo "== installing PyAirbyte"
    python3 -m venv "$pyairbyte"
    "$pyairbyte/bin/pip" install -q "airbyte==0.71.3"
fi
has "$pyairbyte" duckdb "$duckdb_version" ||
    { echo "PyAirbyte's duckdb is not $duckdb_version: update the pin in .ci/dbt.sh" >&2; exit 1; }

dbt_venv=target/dbt-venv
if ! has "$dbt_venv" dbt-duckdb 1.11.1 || ! has "$dbt_venv" duckdb "$duckdb_version"; then
    echo "== installing dbt-core and dbt-duckdb"
    python3 -m venv "$dbt_venv"
    "$dbt_venv/bin/pip" install -q "dbt-core==1.11.16" "dbt-duckdb==1.11.1" \
        "dbt-adapters==1.24.5" "dbt-common==1.39.0" "duckdb==$duckdb_version"
fi

export DBT_SEND_ANONYMOUS_USAGE_STATS=false DO_NOT_TRACK=1
case "$mode" in
    test)
        echo "== dbt: sync the fake twice, dbt build, marts against the fake's own figures"
        "$pyairbyte/bin/python" -W ignore integration_tests/dbt/test_dbt.py \
            --connector "$connector" --fake "$fake" --dbt "$dbt_venv/bin/dbt" \
            --workdir target/dbt-test
        ;;
    answers)
        "$pyairbyte/bin/python" -W ignore integration_tests/dbt/answers.py \
            --connector "$connector" --fake "$fake" --dbt "$dbt_venv/bin/dbt" --out out/answers
        ;;
    *)
        echo "usage: bash .ci/dbt.sh [test|answers]" >&2
        exit 2
        ;;
esac
