//! What a failing check prints into a test log. The expected text is the
//! documentation: one row per operation of the failing key, by call time.

mod common;

use common::*;
use tinkerdb_lincheck::kv::KvInput;
use tinkerdb_lincheck::{render, CheckResult};

/// #2, a write of unknown outcome whose value no read returned, changes no verdict and is left
/// out of the check (`kv::KvModel::partition`), so the report skips it.
const STALE_READ_REPORT: &str = r#"NOT LINEARIZABLE: partition x (3 operations)
longest linearizable prefix (order 1, 2, ...): #0 #1
none of these can come next (STUCK): #3

    op client         call          ret  timeline                                  operation
    #0      1            0           10  [===]                                     Set { key: "x", value: "1" } -> Ok  order 1
    #1      1           20           30           [====]                           Set { key: "x", value: "2" } -> Ok  order 2
    #3      2           60           80                               [=========]  Get { key: "x" } -> Value(Some("1"))  STUCK
"#;

#[test]
fn a_stale_read_is_drawn_as_a_timeline_of_its_key() {
    let history = [
        set(1, 0, 10, "x", "1"),
        set(1, 20, 30, "x", "2"),
        lost(3, 25, KvInput::set("x", "3")),
        get(2, 60, 80, "x", Some("1")),
        set(4, 0, 10, "other", "1"),
    ];
    let report = render(&history, &verdict(&history));
    assert_eq!(report, STALE_READ_REPORT, "\n{report}");
}

#[test]
fn verdicts_without_a_violation_are_one_line() {
    let history = [set(1, 0, 10, "x", "1")];
    assert_eq!(
        render(&history, &CheckResult::Linearizable),
        "linearizable: 1 operations\n"
    );
    assert!(render(&history, &CheckResult::Unknown).starts_with("unknown: the budget ran out"));
}
