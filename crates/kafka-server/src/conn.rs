//! The Kafka listener and one task per connection: read a frame, route it, write the response.
//! Requests of one connection are answered in order, as Kafka does. Produce requests are
//! appended as soon as they are read and answered when durable, up to
//! `MAX_PRODUCES_IN_FLIGHT` at once, so that one fsync covers several requests (acks=all).
//! Response parts that are file ranges (Fetch records) go from the file to the socket with
//! `sendfile` on Linux, and are read and written elsewhere.

use crate::broker::Broker;
use crate::frame::{self, Part, Parts, Request};
use crate::router::{self, Auth, Handler};
use crate::session::Session;
use bytes::{Bytes, BytesMut};
use kafka_log::FileRange;
use kafka_protocol::messages::ApiKey;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};

/// Most connections served at once by one broker; more wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 10_000;

/// Accepts connections forever.
pub async fn serve(listener: TcpListener, broker: Arc<Broker>) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        match listener.accept().await {
            Ok((stream, peer)) => {
                let broker = broker.clone();
                tokio::spawn(async move {
                    serve_connection(broker, stream, peer).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "kafka accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Most Produce requests of one connection appended but not yet answered (waiting for their
/// fsync). Past it the connection stops reading until the oldest is answered.
pub const MAX_PRODUCES_IN_FLIGHT: usize = 16;

/// A Produce whose records are appended, waiting to be answered in its turn.
struct InFlight {
    version: i16,
    correlation_id: i32,
    answer: crate::apis::produce::Answer,
}

pub async fn serve_connection(broker: Arc<Broker>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let max_request_bytes = broker.limits.max_request_bytes;
    let mut session = Session::new(broker, peer);
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut in_flight = VecDeque::with_capacity(MAX_PRODUCES_IN_FLIGHT);
    loop {
        let frame = match frame::take_frame(&mut buf, max_request_bytes) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                if buf.capacity() - buf.len() < 4096 {
                    buf.reserve(64 * 1024);
                }
                // While waiting for bytes, answer produces whose fsync completed; answers first,
                // so an acks=1 answer (ready at once) is not held behind a read.
                tokio::select! {
                    biased;
                    answered = oldest_answer(&mut in_flight), if !in_flight.is_empty() => {
                        if !write_answer(&mut writer, answered, peer).await {
                            return;
                        }
                        continue;
                    }
                    read = reader.read_buf(&mut buf) => match read {
                        Ok(0) => return,
                        Ok(_) => continue,
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "kafka connection read failed");
                            return;
                        }
                    },
                }
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing kafka connection");
                return;
            }
        };
        if session.raw_sasl {
            let Some(reply) = crate::apis::sasl::raw_step(&mut session, &frame) else { return };
            let mut out = Vec::with_capacity(4 + reply.len());
            out.extend_from_slice(&(reply.len() as u32).to_be_bytes());
            out.extend_from_slice(&reply);
            if writer.write_all(&out).await.is_err() {
                return;
            }
            continue;
        }
        let request = match frame::parse_request(frame) {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing kafka connection");
                return;
            }
        };
        if request.api_key == ApiKey::Produce {
            // Only ApiVersions is ever answered without running; a refused Produce closes.
            if admit(&session, &request).is_err() {
                return;
            }
            while in_flight.len() >= MAX_PRODUCES_IN_FLIGHT {
                let answered = oldest_answer(&mut in_flight).await;
                if !write_answer(&mut writer, answered, peer).await {
                    return;
                }
            }
            let (version, correlation_id) = (request.version, request.header.correlation_id);
            match crate::apis::produce::append(&mut session, request) {
                Ok(answer) => in_flight.push_back(InFlight { version, correlation_id, answer }),
                Err(e) => {
                    tracing::warn!(%peer, version, error = format!("{e:#}"), "bad Kafka request; closing the connection");
                    return;
                }
            }
            continue;
        }
        // Any other request is answered after the produces before it, in order.
        while !in_flight.is_empty() {
            let answered = oldest_answer(&mut in_flight).await;
            if !write_answer(&mut writer, answered, peer).await {
                return;
            }
        }
        let Some(response) = dispatch(&mut session, request).await else { return };
        if let Err(e) = write_parts(&mut writer, response).await {
            // Part of the frame may be out already: the stream cannot be resynchronised.
            tracing::debug!(%peer, error = %e, "kafka connection write failed");
            return;
        }
    }
}

/// Waits for the oldest in-flight produce. Cancel-safe: until it completes, the produce stays
/// queued with its progress.
async fn oldest_answer(in_flight: &mut VecDeque<InFlight>) -> Option<(InFlight, anyhow::Result<Bytes>)> {
    let result = (&mut in_flight.front_mut()?.answer).await;
    in_flight.pop_front().map(|item| (item, result))
}

/// Writes a produce's response; `false` closes the connection.
async fn write_answer(
    writer: &mut OwnedWriteHalf,
    answered: Option<(InFlight, anyhow::Result<Bytes>)>,
    peer: SocketAddr,
) -> bool {
    let Some((item, result)) = answered else { return true };
    match result {
        // acks=0: no response.
        Ok(body) if body.is_empty() => true,
        Ok(body) => {
            let frame = frame::encode_response(ApiKey::Produce, item.version, item.correlation_id, body.into());
            write_parts(writer, frame).await.is_ok()
        }
        Err(e) => {
            tracing::warn!(%peer, version = item.version, error = format!("{e:#}"), "bad Kafka request; closing the connection");
            false
        }
    }
}

/// Why a request is not run.
enum Refusal {
    /// What Kafka does with a request it cannot serve: unknown API, unsupported version, or
    /// anything before authentication.
    Close,
    /// Answered without running a handler (ApiVersions of an unknown version).
    Answer(Parts),
}

/// The route of a request that may run now.
fn admit(session: &Session, request: &Request) -> Result<&'static router::Route, Refusal> {
    let peer = session.peer;
    let (api_key, version) = (request.api_key, request.version);
    let Some(route) = router::route(api_key) else {
        tracing::warn!(%peer, ?api_key, "unsupported Kafka API; closing the connection");
        return Err(Refusal::Close);
    };
    if version < route.min_version || version > route.max_version {
        if api_key == ApiKey::ApiVersions {
            let body = crate::apis::api_versions::unsupported_version_body();
            return Err(Refusal::Answer(frame::encode_response(
                api_key,
                0,
                request.header.correlation_id,
                body.into(),
            )));
        }
        tracing::warn!(%peer, ?api_key, version, "unsupported Kafka API version; closing the connection");
        return Err(Refusal::Close);
    }
    if route.auth == Auth::Required && !session.is_authenticated() {
        tracing::warn!(%peer, ?api_key, "Kafka request before SASL authentication; closing the connection");
        return Err(Refusal::Close);
    }
    Ok(route)
}

/// Runs one request; `None` closes the connection.
pub async fn dispatch(session: &mut Session, mut request: Request) -> Option<Parts> {
    let peer = session.peer;
    let api_key = request.api_key;
    let version = request.version;
    let correlation_id = request.header.correlation_id;
    let route = match admit(session, &request) {
        Ok(route) => route,
        Err(Refusal::Close) => return None,
        Err(Refusal::Answer(parts)) => return Some(parts),
    };
    // Fetch is called here rather than through its route, whose handler copies the records:
    // this one answers with file ranges that `write_parts` sends from the files.
    let result = match route.handler {
        _ if api_key == ApiKey::Fetch => crate::apis::fetch::fetch(session, request).await,
        Handler::Now(handler) => handler(session, &mut request).map(Parts::from),
        Handler::Later(handler) => handler(session, request).await.map(Parts::from),
    };
    match result {
        // An empty body means the request expects no response (Produce with acks=0).
        Ok(body) if body.is_empty() => Some(Parts::default()),
        Ok(body) => Some(frame::encode_response(api_key, version, correlation_id, body)),
        Err(e) => {
            tracing::warn!(%peer, ?api_key, version, error = format!("{e:#}"), "bad Kafka request; closing the connection");
            None
        }
    }
}

/// Writes a response's parts in order.
async fn write_parts(writer: &mut OwnedWriteHalf, parts: Parts) -> io::Result<()> {
    for part in parts.0 {
        match part {
            Part::Bytes(bytes) => writer.write_all(&bytes).await?,
            Part::File(range) => send_range(writer, &range).await?,
        }
    }
    Ok(())
}

/// Largest piece read into memory when a range cannot be sent with `sendfile`.
const COPY_CHUNK_BYTES: u64 = 256 * 1024;

/// Sends a file range: with `sendfile` where possible, else by reading and writing it.
async fn send_range(writer: &mut OwnedWriteHalf, range: &FileRange) -> io::Result<()> {
    let sent = match range.file.raw_fd() {
        Some(fd) => sendfile::send(writer.as_ref(), fd, range).await?,
        None => 0,
    };
    let mut position = range.position + sent;
    let end = range.position + range.len;
    let mut chunk = Vec::new();
    while position < end {
        chunk.resize((end - position).min(COPY_CHUNK_BYTES) as usize, 0);
        range.file.read_at(&mut chunk, position)?;
        writer.write_all(&chunk).await?;
        position += chunk.len() as u64;
    }
    Ok(())
}

#[cfg(target_os = "linux")]
mod sendfile {
    use kafka_log::FileRange;
    use std::io;
    use std::os::fd::{AsRawFd, RawFd};
    use tokio::io::Interest;
    use tokio::net::TcpStream;

    /// Sends as much of `range` as `sendfile` will, waiting while the socket is full. Returns
    /// the bytes sent; fewer than the range only when the file system cannot `sendfile` (the
    /// caller copies the rest). The file's pages come from the page cache; a page not in it
    /// is read from the disk within the call, as Kafka's network threads do.
    pub async fn send(stream: &TcpStream, file: RawFd, range: &FileRange) -> io::Result<u64> {
        let socket = stream.as_raw_fd();
        let end = range.position + range.len;
        let mut offset = range.position;
        while offset < end {
            stream.writable().await?;
            let count = (end - offset).min(1 << 30) as usize;
            let result = stream.try_io(Interest::WRITABLE, || {
                let mut file_offset = libc::off_t::try_from(offset).map_err(io::Error::other)?;
                // SAFETY: both descriptors stay open during the call (the socket is borrowed,
                // the file is held by the range's `Arc`) and `file_offset` is a live local.
                let sent = unsafe { libc::sendfile(socket, file, &mut file_offset, count) };
                if sent < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(sent as u64)
            });
            match result {
                Ok(0) => {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "segment file shorter than its range"))
                }
                Ok(sent) => offset += sent,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(offset - range.position)
    }
}

#[cfg(not(target_os = "linux"))]
mod sendfile {
    use kafka_log::FileRange;
    use std::io;
    use std::os::fd::RawFd;
    use tokio::net::TcpStream;

    /// No `sendfile` here: the caller copies the whole range.
    pub async fn send(_stream: &TcpStream, _file: RawFd, _range: &FileRange) -> io::Result<u64> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::os::fd::RawFd;

    /// A file with no descriptor: its ranges must take the copying path.
    #[derive(Debug)]
    struct MemoryFile(Vec<u8>);

    impl kafka_log::SegmentFile for MemoryFile {
        fn write_at(&self, _: &[u8], _: u64) -> io::Result<()> {
            Err(io::Error::other("read-only"))
        }
        fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
            let start = position as usize;
            buf.copy_from_slice(self.0.get(start..start + buf.len()).ok_or(io::ErrorKind::UnexpectedEof)?);
            Ok(())
        }
        fn sync(&self) -> io::Result<()> {
            Ok(())
        }
        fn set_len(&self, _: u64) -> io::Result<()> {
            Ok(())
        }
        fn size_bytes(&self) -> io::Result<u64> {
            Ok(self.0.len() as u64)
        }
        fn raw_fd(&self) -> Option<RawFd> {
            None
        }
    }

    /// Sends `parts` through a real loopback socket and returns what the peer read.
    async fn through_socket(parts: Parts) -> io::Result<Vec<u8>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        let (_, mut writer) = server.into_split();
        let reader = tokio::spawn(async move {
            let mut client = client;
            let mut out = Vec::new();
            client.read_to_end(&mut out).await.map(|_| out)
        });
        let written = write_parts(&mut writer, parts).await;
        drop(writer);
        let read = reader.await.map_err(io::Error::other)??;
        written.map(|()| read)
    }

    #[tokio::test]
    async fn file_ranges_are_sent_between_bytes_in_order() {
        // Larger than a socket buffer, so the sender waits for the reader in between.
        let content: Vec<u8> = (0..6_000_000u32).map(|i| (i % 253) as u8).collect();
        let on_disk = crate::frame::tests::file_with(&content);
        let in_memory: Arc<dyn kafka_log::SegmentFile> = Arc::new(MemoryFile(content.clone()));
        for file in [on_disk, in_memory] {
            let parts = Parts(vec![
                Part::Bytes(Bytes::from_static(b"head")),
                Part::File(FileRange { file: file.clone(), position: 3, len: 5_000_000 }),
                Part::Bytes(Bytes::from_static(b"mid")),
                Part::File(FileRange { file, position: 5_999_990, len: 10 }),
            ]);
            let expected = parts.to_bytes().unwrap();
            assert_eq!(&expected[4..10], &content[3..9]);
            assert_eq!(through_socket(parts).await.unwrap(), expected);
        }
    }

    #[tokio::test]
    async fn a_range_past_the_end_of_its_file_fails_the_write() {
        let file = crate::frame::tests::file_with(b"short file");
        let parts = Parts(vec![Part::File(FileRange { file, position: 5, len: 100 })]);
        assert!(through_socket(parts).await.is_err());
    }
}
