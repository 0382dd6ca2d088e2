//! The history flattened into one time-ordered list of call and return events.
//!
//! The search walks this list from the front. Linearizing an operation *lifts*
//! its two events out of the list; backtracking puts them back. Both are O(1)
//! because the list is doubly linked and a removed node keeps its own links
//! ("dancing links"), which stay valid as long as lifts are undone in reverse
//! order, which the search's stack guarantees.
//!
//! Ordering invariant: events are sorted by time; at equal times calls come
//! before returns (touching intervals are concurrent); an unknown outcome's
//! return comes after everything (it is at +infinity).

/// Marks the end of the list.
const NIL: usize = usize::MAX;
/// Node 0 is a sentinel before the first event, so removal never special-cases the head.
const HEAD: usize = 0;

/// Whether an event is the start or the end of an operation's interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Call,
    Return,
}

/// A point in time; `Never` sorts after every real time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Time {
    At(u64),
    Never,
}

/// One end of one operation's interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    /// Partition-local operation index.
    pub(crate) op: usize,
    pub(crate) kind: Kind,
}

/// The doubly linked list of events, stored in arrays indexed by node.
#[derive(Debug)]
pub(crate) struct EventList {
    events: Vec<Event>,
    next: Vec<usize>,
    prev: Vec<usize>,
    call_node: Vec<usize>,
    return_node: Vec<usize>,
}

impl EventList {
    /// Builds the list from each operation's `(call, return)` times, indexed by
    /// partition-local operation index.
    pub(crate) fn new(intervals: &[(Time, Time)]) -> Self {
        let mut keyed: Vec<(Time, Kind, usize)> = Vec::with_capacity(intervals.len() * 2);
        for (op, &(call, ret)) in intervals.iter().enumerate() {
            assert!(call <= ret, "operation {op} returns before it is called");
            keyed.push((call, Kind::Call, op));
            keyed.push((ret, Kind::Return, op));
        }
        keyed.sort_unstable();
        Self::link(intervals.len(), &keyed)
    }

    fn link(op_count: usize, sorted: &[(Time, Kind, usize)]) -> Self {
        let node_count = sorted.len() + 1;
        let mut list = Self {
            events: Vec::with_capacity(node_count),
            next: (1..=node_count)
                .map(|n| if n == node_count { NIL } else { n })
                .collect(),
            prev: (0..node_count).map(|n| n.wrapping_sub(1)).collect(),
            call_node: vec![NIL; op_count],
            return_node: vec![NIL; op_count],
        };
        // The sentinel's event is never read; any value will do.
        list.events.push(Event {
            op: NIL,
            kind: Kind::Call,
        });
        for (node, &(_, kind, op)) in sorted.iter().enumerate().map(|(i, e)| (i + 1, e)) {
            list.events.push(Event { op, kind });
            match kind {
                Kind::Call => list.call_node[op] = node,
                Kind::Return => list.return_node[op] = node,
            }
        }
        list
    }

    /// The first event still in the list.
    pub(crate) fn first(&self) -> Option<usize> {
        self.next(HEAD)
    }

    /// The event after `node`, which must be in the list or just lifted from it.
    pub(crate) fn next(&self, node: usize) -> Option<usize> {
        Some(self.next[node]).filter(|&n| n != NIL)
    }

    pub(crate) fn event(&self, node: usize) -> Event {
        self.events[node]
    }

    pub(crate) fn call_node(&self, op: usize) -> usize {
        self.call_node[op]
    }

    /// Removes both of `op`'s events: it has been linearized.
    pub(crate) fn lift(&mut self, op: usize) {
        self.remove(self.call_node[op]);
        self.remove(self.return_node[op]);
    }

    /// Undoes the most recent `lift`, which must have been of `op`.
    pub(crate) fn unlift(&mut self, op: usize) {
        self.restore(self.return_node[op]);
        self.restore(self.call_node[op]);
    }

    /// The operations that may be linearized next: those called before the
    /// first return still in the list.
    pub(crate) fn candidates(&self) -> Vec<usize> {
        let mut ops = Vec::new();
        let mut cursor = self.first();
        while let Some(node) = cursor {
            let event = self.events[node];
            if event.kind == Kind::Return {
                break;
            }
            ops.push(event.op);
            cursor = self.next(node);
        }
        ops
    }

    fn remove(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        if next != NIL {
            self.prev[next] = prev;
        }
    }

    fn restore(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        if next != NIL {
            self.prev[next] = node;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(list: &EventList) -> Vec<(usize, Kind)> {
        let mut out = Vec::new();
        let mut cursor = list.first();
        while let Some(node) = cursor {
            out.push((list.event(node).op, list.event(node).kind));
            cursor = list.next(node);
        }
        out
    }

    #[test]
    fn touching_intervals_are_concurrent_and_unknown_returns_last() {
        let list = EventList::new(&[
            (Time::At(10), Time::Never),
            (Time::At(0), Time::At(10)),
            (Time::At(20), Time::At(30)),
        ]);
        use Kind::*;
        assert_eq!(
            order(&list),
            vec![
                (1, Call),
                (0, Call),
                (1, Return),
                (2, Call),
                (2, Return),
                (0, Return)
            ]
        );
        assert_eq!(list.candidates(), vec![1, 0]);
    }

    #[test]
    fn unlift_in_reverse_order_restores_the_list() {
        let mut list = EventList::new(&[
            (Time::At(0), Time::At(5)),
            (Time::At(1), Time::At(2)),
            (Time::At(3), Time::At(9)),
        ]);
        let before = order(&list);
        list.lift(1);
        list.lift(0);
        assert_eq!(order(&list), vec![(2, Kind::Call), (2, Kind::Return)]);
        list.unlift(0);
        list.unlift(1);
        assert_eq!(order(&list), before);
    }
}
