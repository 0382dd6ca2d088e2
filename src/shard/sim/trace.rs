//! The event trace of a run: a running hash of every event (so a test can assert that a seed
//! replays identically) and, for a replayed seed, a human-readable log on stderr.
//!
//! Messages are hashed as numbers, not formatted, because a run delivers tens of thousands of
//! them; rarer events (faults, elections, client replies) are formatted once and hashed as text.

/// FNV-1a parameters (64-bit).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The trace of one run.
#[derive(Debug)]
pub struct Trace {
    hash: u64,
    verbose: bool,
    events: u64,
}

impl Trace {
    /// An empty trace; `verbose` prints every formatted event.
    pub fn new(verbose: bool) -> Trace {
        Trace {
            hash: FNV_OFFSET,
            verbose,
            events: 0,
        }
    }

    /// A frequent event, hashed as numbers only.
    pub fn note(&mut self, words: &[u64]) {
        self.events += 1;
        for word in words {
            self.mix(&word.to_le_bytes());
        }
    }

    /// A rare event at `now_ms`: hashed, and printed when verbose.
    pub fn log(&mut self, now_ms: u64, text: &str) {
        self.events += 1;
        self.mix(&now_ms.to_le_bytes());
        self.mix(text.as_bytes());
        if self.verbose {
            eprintln!("[{now_ms:>7} ms] {text}");
        }
    }

    /// The hash of everything so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Events recorded so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    fn mix(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.hash ^= u64::from(*byte);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
    }
}
