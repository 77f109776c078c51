//! One Redis command run on a node for the console: a fresh connection, AUTH with the
//! database's password, the command, and its RESP2 reply read with bounds (size, depth,
//! time) and turned into JSON. No axum here; `api/command.rs` decides what may be sent.

use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest reply accepted from the node (the AUTH reply included); a larger one is cut off
/// and refused rather than buffered.
pub const MAX_REPLY_BYTES: usize = 1 << 20;
/// Deepest nesting of arrays accepted in a reply.
const MAX_DEPTH: usize = 32;
/// The whole exchange (connect, AUTH, command, reply) must finish within this.
pub const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum NodeCommandError {
    #[error("cannot reach the database's node at {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("the node at {addr} failed during the command: {source}")]
    Io { addr: String, source: std::io::Error },
    #[error("the node refused the database's password ({0}); the database may not be applied on its node yet")]
    Auth(String),
    #[error("the reply is larger than {MAX_REPLY_BYTES} bytes; ask for less (GETRANGE, LRANGE, SCAN with COUNT)")]
    ReplyTooLarge,
    #[error("the node did not answer within {} s", TIMEOUT.as_secs())]
    Timeout,
    #[error("the node's reply is not valid RESP2: {0}")]
    Protocol(&'static str),
}

/// Connects to `addr`, authenticates with `password` and runs `args`; returns the reply.
pub async fn run(addr: &str, password: &str, args: &[String]) -> Result<Value, NodeCommandError> {
    match tokio::time::timeout(TIMEOUT, exchange(addr, password, args)).await {
        Ok(result) => result,
        Err(_) => Err(NodeCommandError::Timeout),
    }
}

async fn exchange(addr: &str, password: &str, args: &[String]) -> Result<Value, NodeCommandError> {
    let io = |source| NodeCommandError::Io { addr: addr.to_string(), source };
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|source| NodeCommandError::Connect { addr: addr.to_string(), source })?;
    let mut request = encode(&["AUTH", password]);
    request.extend(encode(args));
    stream.write_all(&request).await.map_err(io)?;
    let mut reader = ReplyReader::default();
    let auth = reader.next(&mut stream).await.map_err(|e| e.with_addr(addr))?;
    if let Some(error) = auth.get("error").and_then(Value::as_str) {
        return Err(NodeCommandError::Auth(error.to_string()));
    }
    reader.next(&mut stream).await.map_err(|e| e.with_addr(addr))
}

/// A RESP multibulk request.
fn encode<S: AsRef<str>>(args: &[S]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref().as_bytes();
        out.extend(format!("${}\r\n", arg.len()).as_bytes());
        out.extend(arg);
        out.extend(b"\r\n");
    }
    out
}

/// Why reading a reply stopped, before the node's address is known to the message.
enum ReadError {
    Io(std::io::Error),
    Closed,
    Limit,
    Protocol(&'static str),
}

impl ReadError {
    fn with_addr(self, addr: &str) -> NodeCommandError {
        match self {
            ReadError::Io(source) => NodeCommandError::Io { addr: addr.to_string(), source },
            ReadError::Closed => NodeCommandError::Io {
                addr: addr.to_string(),
                source: std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"),
            },
            ReadError::Limit => NodeCommandError::ReplyTooLarge,
            ReadError::Protocol(what) => NodeCommandError::Protocol(what),
        }
    }
}

/// Reads replies off one connection into a buffer that never grows past `MAX_REPLY_BYTES`
/// in total (what was consumed counts too).
#[derive(Default)]
struct ReplyReader {
    buf: Vec<u8>,
    consumed: usize,
}

impl ReplyReader {
    async fn next(&mut self, stream: &mut tokio::net::TcpStream) -> Result<Value, ReadError> {
        loop {
            match parse(&self.buf[self.consumed..], 0) {
                Ok(Some((value, used))) => {
                    self.consumed += used;
                    return Ok(value);
                }
                Ok(None) => {}
                Err(e) => return Err(e),
            }
            let room = MAX_REPLY_BYTES.saturating_sub(self.buf.len());
            if room == 0 {
                return Err(ReadError::Limit);
            }
            let mut chunk = vec![0u8; room.min(64 * 1024)];
            let n = stream.read(&mut chunk).await.map_err(ReadError::Io)?;
            if n == 0 {
                return Err(ReadError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The line at the start of `buf` without its CRLF, and the bytes it took; `None` when the
/// line is not complete yet.
fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[..end], end + 2))
}

fn number(text: &[u8]) -> Result<i64, ReadError> {
    std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()).ok_or(ReadError::Protocol("a bad length or integer"))
}

/// One reply at the start of `buf` and the bytes it took, `None` if it is not complete yet.
fn parse(buf: &[u8], depth: usize) -> Result<Option<(Value, usize)>, ReadError> {
    if depth > MAX_DEPTH {
        return Err(ReadError::Protocol("arrays nested too deep"));
    }
    let Some((head, head_len)) = line(buf) else { return Ok(None) };
    let Some((&kind, rest)) = head.split_first() else { return Err(ReadError::Protocol("an empty line")) };
    let text = || Value::String(String::from_utf8_lossy(rest).into_owned());
    match kind {
        b'+' => Ok(Some((text(), head_len))),
        b'-' => Ok(Some((json!({ "error": String::from_utf8_lossy(rest) }), head_len))),
        b':' => Ok(Some((Value::from(number(rest)?), head_len))),
        b'$' => bulk(buf, number(rest)?, head_len),
        b'*' => array(buf, number(rest)?, head_len, depth),
        _ => Err(ReadError::Protocol("an unknown reply type")),
    }
}

fn bulk(buf: &[u8], len: i64, head_len: usize) -> Result<Option<(Value, usize)>, ReadError> {
    if len < 0 {
        return Ok(Some((Value::Null, head_len)));
    }
    let len = usize::try_from(len).map_err(|_| ReadError::Limit)?;
    if len > MAX_REPLY_BYTES {
        return Err(ReadError::Limit);
    }
    let end = head_len + len;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(ReadError::Protocol("a bulk string without its CRLF"));
    }
    Ok(Some((Value::String(String::from_utf8_lossy(&buf[head_len..end]).into_owned()), end + 2)))
}

fn array(buf: &[u8], count: i64, head_len: usize, depth: usize) -> Result<Option<(Value, usize)>, ReadError> {
    if count < 0 {
        return Ok(Some((Value::Null, head_len)));
    }
    // Each element takes at least 3 bytes, so a count beyond that can never fit the limit.
    let count = usize::try_from(count).map_err(|_| ReadError::Limit)?;
    if count > MAX_REPLY_BYTES / 3 {
        return Err(ReadError::Limit);
    }
    let mut items = Vec::with_capacity(count.min(1024));
    let mut at = head_len;
    for _ in 0..count {
        let Some((item, used)) = parse(&buf[at..], depth + 1)? else { return Ok(None) };
        items.push(item);
        at += used;
    }
    Ok(Some((Value::Array(items), at)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &[u8]) -> Option<(Value, usize)> {
        parse(bytes, 0).ok().flatten()
    }

    #[test]
    fn replies_become_json() {
        assert_eq!(parsed(b"+OK\r\n"), Some((json!("OK"), 5)));
        assert_eq!(parsed(b"-ERR bad\r\n"), Some((json!({"error": "ERR bad"}), 10)));
        assert_eq!(parsed(b":-42\r\n"), Some((json!(-42), 6)));
        assert_eq!(parsed(b"$-1\r\n"), Some((Value::Null, 5)));
        assert_eq!(parsed(b"$3\r\nbar\r\nrest"), Some((json!("bar"), 9)));
        let nested = b"*3\r\n$1\r\na\r\n*1\r\n:1\r\n*-1\r\n";
        assert_eq!(parsed(nested), Some((json!(["a", [1], null]), nested.len())));
        assert_eq!(parsed(b"$2\r\n\xff\xfe\r\n"), Some((json!("\u{fffd}\u{fffd}"), 8)));
    }

    #[test]
    fn incomplete_replies_wait_for_more() {
        for partial in [&b"+OK"[..], b"$3\r\nba", b"$3\r\nbar\r", b"*2\r\n:1\r\n", b""] {
            assert!(matches!(parse(partial, 0), Ok(None)), "{partial:?}");
        }
    }

    #[test]
    fn bounds_and_garbage_are_refused() {
        assert!(matches!(parse(b"$99999999999\r\n", 0), Err(ReadError::Limit)));
        assert!(matches!(parse(b"*99999999999\r\n", 0), Err(ReadError::Limit)));
        assert!(matches!(parse(b"!x\r\n", 0), Err(ReadError::Protocol(_))));
        assert!(matches!(parse(b"$3\r\nbarXY", 0), Err(ReadError::Protocol(_))));
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2);
        assert!(matches!(parse(deep.as_bytes(), 0), Err(ReadError::Protocol(_))));
    }

    #[test]
    fn requests_are_multibulk() {
        assert_eq!(encode(&["GET", "k é"]), b"*2\r\n$3\r\nGET\r\n$4\r\nk \xc3\xa9\r\n".to_vec());
    }
}
