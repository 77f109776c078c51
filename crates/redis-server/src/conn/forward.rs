//! Write forwarding on a replica: a single write command (not in MULTI, not a script, not a
//! blocking command) is sent to the primary's node over this connection's own upstream
//! connection, followed by `TERNOFFSET`; the primary's reply is relayed once this replica has
//! applied the primary's offset after the write, so the connection reads its own writes.

use super::Connection;
use crate::command::{CommandSpec, Flags, COMMANDS};
use crate::context::ClientState;
use crate::replication::Role;
use crate::tenant::Tenant;
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the primary's reply, and then for the replica to apply the write.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest reply relayed (a write's reply is small; this bounds the buffer).
const MAX_REPLY_BYTES: usize = 64 << 20;
const MAX_DEPTH: usize = 64;

/// The connection to the primary's node, authenticated with the database's password.
pub(super) struct Upstream {
    stream: TcpStream,
    input: BytesMut,
    /// The protocol it speaks (the client's when it connected): replies are relayed as is.
    protocol: resp::Protocol,
}

/// Whether this command, from this client, is forwarded to the primary: a single write, or
/// the EXEC of a transaction that queued writes for it.
pub(super) fn forwards(client: &ClientState, spec: Option<&CommandSpec>) -> bool {
    let Some(spec) = spec else { return false };
    if spec.name == "exec" {
        return forwards_transaction(client);
    }
    spec.is_write()
        && !spec.flags.contains(Flags::BLOCKING)
        && !spec.flags.contains(Flags::RUNS_SCRIPT)
        && client.multi.is_none()
        && crate::replication::refuses_writes(client)
}

fn forwards_transaction(client: &ClientState) -> bool {
    let Some(multi) = &client.multi else { return false };
    let writes = multi.queue.iter().any(|args| COMMANDS.lookup(&args[0]).is_some_and(|s| s.is_write()));
    !multi.aborted && writes && crate::replication::queues_for_primary(client)
}

impl Connection {
    /// Forwards one write, or a transaction at its EXEC, and emits the reply (or an error
    /// saying why it could not be forwarded).
    pub(super) async fn forward(&mut self, args: &[Bytes]) {
        let Some(tenant) = self.client.tenant.clone() else { return };
        let requests = match self.client.multi.take() {
            Some(multi) => {
                // The transaction ends here whatever the primary answers, as EXEC ends it.
                crate::commands::transactions::leave_multi(&mut self.client);
                let mut block = vec![vec![Bytes::from_static(b"MULTI")]];
                block.extend(multi.queue);
                block.push(args.to_vec());
                block
            }
            None => vec![args.to_vec()],
        };
        let reply = match self.forward_to_primary(&tenant, &requests).await {
            Ok(reply) => reply,
            Err(e) => {
                // The write may or may not have reached the primary, as with any lost reply.
                self.upstream = None;
                let msg = format!("ERR forwarding the write to the primary failed: {e}").replace(['\n', '\r'], " ");
                Bytes::from(format!("-{msg}\r\n"))
            }
        };
        self.out.extend_from_slice(&reply);
    }

    /// Sends `requests` and `TERNOFFSET`, and returns the reply to the last request once this
    /// replica applied the primary's offset (the replies before it are MULTI's and QUEUED).
    async fn forward_to_primary(&mut self, tenant: &Arc<Tenant>, requests: &[Vec<Bytes>]) -> std::io::Result<Bytes> {
        if self.upstream.as_ref().is_none_or(|up| up.protocol != self.client.protocol) {
            self.upstream = Some(connect_upstream(tenant, self.client.protocol).await?);
        }
        let Some(up) = self.upstream.as_mut() else { return Err(std::io::Error::other("no upstream")) };
        let mut request = BytesMut::new();
        for args in requests {
            request.extend_from_slice(&encode_request(args));
        }
        request.extend_from_slice(b"*1\r\n$10\r\nternoffset\r\n");
        up.stream.write_all(&request).await?;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        let mut reply = up.read_reply(deadline).await?;
        for _ in 1..requests.len() {
            reply = up.read_reply(deadline).await?;
        }
        let offset_reply = up.read_reply(deadline).await?;
        let offset = parse_integer(&offset_reply).ok_or_else(|| std::io::Error::other("no offset from the primary"))?;
        wait_applied(tenant, offset, deadline).await?;
        Ok(reply)
    }
}

async fn connect_upstream(tenant: &Tenant, protocol: resp::Protocol) -> std::io::Result<Upstream> {
    let Role::Replica(of) = tenant.replication.role() else {
        return Err(std::io::Error::other("the database is not a replica here"));
    };
    let addr = of.primary_redis_addr.ok_or_else(|| std::io::Error::other("the primary's address is unknown"))?;
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
        .await
        .map_err(|_| std::io::Error::other("connecting timed out"))??;
    stream.set_nodelay(true)?;
    let mut up = Upstream { stream, input: BytesMut::new(), protocol };
    let password = Bytes::copy_from_slice(&tenant.password.read());
    let hello = [
        Bytes::from_static(b"HELLO"),
        Bytes::from_static(if protocol == resp::Protocol::Resp3 { b"3" } else { b"2" }),
        Bytes::from_static(b"AUTH"),
        Bytes::from_static(b"default"),
        password,
    ];
    up.stream.write_all(&encode_request(&hello)).await?;
    let reply = up.read_reply(Instant::now() + REPLY_TIMEOUT).await?;
    if reply.first() == Some(&b'-') {
        return Err(std::io::Error::other(String::from_utf8_lossy(&reply).trim().to_string()));
    }
    Ok(up)
}

/// Waits until the replica has applied `offset` (the primary's after the write).
async fn wait_applied(tenant: &Tenant, offset: u64, deadline: Instant) -> std::io::Result<()> {
    let mut applied = tenant.replication.applied.subscribe();
    let reached = tokio::time::timeout_at(deadline.into(), applied.wait_for(|a| *a >= offset)).await;
    match reached {
        Ok(Ok(_)) => Ok(()),
        _ => Err(std::io::Error::other("the write did not reach this replica in time")),
    }
}

fn encode_request(args: &[Bytes]) -> BytesMut {
    let mut out = BytesMut::new();
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn parse_integer(reply: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(reply.strip_prefix(b":")?).ok()?;
    text.trim_end().parse().ok()
}

impl Upstream {
    /// One whole reply's bytes.
    async fn read_reply(&mut self, deadline: Instant) -> std::io::Result<Bytes> {
        loop {
            match reply_len(&self.input, 0) {
                Ok(Some(len)) => {
                    let reply = self.input.split_to(len).freeze();
                    return Ok(reply);
                }
                Ok(None) if self.input.len() > MAX_REPLY_BYTES => {
                    return Err(std::io::Error::other("the primary's reply is too large"))
                }
                Ok(None) => {}
                Err(()) => return Err(std::io::Error::other("malformed reply from the primary")),
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            let n = tokio::time::timeout(wait, self.stream.read_buf(&mut self.input))
                .await
                .map_err(|_| std::io::Error::other("the primary did not answer in time"))??;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// Length of the complete RESP2/RESP3 reply at the start of `buf`: `Ok(None)` while
/// incomplete, `Err` if malformed or nested deeper than `MAX_DEPTH`.
fn reply_len(buf: &[u8], depth: usize) -> Result<Option<usize>, ()> {
    if depth > MAX_DEPTH {
        return Err(());
    }
    let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else { return Ok(None) };
    let Some(&kind) = buf.first() else { return Ok(None) };
    let header = std::str::from_utf8(&buf[1..line_end]).map_err(|_| ())?;
    let after = line_end + 2;
    let count = || header.parse::<i64>().map_err(|_| ());
    match kind {
        b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => Ok(Some(after)),
        b'$' | b'!' | b'=' => {
            let n = count()?;
            if n < 0 {
                return Ok(Some(after));
            }
            let end = after + n as usize + 2;
            Ok((buf.len() >= end).then_some(end))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = count()?;
            let items = if matches!(kind, b'%' | b'|') { n.max(0) * 2 } else { n.max(0) };
            let mut pos = after;
            for _ in 0..items {
                match reply_len(&buf[pos..], depth + 1)? {
                    Some(len) => pos += len,
                    None => return Ok(None),
                }
            }
            Ok(Some(pos))
        }
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lengths_of_every_kind_and_incomplete_ones() {
        let whole: &[&[u8]] = &[
            b"+OK\r\n",
            b"-ERR x\r\n",
            b":42\r\n",
            b"$3\r\nabc\r\n",
            b"$-1\r\n",
            b"*2\r\n$1\r\na\r\n:1\r\n",
            b"%1\r\n+k\r\n*1\r\n_\r\n",
            b"*-1\r\n",
        ];
        for w in whole {
            let mut buf = w.to_vec();
            buf.extend_from_slice(b":7\r\n");
            assert_eq!(reply_len(&buf, 0), Ok(Some(w.len())), "{}", String::from_utf8_lossy(w));
            for cut in 0..w.len() {
                assert_eq!(reply_len(&w[..cut], 0), Ok(None), "{} cut at {cut}", String::from_utf8_lossy(w));
            }
        }
        assert_eq!(reply_len(b"?x\r\n", 0), Err(()));
        assert_eq!(parse_integer(b":17\r\n"), Some(17));
    }
}
