//! Reply values and their encoding for RESP2 and RESP3.

use bytes::{BufMut, Bytes, BytesMut};

/// Which protocol a connection speaks; chosen with `HELLO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// A reply as a command produces it. RESP3-only types degrade to their RESP2 forms when
/// encoded for a RESP2 connection, exactly as Redis does.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`-style status line.
    Status(Bytes),
    /// `-ERR …` line; the text starts with the error code.
    Error(String),
    Integer(i64),
    Bulk(Bytes),
    /// Null bulk string (`$-1` in RESP2).
    Nil,
    /// Null array (`*-1` in RESP2).
    NilArray,
    Array(Vec<Reply>),
    /// Flattened into an array of key, value, key, value… in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// An array in RESP2.
    Set(Vec<Reply>),
    /// A bulk string in RESP2.
    Double(f64),
    /// `:1` / `:0` in RESP2.
    Boolean(bool),
    /// Out-of-band message (pub/sub); an array in RESP2.
    Push(Vec<Reply>),
    /// Text with a 3-letter format (`txt`); a bulk string in RESP2.
    Verbatim(Bytes),
    /// Several top-level replies produced by one command (SUBSCRIBE with many channels);
    /// encoded one after another.
    Sequence(Vec<Reply>),
}

impl Reply {
    pub const fn ok() -> Reply {
        Reply::Status(Bytes::from_static(b"OK"))
    }

    pub fn status(s: &'static str) -> Reply {
        Reply::Status(Bytes::from_static(s.as_bytes()))
    }

    pub fn error(msg: impl Into<String>) -> Reply {
        Reply::Error(msg.into())
    }

    pub fn bulk(data: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(data))
    }

    pub fn bulk_opt(data: Option<&[u8]>) -> Reply {
        data.map_or(Reply::Nil, Reply::bulk)
    }

    /// Whether a command that produced this reply "returned nothing" (metering counts such
    /// replies as free: a nil, an empty array, a timed-out blocking pop).
    pub fn is_empty_response(&self) -> bool {
        match self {
            Reply::Nil | Reply::NilArray => true,
            Reply::Array(v) | Reply::Set(v) => v.is_empty(),
            Reply::Map(v) => v.is_empty(),
            _ => false,
        }
    }

    pub fn encode(&self, proto: Protocol, out: &mut BytesMut) {
        match self {
            Reply::Status(s) => {
                out.put_u8(b'+');
                put_line_safe(out, s);
            }
            Reply::Error(e) => {
                out.put_u8(b'-');
                put_line_safe(out, e.as_bytes());
            }
            Reply::Integer(i) => put_prefixed_int(out, b':', *i),
            Reply::Bulk(b) => put_bulk(out, b),
            Reply::Nil => out.put_slice(if proto == Protocol::Resp3 { b"_\r\n" } else { b"$-1\r\n" }),
            Reply::NilArray => out.put_slice(if proto == Protocol::Resp3 { b"_\r\n" } else { b"*-1\r\n" }),
            Reply::Array(items) => {
                put_prefixed_int(out, b'*', items.len() as i64);
                for item in items {
                    item.encode(proto, out);
                }
            }
            Reply::Set(items) => {
                put_prefixed_int(out, if proto == Protocol::Resp3 { b'~' } else { b'*' }, items.len() as i64);
                for item in items {
                    item.encode(proto, out);
                }
            }
            Reply::Push(items) => {
                put_prefixed_int(out, if proto == Protocol::Resp3 { b'>' } else { b'*' }, items.len() as i64);
                for item in items {
                    item.encode(proto, out);
                }
            }
            Reply::Map(pairs) => {
                if proto == Protocol::Resp3 {
                    put_prefixed_int(out, b'%', pairs.len() as i64);
                } else {
                    put_prefixed_int(out, b'*', pairs.len() as i64 * 2);
                }
                for (k, v) in pairs {
                    k.encode(proto, out);
                    v.encode(proto, out);
                }
            }
            Reply::Double(d) => {
                let text = format_double(*d);
                if proto == Protocol::Resp3 {
                    out.put_u8(b',');
                    out.put_slice(text.as_bytes());
                    out.put_slice(b"\r\n");
                } else {
                    put_bulk(out, text.as_bytes());
                }
            }
            Reply::Boolean(b) => {
                if proto == Protocol::Resp3 {
                    out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" });
                } else {
                    put_prefixed_int(out, b':', *b as i64);
                }
            }
            Reply::Sequence(items) => {
                for item in items {
                    item.encode(proto, out);
                }
            }
            Reply::Verbatim(text) => {
                if proto == Protocol::Resp3 {
                    put_prefixed_int(out, b'=', text.len() as i64 + 4);
                    out.put_slice(b"txt:");
                    out.put_slice(text);
                    out.put_slice(b"\r\n");
                } else {
                    put_bulk(out, text);
                }
            }
        }
    }
}

/// Status and error lines must not contain CR or LF; Redis replaces them with spaces.
fn put_line_safe(out: &mut BytesMut, s: &[u8]) {
    if s.iter().any(|&c| c == b'\r' || c == b'\n') {
        out.extend(s.iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
    } else {
        out.put_slice(s);
    }
    out.put_slice(b"\r\n");
}

fn put_prefixed_int(out: &mut BytesMut, prefix: u8, n: i64) {
    let mut tmp = itoa_buf(n);
    out.put_u8(prefix);
    out.put_slice(tmp.as_bytes_mut());
    out.put_slice(b"\r\n");
}

fn put_bulk(out: &mut BytesMut, data: &[u8]) {
    put_prefixed_int(out, b'$', data.len() as i64);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

struct IntBuf {
    buf: [u8; 20],
    start: usize,
}

impl IntBuf {
    fn as_bytes_mut(&mut self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(n: i64) -> IntBuf {
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        pos -= 1;
        buf[pos] = b'-';
    }
    IntBuf { buf, start: pos }
}

/// Formats a double the way Redis 7.2+ does: the shortest text that reads back to the same
/// value, `inf`/`-inf` for infinities, and exponent notation for very large or small numbers.
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-5..1e17).contains(&abs) {
        // `{:e}` gives the shortest round-trip mantissa; Redis writes a signed exponent.
        let s = format!("{d:e}");
        return match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        };
    }
    format!("{d}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: &Reply, p: Protocol) -> String {
        let mut out = BytesMut::new();
        r.encode(p, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn resp2_and_resp3_forms() {
        use Protocol::*;
        assert_eq!(enc(&Reply::Nil, Resp2), "$-1\r\n");
        assert_eq!(enc(&Reply::NilArray, Resp2), "*-1\r\n");
        assert_eq!(enc(&Reply::Nil, Resp3), "_\r\n");
        assert_eq!(enc(&Reply::Integer(-42), Resp2), ":-42\r\n");
        assert_eq!(enc(&Reply::Integer(i64::MIN), Resp2), ":-9223372036854775808\r\n");
        let map = Reply::Map(vec![(Reply::bulk(b"a"), Reply::Integer(1))]);
        assert_eq!(enc(&map, Resp2), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&map, Resp3), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Reply::Double(1.5), Resp2), "$3\r\n1.5\r\n");
        assert_eq!(enc(&Reply::Double(1.5), Resp3), ",1.5\r\n");
        assert_eq!(enc(&Reply::Boolean(true), Resp3), "#t\r\n");
        assert_eq!(enc(&Reply::Boolean(true), Resp2), ":1\r\n");
        assert_eq!(enc(&Reply::Set(vec![]), Resp3), "~0\r\n");
        assert_eq!(enc(&Reply::Push(vec![]), Resp3), ">0\r\n");
        assert_eq!(enc(&Reply::error("ERR a\r\nb"), Resp2), "-ERR a  b\r\n");
        assert_eq!(enc(&Reply::Verbatim(Bytes::from("hi")), Resp3), "=6\r\ntxt:hi\r\n");
    }

    #[test]
    fn doubles_format_like_redis() {
        assert_eq!(format_double(1.0), "1");
        assert_eq!(format_double(0.1), "0.1");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_double(1e300), "1e+300");
        assert_eq!(format_double(1e-10), "1e-10");
    }
}
