//! Bounded property tests ("fuzzing" that runs in `cargo test`) of the decoders that read
//! untrusted input: job messages from Redis, and Polygon's answers (envelopes, bars, error
//! bodies, `next_url`). Each property says what must hold for any input: no panic,
//! bounded error text, no echoed secrets, and a parse that round-trips.
//!
//! The number of cases per property is fixed (`CASES`) so a run stays short; set
//! `PROPTEST_CASES` to run more locally.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::polygon::{PolygonClient, PolygonConfig};
use tickstock_protocol::job::{Job, MAX_MESSAGE_BYTES};

const CASES: u32 = 256;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CASES),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, a few levels deep, with the strings and numbers that trip parsers.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::from)),
        "\\PC{0,40}".prop_map(Value::from),
        prop::sample::select(vec![
            "AAPL",
            "aapl",
            "A\nB",
            "",
            " ",
            "day",
            "1min",
            "fortnight",
            "2024-02-30",
            "2024-01-02",
            "../.env",
            "/etc/passwd",
            "SP500",
            "historical_load",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A job message: the real field names with values of any shape.
fn any_message() -> impl Strategy<Value = Value> {
    let fields = [
        "job_id",
        "job_type",
        "symbols",
        "years",
        "timespan",
        "timeframes",
        "start_date",
        "end_date",
        "universe_type",
        "universe_key",
        "csv_file",
        "refresh",
        "include_ohlcv",
        "source",
        "requested_by",
        "timestamp",
    ];
    let kinds = prop::sample::select(vec![
        "historical_load",
        "multi_timeframe_load",
        "universe_seed",
        "csv_universe_load",
        "other",
    ]);
    (
        prop::collection::vec((prop::sample::select(fields.to_vec()), any_json()), 0..12),
        kinds,
        "[a-z0-9-]{0,40}",
    )
        .prop_map(|(pairs, kind, id)| {
            let mut m = Map::new();
            m.insert("job_id".into(), Value::from(id));
            m.insert("job_type".into(), Value::from(kind));
            for (k, v) in pairs {
                m.insert(k.to_string(), v);
            }
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(config())]

    /// Any text: parsing never panics and an error never repeats more than a little of it.
    #[test]
    fn any_text_is_read_or_refused_briefly(text in "\\PC{0,400}") {
        if let Err(e) = Job::from_json(&text) {
            prop_assert!(e.message().len() < 400, "{}", e.message());
        }
    }

    /// Any message shape: parse and validate never panic, errors stay short, and a
    /// message that parses writes back to the same JSON.
    #[test]
    fn any_message_parses_validates_and_round_trips(v in any_message()) {
        let text = v.to_string();
        match Job::from_value(v) {
            Ok(job) => {
                prop_assert_eq!(job.to_json(), text.clone());
                let back = Job::from_json(&job.to_json()).expect("a job's own JSON parses");
                prop_assert_eq!(&back, &job);
                for e in job.validate(&|_| true) {
                    prop_assert!(e.message.len() < 400, "{}", e.message);
                }
                let _ = job.describe();
            }
            Err(e) => prop_assert!(e.message().len() < 400, "{}", e.message()),
        }
    }

    /// Symbols of any content are rejected unless they are tickers; a symbol with a line
    /// break or other whitespace inside never becomes a ticker.
    #[test]
    fn symbols_with_inner_whitespace_are_never_tickers(a in "[A-Z]{1,4}", b in "[A-Z]{1,4}", ws in "[ \t\n\r]{1,3}") {
        let list = vec![format!("{a}{ws}{b}")];
        prop_assert!(tickstock_protocol::job::normalize_symbols(&list).is_err());
    }

    /// Any aggregates body: decoding never panics; each decoded bar gives a date and an
    /// instant without panicking, whatever its timestamp.
    #[test]
    fn any_aggregates_body_decodes_safely(
        bars in prop::collection::vec(
            (any::<i64>(), any::<f64>(), any::<f64>(), any::<f64>(), any::<f64>(), any::<f64>()),
            0..20,
        ),
        status in prop::sample::select(vec!["OK", "DELAYED", "ERROR", "NOT_FOUND", ""]),
        next in proptest::option::of("\\PC{0,80}"),
        junk in "\\PC{0,60}",
    ) {
        let results: Vec<Value> = bars
            .iter()
            .map(|(t, o, h, l, c, v)| {
                let f = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::from);
                json!({"t": t, "o": f(*o), "h": f(*h), "l": f(*l), "c": f(*c), "v": f(*v)})
            })
            .collect();
        let body = json!({"status": status, "results": results, "next_url": next}).to_string();
        let half = body.as_bytes()[..body.len() / 2].to_vec();
        for bytes in [body.clone().into_bytes(), format!("{junk}{body}").into_bytes(), half] {
            if let Ok(r) = serde_json::from_slice::<crate::polygon::types::AggsResponse>(&bytes) {
                for b in r.results.unwrap_or_default() {
                    let _ = b.ny_date();
                    let _ = b.time_utc();
                }
            }
            let _ = serde_json::from_slice::<crate::polygon::types::GroupedResponse>(&bytes);
            let _ = serde_json::from_slice::<crate::polygon::types::ListResponse<crate::polygon::types::TickerInfo>>(&bytes);
            let _ = serde_json::from_slice::<crate::polygon::types::DetailsResponse>(&bytes);
        }
    }

    /// Any error body: the text kept is short and never holds the key, in any case.
    #[test]
    fn any_error_body_is_short_and_never_holds_the_key(
        before in "\\PC{0,300}",
        after in "\\PC{0,300}",
        upper in any::<bool>(),
        html in any::<bool>(),
        as_json in any::<bool>(),
    ) {
        const KEY: &str = "fuzzKey0123456789";
        let client = PolygonClient::new(PolygonConfig::new(
            "http://127.0.0.1:9",
            secrecy::SecretString::from(KEY),
        ))
        .unwrap();
        let key = if upper { KEY.to_ascii_uppercase() } else { KEY.to_string() };
        let words = format!("{before}{key}{after}");
        let body = if as_json { json!({"status": "ERROR", "error": words}).to_string() } else { words };
        let text = client.server_text(body.as_bytes(), html);
        prop_assert!(text.chars().count() <= 310, "{} chars", text.chars().count());
        prop_assert!(!text.to_ascii_lowercase().contains(&KEY.to_ascii_lowercase()[..6]) || before.to_ascii_lowercase().contains(&KEY.to_ascii_lowercase()[..6]) || after.to_ascii_lowercase().contains(&KEY.to_ascii_lowercase()[..6]), "{text}");
    }

    /// Any `next_url`: following it never panics and never keeps an `apiKey`.
    #[test]
    fn any_next_url_is_followed_without_the_key(next in "\\PC{0,200}", key_param in any::<bool>()) {
        let client = PolygonClient::new(PolygonConfig::new(
            "https://api.polygon.io",
            secrecy::SecretString::from("k-123456"),
        ))
        .unwrap();
        let next = if key_param { format!("{next}?apiKey=k-123456&x=1") } else { next };
        if let Ok(url) = client.follow(&next, "fuzz") {
            prop_assert!(!url.as_str().to_ascii_lowercase().contains("apikey"), "{url}");
            prop_assert_eq!(url.host_str(), Some("api.polygon.io"));
        }
    }
}

#[test]
fn messages_over_the_limit_are_refused_before_parsing() {
    let text = format!(
        r#"{{"job_id":"a","job_type":"historical_load","symbols":["{}"]}}"#,
        "A".repeat(MAX_MESSAGE_BYTES)
    );
    let e = Job::from_json(&text).unwrap_err();
    assert!(e.message().len() < 200, "{}", e.message());
}
