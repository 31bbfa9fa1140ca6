"""Answers on day one: syncs the fake 100ms API into DuckDB, builds the dbt models over it,
and prints the first rows of each mart.

    python answers.py --connector /abs/path/source-100ms --fake /abs/path/fake-100ms \
        --dbt /path/to/dbt [--out out/answers]

Two incremental syncs (appending, as a warehouse load does), then `dbt build`. The DuckDB
file stays in --out for a closer look (`duckdb out/answers/source_100ms.duckdb`, schema
`analytics_marts`).
"""

import argparse
import shutil
import sys
from datetime import datetime
from pathlib import Path

import duckdb

import harness

# Per mart: the columns shown (the marts have more) and the order of the rows.
MARTS = {
    "daily_usage": (
        "session_date, room_name, sessions, live_sessions, distinct_users, peer_minutes,"
        " recorded_sessions",
        "session_date desc, sessions desc, room_id",
    ),
    "session_attendance": (
        "session_id, started_at, ended_at, peers, distinct_users, peers_still_in,"
        " total_peer_minutes, wall_clock_seconds / 60.0 as wall_clock_minutes, is_recorded,"
        " recording_assets_bytes",
        "started_at desc, session_id",
    ),
    "join_failures": (
        "event_date, sdk, os, error_code, error_name, failed_joins, other_errors,"
        " affected_users, day_failed_joins, day_successful_joins, day_join_failure_rate",
        "event_date desc, failed_joins desc, error_code",
    ),
    "recording_coverage": (
        "room_name, sessions, recorded_sessions, recorded_share, recordings,"
        " failed_recordings, unfinished_recordings, recordings_with_failed_assets",
        "sessions desc, room_id",
    ),
    "call_quality": (
        "quality_date, room_name, sdk, os, sessions, peers, peer_minutes, lossy_share,"
        " subscribed_video_freezes, freezes_per_peer_hour",
        "quality_date desc, peer_minutes desc, room_id, sdk, os",
    ),
}
ROWS = 5


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connector", required=True, help="absolute path of the binary")
    parser.add_argument("--fake", required=True, help="path of the fake-100ms binary")
    parser.add_argument("--dbt", required=True, help="the dbt program (with dbt-duckdb)")
    parser.add_argument("--out", default="out/answers", help="folder for the DuckDB file")
    args = parser.parse_args()

    out = Path(args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    db = out / "source_100ms.duckdb"

    fake = harness.start_fake(args.fake)
    try:
        print("syncing the fake into DuckDB, twice …")
        harness.sync(args.connector, fake.config, db, out, times=2)
    finally:
        fake.stop()
    print("dbt build …")
    seconds = harness.dbt_build(args.dbt, db, out)
    print(f"dbt build took {seconds:.1f} s\n")

    with duckdb.connect(str(db), read_only=True) as con:
        for mart, (columns, order) in MARTS.items():
            table = f"{harness.MARTS_SCHEMA}.{mart}"
            (rows,) = con.sql(f"select count(*) from {table}").fetchone()
            print(f"{mart} ({rows} rows), first {ROWS}:")
            relation = con.sql(f"select {columns} from {table} order by {order} limit {ROWS}")
            print(render(relation.columns, relation.fetchall()) + "\n")
    print(f"the DuckDB file: {db}")
    return 0


def render(columns: list[str], rows: list[tuple]) -> str:
    """A plain text table: ids shortened, floats rounded, times to the second."""
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.3f}"
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        text = "" if value is None else str(value)
        return text[:8] + "…" if len(text) == 24 and text.isalnum() else text

    table = [columns] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in table]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
