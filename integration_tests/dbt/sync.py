"""Syncs the connector into a DuckDB file through PyAirbyte, appending, as a warehouse load would.

    python sync.py --connector /abs/path/source-100ms --config config.json --db out.duckdb \
        [--times 2]

Every stream is read incrementally `--times` times in a row, each read resuming from the state
PyAirbyte kept. The write strategy is `append`, not PyAirbyte's default `merge`: that is how
Airbyte's destinations load incremental syncs, so the raw tables hold every version of a record
that was re-emitted (live sessions, unfinished recordings, the live-state streams read whole)
and the dbt staging models have real duplicates to remove.

Runs in its own process so that PyAirbyte's DuckDB connection is closed before dbt opens the
file (DuckDB lets one process write a file at a time).
"""

import argparse
import json
import os
import sys
from pathlib import Path

# Before `import airbyte`: offline, PyAirbyte would otherwise try its connector registry.
os.environ["AIRBYTE_OFFLINE_MODE"] = "1"
os.environ["DO_NOT_TRACK"] = "1"

import airbyte as ab  # noqa: E402
from airbyte.caches import DuckDBCache  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connector", required=True, help="absolute path of the binary")
    parser.add_argument("--config", required=True, help="connector config (JSON file)")
    parser.add_argument("--db", required=True, help="DuckDB file to write")
    parser.add_argument("--times", type=int, default=2, help="incremental reads in a row")
    args = parser.parse_args()

    config = json.loads(Path(args.config).read_text())
    db = Path(args.db).resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    cache = DuckDBCache(db_path=db, schema_name="main", cache_dir=db.parent / "pyairbyte")
    source = ab.get_source("source-100ms", config=config, local_executable=args.connector)
    source.select_all_streams()
    for n in range(args.times):
        result = source.read(cache=cache, write_strategy="append")
        print(f"sync {n + 1}/{args.times}: {result.processed_records} records appended")
    return 0


if __name__ == "__main__":
    sys.exit(main())
