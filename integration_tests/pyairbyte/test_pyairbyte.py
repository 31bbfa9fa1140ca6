"""PyAirbyte runs the connector as a data engineer would from Python, against the fake API.

    python test_pyairbyte.py --connector /abs/path/source-100ms --fake /abs/path/fake-100ms \
        [--image airbyte/source-100ms:0.1.0]

Reads every stream into PyAirbyte's DuckDB cache, compares the counts with the fake's ground
truth, then reads again incrementally: nothing may be lost or duplicated. With --image, the same
through the Docker image. Exits non-zero on the first failed check.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# Before `import airbyte`: offline, PyAirbyte would otherwise try its connector registry.
os.environ["AIRBYTE_OFFLINE_MODE"] = "1"
os.environ["DO_NOT_TRACK"] = "1"

import airbyte as ab  # noqa: E402


def start_fake(fake: str) -> tuple[subprocess.Popen, dict, dict]:
    """Starts the fake on a free loopback port; returns it, a connector config, the counts."""
    process = subprocess.Popen(
        [fake, "--port", "0", "--settle-secs", "300"], stdout=subprocess.PIPE, text=True
    )
    config = json.loads(process.stdout.readline())
    expected = json.loads(process.stdout.readline())["expected_records"]
    config["requests_per_second"] = 1000
    return process, config, expected


def counts(cache: ab.caches.DuckDBCache) -> dict[str, int]:
    return {name: len(dataset) for name, dataset in cache.streams.items()}


def sync_twice(label: str, config: dict, expected: dict, **executor) -> None:
    source = ab.get_source("source-100ms", config=config, **executor)
    source.check()
    source.select_all_streams()
    with tempfile.TemporaryDirectory() as directory:
        cache = ab.new_local_cache(cache_name=f"source_100ms_{label}", cache_dir=directory)
        first = source.read(cache=cache)
        got = {name: len(list(first[name])) for name in expected}
        assert got == expected, f"{label}: first read {got}, expected {expected}"
        # The second read resumes from the state PyAirbyte kept; primary keys deduplicate.
        source.read(cache=cache)
        again = counts(cache)
        missing = {s: (again.get(s), n) for s, n in expected.items() if again.get(s) != n}
        assert not missing, f"{label}: after the incremental read {missing} (got, expected)"
        print(f"{label}: {sum(got.values())} records in {len(got)} streams, twice, exact")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connector", required=True, help="absolute path of the binary")
    parser.add_argument("--fake", required=True, help="path of the fake-100ms binary")
    parser.add_argument("--image", help="the Docker image to test too")
    args = parser.parse_args()
    assert Path(args.connector).is_absolute(), "PyAirbyte wants an absolute path"

    fake, config, expected = start_fake(args.fake)
    try:
        sync_twice("binary", config, expected, local_executable=args.connector)
        if args.image:
            sync_twice(
                "docker", config, expected, docker_image=args.image, use_host_network=True
            )
    finally:
        fake.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
