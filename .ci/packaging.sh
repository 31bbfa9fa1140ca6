#!/usr/bin/env bash
# CI, second half: the artefacts people run. Builds the static binary and the Docker image,
# runs the image tests (tests/e2e/packaging.rs) and the PyAirbyte test against the fake API.
#
# Installs what it needs: Debian's docker.io (the engine is started here, without a bridge:
# containers use the host network) and PyAirbyte in a virtual environment under target/.
# If no Docker engine can be started, the Docker steps are skipped with a loud warning; where
# one runs, any failure fails CI.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
image="airbyte/source-100ms:${version}"
target=x86_64-unknown-linux-gnu
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

docker_up() {
    if ! command -v dockerd >/dev/null; then
        echo "== installing docker.io"
        export DEBIAN_FRONTEND=noninteractive
        as_root apt-get install -y -q docker.io >/dev/null ||
            { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q docker.io >/dev/null; } ||
            return 1
    fi
    docker info >/dev/null 2>&1 && return 0
    echo "== starting dockerd (no bridge, no iptables)"
    as_root sh -c 'nohup dockerd --bridge=none --iptables=false --ip-masq=false >/tmp/dockerd.log 2>&1 &'
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && return 0
        sleep 1
    done
    return 1
}

echo "== static release build"
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --target "$target" -p source-100ms -p fake-100ms --bins
out=$(realpath "${CARGO_TARGET_DIR:-target}")/$target/release
connector="$out/source-100ms"
fake="$out/fake-100ms"
echo "binary: $(stat -c %s "$connector") bytes"

docker_ok=1
if ! docker_up; then
    docker_ok=0
    cat >&2 <<'WARN'
############################################################################
##  WARNING: no Docker engine could be started on this machine.          ##
##  The image was NOT built and the Docker tests were SKIPPED.           ##
##  (see /tmp/dockerd.log)                                                ##
############################################################################
WARN
fi

if [ "$docker_ok" = 1 ]; then
    echo "== docker build $image"
    mkdir -p docker/bin
    cp "$connector" docker/bin/source-100ms
    docker build -q -t "$image" . >/dev/null
    docker image inspect --format 'image: {{.Size}} bytes' "$image"
    echo "== image tests"
    SOURCE_100MS_IMAGE="$image" cargo test --test e2e packaging -- --test-threads 1
fi

echo "== PyAirbyte"
venv=target/pyairbyte-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import airbyte" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "airbyte==0.71.3"
fi
image_args=()
[ "$docker_ok" = 1 ] && image_args=(--image "$image")
"$venv/bin/python" -W ignore integration_tests/pyairbyte/test_pyairbyte.py \
    --connector "$connector" --fake "$fake" "${image_args[@]}"
echo "== packaging: all green"
