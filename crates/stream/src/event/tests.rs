//! Tests of event parsing and validation, including every defect the generator injects.

use dataflow_datagen::stream_events::{EventGenerator, EventOptions, EventTopic};

use super::*;

const TXN: &str = r#"{"event_type":"transaction","transaction_id":"t1","customer_id":7,"amount":1234.5,"currency":"USD","status":"completed","category":"books","event_time":"2024-05-01T12:00:00.250Z"}"#;

#[test]
fn a_valid_transaction_parses() {
    let txn = parse_transaction(TXN.as_bytes()).unwrap();
    assert_eq!(txn.transaction_id, "t1");
    assert_eq!(txn.customer_id, 7);
    assert_eq!(txn.amount_cents, 123_450);
    assert_eq!(txn.category.as_deref(), Some("books"));
    assert_eq!(txn.event_time_micros, 1_714_564_800_250_000);
}

fn error(text: &str) -> String {
    parse_transaction(text.as_bytes()).unwrap_err().to_string()
}

#[test]
fn invalid_transactions_say_which_field_and_why() {
    assert!(error("{\"a\":").starts_with("not valid JSON"));
    assert_eq!(error("[1]"), "the event is a JSON array, not an object");
    assert_eq!(
        error(&TXN.replace(r#""customer_id":7,"#, "")),
        "customer_id: missing"
    );
    assert_eq!(
        error(&TXN.replace(r#""customer_id":7"#, r#""customer_id":"C-7""#)),
        "customer_id: expected an integer, got \"C-7\""
    );
    assert_eq!(
        error(&TXN.replace("1234.5", "-3")),
        "amount: must not be negative, got -3"
    );
    assert_eq!(error(&TXN.replace("1234.5", "null")), "amount: null");
    assert_eq!(
        error(&TXN.replace("1234.5", "1.234")),
        "amount: 1.234 has more than two decimal places"
    );
    assert!(error(&TXN.replace("\"USD\"", "\"usd\"")).starts_with("currency: `usd`"));
    assert!(error(&TXN.replace("completed", "done")).starts_with("status: `done` is not one of"));
    assert!(error(&TXN.replace("2024-05-01T12", "2024-13-01T12")).starts_with("event_time:"));
    assert!(error(&TXN.replace("2024-05-01", "1999-05-01")).contains("outside"));
    assert!(
        error(&TXN.replace("\"transaction\",", "\"login\",")).contains("on the transactions topic")
    );
    let kind = parse_transaction(b"\xff{}").unwrap_err().kind;
    assert_eq!(kind, InvalidKind::MalformedJson);
}

#[test]
fn customer_events_keep_their_other_fields_as_details() {
    let text = r#"{"event_type":"profile_update","event_id":"c1","customer_id":3,"event_time":"2024-05-01T00:00:00Z","changes":{"customer_segment":"premium"}}"#;
    let event = parse_customer_event(text.as_bytes()).unwrap();
    assert_eq!(event.kind(), CustomerEventKind::ProfileUpdate);
    assert_eq!(
        event.details.as_deref(),
        Some(r#"{"changes":{"customer_segment":"premium"}}"#)
    );
    assert_eq!(event.session_id, None);
    let login = text.replace("profile_update", "login").replace(
        r#","changes":{"customer_segment":"premium"}"#,
        r#","session_id":"s-1""#,
    );
    let event = parse_customer_event(login.as_bytes()).unwrap();
    assert_eq!(event.kind(), CustomerEventKind::Login);
    assert_eq!(event.details, None);
    assert_eq!(event.session_id.as_deref(), Some("s-1"));
    let err = parse_customer_event(text.replace("profile_update", "Profile Update").as_bytes())
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("event_type"));
}

#[test]
fn the_generator_defects_are_exactly_the_rejected_events() {
    let mut generator = EventGenerator::new(EventOptions {
        seed: 9,
        customers: 300,
        products: 40,
        customer_event_share: 0.4,
        defect_rate: 0.2,
        start_millis: 1_714_564_800_000,
        step_millis: 5,
    })
    .unwrap();
    let (mut accepted, mut rejected, mut malformed) = (0u64, 0u64, 0u64);
    for _ in 0..20_000 {
        let event = generator.next_event();
        let result = match event.topic {
            EventTopic::Transactions => parse_transaction(&event.payload).map(|_| ()),
            EventTopic::CustomerEvents => parse_customer_event(&event.payload).map(|_| ()),
        };
        let dead = event
            .defect
            .is_some_and(|d| dataflow_datagen::stream_events::DEAD_LETTER_DEFECTS.contains(&d));
        match result {
            Ok(()) => {
                assert!(!dead, "{:?} accepted", event.defect);
                accepted += 1;
            }
            Err(err) => {
                assert!(dead, "{:?} rejected: {err}", event.defect);
                rejected += 1;
                if err.kind == InvalidKind::MalformedJson {
                    malformed += 1;
                }
            }
        }
    }
    let m = generator.manifest();
    assert_eq!(accepted, m.transactions.valid + m.customer_events.valid);
    assert_eq!(
        rejected,
        m.transactions.dead_letter + m.customer_events.dead_letter
    );
    assert_eq!(
        malformed,
        m.transactions.defect("malformed_json") + m.customer_events.defect("malformed_json")
    );
}
