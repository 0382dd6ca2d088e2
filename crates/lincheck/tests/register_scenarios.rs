//! Hand-written single-register histories, each a classic way for a replicated
//! store to go wrong (or a legal behaviour that looks suspicious).
//! Times are arbitrary ticks; comments draw the intervals.

mod common;

use common::*;

#[test]
fn empty_history_is_linearizable() {
    assert_linearizable(&[]);
}

#[test]
fn sequential_commands_follow_redis_semantics() {
    assert_linearizable(&[
        get(1, 0, 1, "x", None),
        set(1, 2, 3, "x", "5"),
        incr(1, 4, 5, "x", 2, Ok(7)),
        append(1, 6, 7, "x", "a", 2),
        get(1, 8, 9, "x", Some("7a")),
        incr(1, 10, 11, "x", 1, Err(())),
        del(1, 12, 13, "x", 1),
        del(1, 14, 15, "x", 0),
        incr(1, 16, 17, "x", -3, Ok(-3)),
    ]);
}

#[test]
fn stale_read_after_a_completed_write_is_rejected() {
    // c1 |-set 1-|   |-set 2-|
    // c2                         |-get → 1-|
    let (label, partial, stuck) = assert_not_linearizable(&[
        set(1, 0, 10, "x", "1"),
        set(1, 20, 30, "x", "2"),
        get(2, 40, 50, "x", Some("1")),
    ]);
    assert_eq!(label, "x");
    assert_eq!(partial, vec![0, 1], "both writes fit; the read does not");
    assert_eq!(stuck, vec![2]);
}

#[test]
fn clients_seeing_writes_in_different_orders_is_rejected() {
    // c1 |---------- set 1 ----------|
    // c2 |---------- set 2 ----------|
    // c3    |get→1|   |get→2|
    // c4    |get→2|   |get→1|
    assert_not_linearizable(&[
        set(1, 0, 100, "x", "1"),
        set(2, 0, 100, "x", "2"),
        get(3, 10, 20, "x", Some("1")),
        get(3, 30, 40, "x", Some("2")),
        get(4, 10, 20, "x", Some("2")),
        get(4, 30, 40, "x", Some("1")),
    ]);
}

#[test]
fn read_of_a_value_never_written_is_rejected() {
    let (_, partial, stuck) =
        assert_not_linearizable(&[set(1, 0, 10, "x", "1"), get(2, 5, 15, "x", Some("ghost"))]);
    assert!(partial.len() <= 1);
    assert!(stuck.contains(&1));
}

#[test]
fn two_concurrent_increments_returning_the_same_value_are_rejected() {
    // Each saw 0 and wrote 1: one increment was lost.
    assert_not_linearizable(&[incr(1, 0, 10, "n", 1, Ok(1)), incr(2, 0, 10, "n", 1, Ok(1))]);
}

#[test]
fn increment_lost_after_both_returned_is_rejected() {
    // c1 |incr→1|
    // c2     |incr→2|
    // c3              |get→1|
    assert_not_linearizable(&[
        incr(1, 0, 10, "n", 1, Ok(1)),
        incr(2, 5, 15, "n", 1, Ok(2)),
        get(3, 20, 30, "n", Some("1")),
    ]);
}

#[test]
fn a_write_that_unhappens_is_rejected() {
    // The write returned and was read, then a later read finds the key absent.
    assert_not_linearizable(&[
        set(1, 0, 10, "x", "1"),
        get(2, 20, 30, "x", Some("1")),
        get(3, 40, 50, "x", None),
    ]);
}

#[test]
fn a_read_may_not_see_a_write_before_it_was_sent() {
    assert_not_linearizable(&[get(1, 0, 10, "x", Some("1")), set(2, 20, 30, "x", "1")]);
}

#[test]
fn concurrent_writes_may_take_effect_in_either_order() {
    // c1 |--- set 1 ---|
    // c2    |--- set 2 ---|
    // c3                    |get → ?|
    for last in ["1", "2"] {
        assert_linearizable(&[
            set(1, 0, 20, "x", "1"),
            set(2, 5, 25, "x", "2"),
            get(3, 30, 40, "x", Some(last)),
        ]);
    }
}

#[test]
fn a_read_overlapping_a_write_may_see_the_old_or_the_new_value() {
    // c1 |------ set 1 ------|
    // c2      |get → ?|
    for seen in [None, Some("1")] {
        assert_linearizable(&[set(1, 0, 30, "x", "1"), get(2, 10, 20, "x", seen)]);
    }
}

#[test]
fn touching_intervals_count_as_concurrent() {
    // The read's call and the write's return share tick 10: either order is allowed.
    assert_linearizable(&[get(1, 10, 20, "x", None), set(2, 0, 10, "x", "1")]);
}

#[test]
fn reads_that_flip_between_two_concurrent_writes_are_rejected() {
    // Once a reader has seen the value that wins, it cannot go back.
    assert_not_linearizable(&[
        set(1, 0, 100, "x", "1"),
        set(2, 0, 100, "x", "2"),
        get(3, 10, 20, "x", Some("1")),
        get(3, 30, 40, "x", Some("2")),
        get(3, 50, 60, "x", Some("1")),
    ]);
}

#[test]
fn keys_are_checked_independently_and_the_failing_key_is_named() {
    let (label, partial, stuck) = assert_not_linearizable(&[
        set(1, 0, 10, "good", "1"),
        set(1, 0, 10, "bad", "1"),
        get(2, 20, 30, "good", Some("1")),
        get(2, 20, 30, "bad", Some("2")),
    ]);
    assert_eq!(label, "bad");
    assert_eq!(partial, vec![1]);
    assert_eq!(stuck, vec![3]);
}

#[test]
fn binary_keys_are_labelled_with_escapes() {
    use tinkerdb_lincheck::kv::{KvInput, KvOutput};
    use tinkerdb_lincheck::Operation;
    let history = [Operation::returned(
        1,
        0,
        1,
        KvInput::get(b"k\xff".to_vec()),
        KvOutput::Value(Some(b"never".to_vec())),
    )];
    let (label, _, _) = assert_not_linearizable(&history);
    assert_eq!(label, "k\\xff");
}
