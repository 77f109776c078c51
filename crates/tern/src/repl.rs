//! The built-in prompt `tern redis connect` falls back on without redis-cli: lines split into
//! arguments as redis-cli splits them (quotes and escapes), sent as RESP commands through the
//! local proxy, replies read (RESP2 and RESP3, bounded) and printed as redis-cli prints them
//! on a terminal.

use anyhow::{bail, Context};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// The longest input line read (longer ones end the prompt with an error).
const MAX_INPUT_LINE_BYTES: u64 = 1024 * 1024;
/// The longest reply header line (simple strings, errors, lengths).
const MAX_REPLY_LINE_BYTES: u64 = 1024 * 1024;
/// The largest bulk string accepted (Redis's own `proto-max-bulk-len` default).
const MAX_BULK_BYTES: u64 = 512 * 1024 * 1024;
/// How deep replies may nest.
const MAX_DEPTH: usize = 64;

/// The container kinds of RESP, which redis-cli numbers differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Aggregate {
    Array,
    Set,
    /// Keys and values alternate.
    Map,
    Push,
}

/// One reply, RESP2 or RESP3.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Reply {
    Status(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Vec<u8>),
    /// A RESP3 verbatim string without its `txt:` format prefix.
    Verbatim(Vec<u8>),
    Nil,
    Double(String),
    Bool(bool),
    BigNumber(String),
    Many(Aggregate, Vec<Reply>),
}

/// Why a line could not be split.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct InvalidArguments;

/// Splits a line into arguments as redis-cli does (`sdssplitargs`): blanks separate; `"…"`
/// knows `\n \r \t \b \a \xHH` and `\<any>`; `'…'` knows only `\'`; a closing quote must be
/// followed by a blank or the end; an unclosed quote is an error.
pub(crate) fn split_args(line: &[u8]) -> Result<Vec<Vec<u8>>, InvalidArguments> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return Ok(args);
        }
        let (arg, next) = split_one(line, i)?;
        args.push(arg);
        i = next;
    }
}

/// Where inside an argument the splitter is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

/// One argument starting at `i`; returns it and the position after it.
fn split_one(line: &[u8], mut i: usize) -> Result<(Vec<u8>, usize), InvalidArguments> {
    let at = |j: usize| line.get(j).copied();
    let closes = |j: usize| at(j + 1).is_none_or(|c| c.is_ascii_whitespace());
    let mut arg = Vec::new();
    let mut quote = Quote::None;
    loop {
        let Some(c) = at(i) else {
            return if quote == Quote::None { Ok((arg, i)) } else { Err(InvalidArguments) };
        };
        match quote {
            Quote::Double => match (c, at(i + 1)) {
                (b'\\', Some(b'x')) if hex_byte(at(i + 2), at(i + 3)).is_some() => {
                    arg.push(hex_byte(at(i + 2), at(i + 3)).unwrap_or_default());
                    i += 3;
                }
                (b'\\', Some(e)) => {
                    arg.push(unescape(e));
                    i += 1;
                }
                (b'"', _) if !closes(i) => return Err(InvalidArguments),
                (b'"', _) => return Ok((arg, i + 1)),
                _ => arg.push(c),
            },
            Quote::Single => match (c, at(i + 1)) {
                (b'\\', Some(b'\'')) => {
                    arg.push(b'\'');
                    i += 1;
                }
                (b'\'', _) if !closes(i) => return Err(InvalidArguments),
                (b'\'', _) => return Ok((arg, i + 1)),
                _ => arg.push(c),
            },
            Quote::None => match c {
                c if c.is_ascii_whitespace() => return Ok((arg, i)),
                b'"' => quote = Quote::Double,
                b'\'' => quote = Quote::Single,
                _ => arg.push(c),
            },
        }
        i += 1;
    }
}

fn unescape(c: u8) -> u8 {
    match c {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'a' => 0x07,
        other => other,
    }
}

fn hex_byte(hi: Option<u8>, lo: Option<u8>) -> Option<u8> {
    let digit = |c: Option<u8>| (c? as char).to_digit(16);
    Some((digit(hi)? * 16 + digit(lo)?) as u8)
}

/// A command as a RESP multibulk.
pub(crate) fn encode_command(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn protocol_error(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("protocol error: {what}"))
}

/// A line without its `\r\n`, at most `MAX_REPLY_LINE_BYTES`.
fn read_line(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.by_ref().take(MAX_REPLY_LINE_BYTES).read_until(b'\n', &mut line)?;
    match line.strip_suffix(b"\r\n") {
        Some(body) => Ok(body.to_vec()),
        None if line.is_empty() => Err(std::io::ErrorKind::UnexpectedEof.into()),
        None => Err(protocol_error("reply line too long or not ended by CRLF")),
    }
}

fn parse_number(text: &[u8]) -> std::io::Result<i64> {
    std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()).ok_or_else(|| protocol_error("bad number"))
}

/// A bulk payload of `len` bytes and its CRLF, read as it arrives (nothing allocated ahead).
fn read_bulk(r: &mut impl BufRead, len: i64) -> std::io::Result<Vec<u8>> {
    let len = u64::try_from(len).map_err(|_| protocol_error("negative length"))?;
    if len > MAX_BULK_BYTES {
        return Err(protocol_error("bulk string larger than 512 MiB"));
    }
    let mut buf = Vec::new();
    r.by_ref().take(len + 2).read_to_end(&mut buf)?;
    if buf.len() as u64 != len + 2 || !buf.ends_with(b"\r\n") {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    buf.truncate(buf.len() - 2);
    Ok(buf)
}

fn read_many(r: &mut impl BufRead, count: i64, depth: usize) -> std::io::Result<Vec<Reply>> {
    let mut items = Vec::new();
    for _ in 0..count {
        items.push(read_reply_at(r, depth + 1)?);
    }
    Ok(items)
}

/// Reads one reply.
pub(crate) fn read_reply(r: &mut impl BufRead) -> std::io::Result<Reply> {
    read_reply_at(r, 0)
}

fn read_reply_at(r: &mut impl BufRead, depth: usize) -> std::io::Result<Reply> {
    if depth > MAX_DEPTH {
        return Err(protocol_error("reply nested too deep"));
    }
    let line = read_line(r)?;
    let Some((&kind, rest)) = line.split_first() else { return Err(protocol_error("empty reply line")) };
    let text = || String::from_utf8_lossy(rest).into_owned();
    Ok(match kind {
        b'+' => Reply::Status(rest.to_vec()),
        b'-' => Reply::Error(rest.to_vec()),
        b':' => Reply::Integer(parse_number(rest)?),
        b'_' => Reply::Nil,
        b',' => Reply::Double(text()),
        b'(' => Reply::BigNumber(text()),
        b'#' => Reply::Bool(rest == b"t"),
        b'$' | b'=' | b'!' => match parse_number(rest)? {
            -1 => Reply::Nil,
            len => {
                let body = read_bulk(r, len)?;
                match kind {
                    b'$' => Reply::Bulk(body),
                    b'!' => Reply::Error(body),
                    _ => Reply::Verbatim(body.get(4..).unwrap_or_default().to_vec()),
                }
            }
        },
        b'*' | b'~' | b'>' | b'%' => match parse_number(rest)? {
            -1 => Reply::Nil,
            count => {
                let (aggregate, items) = match kind {
                    b'*' => (Aggregate::Array, count),
                    b'~' => (Aggregate::Set, count),
                    b'>' => (Aggregate::Push, count),
                    _ => (Aggregate::Map, count.saturating_mul(2)),
                };
                Reply::Many(aggregate, read_many(r, items, depth)?)
            }
        },
        b'|' => {
            // Attributes annotate the reply that follows; redis-cli does not show them.
            read_many(r, parse_number(rest)?.saturating_mul(2), depth)?;
            read_reply_at(r, depth + 1)?
        }
        _ => return Err(protocol_error("unknown reply type")),
    })
}

/// `bytes` quoted as redis-cli shows strings (`sdscatrepr`).
pub(crate) fn quoted(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            b' '..=b'~' => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// A reply as redis-cli prints it on a terminal (`cliFormatReplyTTY`); `prefix` indents the
/// lines after the first of a nested aggregate. Ends with a newline.
pub(crate) fn format_reply(reply: &Reply, prefix: &str) -> String {
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match reply {
        Reply::Status(s) => format!("{}\n", lossy(s)),
        Reply::Error(e) => format!("(error) {}\n", lossy(e)),
        Reply::Integer(n) => format!("(integer) {n}\n"),
        Reply::Bulk(b) => format!("{}\n", quoted(b)),
        Reply::Verbatim(b) => format!("{}\n", lossy(b)),
        Reply::Nil => "(nil)\n".into(),
        Reply::Double(d) => format!("(double) {d}\n"),
        Reply::Bool(b) => format!("({b})\n"),
        Reply::BigNumber(n) => format!("(big number) {n}\n"),
        Reply::Many(kind, items) => format_many(*kind, items, prefix),
    }
}

fn format_many(kind: Aggregate, items: &[Reply], prefix: &str) -> String {
    if items.is_empty() {
        return match kind {
            Aggregate::Array => "(empty array)\n",
            Aggregate::Map => "(empty hash)\n",
            Aggregate::Set => "(empty set)\n",
            Aggregate::Push => "(empty push)\n",
        }
        .into();
    }
    let (step, separator) = match kind {
        Aggregate::Map => (2, '#'),
        Aggregate::Set => (1, '~'),
        Aggregate::Array | Aggregate::Push => (1, ')'),
    };
    let entries = items.len() / step;
    let width = entries.to_string().len();
    let inner = format!("{prefix}{}", " ".repeat(width + 2));
    let mut out = String::new();
    for (n, entry) in items.chunks(step).enumerate() {
        // The first entry follows the index the caller already printed.
        let indent = if n == 0 { "" } else { prefix };
        out.push_str(&format!("{indent}{:>width$}{separator} ", n + 1));
        out.push_str(&format_reply(&entry[0], &inner));
        if let Some(value) = entry.get(1) {
            out.pop();
            out.push_str(" => ");
            out.push_str(&format_reply(value, &inner));
        }
    }
    out
}

/// Commands after which the server keeps sending (redis-cli's "Reading messages...").
fn streams_replies(command: &[u8]) -> bool {
    ["subscribe", "psubscribe", "ssubscribe", "monitor"].iter().any(|c| command.eq_ignore_ascii_case(c.as_bytes()))
}

/// One authenticated connection through the proxy.
struct Connection {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(port: u16, password: &str) -> anyhow::Result<Connection> {
        let stream =
            TcpStream::connect(("127.0.0.1", port)).with_context(|| format!("connecting to 127.0.0.1:{port}"))?;
        let reader = BufReader::new(stream.try_clone()?);
        let mut conn = Connection { writer: stream, reader };
        let auth = vec![b"AUTH".to_vec(), password.as_bytes().to_vec()];
        if let Reply::Error(e) = conn.call(&auth)? {
            bail!("the database refused its password: {}", String::from_utf8_lossy(&e));
        }
        Ok(conn)
    }

    fn call(&mut self, args: &[Vec<u8>]) -> std::io::Result<Reply> {
        self.writer.write_all(&encode_command(args))?;
        read_reply(&mut self.reader)
    }
}

/// A line of input without its line end; `None` at the end of input.
fn read_input_line(input: &mut impl BufRead) -> anyhow::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    input.by_ref().take(MAX_INPUT_LINE_BYTES).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') && line.len() as u64 == MAX_INPUT_LINE_BYTES {
        bail!("input line longer than {MAX_INPUT_LINE_BYTES} bytes");
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(Some(line))
}

/// The prompt: reads commands from stdin until `quit`, `exit` or the end of input.
pub(crate) fn run(port: u16, password: &str) -> anyhow::Result<()> {
    let mut conn = Some(Connection::open(port, password)?);
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout();
    loop {
        write!(out, "127.0.0.1:{port}> ")?;
        out.flush()?;
        let Some(line) = read_input_line(&mut input)? else {
            writeln!(out)?;
            return Ok(());
        };
        let Ok(args) = split_args(&line) else {
            writeln!(out, "Invalid argument(s)")?;
            continue;
        };
        let Some(command) = args.first() else { continue };
        if command.eq_ignore_ascii_case(b"quit") || command.eq_ignore_ascii_case(b"exit") {
            return Ok(());
        }
        // A connection the server closed is opened again for the next command, as redis-cli does.
        let live = match conn.take() {
            Some(c) => c,
            None => Connection::open(port, password)?,
        };
        conn = run_command(live, &args, &mut out)?;
    }
}

/// Sends one command and prints its replies; returns the connection if it is still usable.
fn run_command(mut conn: Connection, args: &[Vec<u8>], out: &mut impl Write) -> anyhow::Result<Option<Connection>> {
    match conn.call(args) {
        Ok(reply) => write!(out, "{}", format_reply(&reply, ""))?,
        Err(e) => {
            writeln!(out, "Error: {e}")?;
            return Ok(None);
        }
    }
    if !streams_replies(&args[0]) {
        return Ok(Some(conn));
    }
    writeln!(out, "Reading messages... (press Ctrl-C to quit)")?;
    loop {
        out.flush()?;
        match read_reply(&mut conn.reader) {
            Ok(reply) => write!(out, "{}", format_reply(&reply, ""))?,
            Err(_) => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<String> {
        split_args(line.as_bytes()).unwrap().into_iter().map(|a| String::from_utf8(a).unwrap()).collect()
    }

    #[test]
    fn splits_like_redis_cli() {
        assert_eq!(split("  SET foo   bar "), ["SET", "foo", "bar"]);
        assert_eq!(split(r#"SET "my key" 'a b'"#), ["SET", "my key", "a b"]);
        assert_eq!(split(r#"SET k "a\nb\x41\"""#), ["SET", "k", "a\nbA\""]);
        assert_eq!(split(r"SET k 'it\'s \n'"), ["SET", "k", "it's \\n"]);
        assert_eq!(split(r#"SET k foo"bar baz""#), ["SET", "k", "foobar baz"]);
        assert_eq!(split(r#"SET k """#), ["SET", "k", ""]);
        assert!(split("").is_empty());
        assert_eq!(split_args(br#"SET "unclosed"#), Err(InvalidArguments));
        assert_eq!(split_args(br#"SET "a"b"#), Err(InvalidArguments));
        assert_eq!(split_args(b"SET 'a"), Err(InvalidArguments));
    }

    fn parse(wire: &str) -> Reply {
        read_reply(&mut wire.as_bytes()).unwrap()
    }

    #[test]
    fn prints_replies_like_redis_cli() {
        assert_eq!(format_reply(&parse("+OK\r\n"), ""), "OK\n");
        assert_eq!(format_reply(&parse("$3\r\nbar\r\n"), ""), "\"bar\"\n");
        assert_eq!(format_reply(&parse("$-1\r\n"), ""), "(nil)\n");
        assert_eq!(format_reply(&parse(":1\r\n"), ""), "(integer) 1\n");
        assert_eq!(format_reply(&parse("-ERR unknown command 'FOO'\r\n"), ""), "(error) ERR unknown command 'FOO'\n");
        assert_eq!(format_reply(&parse("*0\r\n"), ""), "(empty array)\n");
        assert_eq!(format_reply(&parse("$4\r\na\"\n\x01\r\n"), ""), "\"a\\\"\\n\\x01\"\n");
        assert_eq!(format_reply(&parse("*2\r\n$1\r\na\r\n:2\r\n"), ""), "1) \"a\"\n2) (integer) 2\n");
        // Indexes are right-aligned to the widest; nested aggregates indent past the index.
        let ten: String = (0..10).map(|i| format!(":{i}\r\n")).collect();
        let out = format_reply(&parse(&format!("*10\r\n{ten}")), "");
        assert!(out.starts_with(" 1) (integer) 0\n 2) (integer) 1\n") && out.ends_with("10) (integer) 9\n"), "{out}");
        let nested = format_reply(&parse("*2\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"), "");
        assert_eq!(nested, "1) 1) \"a\"\n   2) \"b\"\n2) \"c\"\n");
        let map = format_reply(&parse("%2\r\n$1\r\nk\r\n:1\r\n$1\r\nj\r\n#t\r\n"), "");
        assert_eq!(map, "1# \"k\" => (integer) 1\n2# \"j\" => (true)\n");
        assert_eq!(format_reply(&parse("~1\r\n,1.5\r\n"), ""), "1~ (double) 1.5\n");
        assert_eq!(format_reply(&parse("=8\r\ntxt:info\r\n"), ""), "info\n");
        assert_eq!(format_reply(&parse("|1\r\n+a\r\n+b\r\n:7\r\n"), ""), "(integer) 7\n");
    }

    #[test]
    fn refuses_bad_replies() {
        assert!(read_reply(&mut &b"$5\r\nab\r\n"[..]).is_err());
        assert!(read_reply(&mut &b"?\r\n"[..]).is_err());
        assert!(read_reply(&mut &b"$999999999999\r\n"[..]).is_err());
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2);
        assert!(read_reply(&mut deep.as_bytes()).is_err());
    }
}
