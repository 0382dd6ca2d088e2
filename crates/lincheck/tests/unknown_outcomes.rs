//! Requests whose reply never came, as after a timeout or `kill -9`: each may
//! have taken effect at any instant after its call, or never, but at most once.

mod common;

use common::*;
use tinkerdb_lincheck::kv::KvInput;

#[test]
fn a_lost_write_that_is_later_observed_is_linearizable() {
    // c1 |--- set 1 ...never answered
    // c2              |get → 1|
    assert_linearizable(&[
        lost(1, 0, KvInput::set("x", "1")),
        get(2, 20, 30, "x", Some("1")),
    ]);
}

#[test]
fn a_lost_write_that_is_never_observed_is_linearizable() {
    assert_linearizable(&[
        lost(1, 0, KvInput::set("x", "1")),
        get(2, 20, 30, "x", None),
    ]);
}

#[test]
fn a_lost_write_observed_then_unobserved_is_rejected() {
    // Once seen, it happened; a later read cannot find the key absent again.
    assert_not_linearizable(&[
        lost(1, 0, KvInput::set("x", "1")),
        get(2, 20, 30, "x", Some("1")),
        get(2, 40, 50, "x", None),
    ]);
}

#[test]
fn a_lost_write_cannot_take_effect_before_it_was_sent() {
    assert_not_linearizable(&[
        get(2, 0, 10, "x", Some("1")),
        lost(1, 20, KvInput::set("x", "1")),
    ]);
}

#[test]
fn a_lost_write_may_take_effect_after_later_writes() {
    // c1 |set 1 ...never answered
    // c2          |set 2|
    // c3                   |get → 1|   the lost write landed after set 2
    assert_linearizable(&[
        lost(1, 0, KvInput::set("x", "1")),
        set(2, 10, 20, "x", "2"),
        get(3, 30, 40, "x", Some("1")),
    ]);
}

#[test]
fn a_lost_increment_takes_effect_at_most_once() {
    assert_linearizable(&[
        lost(1, 0, KvInput::incr("n", 1)),
        get(2, 20, 30, "n", Some("1")),
    ]);
    assert_not_linearizable(&[
        lost(1, 0, KvInput::incr("n", 1)),
        get(2, 20, 30, "n", Some("1")),
        get(2, 40, 50, "n", Some("2")),
    ]);
}

#[test]
fn a_history_of_only_lost_requests_is_linearizable() {
    assert_linearizable(&[
        lost(1, 0, KvInput::set("x", "1")),
        lost(2, 0, KvInput::del("x")),
    ]);
}

#[test]
fn lost_requests_do_not_excuse_replies_that_are_wrong() {
    // The lost write of "1" cannot explain a read of "2".
    let (_, _, stuck) = assert_not_linearizable(&[
        lost(1, 0, KvInput::set("x", "1")),
        get(2, 20, 30, "x", Some("2")),
    ]);
    assert!(stuck.contains(&1));
}
