//! One end of a replication connection: blocking reads and writes of `frame` messages over
//! a TCP stream, with bounded buffers (one frame at most, `frame::MAX_FRAME_BYTES`).

use super::frame::{self, FrameError, Message};
use bytes::BytesMut;
use std::io::{Read, Write};
use std::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("refused: {0}")]
    Refused(String),
}

pub fn protocol(what: impl Into<String>) -> LinkError {
    LinkError::Protocol(what.into())
}

/// Bytes read from the socket per call.
const READ_CHUNK: usize = 64 * 1024;
/// Queued outgoing bytes that trigger a write (so a batch goes out in few syscalls).
pub const FLUSH_BYTES: usize = 256 * 1024;

pub struct Link {
    stream: TcpStream,
    input: BytesMut,
    output: BytesMut,
}

impl Link {
    pub fn new(stream: TcpStream) -> std::io::Result<Link> {
        stream.set_nodelay(true)?;
        Ok(Link { stream, input: BytesMut::with_capacity(READ_CHUNK), output: BytesMut::new() })
    }

    /// The next message, reading as needed (bounded by the socket's read timeout).
    pub fn read(&mut self) -> Result<Message, LinkError> {
        loop {
            if let Some(msg) = frame::decode(&mut self.input)? {
                return Ok(msg);
            }
            let mut chunk = [0u8; READ_CHUNK];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(LinkError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            self.input.extend_from_slice(&chunk[..n]);
        }
    }

    /// A message already received in full, without reading the socket.
    pub fn buffered(&mut self) -> Result<Option<Message>, LinkError> {
        Ok(frame::decode(&mut self.input)?)
    }

    /// Queues a message; written once `FLUSH_BYTES` are queued or at `flush`.
    pub fn queue(&mut self, msg: &Message) -> std::io::Result<()> {
        frame::encode(msg, &mut self.output);
        if self.output.len() >= FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        if !self.output.is_empty() {
            self.stream.write_all(&self.output)?;
            self.output.clear();
        }
        Ok(())
    }

    pub fn send(&mut self, msg: &Message) -> std::io::Result<()> {
        self.queue(msg)?;
        self.flush()
    }
}
