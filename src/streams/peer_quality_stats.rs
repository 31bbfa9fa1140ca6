//! `peer_quality_stats`: how good each peer's call was, one record per (session, peer).
//!
//! `GET /analytics/peer-stats?peer_id=&session_id=` returns, once the session has ended, the
//! time series of each track the peer published and subscribed to. They are kept as they come;
//! `summary` sits beside them, per direction (`publisher`, `subscriber`) and media kind
//! (`audio`, `video`, from the array a track is in), over every sample of every track of that
//! kind:
//!
//! - `packet_loss_percent_mean`, `packet_loss_percent_max`;
//! - `rtt_ms_p50`, `rtt_ms_p95`: nearest-rank percentiles (the smallest sample with at least
//!   p % of the samples at or below it);
//! - `freeze_count_total`: the sum of `freeze_count`, read as the freezes of each interval;
//! - `bitrate_mean`, in the API's unit;
//! - `tracks` and `samples`: how many tracks and timestamps the figures come from.
//!
//! A figure is `null` when no sample has it (audio has no freezes). Non-numeric samples (a gap
//! the API filled with `null`) are left out. `session_ended_at`, the cursor, is the session's
//! end as the sessions listing gives it.

use serde_json::{json, Map, Value};

use crate::engine::{Cursor, Envelope, Partition, Partitions, Path, Records, Request, StreamDef};

pub static PEER_QUALITY_STATS: StreamDef = StreamDef {
    name: "peer_quality_stats",
    primary_key: &["session_id", "peer_id"],
    schema: include_str!("../../schemas/peer_quality_stats.json"),
    request: Request {
        path: Path::Fixed("/analytics/peer-stats"),
        params: &[],
        envelope: Envelope::Single,
    },
    partitions: Partitions::None,
    cursor: Cursor::PeerStats {
        field: "session_ended_at",
    },
    attach: None,
    records: Records::Map(add_summary),
};

const DIRECTIONS: [&str; 2] = ["publisher", "subscriber"];
const KINDS: [&str; 2] = ["audio", "video"];

fn add_summary(report: &mut Value, _: &Partition) {
    let summary = summarise(report);
    if let Some(fields) = report.as_object_mut() {
        fields.insert("summary".into(), summary);
    }
}

/// The summary of a report, per direction and media kind.
pub fn summarise(report: &Value) -> Value {
    let mut out = Map::new();
    for direction in DIRECTIONS {
        let mut per_kind = Map::new();
        for kind in KINDS {
            let tracks: &[Value] = report
                .get(direction)
                .and_then(|d| d.get(kind))
                .and_then(Value::as_array)
                .map_or(&[], Vec::as_slice);
            per_kind.insert(kind.into(), summarise_tracks(tracks));
        }
        out.insert(direction.into(), Value::Object(per_kind));
    }
    Value::Object(out)
}

fn summarise_tracks(tracks: &[Value]) -> Value {
    let series = |name: &str| -> Vec<f64> {
        tracks
            .iter()
            .filter_map(|t| t.get("time_series")?.get(name)?.as_array())
            .flatten()
            .filter_map(Value::as_f64)
            .filter(|x| x.is_finite())
            .collect()
    };
    let samples: usize = tracks
        .iter()
        .filter_map(|t| t.get("time_series")?.get("timestamps")?.as_array())
        .map(Vec::len)
        .sum();
    let loss = series("packet_loss_percent");
    let mut rtt = series("rtt_ms");
    rtt.sort_by(f64::total_cmp);
    let freezes = series("freeze_count");
    json!({
        "tracks": tracks.len(),
        "samples": samples,
        "packet_loss_percent_mean": mean(&loss),
        "packet_loss_percent_max": loss.iter().copied().reduce(f64::max),
        "rtt_ms_p50": percentile(&rtt, 50.0),
        "rtt_ms_p95": percentile(&rtt, 95.0),
        "freeze_count_total": (!freezes.is_empty()).then(|| freezes.iter().sum::<f64>()),
        "bitrate_mean": mean(&series("bitrate")),
    })
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Nearest rank over sorted samples: the ⌈p/100 · n⌉-th smallest.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(loss: Value, rtt: Value, freezes: Value, bitrate: Value) -> Value {
        let n = rtt.as_array().map_or(0, Vec::len);
        json!({"track_id": "t", "time_series": {
            "timestamps": (0..n).map(|i| i * 1000).collect::<Vec<_>>(),
            "packet_loss_percent": loss, "rtt_ms": rtt, "freeze_count": freezes, "bitrate": bitrate,
        }})
    }

    #[test]
    fn figures_pool_every_track_of_a_kind() {
        let report = json!({"publisher": {"video": [
            track(json!([0.0, 2.0]), json!([10, 20]), json!([1, 0]), json!([100, 300])),
            track(json!([4.0, null]), json!([30, 40]), json!([2, 3]), json!([200, 200])),
        ]}});
        let s = summarise(&report);
        let v = &s["publisher"]["video"];
        assert_eq!(v["tracks"], 2);
        assert_eq!(v["samples"], 4);
        assert_eq!(v["packet_loss_percent_mean"], 2.0);
        assert_eq!(v["packet_loss_percent_max"], 4.0);
        assert_eq!(v["rtt_ms_p50"], 20.0);
        assert_eq!(v["rtt_ms_p95"], 40.0);
        assert_eq!(v["freeze_count_total"], 6.0);
        assert_eq!(v["bitrate_mean"], 200.0);
    }

    #[test]
    fn absent_kinds_and_series_are_null() {
        let s = summarise(&json!({"publisher": {"audio": [
            {"track_id": "a", "time_series": {"timestamps": [0], "rtt_ms": [12]}}
        ]}}));
        let a = &s["publisher"]["audio"];
        assert_eq!(a["rtt_ms_p95"], 12.0);
        assert!(a["freeze_count_total"].is_null());
        assert!(a["packet_loss_percent_mean"].is_null());
        assert_eq!(s["subscriber"]["video"]["tracks"], 0);
        assert!(s["subscriber"]["video"]["bitrate_mean"].is_null());
        // Not even an object: a summary of nothing, no panic.
        assert_eq!(summarise(&json!("x"))["publisher"]["audio"]["samples"], 0);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let xs: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&xs, 50.0), Some(10.0));
        assert_eq!(percentile(&xs, 95.0), Some(19.0));
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
