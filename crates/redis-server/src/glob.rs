//! Redis glob-style pattern matching (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes), as used by
//! KEYS, SCAN MATCH, PSUBSCRIBE and CONFIG GET.

/// Whether `string` matches `pattern`. Iterative with backtracking to the last `*`, so the
/// cost is bounded by `pattern.len() * string.len()` even for hostile patterns.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let (mut p, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    while s < string.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, s));
                    continue;
                }
                b'?' => {
                    p += 1;
                    s += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next_p)) = match_class(pattern, p, string[s], nocase) {
                        if matched {
                            p = next_p;
                            s += 1;
                            continue;
                        }
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if eq(pattern[p + 1], string[s]) {
                        p += 2;
                        s += 1;
                        continue;
                    }
                }
                c => {
                    if eq(c, string[s]) {
                        p += 1;
                        s += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, ss)) => {
                p = sp;
                s = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

/// Matches a `[...]` class starting at `p`; returns (matched, position after the class).
fn match_class(pattern: &[u8], mut p: usize, c: u8, nocase: bool) -> Option<(bool, usize)> {
    p += 1;
    let negate = p < pattern.len() && pattern[p] == b'^';
    if negate {
        p += 1;
    }
    let mut matched = false;
    let norm = |x: u8| if nocase { x.to_ascii_lowercase() } else { x };
    loop {
        if p >= pattern.len() {
            // Unterminated class: Redis treats the end of pattern as the end of the class.
            break;
        }
        if pattern[p] == b']' {
            p += 1;
            break;
        }
        if pattern[p] == b'\\' && p + 1 < pattern.len() {
            if norm(pattern[p + 1]) == norm(c) {
                matched = true;
            }
            p += 2;
        } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' && pattern[p + 2] != b']' {
            let (mut lo, mut hi) = (norm(pattern[p]), norm(pattern[p + 2]));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            if (lo..=hi).contains(&norm(c)) {
                matched = true;
            }
            p += 3;
        } else {
            if norm(pattern[p]) == norm(c) {
                matched = true;
            }
            p += 1;
        }
    }
    Some((matched != negate, p))
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn patterns() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "anything", true),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h*llo", "heeeello", true),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("", "", true),
            ("news.*", "news.tech", true),
        ];
        for (p, s, want) in cases {
            assert_eq!(glob_match(p.as_bytes(), s.as_bytes(), false), *want, "{p} ~ {s}");
        }
        assert!(glob_match(b"HELLO", b"hello", true));
    }

    #[test]
    fn hostile_pattern_is_fast() {
        let p = "a*".repeat(100) + "b";
        let s = "a".repeat(5000);
        assert!(!glob_match(p.as_bytes(), s.as_bytes(), false));
    }
}
