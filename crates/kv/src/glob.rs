//! Redis glob patterns for KEYS and SCAN MATCH, with the semantics of Redis's `stringmatchlen`:
//! `*` any run, `?` any byte, `[abc]` a set, `[^a]` its complement, `[a-z]` a range (reversed
//! ranges are swapped), `\x` a literal `x` (inside sets too); an unterminated `[` set ends with
//! the pattern. Matching is byte-wise and case-sensitive.
//!
//! Unlike Redis we never recurse: `*` is matched by backtracking to the last star, so a hostile
//! pattern costs at most O(pattern × key) steps and no stack.

/// True if `key` matches the glob `pattern`.
///
/// As in Redis, the lone pattern `*` matches every key (even the empty one), while any other
/// pattern never matches the empty key unless the pattern is empty too.
pub fn matches(pattern: &[u8], key: &[u8]) -> bool {
    if pattern == b"*" {
        return true;
    }
    if key.is_empty() {
        return pattern.is_empty();
    }
    let (mut p, mut i) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern position after it, key position it covers up to).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if i == key.len() {
            while pattern.get(p) == Some(&b'*') {
                p += 1;
            }
            return p == pattern.len();
        }
        if pattern.get(p) == Some(&b'*') {
            p += 1;
            star = Some((p, i));
            continue;
        }
        match step(pattern, p, key[i]) {
            Some((true, next)) => {
                p = next;
                i += 1;
            }
            _ => match star {
                Some((after_star, covered)) => {
                    p = after_star;
                    i = covered + 1;
                    star = Some((after_star, covered + 1));
                }
                None => return false,
            },
        }
    }
}

/// Matches one non-star token at `p` against byte `c`: `(matched, position after the token)`,
/// or `None` when the pattern is exhausted.
fn step(pattern: &[u8], p: usize, c: u8) -> Option<(bool, usize)> {
    let token = *pattern.get(p)?;
    Some(match token {
        b'?' => (true, p + 1),
        b'[' => bracket(pattern, p + 1, c),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == c, p + 2),
        literal => (literal == c, p + 1),
    })
}

/// Matches a `[...]` set starting just after the `[`.
fn bracket(pattern: &[u8], mut p: usize, c: u8) -> (bool, usize) {
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut matched = false;
    loop {
        match pattern.get(p) {
            None => break,
            Some(b']') => {
                p += 1;
                break;
            }
            Some(b'\\') if p + 1 < pattern.len() => {
                matched |= pattern[p + 1] == c;
                p += 2;
            }
            Some(&start) if p + 2 < pattern.len() && pattern[p + 1] == b'-' => {
                let end = pattern[p + 2];
                let (low, high) = if start <= end {
                    (start, end)
                } else {
                    (end, start)
                };
                matched |= (low..=high).contains(&c);
                p += 3;
            }
            Some(&literal) => {
                matched |= literal == c;
                p += 1;
            }
        }
    }
    (matched != negate, p)
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(p: &str, k: &str) -> bool {
        matches(p.as_bytes(), k.as_bytes())
    }

    #[test]
    fn star_and_question_mark() {
        assert!(m("*", "anything"));
        assert!(m("*", ""));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("*a*b*", "xxaxxbxx"));
        assert!(!m("*a*b*", "xxbxxaxx"));
        assert!(m("a**", "a"));
        assert!(!m("a*", ""));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn sets_and_ranges() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed ranges are swapped");
        assert!(m("[\\]]", "]"));
        assert!(m("a[bc", "ab"), "an unterminated set ends with the pattern");
        assert!(!m("a[bc", "ad"));
    }

    #[test]
    fn escapes() {
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(m("a\\", "a\\"), "a trailing backslash is literal");
        assert!(m("\\?", "?"));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let pattern = "a*".repeat(50) + "b";
        let key = "a".repeat(200);
        assert!(!m(&pattern, &key));
    }
}
