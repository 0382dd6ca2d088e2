//! A text timeline of a failing partition, for test logs.
//!
//! Reads a history and a verdict, writes a string; nothing else. Output is
//! bounded: at most [`RENDER_ROWS_MAX`] operations, centred on the failure.

use std::fmt::{Debug, Write};

use crate::check::CheckResult;
use crate::history::{Operation, Outcome};

/// At most this many operations are drawn; longer partitions are cut to a
/// window around the first operation that could not be placed.
const RENDER_ROWS_MAX: usize = 200;
/// Width of the drawn timeline in characters.
const TIMELINE_WIDTH: usize = 40;

/// Renders `result` for a human: for a violation, one line per operation of
/// the failing partition, ordered by call time, with its client, interval, a
/// timeline bar, input and output, its position in the longest linearizable
/// prefix and whether it is one of the operations that could not be placed.
///
/// # Panics
/// If `result` names operations that are not in `history`: it must be the
/// result of checking this very history.
pub fn render<I: Debug, O: Debug>(history: &[Operation<I, O>], result: &CheckResult) -> String {
    match result {
        CheckResult::Linearizable => {
            format!("linearizable: {} operations\n", history.len())
        }
        CheckResult::Unknown => {
            String::from("unknown: the budget ran out before a verdict was reached\n")
        }
        CheckResult::NotLinearizable {
            label,
            partition,
            partial,
            stuck,
        } => {
            let violation = Violation {
                history,
                partition,
                partial,
                stuck,
            };
            violation.render(label)
        }
    }
}

/// The pieces of a [`CheckResult::NotLinearizable`], borrowed for drawing.
struct Violation<'a, I, O> {
    history: &'a [Operation<I, O>],
    partition: &'a [usize],
    partial: &'a [usize],
    stuck: &'a [usize],
}

impl<I: Debug, O: Debug> Violation<'_, I, O> {
    fn render(&self, label: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "NOT LINEARIZABLE: partition {label} ({} operations)",
            self.partition.len()
        );
        let _ = writeln!(
            out,
            "longest linearizable prefix (order 1, 2, ...): {}",
            op_list(self.partial)
        );
        let _ = writeln!(
            out,
            "none of these can come next (STUCK): {}",
            op_list(self.stuck)
        );
        let rows = self.window();
        let (start, end) = time_span(self.history, &rows);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:>6} {:>6} {:>12} {:>12}  {:<width$}  operation",
            "op",
            "client",
            "call",
            "ret",
            "timeline",
            width = TIMELINE_WIDTH
        );
        for &index in &rows {
            let line = self.row(index, start, end);
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }

    /// The operations to draw, sorted by call time, cut to [`RENDER_ROWS_MAX`].
    fn window(&self) -> Vec<usize> {
        let mut rows = self.partition.to_vec();
        rows.sort_by_key(|&index| (self.history[index].call, index));
        if rows.len() <= RENDER_ROWS_MAX {
            return rows;
        }
        let focus = rows
            .iter()
            .position(|index| self.stuck.contains(index))
            .unwrap_or(0);
        let first = focus
            .saturating_sub(RENDER_ROWS_MAX / 2)
            .min(rows.len() - RENDER_ROWS_MAX);
        rows[first..first + RENDER_ROWS_MAX].to_vec()
    }

    fn row(&self, index: usize, start: u64, end: u64) -> String {
        let op = &self.history[index];
        let (ret, output) = match &op.output {
            Outcome::Returned(output) => (op.ret.to_string(), format!("{output:?}")),
            Outcome::Unknown => (String::from("?"), String::from("? (outcome unknown)")),
        };
        let mut note = String::new();
        if let Some(position) = self.partial.iter().position(|&p| p == index) {
            note = format!("  order {}", position + 1);
        }
        if self.stuck.contains(&index) {
            note.push_str("  STUCK");
        }
        format!(
            "{:>6} {:>6} {:>12} {:>12}  {}  {:?} -> {}{}",
            format!("#{index}"),
            op.client,
            op.call,
            ret,
            bar(op, start, end),
            op.input,
            output,
            note
        )
    }
}

/// `#1 #4 #7`, or `(none)`.
fn op_list(ops: &[usize]) -> String {
    if ops.is_empty() {
        return String::from("(none)");
    }
    ops.iter()
        .map(|index| format!("#{index}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The earliest call and latest known time among `rows`: the timeline's ends.
fn time_span<I, O>(history: &[Operation<I, O>], rows: &[usize]) -> (u64, u64) {
    let ops = rows.iter().map(|&index| &history[index]);
    let start = ops.clone().map(|op| op.call).min().unwrap_or(0);
    let end = ops
        .map(|op| if op.is_returned() { op.ret } else { op.call })
        .max()
        .unwrap_or(0);
    (start, end.max(start))
}

/// `[====]` spanning the operation's interval; an unknown outcome runs off the
/// end as `[---->`, since it may take effect at any later time.
fn bar<I, O>(op: &Operation<I, O>, start: u64, end: u64) -> String {
    let from = column(op.call, start, end);
    let (to, fill, close) = match op.output {
        Outcome::Returned(_) => (column(op.ret, start, end), '=', ']'),
        Outcome::Unknown => (TIMELINE_WIDTH - 1, '-', '>'),
    };
    let mut line = vec![' '; TIMELINE_WIDTH];
    for cell in &mut line[from..=to] {
        *cell = fill;
    }
    line[from] = '[';
    line[to] = if to == from && close == ']' {
        '|'
    } else {
        close
    };
    line.into_iter().collect()
}

/// Maps a time in `start..=end` to a column of the timeline.
fn column(time: u64, start: u64, end: u64) -> usize {
    let span = u128::from(end - start).max(1);
    let offset = u128::from(time.clamp(start, end) - start);
    let last = (TIMELINE_WIDTH - 1) as u128;
    // offset <= span, so the quotient is at most `last`, which fits a usize.
    usize::try_from(offset * last / span).unwrap_or(TIMELINE_WIDTH - 1)
}
