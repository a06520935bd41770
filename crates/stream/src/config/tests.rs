//! Tests of stream file loading: defaults, unknown keys and semantic errors with lines.

use std::path::Path;

use super::*;

const GOOD: &str = "\
name: shop
brokers: [127.0.0.1:9092]
topics:
  transactions: tx
  customer_events: cust
  partitions: 2
consumer:
  group_id: g1
kafka_properties:
  security.protocol: plaintext
processor:
  high_value_threshold: 500
  statistical:
    warm_up: 5
sinks:
  postgres:
    url_env: PG_URL
";

fn parse(text: &str) -> crate::Result<Stream> {
    parse_stream(Path::new("streams/shop.yml"), text)
}

#[test]
fn a_valid_file_loads_with_defaults() {
    let stream = parse(GOOD).unwrap();
    assert_eq!(stream.name, "shop");
    assert_eq!(stream.group_id(), "g1");
    let spec = &stream.spec;
    assert_eq!(spec.topics.dead_letter, "dataflow_dead_letter");
    assert_eq!(spec.topics.partitions, 2);
    assert_eq!(spec.processor.high_value_threshold, 500.0);
    assert_eq!(spec.processor.fixed_anomaly_threshold, 10_000.0);
    assert_eq!(spec.processor.statistical.z_threshold, 3.0);
    assert_eq!(spec.processor.statistical.warm_up, 5);
    assert_eq!(spec.sinks.lake.transactions_table, "stream_transactions");
    assert_eq!(spec.batch.max_events, 5_000);
    let pg = spec.sinks.postgres.as_ref().unwrap();
    assert_eq!(pg.metrics_table, "real_time_customer_metrics");
}

#[test]
fn the_name_defaults_to_the_file_stem_and_the_group_to_the_name() {
    let stream = parse(&GOOD.replace("name: shop\n", "")).unwrap();
    assert_eq!(stream.name, "shop");
    let stream = parse(&GOOD.replace("consumer:\n  group_id: g1\n", "")).unwrap();
    assert_eq!(stream.group_id(), "dataflow-stream-shop");
}

#[test]
fn an_unknown_key_names_the_line_and_the_valid_keys() {
    let err = parse(&GOOD.replace("  partitions: 2", "  partitons: 2"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("streams/shop.yml"), "{err}");
    assert!(err.contains("unknown field `partitons`"), "{err}");
    assert!(err.contains("line 6"), "{err}");
    assert!(err.contains("`partitions`"), "{err}");
}

#[test]
fn a_bad_enum_value_lists_the_choices() {
    let err = parse(&GOOD.replace("  group_id: g1", "  auto_offset_reset: oldest"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown variant `oldest`"), "{err}");
    assert!(err.contains("earliest"), "{err}");
    assert!(err.contains("line 8"), "{err}");
}

#[test]
fn semantic_errors_point_at_their_lines() {
    let text = GOOD
        .replace("[127.0.0.1:9092]", "[localhost]")
        .replace("customer_events: cust", "customer_events: tx")
        .replace("high_value_threshold: 500", "high_value_threshold: -1")
        .replace("warm_up: 5", "warm_up: 1")
        .replace("security.protocol: plaintext", "group.id: other");
    let err = parse(&text).unwrap_err().to_string();
    for expected in [
        "brokers: `localhost` is not `host:port` at line 2",
        "topics.customer_events: topic `tx` is used twice",
        "at line 5",
        "processor.high_value_threshold: must be an amount",
        "at line 12",
        "processor.statistical.warm_up: must be at least 2",
        "at line 14",
        "kafka_properties: `group.id` is set by dataflow",
        "at line 9",
    ] {
        assert!(err.contains(expected), "{expected} in {err}");
    }
}

#[test]
fn postgres_needs_exactly_one_url() {
    let text = GOOD.replace(
        "    url_env: PG_URL\n",
        "    url_env: PG_URL\n    url: postgres://x\n",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("set exactly one of `url` and `url_env` at line 16"),
        "{err}"
    );
    let text = GOOD.replace("    url_env: PG_URL\n", "    url: mysql://x\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("sinks.postgres.url: must start with postgres://"),
        "{err}"
    );
}

#[test]
fn streams_are_found_by_name_and_must_be_unique() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        find_stream(dir.path(), None)
            .unwrap_err()
            .to_string()
            .contains("no stream files")
    );
    let streams = dir.path().join(STREAMS_DIR);
    std::fs::create_dir(&streams).unwrap();
    std::fs::write(streams.join("a.yml"), GOOD.replace("name: shop\n", "")).unwrap();
    assert_eq!(find_stream(dir.path(), None).unwrap().name, "a");
    std::fs::write(streams.join("b.yml"), GOOD.replace("name: shop\n", "")).unwrap();
    let err = find_stream(dir.path(), None).unwrap_err().to_string();
    assert!(err.contains("several streams, name one of: a, b"), "{err}");
    assert_eq!(find_stream(dir.path(), Some("b")).unwrap().name, "b");
    let err = find_stream(dir.path(), Some("c")).unwrap_err().to_string();
    assert!(err.contains("no stream `c`; streams: a, b"), "{err}");
    std::fs::write(streams.join("c.yml"), GOOD.replace("name: shop", "name: a")).unwrap();
    let err = load_streams(dir.path()).unwrap_err().to_string();
    assert!(err.contains("stream `a` is already defined"), "{err}");
}

#[test]
fn amounts_have_at_most_two_decimals() {
    assert_eq!(amount_cents(1000.0), Some(100_000));
    assert_eq!(amount_cents(12.34), Some(1_234));
    assert_eq!(amount_cents(0.1 + 0.2), Some(30));
    assert_eq!(amount_cents(1.005), None);
    assert_eq!(amount_cents(-1.0), None);
    assert_eq!(amount_cents(f64::NAN), None);
}

#[test]
fn alerts_need_an_http_webhook_and_a_positive_limit() {
    let text = GOOD.replace(
        "sinks:\n",
        "sinks:\n  alerts:\n    webhook: ftp://hooks\n    max_per_minute: 0\n",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains(
            "sinks.alerts.webhook: `ftp://hooks` must be an http:// or https:// URL at line 17"
        ),
        "{err}"
    );
    assert!(
        err.contains("sinks.alerts.max_per_minute: must be at least 1 at line 18"),
        "{err}"
    );
    let text = GOOD.replace(
        "sinks:\n",
        "sinks:\n  alerts:\n    webhook: http://hooks/a\n",
    );
    let alerts = parse(&text).unwrap().spec.sinks.alerts.unwrap();
    assert_eq!((alerts.max_per_minute, alerts.timeout_ms), (600, 5_000));
}
