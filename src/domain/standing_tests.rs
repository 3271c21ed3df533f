use super::*;

fn at(day: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(1_800_000_000, 0)
        .map(|t| t.naive_utc())
        .unwrap_or_default()
        + Duration::days(day)
}

fn tally(mailed: i64, refused: i64, complaints: i64) -> Tally {
    Tally {
        mailed,
        refused,
        complaints,
        sends_checked: 0,
    }
}

#[test]
fn a_new_sender_is_on_probation_with_the_first_cap() {
    let rules = Rules::default();
    let record = first_record(&rules, at(0));
    assert_eq!(record.standing, Standing::Probation);
    assert_eq!(record.daily_cap(&rules), Some(200));
    let none = Rules {
        probation_caps: vec![],
        ..Rules::default()
    };
    assert_eq!(first_record(&none, at(0)).standing, Standing::Good);
}

#[test]
fn the_cap_rises_a_step_only_after_the_days_and_the_mails_with_a_clean_record() {
    let rules = Rules::default();
    let record = first_record(&rules, at(0));
    let clean = tally(150, 0, 0);
    // Two days: too early.
    let (early, _) = assess(&record, &clean, &clean, vec![], &rules, at(2));
    assert_eq!(early.probation_step, Some(0));
    // Three days but 99 mails: too few.
    let few = tally(99, 0, 0);
    let (short, _) = assess(&record, &few, &few, vec![], &rules, at(3));
    assert_eq!(short.probation_step, Some(0));
    // 1 % refusals at the step: not clean enough.
    let dirty = tally(200, 2, 0);
    let (held, _) = assess(&record, &tally(200, 2, 0), &dirty, vec![], &rules, at(3));
    assert_eq!(held.probation_step, Some(0));
    let (up, _) = assess(&record, &clean, &clean, vec![], &rules, at(3));
    assert_eq!(up.probation_step, Some(1));
    assert_eq!(up.step_since, at(3));
    assert_eq!(up.daily_cap(&rules), Some(1_000));
}

#[test]
fn after_the_last_step_the_sender_is_good_and_uncapped() {
    let rules = Rules::default();
    let record = Record {
        probation_step: Some(2),
        ..first_record(&rules, at(0))
    };
    let clean = tally(5_000, 1, 0);
    let (good, _) = assess(&record, &clean, &clean, vec![], &rules, at(3));
    assert_eq!(good.standing, Standing::Good);
    assert_eq!(good.daily_cap(&rules), None);
}

#[test]
fn rates_move_a_sender_to_watch_then_restricted_only_over_the_minimum_volume() {
    let rules = Rules::default();
    let good = Record {
        standing: Standing::Good,
        probation_step: None,
        step_since: at(0),
        set_by: SetBy::Auto,
    };
    // 10 % refusals but only 100 mails: not yet.
    let (quiet, _) = assess(
        &good,
        &tally(100, 10, 0),
        &tally(0, 0, 0),
        vec![],
        &rules,
        at(1),
    );
    assert_eq!(quiet.standing, Standing::Good);
    let (watch, signals) = assess(
        &good,
        &tally(200, 4, 0),
        &tally(0, 0, 0),
        vec![],
        &rules,
        at(1),
    );
    assert_eq!(watch.standing, Standing::Watch);
    assert_eq!(signals[0].code, "refusal_rate");
    let (complaints, _) = assess(
        &good,
        &tally(1_000, 0, 1),
        &tally(0, 0, 0),
        vec![],
        &rules,
        at(1),
    );
    assert_eq!(complaints.standing, Standing::Watch);
    let (restricted, _) = assess(
        &watch,
        &tally(200, 10, 0),
        &tally(0, 0, 0),
        vec![],
        &rules,
        at(2),
    );
    assert_eq!(restricted.standing, Standing::Restricted);
    let (by_complaints, _) = assess(
        &good,
        &tally(1_000, 0, 3),
        &tally(0, 0, 0),
        vec![],
        &rules,
        at(2),
    );
    assert_eq!(by_complaints.standing, Standing::Restricted);
}

#[test]
fn restricted_stays_until_the_operator_lifts_it_and_automatic_watch_clears() {
    let rules = Rules::default();
    let restricted = Record {
        standing: Standing::Restricted,
        probation_step: None,
        step_since: at(0),
        set_by: SetBy::Auto,
    };
    let (still, _) = assess(
        &restricted,
        &tally(0, 0, 0),
        &tally(0, 0, 0),
        vec![],
        &rules,
        at(40),
    );
    assert_eq!(still.standing, Standing::Restricted);
    let watch = Record {
        standing: Standing::Watch,
        ..restricted.clone()
    };
    let (cleared, _) = assess(
        &watch,
        &tally(500, 0, 0),
        &tally(0, 0, 0),
        vec![],
        &rules,
        at(1),
    );
    assert_eq!(cleared.standing, Standing::Good);
    let operator_watch = Record {
        set_by: SetBy::Operator,
        ..watch
    };
    let (kept, _) = assess(
        &operator_watch,
        &tally(500, 0, 0),
        &tally(0, 0, 0),
        vec![],
        &rules,
        at(1),
    );
    assert_eq!(kept.standing, Standing::Watch);
}

#[test]
fn a_surge_is_ten_times_the_hourly_median_and_above_the_floor() {
    let rules = Rules::default();
    let steady = vec![20; 7 * 24];
    assert!(surge_signal(200, &steady, &rules).is_none());
    assert_eq!(
        surge_signal(201, &steady, &rules).map(|s| s.code),
        Some("signup_surge")
    );
    // A sender with no history: only the floor.
    assert!(surge_signal(50, &[], &rules).is_none());
    assert!(surge_signal(51, &[], &rules).is_some());
}

#[test]
fn most_signups_from_one_network_is_a_signal() {
    let rules = Rules::default();
    let mut recent: Vec<String> = (0..40).map(|_| "net-a".to_owned()).collect();
    recent.extend((0..10).map(|i| format!("net-{i}")));
    assert_eq!(
        network_signal(&recent, &rules).map(|s| s.code),
        Some("one_network")
    );
    recent.truncate(49);
    assert!(
        network_signal(&recent, &rules).is_none(),
        "below the minimum count"
    );
    let spread: Vec<String> = (0..100).map(|i| format!("net-{}", i % 5)).collect();
    assert!(network_signal(&spread, &rules).is_none());
}
