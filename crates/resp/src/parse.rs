//! Request parsing: `*N\r\n$len\r\narg\r\n…` multibulk frames and space-separated inline commands.

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;

/// Upper bounds on what a single request may announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest single argument (Redis's `proto-max-bulk-len`).
    pub max_bulk_bytes: usize,
    /// Most arguments in one multibulk request.
    pub max_args: usize,
    /// Longest inline command line.
    pub max_inline_bytes: usize,
    /// Largest whole request (all arguments together).
    pub max_request_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_bytes: 512 * 1024 * 1024,
            max_args: 1024 * 1024,
            max_inline_bytes: 64 * 1024,
            max_request_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Why a request could not be parsed. After any of these the connection must be closed,
/// because the byte stream can no longer be framed reliably.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("ERR Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("ERR Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("ERR Protocol error: expected '$', got '{0}'")]
    ExpectedBulk(char),
    #[error("ERR Protocol error: too big inline request")]
    InlineTooLong,
    #[error("ERR Protocol error: too big mbulk count string")]
    CountLineTooLong,
    #[error("ERR Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("ERR max request size exceeded")]
    RequestTooLarge,
}

/// Longest `*N` / `$N` header line accepted (Redis allows 64 KiB but a count never needs it).
const MAX_COUNT_LINE: usize = 64;

/// Parses one request from the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed (nothing is consumed), `Ok(Some(args))`
/// when a whole request was consumed (an empty `args` means an empty line or `*0`, which the
/// caller skips), and `Err` on a framing error.
pub fn parse_request(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Vec<Bytes>>, ParseError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] == b'*' {
        parse_multibulk(buf, limits)
    } else {
        parse_inline(buf, limits)
    }
}

fn find_crlf(buf: &[u8], from: usize, max_line: usize) -> Result<Option<usize>, ()> {
    let end = buf.len().min(from + max_line + 2);
    match memchr_cr(&buf[from..end]) {
        Some(i) => Ok(Some(from + i)),
        None if end - from >= max_line + 2 => Err(()),
        None => Ok(None),
    }
}

fn memchr_cr(hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == b'\r')
}

fn parse_int(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let (neg, body) = match digits[0] {
        b'-' => (true, &digits[1..]),
        _ => (false, digits),
    };
    if body.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &d in body {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((d - b'0') as i64)?;
    }
    Some(if neg { -v } else { v })
}

/// Reads a `<prefix><int>\r\n` line at `pos`; returns the integer and the position after it.
fn read_count_line(buf: &[u8], pos: usize, err: ParseError) -> Result<Option<(i64, usize)>, ParseError> {
    let cr = match find_crlf(buf, pos, MAX_COUNT_LINE) {
        Ok(Some(cr)) => cr,
        Ok(None) => return Ok(None),
        Err(()) => return Err(ParseError::CountLineTooLong),
    };
    if cr + 1 >= buf.len() {
        return Ok(None);
    }
    if buf[cr + 1] != b'\n' {
        return Err(err);
    }
    let n = parse_int(&buf[pos + 1..cr]).ok_or(err)?;
    Ok(Some((n, cr + 2)))
}

fn parse_multibulk(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Vec<Bytes>>, ParseError> {
    let Some((count, mut pos)) = read_count_line(buf, 0, ParseError::InvalidMultibulkLength)? else {
        return Ok(None);
    };
    if count <= 0 {
        let _ = buf.split_to(pos);
        return Ok(Some(Vec::new()));
    }
    if count as u64 > limits.max_args as u64 {
        return Err(ParseError::InvalidMultibulkLength);
    }
    let count = count as usize;
    // First pass: validate framing and find the end without copying anything. The spans of a
    // small request stay on the stack (no allocation besides the argument list itself).
    let mut spans: SmallVec<[(usize, usize); 8]> = SmallVec::with_capacity(count.min(1024));
    let mut total: usize = 0;
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return Err(ParseError::ExpectedBulk(buf[pos] as char));
        }
        let Some((len, after)) = read_count_line(buf, pos, ParseError::InvalidBulkLength)? else {
            return Ok(None);
        };
        if len < 0 || len as u64 > limits.max_bulk_bytes as u64 {
            return Err(if len < 0 { ParseError::InvalidBulkLength } else { ParseError::RequestTooLarge });
        }
        let len = len as usize;
        total = total.saturating_add(len);
        if total > limits.max_request_bytes {
            return Err(ParseError::RequestTooLarge);
        }
        if after + len + 2 > buf.len() {
            return Ok(None);
        }
        if &buf[after + len..after + len + 2] != b"\r\n" {
            return Err(ParseError::InvalidBulkLength);
        }
        spans.push((after, len));
        pos = after + len + 2;
    }
    let frame = buf.split_to(pos).freeze();
    let mut args = Vec::with_capacity(spans.len());
    args.extend(spans.iter().map(|&(start, len)| frame.slice(start..start + len)));
    Ok(Some(args))
}

fn parse_inline(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Vec<Bytes>>, ParseError> {
    let max = limits.max_inline_bytes;
    let nl = match buf.iter().take(max + 1).position(|&b| b == b'\n') {
        Some(i) => i,
        None if buf.len() > max => return Err(ParseError::InlineTooLong),
        None => return Ok(None),
    };
    let line = buf.split_to(nl + 1);
    let mut line = &line[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    split_inline_args(line).map(Some)
}

/// Splits an inline command line the way redis-cli users expect (`sdssplitargs`): spaces
/// separate arguments, double quotes allow `\n`, `\xHH` and friends, single quotes are literal.
pub(crate) fn split_inline_args(line: &[u8]) -> Result<Vec<Bytes>, ParseError> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Ok(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return Err(ParseError::UnbalancedQuotes);
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && hex(line[i + 2]).is_some()
                    && hex(line[i + 3]).is_some()
                {
                    cur.push(hex(line[i + 2]).unwrap_or(0) * 16 + hex(line[i + 3]).unwrap_or(0));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return Err(ParseError::UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return Err(ParseError::UnbalancedQuotes);
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return Err(ParseError::UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n || line[i].is_ascii_whitespace() {
                    break;
                }
                match line[i] {
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(Bytes::from(cur));
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ParseError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(args) = parse_request(&mut buf, &Limits::default())? {
            out.push(args);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_pipelining() {
        let got = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(got, vec![vec![Bytes::from("GET"), Bytes::from("k")], vec![Bytes::from("PING")]]);
    }

    #[test]
    fn half_frames_wait_for_more_without_consuming() {
        let full = b"*2\r\n$3\r\nSET\r\n$5\r\nhello\r\n";
        for cut in 0..full.len() {
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(parse_request(&mut buf, &Limits::default()), Ok(None), "cut at {cut}");
            assert_eq!(buf.len(), cut);
        }
    }

    #[test]
    fn binary_safe_arguments() {
        let got = parse_all(b"*1\r\n$4\r\n\r\n\0\xff\r\n").unwrap();
        assert_eq!(got[0][0].as_ref(), b"\r\n\0\xff");
    }

    #[test]
    fn huge_lengths_are_refused_before_buffering() {
        let limits = Limits { max_bulk_bytes: 100, ..Limits::default() };
        let mut buf = BytesMut::from(&b"*1\r\n$999999999\r\n"[..]);
        assert_eq!(parse_request(&mut buf, &limits), Err(ParseError::RequestTooLarge));
        let mut buf = BytesMut::from(&b"*99999999999\r\n"[..]);
        assert_eq!(parse_request(&mut buf, &limits), Err(ParseError::InvalidMultibulkLength));
        let mut buf = BytesMut::from(&b"*1\r\n$99999999999999999999999\r\n"[..]);
        assert!(parse_request(&mut buf, &limits).is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(parse_all(b"*1\r\n+foo\r\n"), Err(ParseError::ExpectedBulk('+')));
        assert_eq!(parse_all(b"*x\r\n"), Err(ParseError::InvalidMultibulkLength));
        assert_eq!(parse_all(b"*1\r\n$-5\r\n"), Err(ParseError::InvalidBulkLength));
        assert_eq!(parse_all(b"*1\r\n$3\r\nabcde\r\n"), Err(ParseError::InvalidBulkLength));
    }

    #[test]
    fn inline_commands() {
        let got = parse_all(b"set k \"a b\\n\"\r\nPING\n\r\n").unwrap();
        assert_eq!(got[0], vec![Bytes::from("set"), Bytes::from("k"), Bytes::from("a b\n")]);
        assert_eq!(got[1], vec![Bytes::from("PING")]);
        assert!(got[2].is_empty());
        assert_eq!(parse_all(b"get \"abc\r\n"), Err(ParseError::UnbalancedQuotes));
        assert_eq!(parse_all(b"echo '\\'x'\n").unwrap()[0][1].as_ref(), b"'x");
        assert_eq!(parse_all(b"echo \"\\x41\"\n").unwrap()[0][1].as_ref(), b"A");
    }

    #[test]
    fn inline_without_newline_is_bounded() {
        let limits = Limits { max_inline_bytes: 8, ..Limits::default() };
        let mut buf = BytesMut::from(&b"aaaaaaaaaaaaaaaaaaaa"[..]);
        assert_eq!(parse_request(&mut buf, &limits), Err(ParseError::InlineTooLong));
    }
}

#[cfg(test)]
mod random_input {
    use super::*;

    /// A tiny deterministic generator, so the test needs no extra crate and always runs the
    /// same inputs.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Random bytes mixed with protocol fragments must never panic, must never consume bytes
    /// when asking for more, and must always make progress or stop.
    #[test]
    fn random_inputs_never_panic_or_loop() {
        let fragments: &[&[u8]] =
            &[b"*", b"$", b"\r\n", b"\n", b"-1", b"3", b"999999999999", b"\"", b"'", b" ", b"abc", b"\\x4"];
        let limits = Limits { max_bulk_bytes: 1024, max_args: 64, max_inline_bytes: 256, max_request_bytes: 4096 };
        let mut rng = XorShift(0x9E3779B97F4A7C15);
        for _ in 0..20_000 {
            let mut input = Vec::new();
            for _ in 0..(rng.next() % 12) {
                if rng.next().is_multiple_of(3) {
                    input.push(rng.next() as u8);
                } else {
                    input.extend_from_slice(fragments[(rng.next() as usize) % fragments.len()]);
                }
            }
            let mut buf = BytesMut::from(&input[..]);
            for _ in 0..input.len() + 1 {
                let before = buf.len();
                match parse_request(&mut buf, &limits) {
                    Ok(Some(_)) => assert!(buf.len() < before, "a parsed request must consume bytes"),
                    Ok(None) => {
                        assert_eq!(buf.len(), before, "waiting for more must not consume");
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
    }
}
