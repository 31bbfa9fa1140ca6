//! True to the API as documented: where the 100ms docs allow two behaviours, the fake serves
//! the other one ([`Variants`]) and a full read must still be complete and exact by primary
//! key, exit 0, validate against the schemas, and copy no customer secret.

use std::collections::{BTreeMap, BTreeSet};

use fake_100ms::{FakeConfig, Variants};

use crate::harness::{catalog, Harness, Run, ALL_STREAMS};

/// What a full read under `variants` cost, for the report.
struct Cost {
    requests: usize,
    refused: usize,
    per_route: BTreeMap<&'static str, usize>,
}

/// A full read of every stream under `variants`, checked against the ground truth.
fn full_read_is_complete_and_exact(name: &str, variants: Variants) -> Cost {
    let h = Harness::new(FakeConfig {
        variants,
        ..FakeConfig::default()
    });
    let run = h.read(&h.config(), &catalog(&ALL_STREAMS, "full_refresh"), None);
    assert!(run.success(), "{name}: {}", run.describe());
    assert!(run.errors().is_empty(), "{name}: {:?}", run.errors());
    let schemas = crate::full_refresh::discovered_schemas(&h);
    for stream in ALL_STREAMS {
        let expected = h.fake.expected_keys(stream);
        assert!(
            !expected.is_empty(),
            "{name}/{stream}: the fake has no data"
        );
        let got = run.unique_keys(stream);
        let missing: Vec<&String> = expected.difference(&got).collect();
        let extra: Vec<&String> = got.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{name}/{stream}: {} of {} records missing (e.g. {:?}), {} unexpected (e.g. {:?})",
            missing.len(),
            expected.len(),
            &missing[..missing.len().min(3)],
            extra.len(),
            &extra[..extra.len().min(3)],
        );
        assert_eq!(
            run.statuses(stream),
            ["STARTED", "RUNNING", "COMPLETE"],
            "{name}/{stream}"
        );
        crate::full_refresh::assert_records_valid(&run, stream, &schemas[stream]);
    }
    let drift: Vec<String> = run
        .logs()
        .into_iter()
        .filter(|l| l.contains("does not declare"))
        .collect();
    assert!(drift.is_empty(), "{name}: undeclared fields {drift:?}");
    session_peers_keep_their_ids(&h, &run, name);
    no_planted_secret_is_copied(&h, &run, name, variants.storage_credentials);

    let requests = h.fake.requests();
    let mut per_route = BTreeMap::new();
    for r in &requests {
        *per_route.entry(r.route).or_default() += 1;
    }
    let cost = Cost {
        requests: requests.len(),
        refused: requests.iter().filter(|r| r.status == 400).count(),
        per_route,
    };
    eprintln!(
        "{name}: {} requests ({} refused with 400) {:?}",
        cost.requests, cost.refused, cost.per_route
    );
    cost
}

/// Every peer of every session has its id: the API's map keys, exactly.
fn session_peers_keep_their_ids(h: &Harness, run: &Run, name: &str) {
    let api: BTreeMap<String, BTreeSet<String>> = h
        .fake
        .raw("sessions")
        .iter()
        .map(|s| {
            let keys = s["peers"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            (s["id"].as_str().unwrap().to_owned(), keys)
        })
        .collect();
    for session in run.records("sessions") {
        let ids: BTreeSet<String> = session["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}: a peer without id in {session}"))
                    .to_owned()
            })
            .collect();
        assert_eq!(
            &ids,
            &api[session["id"].as_str().unwrap()],
            "{name}: peer ids of {}",
            session["id"]
        );
    }
}

/// The secrets the fake planted are nowhere in what the connector printed, though the API
/// served them.
fn no_planted_secret_is_copied(h: &Harness, run: &Run, name: &str, planted: bool) {
    let secrets = h.fake.planted_secrets();
    if !planted {
        assert!(secrets.is_empty(), "{name}: secrets without the variant");
        return;
    }
    assert!(
        secrets.len() >= 10,
        "{name}: only {} secrets",
        secrets.len()
    );
    let served: String = ["rooms", "templates"]
        .iter()
        .flat_map(|s| h.fake.raw(s))
        .map(|v| v.to_string())
        .collect();
    for secret in &secrets {
        assert!(
            served.contains(secret.as_str()),
            "{name}: {secret} not served"
        );
        for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains(secret.as_str()),
                "{name}: a planted customer secret is in {what}"
            );
        }
    }
    assert!(run.stdout.contains("**MASKED**"), "{name}: nothing masked");
}

#[test]
fn the_sessions_list_takes_at_most_20() {
    let (name, variants) = Variants::each()[0];
    let cost = full_read_is_complete_and_exact(name, variants);
    assert!(cost.per_route["sessions"] > 0);
}

#[test]
fn an_unfiltered_sessions_list_returns_active_sessions_only() {
    let (name, variants) = Variants::each()[1];
    full_read_is_complete_and_exact(name, variants);
}

/// Requests of a full read of the default fake (the same data as under any variant).
fn default_requests() -> usize {
    let h = Harness::default_scale();
    let run = h.read(&h.config(), &catalog(&ALL_STREAMS, "full_refresh"), None);
    assert!(run.success(), "{}", run.describe());
    h.fake.requests().len()
}

#[test]
fn peers_are_identified_by_their_map_key_only() {
    let (name, variants) = Variants::each()[2];
    let cost = full_read_is_complete_and_exact(name, variants);
    // The key is in the response already: no request more.
    assert_eq!(cost.requests, default_requests(), "{name}");
}

#[test]
fn storage_credentials_in_rooms_and_templates_are_masked() {
    let (name, variants) = Variants::each()[3];
    let cost = full_read_is_complete_and_exact(name, variants);
    assert_eq!(cost.requests, default_requests(), "{name}");
}

#[test]
fn every_variant_at_once() {
    full_read_is_complete_and_exact("all", Variants::all());
}
