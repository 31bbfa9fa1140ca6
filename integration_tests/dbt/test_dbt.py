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
- the share of sessions recorded, per room (`recording_coverage`),
- every row of `call_quality`: peers, sessions, covered, measured and lossy peer-minutes and
  the received video's freezes per day, room, SDK and OS, recomputed here from the peer-stats
  reports (`GET /v2/analytics/peer-stats`, one per peer of each session that ended within
  the config's `peer_quality_stats_days` on the fake's clock, the stream's candidates) and
  the agents of the error events, with the definitions the mart documents;

and, before those, that the sync appended duplicates and that each staging model has one
row per record the fake serves (the counts it prints; for `peer_quality_stats` that is
every ended session's, so the fake's config reads 30 days, more than its data spans).

Exits non-zero on the first mismatch.
"""

import argparse
import base64
import hashlib
import hmac
import json
import shutil
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import duckdb

import harness

TOLERANCE_MINUTES = 1e-6
LOSSY_PERCENT = 5
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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
        truth = GroundTruth(Api(fake.config), fake.config)
        with duckdb.connect(str(db), read_only=True) as marts:
            check_staging_counts(marts, fake.expected)
            check_sessions_per_day(marts, truth)
            check_peer_minutes(marts, truth, second_sync)
            check_join_failures(marts, truth)
            check_recorded_share(marts, truth)
            check_call_quality(marts, truth)
    finally:
        fake.stop()
    print("dbt: 7 passed, 0 failed")
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


def check_call_quality(marts, truth: "GroundTruth") -> None:
    """Every row of the mart against the same figures computed here from the fake's reports:
    first that the stream read exactly the candidates' reports, then each (day, room, SDK,
    OS) group's peers, sessions, minutes and freezes."""
    got_keys = set(marts.sql(
        f"select session_id, peer_id from {harness.STAGING_SCHEMA}.stg_100ms__peer_quality_stats"
    ).fetchall())
    expected_keys = set(truth.peer_stats)
    assert got_keys == expected_keys, (
        f"peer-stats reports: {len(got_keys - expected_keys)} staged but not expected, "
        f"{len(expected_keys - got_keys)} expected but not staged")

    expected = call_quality(truth)
    columns = ("sessions, peers, peer_minutes, loss_measured_minutes, lossy_peer_minutes,"
               " subscribed_video_freezes")
    got = {(row[0], row[1], row[2], row[3]): row[4:] for row in marts.sql(
        f"select quality_date, room_id, sdk, os, {columns} from {harness.MARTS_SCHEMA}.call_quality"
    ).fetchall()}
    assert got.keys() == expected.keys(), (
        f"call_quality groups: {len(got.keys() - expected.keys())} unexpected, "
        f"{len(expected.keys() - got.keys())} missing, e.g. "
        f"{sorted(got.keys() ^ expected.keys(), key=str)[:3]}")
    wrong = {}
    for key, figures in expected.items():
        want = (len(figures["sessions"]), len(figures["peers"]), figures["covered"] / 60,
                figures["measured"] / 60, figures["lossy"] / 60, figures["freezes"])
        have = got[key]
        if have[:2] != want[:2] or any(abs(h - w) > TOLERANCE_MINUTES
                                       for h, w in zip(have[2:], want[2:])):
            wrong[key] = (have, want)
    assert not wrong, (f"call_quality wrong in {len(wrong)} of {len(expected)} groups, e.g. "
                       f"(got, expected) {dict(list(wrong.items())[:3])}")

    total = {name: sum(f[name] for f in expected.values())
             for name in ("covered", "measured", "lossy", "freezes")}
    by_agent = Counter(key[2] for key in expected)
    print(f"ok: call_quality, {len(expected)} groups ({dict(by_agent)} by SDK) over "
          f"{len(expected_keys)} peers' reports: {total['lossy'] / total['measured']:.3f} of "
          f"{total['measured'] / 60:.0f} peer-minutes lossy, "
          f"{total['freezes'] * 3600 / total['covered']:.3f} freezes per peer-hour")


def call_quality(truth: "GroundTruth") -> dict:
    """The mart's figures from the fake's reports, per (day, room, SDK, OS): see
    models/marts/call_quality.sql for the definitions, reimplemented here in plain Python
    and integer microseconds."""
    sessions = {s["id"]: s for s in truth.sessions}
    groups: dict = defaultdict(lambda: {"sessions": set(), "peers": set(), "covered": 0.0,
                                        "measured": 0.0, "lossy": 0.0, "freezes": 0.0})

    def group(day: date, session_id: str, peer_id: str, room_id: str) -> dict:
        sdk, os_name = truth.agents.get(peer_id, ("unknown", "unknown"))
        figures = groups[(day, room_id, sdk, os_name)]
        figures["sessions"].add(session_id)
        figures["peers"].add(peer_id)
        return figures

    for (session_id, peer_id), report in truth.peer_stats.items():
        session = sessions[session_id]
        peer = session["peers"][peer_id]
        joined = micros(parse_ts(peer["joined_at"]))
        left = micros(parse_ts(peer.get("left_at") or session["updated_at"]))
        counted_until = max(joined, left)
        intervals = []  # (start, end, loss) of every sample, in microseconds
        for direction in ("publisher", "subscriber"):
            for kind in ("audio", "video"):
                for track in (report.get(direction) or {}).get(kind) or []:
                    series = track.get("time_series") or {}
                    timed = sorted((round(t) * 1000, i)
                                   for i, t in enumerate(series.get("timestamps") or [])
                                   if number(t) is not None)
                    gaps = [b[0] - a[0] for a, b in zip(timed, timed[1:])]
                    step = statistics.median(gaps) if gaps else None
                    for n, (start, i) in enumerate(timed):
                        if n + 1 < len(timed):
                            end = timed[n + 1][0]
                        elif step is None:
                            end = max(start, counted_until)
                        else:
                            end = max(start, min(counted_until, start + round(step)))
                        intervals.append((start, end, value_at(series, "packet_loss_percent", i)))
                        if direction == "subscriber" and kind == "video":
                            freezes = value_at(series, "freeze_count", i) or 0
                            group(day_of(start), session_id, peer_id,
                                  report["room_id"])["freezes"] += freezes
        standing = [iv for iv in intervals if iv[1] > iv[0]]
        cuts = sorted({t for start, end, _ in standing for t in (start, end)})
        for a, b in zip(cuts, cuts[1:]):
            covering = [loss for start, end, loss in standing if start <= a and end >= b]
            if not covering:
                continue
            readings = [loss for loss in covering if loss is not None]
            figures = group(day_of(a), session_id, peer_id, report["room_id"])
            seconds = (b - a) / 1e6
            figures["covered"] += seconds
            if readings:
                figures["measured"] += seconds
                if max(readings) > LOSSY_PERCENT:
                    figures["lossy"] += seconds
    return groups


def number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def value_at(series: dict, name: str, i: int) -> float | None:
    values = series.get(name) or []
    return number(values[i]) if i < len(values) else None


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def day_of(us: int) -> date:
    return (EPOCH + timedelta(microseconds=us)).date()


# -------------------------------------------------------------------------- ground truth


class Api:
    """The fake's HTTP API, with a management token minted from the app credentials."""

    def __init__(self, config: dict) -> None:
        self.base = config["api_base_url"].rstrip("/")
        credentials = config["credentials"]
        self.token = mint_token(credentials["app_access_key"], credentials["app_secret"])

    def get(self, path: str, **query) -> dict:
        return self.get_dated(path, **query)[0]

    def get_dated(self, path: str, **query) -> tuple[dict, datetime]:
        """The body and the server's clock (its `Date` header)."""
        url = f"{self.base}/{path}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response), parsedate_to_datetime(response.headers["Date"])

    def get_or_none(self, path: str, **query) -> dict | None:
        """The body, or None for a 404."""
        try:
            return self.get(path, **query)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def listing(self, path: str, **query) -> list[dict]:
        """Every item of a `{data, last}` listing."""
        items, start = [], None
        while True:
            page = self.get(path, limit=100, **query, **({"start": start} if start else {}))
            items += page.get("data") or []
            start = page.get("last")
            if not page.get("data") or not start:
                return items

    def events(self, room_id: str, **filters) -> list[dict]:
        """Every analytics event in a room that matches `filters` (`{events, next}` paging)."""
        items, start = [], None
        while True:
            query = {"room_id": room_id, **filters, "limit": 100}
            page = self.get("analytics/events", **query, **({"start": start} if start else {}))
            items += page.get("events") or []
            start = page.get("next")
            if not start:
                return items


class GroundTruth:
    """The fake's records, as its API serves them."""

    def __init__(self, api: Api, config: dict) -> None:
        self.sessions = api.listing("sessions")
        rooms = [room["id"] for room in api.listing("rooms")]
        self.join_failures = sum(len(api.events(room, type="client.join.failed"))
                                 for room in rooms)
        self.peer_stats = peer_stats(api, self.sessions, config.get("peer_quality_stats_days", 7))
        self.agents = agents(api, rooms)
        self.recorded_sessions = {
            (rec["room_id"], rec["session_id"])
            for rec in api.listing("recordings")
            if rec["status"] != "failed"
        }


def peer_stats(api: Api, sessions: list[dict], days: int) -> dict[tuple[str, str], dict]:
    """The report of every peer of each session that ended within `days` of the fake's clock,
    keyed (session, peer); without the 404s (never published) and the reports with no
    track, which the stream skips too."""
    _, now = api.get_dated("sessions", limit=10)
    horizon = now - timedelta(days=days)
    candidates = [(s["id"], peer) for s in sessions
                  if not s["active"] and parse_ts(s["updated_at"]) > horizon
                  for peer in s["peers"]]

    def fetch(key: tuple[str, str]) -> dict | None:
        return api.get_or_none("analytics/peer-stats", session_id=key[0], peer_id=key[1])

    with ThreadPoolExecutor(max_workers=8) as pool:
        reports = dict(zip(candidates, pool.map(fetch, candidates)))
    return {key: report for key, report in reports.items()
            if report is not None and any((report.get(d) or {}).get(k)
                                          for d in ("publisher", "subscriber")
                                          for k in ("audio", "video"))}


def agents(api: Api, rooms: list[str]) -> dict[str, tuple[str, str]]:
    """Each peer's SDK and OS: those of its earliest error event with an agent."""
    earliest: dict[str, tuple] = {}
    for room in rooms:
        for event in api.events(room, error="true"):
            data = event.get("data") or {}
            agent = data.get("agent") or {}
            peer = data.get("peer_id")
            if not peer or agent.get("sdk") is None:
                continue
            rank = (parse_ts(event["timestamp"]), event["id"])
            if peer not in earliest or rank < earliest[peer][0]:
                os_name = agent["os"] if agent.get("os") is not None else "unknown"
                earliest[peer] = (rank, (agent["sdk"], os_name))
    return {peer: agent for peer, (_, agent) in earliest.items()}


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
