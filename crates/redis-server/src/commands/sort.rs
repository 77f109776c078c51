//! SORT and SORT_RO (Redis's sort.c): sort a list, set or sorted set by its elements or by
//! keys built from them (BY pattern, `*` replaced, `->field` for a hash field), fetch other
//! keys the same way (GET), and optionally store the result as a list.

use crate::args::{int, is};
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::{Ctx, Propagate};
use crate::error::{CommandError, CommandResult};
use bytes::Bytes;
use keyspace::value::blob;
use keyspace::{Blob, ListValue, Value};
use resp::Reply;
use std::cmp::Ordering;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "sort",
        arity: -2,
        flags: Flags::WRITE.union(Flags::DENYOOM).union(Flags::MOVABLE_KEYS),
        keys: KeySpec::movable(1, 1, 1, sort_keys),
        group: "generic",
        handler: sort,
    },
    CommandSpec {
        name: "sort_ro",
        arity: -2,
        flags: Flags::READONLY,
        keys: KeySpec::FIRST,
        group: "generic",
        handler: sort_ro,
    },
];

/// The sorted key and the STORE destination (the last one, as SORT uses), skipping the
/// arguments of LIMIT, GET and BY as Redis's sortGetKeys does.
fn sort_keys(args: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "LIMIT") {
            i += 2;
        } else if is(&args[i], "GET") || is(&args[i], "BY") {
            i += 1;
        } else if is(&args[i], "STORE") && i + 1 < args.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

struct Options {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    by: Option<Bytes>,
    /// BY a pattern without `*`: keep the native order.
    dont_sort: bool,
    gets: Vec<Bytes>,
    store: Option<Bytes>,
}

fn parse(args: &[Bytes], readonly: bool) -> Result<Options, CommandError> {
    let mut o =
        Options { desc: false, alpha: false, limit: None, by: None, dont_sort: false, gets: vec![], store: None };
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if is(a, "ASC") {
            o.desc = false;
        } else if is(a, "DESC") {
            o.desc = true;
        } else if is(a, "ALPHA") {
            o.alpha = true;
        } else if is(a, "LIMIT") && left >= 2 {
            o.limit = Some((int(&args[j + 1])?, int(&args[j + 2])?));
            j += 2;
        } else if is(a, "STORE") && left >= 1 && !readonly {
            o.store = Some(args[j + 1].clone());
            j += 1;
        } else if is(a, "BY") && left >= 1 {
            o.dont_sort = !args[j + 1].contains(&b'*');
            o.by = Some(args[j + 1].clone());
            j += 1;
        } else if is(a, "GET") && left >= 1 {
            o.gets.push(args[j + 1].clone());
            j += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// The value a pattern points to for one element: `#` is the element itself; otherwise the
/// first `*` is replaced by the element and the key must hold a string, or, with `->field`
/// after the `*`, a hash holding that field. A pattern without `*` points to nothing.
fn lookup_by_pattern(ctx: &mut Ctx, pattern: &[u8], element: &[u8]) -> Option<Blob> {
    if pattern == b"#" {
        return Some(blob(element));
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let field = after.windows(2).position(|w| w == b"->").filter(|&at| at + 2 < after.len());
    let (postfix, field) = match field {
        Some(at) => (&after[..at], Some(&after[at + 2..])),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(star + element.len() + postfix.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(postfix);
    match (ctx.db.lookup_read(&key)?, field) {
        (Value::Str(s), None) => Some(s.clone()),
        (Value::Hash(h), Some(f)) => h.get(f).cloned(),
        _ => None,
    }
}

/// A sort weight as Redis reads it with strtod: the whole text must be a number (leading
/// spaces allowed, the empty string is 0); NaN and out-of-range values are refused.
fn parse_weight(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if s.is_empty() {
        return Some(0.0);
    }
    let v: f64 = t.parse().ok()?;
    let lower = t.to_ascii_lowercase();
    if v.is_nan() || (v.is_infinite() && !lower.contains("inf")) {
        return None;
    }
    // Underflow: strtod reports ERANGE for a non-zero number too small for a double.
    let mantissa = lower.split('e').next().unwrap_or("");
    if v == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return None;
    }
    Some(v)
}

fn sort(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    run(ctx, args, false)
}

fn sort_ro(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    run(ctx, args, true)
}

/// The elements to sort, in the value's own order (sorted sets by score).
fn load(ctx: &mut Ctx, key: &[u8]) -> Result<(Vec<Blob>, &'static str), CommandError> {
    Ok(match ctx.db.lookup_read(key) {
        None => (Vec::new(), "list"),
        Some(Value::List(l)) => (l.iter().cloned().collect(), "list"),
        Some(Value::Set(s)) => (s.iter().cloned().collect(), "set"),
        Some(Value::ZSet(z)) => (z.iter().map(|(m, _)| m.clone()).collect(), "zset"),
        Some(_) => return Err(CommandError::WrongType),
    })
}

fn run(ctx: &mut Ctx, args: &[Bytes], readonly: bool) -> CommandResult {
    // As in Redis, the type is checked before the options.
    let (mut elements, kind) = load(ctx, &args[1])?;
    let mut o = parse(args, readonly)?;
    // A set has no order of its own: a stored result must not depend on it, so it is
    // sorted alphabetically (Redis does the same).
    if o.dont_sort && kind == "set" && o.store.is_some() {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let n = elements.len() as i64;
    let (mut start, mut end) = match o.limit {
        None => (0, n - 1),
        Some((offset, count)) => {
            let start = offset.max(0);
            (start, if count < 0 { n - 1 } else { start.saturating_add(count) - 1 })
        }
    };
    if start >= n {
        start = n - 1;
        end = n - 2;
    }
    end = end.min(n - 1);
    if o.dont_sort && kind != "set" {
        // Lists and sorted sets keep their order, read from the far end for DESC.
        if o.desc {
            elements.reverse();
        }
        elements = if end >= start { elements[start as usize..=end as usize].to_vec() } else { Vec::new() };
        end -= start;
        start = 0;
    } else if !o.dont_sort {
        let mut bad_weight = false;
        let mut keyed: Vec<(Blob, Option<Blob>, f64)> = Vec::with_capacity(elements.len());
        for e in elements.drain(..) {
            let by_value = match &o.by {
                Some(pattern) => lookup_by_pattern(ctx, pattern, &e),
                None => Some(e.clone()),
            };
            let weight = match (&by_value, o.alpha) {
                (Some(v), false) => parse_weight(v).unwrap_or_else(|| {
                    bad_weight = true;
                    0.0
                }),
                _ => 0.0,
            };
            keyed.push((e, if o.alpha { by_value } else { None }, weight));
        }
        if bad_weight {
            return Err(CommandError::err("One or more scores can't be converted into double"));
        }
        keyed.sort_by(|a, b| {
            let ord = if !o.alpha {
                a.2.partial_cmp(&b.2).unwrap_or(Ordering::Equal).then_with(|| a.0.cmp(&b.0))
            } else {
                // Elements without a BY value come first.
                a.1.cmp(&b.1)
            };
            if o.desc {
                ord.reverse()
            } else {
                ord
            }
        });
        elements = keyed.into_iter().map(|(e, _, _)| e).collect();
    }
    let selected: &[Blob] = if end >= start { &elements[start as usize..=end as usize] } else { &[] };
    let Some(dest) = o.store.clone() else {
        ctx.propagate = Propagate::Nothing;
        let mut out = Vec::with_capacity(selected.len() * o.gets.len().max(1));
        for e in selected {
            if o.gets.is_empty() {
                out.push(Reply::bulk(e));
            }
            for pattern in &o.gets {
                out.push(lookup_by_pattern(ctx, pattern, e).map_or(Reply::Nil, |v| Reply::bulk(&v)));
            }
        }
        return Ok(Reply::Array(out));
    };
    let mut list = ListValue::with_capacity(selected.len() * o.gets.len().max(1));
    for e in selected {
        if o.gets.is_empty() {
            list.push_back(e.clone());
        }
        for pattern in &o.gets {
            list.push_back(lookup_by_pattern(ctx, pattern, e).unwrap_or_default());
        }
    }
    let stored = list.len() as i64;
    if list.is_empty() {
        ctx.db.remove(&dest);
    } else {
        ctx.db.insert(&dest, Value::List(Box::new(list)));
        ctx.db.signal_ready(&dest);
    }
    Ok(Reply::Integer(stored))
}

#[cfg(test)]
mod tests {
    use super::{parse_weight, sort_keys};
    use crate::testing::{arr, bulk, err, int, TestClient};
    use bytes::Bytes;
    use resp::Reply;

    #[test]
    fn numeric_alpha_desc_limit() {
        let mut c = TestClient::new();
        c.cmd(&["RPUSH", "l", "3", "10", "2", "1.5", "-1"]);
        assert_eq!(c.cmd(&["SORT", "l"]), arr(&["-1", "1.5", "2", "3", "10"]));
        assert_eq!(c.cmd(&["SORT", "l", "DESC", "LIMIT", "1", "2"]), arr(&["3", "2"]));
        assert_eq!(c.cmd(&["SORT", "l", "ALPHA"]), arr(&["-1", "1.5", "10", "2", "3"]));
        assert_eq!(c.cmd(&["SORT", "l", "LIMIT", "10", "5"]), arr(&[]));
        assert_eq!(c.cmd(&["SORT", "l", "LIMIT", "-5", "2"]), arr(&["-1", "1.5"]));
        assert_eq!(c.cmd(&["SORT", "l", "LIMIT", "3", "-1"]), arr(&["3", "10"]));
        assert_eq!(c.cmd(&["SORT", "missing"]), arr(&[]));
        c.cmd(&["RPUSH", "words", "b", "a"]);
        assert!(err("ERR One or more scores can't be converted into double")(&c.cmd(&["SORT", "words"])));
        assert!(err("ERR syntax error")(&c.cmd(&["SORT", "l", "LIMIT", "1"])));
        assert!(err("ERR value is not an integer")(&c.cmd(&["SORT", "l", "LIMIT", "a", "1"])));
        assert!(err("ERR syntax error")(&c.cmd(&["SORT_RO", "l", "STORE", "x"])));
        c.cmd(&["SET", "s", "x"]);
        assert!(err("WRONGTYPE")(&c.cmd(&["SORT", "s", "NOPE"])));
    }

    #[test]
    fn by_get_and_store() {
        let mut c = TestClient::new();
        c.cmd(&["RPUSH", "ids", "1", "2", "3"]);
        c.cmd(&["MSET", "w_1", "30", "w_2", "10", "name_1", "one", "name_2", "two"]);
        c.cmd(&["HSET", "h_3", "w", "20", "name", "three"]);
        // w_3 is missing: weight 0, first.
        assert_eq!(c.cmd(&["SORT", "ids", "BY", "w_*"]), arr(&["3", "2", "1"]));
        assert_eq!(c.cmd(&["SORT", "ids", "BY", "h_*->w"]), arr(&["1", "2", "3"]));
        assert_eq!(
            c.cmd(&["SORT", "ids", "BY", "w_*", "GET", "#", "GET", "name_*", "GET", "h_*->name"]),
            Reply::Array(vec![
                bulk("3"),
                Reply::Nil,
                bulk("three"),
                bulk("2"),
                bulk("two"),
                Reply::Nil,
                bulk("1"),
                bulk("one"),
                Reply::Nil
            ])
        );
        // BY without '*': native order, DESC reverses a list.
        assert_eq!(c.cmd(&["SORT", "ids", "BY", "nosort", "DESC"]), arr(&["3", "2", "1"]));
        assert_eq!(c.cmd(&["SORT", "ids", "BY", "w_*", "GET", "name_*", "STORE", "out"]), int(3));
        assert_eq!(c.cmd(&["LRANGE", "out", "0", "-1"]), arr(&["", "two", "one"]));
        assert_eq!(c.cmd(&["SORT", "missing", "STORE", "out"]), int(0));
        assert_eq!(c.cmd(&["EXISTS", "out"]), int(0));
        assert!(c.change_log().iter().any(|r| r[0] == "SORT"));
    }

    #[test]
    fn sets_and_zsets() {
        let mut c = TestClient::new();
        c.cmd(&["ZADD", "z", "3", "a", "1", "b", "2", "c"]);
        assert_eq!(c.cmd(&["SORT", "z", "BY", "nosort"]), arr(&["b", "c", "a"]));
        assert_eq!(c.cmd(&["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "0", "2"]), arr(&["a", "c"]));
        assert_eq!(c.cmd(&["SORT", "z", "ALPHA", "DESC"]), arr(&["c", "b", "a"]));
        c.cmd(&["SADD", "s", "b", "c", "a"]);
        // Stored, a set is sorted alphabetically even BY nosort.
        assert_eq!(c.cmd(&["SORT", "s", "BY", "nosort", "STORE", "d"]), int(3));
        assert_eq!(c.cmd(&["LRANGE", "d", "0", "-1"]), arr(&["a", "b", "c"]));
        assert_eq!(c.cmd(&["SORT_RO", "s", "ALPHA"]), arr(&["a", "b", "c"]));
    }

    #[test]
    fn weights_and_keys() {
        assert_eq!(parse_weight(b""), Some(0.0));
        assert_eq!(parse_weight(b"  1.5"), Some(1.5));
        assert_eq!(parse_weight(b"1.5 "), None);
        assert_eq!(parse_weight(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_weight(b"nan"), None);
        assert_eq!(parse_weight(b"1e400"), None);
        assert_eq!(parse_weight(b"1e-400"), None);
        assert_eq!(parse_weight(b"0e5"), Some(0.0));
        let args: Vec<Bytes> = ["SORT", "k", "LIMIT", "0", "1", "GET", "store", "STORE", "a", "STORE", "b"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        assert_eq!(sort_keys(&args), vec![1, 10]);
    }
}
