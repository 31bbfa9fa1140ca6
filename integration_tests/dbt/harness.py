"""What the dbt test and the answers demo share: start the fake, sync it into DuckDB through
PyAirbyte (sync.py, in its own process), and run `dbt build` over the result.

Runs under the PyAirbyte virtual environment (it has `airbyte` and the `duckdb` that wrote
the file); dbt lives in its own environment and is called as a program.
"""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent.parent / "models"
STAGING_SCHEMA = "analytics_staging"
MARTS_SCHEMA = "analytics_marts"


@dataclass
class Fake:
    """A running fake-100ms: the connector config it printed and the records it serves per
    stream (its ground truth)."""

    process: subprocess.Popen
    config: dict
    expected: dict

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_fake(binary: str) -> Fake:
    """Starts the fake on a free loopback port, its clock moved past the generated data."""
    process = subprocess.Popen(
        [binary, "--port", "0", "--settle-secs", "300"], stdout=subprocess.PIPE, text=True
    )
    config = json.loads(process.stdout.readline())
    expected = json.loads(process.stdout.readline())["expected_records"]
    config["requests_per_second"] = 1000
    return Fake(process, config, expected)


def sync(connector: str, config: dict, db: Path, workdir: Path, times: int = 1) -> None:
    """Reads every stream incrementally `times` times into `db`, appending (see sync.py)."""
    config_file = workdir / "config.json"
    config_file.write_text(json.dumps(config))
    config_file.chmod(0o600)  # it holds the app secret
    run(
        [sys.executable, "-W", "ignore", str(HERE / "sync.py"), "--connector", connector,
         "--config", str(config_file), "--db", str(db), "--times", str(times)],
    )


def dbt_build(dbt: str, db: Path, workdir: Path) -> float:
    """Runs `dbt build` (models, unit tests, data tests) over `db`; returns its seconds."""
    env = dict(os.environ, SOURCE_100MS_DUCKDB=str(db), DBT_SEND_ANONYMOUS_USAGE_STATS="false",
               DO_NOT_TRACK="1", DBT_USE_COLORS="false")
    command = [
        dbt, "build", "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
        "--target-path", str(workdir / "dbt-target"), "--log-path", str(workdir / "dbt-logs"),
    ]
    start = time.monotonic()
    output = run(command, env=env)
    seconds = time.monotonic() - start
    for line in output.splitlines():
        if "Finished running" in line or "Done. PASS" in line or "WARN" in line:
            print(line)
    return seconds


def run(command: list[str], env: dict | None = None) -> str:
    """Runs a program and returns its stdout; on failure prints it all and exits non-zero.
    A sync or a build takes well under a minute here: the ten-minute limit stops a hang."""
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        sys.exit(f"FAILED (exit {result.returncode}): {' '.join(command[:3])} …")
    return result.stdout
