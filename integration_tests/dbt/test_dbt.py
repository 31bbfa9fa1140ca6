"""The dbt package against the fake 100ms API, checked with figures computed without it.

    python test_dbt.py --connector /abs/path/source-100ms --fake /abs/path/fake-100ms \
        --dbt /path/to/dbt --workdir target/dbt-test

Syncs the fake twice, incrementally and appending, so the raw tables hold duplicates; runs
`dbt build` (models, unit tests, data tests: any failure fails the test); then compares the
marts with the fake's own answers, read over its HTTP API with a management token minted
here (never from the connector's output):

- sessions per day (`daily_usage`),
- peer-minutes of three sessions: the ended one with most peers, the ended one that ran
  longest (creation to last update), and a live one with a peer still in, counted up to
  the sync time
  (`session_attendance`),
- the count of failed joins (`join_failures`),
- the share of sessions recorded, per room (`recording_coverage`);

and, before those, that the sync appended duplicates and that each staging model has one
row per record the fake serves (the counts it prints).

Exits non-zero on the first mismatch.
"""

import argparse
import base64
import hashlib
import hmac
import json
import shutil
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import duckdb

import harness

TOLERANCE_MINUTES = 1e-6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connector", required=True, help="absolute path of the binary")
    parser.add_argument("--fake", required=True, help="path of the fake-100ms binary")
    parser.add_argument("--dbt", required=True, help="the dbt program (with dbt-duckdb)")
    parser.add_argument("--workdir", required=True, help="scratch folder, emptied first")
    args = parser.parse_args()
    assert Path(args.connector).is_absolute(), "PyAirbyte wants an absolute path"

    workdir = Path(args.workdir).resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    db = workdir / "source_100ms.duckdb"

    fake = harness.start_fake(args.fake)
    try:
        harness.sync(args.connector, fake.config, db, workdir)
        # The live sessions' open peers are counted up to the second sync's time.
        before = time.time()
        harness.sync(args.connector, fake.config, db, workdir)
        second_sync = (before, time.time())
        check_duplicates(db)
        seconds = harness.dbt_build(args.dbt, db, workdir)
        print(f"dbt build: {seconds:.1f} s")
        truth = GroundTruth(Api(fake.config))
        with duckdb.connect(str(db), read_only=True) as marts:
            check_staging_counts(marts, fake.expected)
            check_sessions_per_day(marts, truth)
            check_peer_minutes(marts, truth, second_sync)
            check_join_failures(marts, truth)
            check_recorded_share(marts, truth)
    finally:
        fake.stop()
    print("dbt: 6 passed, 0 failed")
    return 0


def check_duplicates(db: Path) -> None:
    """The point of syncing twice: the raw tables hold keys more than once."""
    with duckdb.connect(str(db), read_only=True) as raw:
        rows, keys = raw.sql("select count(*), count(distinct id) from main.sessions").fetchone()
    assert rows > keys, f"no duplicate sessions in the raw table ({rows} rows, {keys} keys)"
    print(f"raw sessions: {rows} rows for {keys} sessions (appended twice)")


# ------------------------------------------------------------------------------ checks


def check_staging_counts(marts, expected: dict[str, int]) -> None:
    """Deduplication keeps every record once: one staging row per record the fake serves,
    for every stream the package models."""
    modelled = {path.stem.removeprefix("stg_100ms__")
                for path in (harness.PROJECT / "staging").glob("stg_100ms__*.sql")}
    expected = {stream: n for stream, n in expected.items() if stream in modelled}
    got = {
        stream: marts.sql(f"select count(*) from {harness.STAGING_SCHEMA}.stg_100ms__{stream}")
        .fetchone()[0]
        for stream in expected
    }
    assert got == expected, f"staging rows per stream: {diff(got, expected)} (got, expected)"
    print(f"ok: staging rows of {len(expected)} streams, {sum(expected.values())} records")


def check_sessions_per_day(marts, truth: "GroundTruth") -> None:
    expected = Counter(parse_ts(s["created_at"]).date() for s in truth.sessions)
    got = dict(marts.sql(
        f"select session_date, sum(sessions) from {harness.MARTS_SCHEMA}.daily_usage group by 1"
    ).fetchall())
    assert got == expected, f"sessions per day: got {diff(got, expected)} (got, expected)"
    print(f"ok: sessions per day, {len(expected)} days, {sum(expected.values())} sessions")


def check_peer_minutes(marts, truth: "GroundTruth", second_sync: tuple[float, float]) -> None:
    ended = [s for s in truth.sessions if not s["active"]]
    most_peers = max(ended, key=lambda s: (len(s["peers"]), s["id"]))
    longest = max(ended, key=lambda s: (parse_ts(s["updated_at"]) - parse_ts(s["created_at"]),
                                        s["id"]))
    live = [s for s in truth.sessions
            if s["active"] and any("left_at" not in p for p in s["peers"].values())]
    assert live, "the fake has no live session with a peer still in"
    chosen = [most_peers, longest, min(live, key=lambda s: s["id"])]
    for session in chosen:
        (got,) = marts.sql(
            f"select total_peer_minutes from {harness.MARTS_SCHEMA}.session_attendance"
            " where session_id = ?", params=[session["id"]],
        ).fetchone()
        # Open peers count up to the sync time: between the second sync's start and end.
        low = peer_seconds(session, second_sync[0] - 0.01) / 60
        high = peer_seconds(session, second_sync[1] + 0.01) / 60
        assert low - TOLERANCE_MINUTES <= got <= high + TOLERANCE_MINUTES, (
            f"peer-minutes of session {session['id']}: got {got}, expected {low}..{high}"
        )
        state = "live" if session["active"] else "ended"
        print(f"ok: peer-minutes of session {session['id']} "
              f"({len(session['peers'])} peers, {state}): {got:.3f}")


def check_join_failures(marts, truth: "GroundTruth") -> None:
    expected = truth.join_failures
    (got,) = marts.sql(
        f"select sum(failed_joins) from {harness.MARTS_SCHEMA}.join_failures"
    ).fetchone()
    assert got == expected, f"failed joins: got {got}, expected {expected}"
    print(f"ok: {expected} failed joins")


def check_recorded_share(marts, truth: "GroundTruth") -> None:
    sessions = Counter(s["room_id"] for s in truth.sessions)
    recorded = Counter(room for room, _ in truth.recorded_sessions)
    expected = {room: recorded[room] / n for room, n in sessions.items()}
    got = dict(marts.sql(
        f"select room_id, recorded_share from {harness.MARTS_SCHEMA}.recording_coverage"
        " where sessions > 0"
    ).fetchall())
    assert got.keys() == expected.keys(), f"rooms with sessions: {diff(got, expected)}"
    wrong = {r: (got[r], expected[r]) for r in expected if abs(got[r] - expected[r]) > 1e-12}
    assert not wrong, (f"recorded share wrong in {len(wrong)} rooms, e.g. (got, expected) "
                       f"{dict(list(wrong.items())[:5])}")
    print(f"ok: recorded share of {len(expected)} rooms "
          f"({sum(recorded.values())} of {sum(sessions.values())} sessions recorded)")


# -------------------------------------------------------------------------- ground truth


class Api:
    """The fake's HTTP API, with a management token minted from the app credentials."""

    def __init__(self, config: dict) -> None:
        self.base = config["api_base_url"].rstrip("/")
        credentials = config["credentials"]
        self.token = mint_token(credentials["app_access_key"], credentials["app_secret"])

    def get(self, path: str, **query) -> dict:
        url = f"{self.base}/{path}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def listing(self, path: str, **query) -> list[dict]:
        """Every item of a `{data, last}` listing."""
        items, start = [], None
        while True:
            page = self.get(path, limit=100, **query, **({"start": start} if start else {}))
            items += page.get("data") or []
            start = page.get("last")
            if not page.get("data") or not start:
                return items

    def events(self, room_id: str, event_type: str) -> list[dict]:
        """Every analytics event of one type in a room (`{events, next}` paging)."""
        items, start = [], None
        while True:
            query = {"room_id": room_id, "type": event_type, "limit": 100}
            page = self.get("analytics/events", **query, **({"start": start} if start else {}))
            items += page.get("events") or []
            start = page.get("next")
            if not start:
                return items


class GroundTruth:
    """The fake's records, as its API serves them."""

    def __init__(self, api: Api) -> None:
        self.sessions = api.listing("sessions")
        rooms = [room["id"] for room in api.listing("rooms")]
        self.join_failures = sum(len(api.events(room, "client.join.failed")) for room in rooms)
        self.recorded_sessions = {
            (rec["room_id"], rec["session_id"])
            for rec in api.listing("recordings")
            if rec["status"] != "failed"
        }


def mint_token(access_key: str, secret: str) -> str:
    """An HS256 management token, as 100ms documents it."""
    now = int(time.time())
    header = {"typ": "JWT", "alg": "HS256"}
    claims = {"access_key": access_key, "type": "management", "version": 2,
              "iat": now, "nbf": now, "exp": now + 3600, "jti": str(uuid.uuid4())}
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(claims))}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parse_ts(text: str) -> datetime:
    """RFC 3339 with 0 to 9 fractional digits (Python takes at most 6)."""
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


def peer_seconds(session: dict, open_until: float) -> float:
    """The sum of a session's peers' durations, a peer still in counted to `open_until`."""
    total = 0.0
    for peer in session["peers"].values():
        left = parse_ts(peer["left_at"]).timestamp() if "left_at" in peer else open_until
        total += max(0.0, left - parse_ts(peer["joined_at"]).timestamp())
    return total


def diff(got: dict, expected: dict) -> dict:
    keys = set(got) | set(expected)
    return {k: (got.get(k), expected.get(k)) for k in sorted(keys, key=str)
            if got.get(k) != expected.get(k)}


if __name__ == "__main__":
    sys.exit(main())
