# The connector image, from scratch: a statically linked binary (rustls with bundled roots, a
# pure-Rust DNS resolver) needs nothing else. No base image can be pulled where this is built,
# so the binary is built on the host first; `.ci/packaging.sh` does both steps:
#
#   RUSTFLAGS="-C target-feature=+crt-static" \
#     cargo build --release --target x86_64-unknown-linux-gnu --bin source-100ms
#   cp target/x86_64-unknown-linux-gnu/release/source-100ms docker/bin/
#   docker build -t airbyte/source-100ms:0.1.0 .
FROM scratch

COPY docker/passwd docker/group /etc/
# Writable by the connector's user: its working directory and the temporary directory.
COPY --chown=1000:1000 docker/airbyte/ /airbyte/
COPY --chown=1000:1000 docker/airbyte/ /tmp/
COPY docker/bin/source-100ms /airbyte/integration_code/source-100ms

ENV AIRBYTE_ENTRYPOINT="/airbyte/integration_code/source-100ms"
ENTRYPOINT ["/airbyte/integration_code/source-100ms"]

LABEL io.airbyte.name="airbyte/source-100ms"
LABEL io.airbyte.version="0.1.0"

USER airbyte
WORKDIR /airbyte
