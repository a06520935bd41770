//! Tests of the flags and the running statistics.

use super::*;
use crate::config::{ProcessorConfig, StatisticalConfig};

fn txn(customer_id: i64, amount_cents: i64, micros: i64) -> Transaction {
    Transaction {
        transaction_id: format!("t{micros}"),
        customer_id,
        amount_cents,
        currency: "USD".into(),
        status: "completed".into(),
        category: None,
        event_time_micros: micros,
    }
}

#[test]
fn welford_matches_the_two_pass_formulas() {
    let values = [12.5, 99.0, 3.25, 47.0, 47.0, 1000.0, 0.01];
    let mut w = Welford::default();
    for v in values {
        w.add(v);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    assert!((w.mean - mean).abs() < 1e-9);
    assert!((w.stddev().unwrap() - var.sqrt()).abs() < 1e-9);
    assert_eq!(Welford::default().z_score(1.0), None);
}

#[test]
fn thresholds_flag_high_value_and_fixed_anomalies() {
    let processor = Processor::new(&ProcessorConfig::default()).unwrap();
    let mut state = TransactionState::default();
    let flags = processor.transaction(&mut state, &txn(1, 100_000, 1));
    assert!(!flags.is_high_value, "exactly 1000 is not above 1000");
    let flags = processor.transaction(&mut state, &txn(1, 100_001, 2));
    assert!(flags.is_high_value && !flags.is_fixed_anomaly);
    let flags = processor.transaction(&mut state, &txn(1, 1_000_001, 3));
    assert!(flags.is_high_value && flags.is_fixed_anomaly && flags.is_anomaly());
    assert_eq!(flags.z_score, None, "not warmed up");
    assert_eq!(state.stats.count, 3);
    assert_eq!(state.total_cents, 1_200_002);
    assert_eq!(
        (state.high_value, state.fixed_anomalies, state.anomalies),
        (2, 1, 1)
    );
    assert_eq!(state.last_transaction_micros, Some(3));
}

#[test]
fn the_statistical_rule_fires_after_the_warm_up() {
    let config = ProcessorConfig {
        statistical: StatisticalConfig {
            enabled: true,
            z_threshold: 3.0,
            warm_up: 4,
        },
        ..ProcessorConfig::default()
    };
    let processor = Processor::new(&config).unwrap();
    let mut state = TransactionState::default();
    // A far amount during the warm-up is not flagged.
    for (i, cents) in [1_000, 1_200, 900, 50_000].into_iter().enumerate() {
        let flags = processor.transaction(&mut state, &txn(1, cents, i as i64));
        assert!(!flags.is_statistical_anomaly);
    }
    for (i, cents) in [1_100, 1_000, 950, 1_050].into_iter().enumerate() {
        let flags = processor.transaction(&mut state, &txn(1, cents, 10 + i as i64));
        assert!(flags.z_score.is_some());
        assert!(!flags.is_statistical_anomaly, "{cents}: {flags:?}");
    }
    let flags = processor.transaction(&mut state, &txn(1, 900_000, 20));
    assert!(flags.is_statistical_anomaly && !flags.is_fixed_anomaly);
    assert!(flags.z_score.unwrap() > 3.0);
    assert_eq!(state.statistical_anomalies, 1);
    let disabled = Processor::new(&ProcessorConfig {
        statistical: StatisticalConfig {
            enabled: false,
            ..config.statistical.clone()
        },
        ..config
    })
    .unwrap();
    assert_eq!(
        disabled
            .transaction(&mut state, &txn(1, 9_000_000, 21))
            .z_score,
        None
    );
}

#[test]
fn customer_events_count_by_kind_and_keep_the_latest_times() {
    let processor = Processor::new(&ProcessorConfig::default()).unwrap();
    let mut state = ActivityState::default();
    for (event_type, micros) in [
        ("login", 50),
        ("login", 30),
        ("profile_update", 40),
        ("search", 70),
    ] {
        let event = CustomerEvent {
            event_id: "e".into(),
            customer_id: 1,
            event_type: event_type.into(),
            event_time_micros: micros,
            session_id: None,
            details: None,
        };
        processor.customer_event(&mut state, &event);
    }
    assert_eq!(
        (state.logins, state.profile_updates, state.other_events),
        (2, 1, 1)
    );
    assert_eq!(state.last_login_micros, Some(50));
    assert_eq!(state.last_profile_update_micros, Some(40));
    assert_eq!(state.last_event_micros, Some(70));
}

#[test]
fn windows_are_tumbling_and_late_events_are_marked() {
    let config = ProcessorConfig {
        windows: crate::config::WindowConfig {
            enabled: true,
            size_secs: 60,
            allowed_lateness_secs: 5,
        },
        ..ProcessorConfig::default()
    };
    let processor = Processor::new(&config).unwrap();
    let second = 1_000_000;
    let mut max = None;
    let slot = processor.window(125 * second, &mut max).unwrap();
    assert_eq!(
        (slot.start_micros, slot.end_micros, slot.late),
        (120 * second, 180 * second, false)
    );
    assert!(
        !processor.window(121 * second, &mut max).unwrap().late,
        "within the lateness"
    );
    let late = processor.window(119 * second, &mut max).unwrap();
    assert!(late.late && late.start_micros == 60 * second);
    assert_eq!(max, Some(125 * second));
    let off = Processor::new(&ProcessorConfig {
        windows: crate::config::WindowConfig {
            enabled: false,
            ..config.windows.clone()
        },
        ..config
    })
    .unwrap();
    assert_eq!(off.window(1, &mut None), None);
}
