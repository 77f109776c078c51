//! The replication link's wire format, without I/O: frames, messages, and the handshake's
//! message authentication codes.
//!
//! A frame is `[u32 LE length][u8 kind][body]`, the length counting kind and body. Integers
//! are little-endian; strings and byte fields are `[u32 LE length][bytes]`.
//!
//! Handshake: the primary's node sends `Challenge` (a random nonce); the replica answers
//! `Hello` (database, the offset it has applied, a nonce of its own, and an HMAC-SHA256 over
//! both nonces, the database and the offset with the cluster secret); the primary checks it
//! and answers `Accepted` with an HMAC over the replica's nonce, which proves to the replica
//! that it talks to a node of the same cluster. Then either a full copy
//! (`FullSyncBegin`, `SnapshotEntry`…, `FullSyncEnd`) or directly `Record`s follow, with
//! `Heartbeat`s while idle.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Largest frame accepted: one record or one snapshot entry (a whole collection) with room.
pub const MAX_FRAME_BYTES: usize = 768 << 20;
pub const NONCE_BYTES: usize = 32;
pub type Nonce = [u8; NONCE_BYTES];
pub type MacBytes = [u8; 32];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Challenge {
        nonce: Nonce,
    },
    /// `history` names the primary run the replica's data comes from (0: none): offsets of
    /// two runs of a primary need not mean the same records, so only a match may resume.
    Hello {
        database: String,
        applied_offset: u64,
        history: u64,
        nonce: Nonce,
        mac: MacBytes,
    },
    /// `history` is the primary's current run, which the replica keeps with its data.
    Accepted {
        history: u64,
        mac: MacBytes,
    },
    /// The handshake or the request was refused; the connection closes after it.
    Refused {
        reason: String,
    },
    /// A full copy at offset `offset` follows: every key as a snapshot entry.
    FullSyncBegin {
        offset: u64,
    },
    /// One key or function library, encoded as in snapshot files (`keyspace::codec`).
    SnapshotEntry {
        entry: Bytes,
    },
    FullSyncEnd,
    /// One change-log record, as the primary logged it.
    Record {
        offset: u64,
        payload: Bytes,
    },
    /// Sent while idle: the primary's newest offset (the replica's lag is measured from it).
    Heartbeat {
        last_offset: u64,
    },
}

impl Message {
    fn kind(&self) -> u8 {
        match self {
            Message::Challenge { .. } => 1,
            Message::Hello { .. } => 2,
            Message::Accepted { .. } => 3,
            Message::Refused { .. } => 4,
            Message::FullSyncBegin { .. } => 5,
            Message::SnapshotEntry { .. } => 6,
            Message::FullSyncEnd => 7,
            Message::Record { .. } => 8,
            Message::Heartbeat { .. } => 9,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("replication frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("unknown replication message kind {0}")]
    UnknownKind(u8),
    #[error("malformed replication message of kind {0}")]
    Malformed(u8),
}

/// Appends `msg` as one frame to `out`.
pub fn encode(msg: &Message, out: &mut BytesMut) {
    let start = out.len();
    out.put_u32_le(0);
    out.put_u8(msg.kind());
    match msg {
        Message::Challenge { nonce } => out.put_slice(nonce),
        Message::Hello { database, applied_offset, history, nonce, mac } => {
            put_bytes(out, database.as_bytes());
            out.put_u64_le(*applied_offset);
            out.put_u64_le(*history);
            out.put_slice(nonce);
            out.put_slice(mac);
        }
        Message::Accepted { history, mac } => {
            out.put_u64_le(*history);
            out.put_slice(mac);
        }
        Message::Refused { reason } => put_bytes(out, reason.as_bytes()),
        Message::FullSyncBegin { offset } => out.put_u64_le(*offset),
        Message::SnapshotEntry { entry } => out.put_slice(entry),
        Message::FullSyncEnd => {}
        Message::Record { offset, payload } => {
            out.put_u64_le(*offset);
            out.put_slice(payload);
        }
        Message::Heartbeat { last_offset } => out.put_u64_le(*last_offset),
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    out.put_u32_le(b.len() as u32);
    out.put_slice(b);
}

/// Takes one complete frame off the front of `buf`: `Ok(None)` until one is complete. The
/// length is checked before the frame is buffered, so a peer cannot make the reader hold more
/// than `MAX_FRAME_BYTES`.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Message>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(len));
    }
    if len == 0 {
        return Err(FrameError::Malformed(0));
    }
    if buf.len() < 4 + len {
        // Room for the rest, so the reader's buffer grows once per large frame.
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    let mut body = buf.split_to(len).freeze();
    let kind = body.get_u8();
    if !(1..=9).contains(&kind) {
        return Err(FrameError::UnknownKind(kind));
    }
    parse(kind, &mut body).map(Some).ok_or(FrameError::Malformed(kind))
}

/// The message of a frame body of a known kind; `None` if malformed.
fn parse(kind: u8, body: &mut Bytes) -> Option<Message> {
    let msg = match kind {
        1 => Message::Challenge { nonce: take_array(body)? },
        2 => {
            let database = String::from_utf8(take_bytes(body)?.to_vec()).ok()?;
            let applied_offset = take_u64(body)?;
            let history = take_u64(body)?;
            Message::Hello { database, applied_offset, history, nonce: take_array(body)?, mac: take_array(body)? }
        }
        3 => Message::Accepted { history: take_u64(body)?, mac: take_array(body)? },
        4 => Message::Refused { reason: String::from_utf8_lossy(&take_bytes(body)?).into_owned() },
        5 => Message::FullSyncBegin { offset: take_u64(body)? },
        6 => Message::SnapshotEntry { entry: std::mem::take(body) },
        7 => Message::FullSyncEnd,
        8 => Message::Record { offset: take_u64(body)?, payload: std::mem::take(body) },
        9 => Message::Heartbeat { last_offset: take_u64(body)? },
        _ => return None,
    };
    body.is_empty().then_some(msg)
}

fn take_u64(b: &mut Bytes) -> Option<u64> {
    (b.len() >= 8).then(|| b.get_u64_le())
}

fn take_array<const N: usize>(b: &mut Bytes) -> Option<[u8; N]> {
    if b.len() < N {
        return None;
    }
    let mut out = [0u8; N];
    b.copy_to_slice(&mut out);
    Some(out)
}

fn take_bytes(b: &mut Bytes) -> Option<Bytes> {
    if b.len() < 4 {
        return None;
    }
    let len = b.get_u32_le() as usize;
    (b.len() >= len).then(|| b.split_to(len))
}

fn mac_over(secret: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    for p in parts {
        mac.update(&(p.len() as u64).to_le_bytes());
        mac.update(p);
    }
    mac
}

/// What a `Hello` asks for, which its proof covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelloRequest<'a> {
    pub database: &'a str,
    pub applied_offset: u64,
    pub history: u64,
    pub nonce: &'a Nonce,
}

fn hello_hmac(secret: &[u8], challenge: &Nonce, req: &HelloRequest) -> Hmac<Sha256> {
    let (offset, history) = (req.applied_offset.to_le_bytes(), req.history.to_le_bytes());
    mac_over(secret, &[b"tern-replica-hello", challenge, req.database.as_bytes(), &offset, &history, req.nonce])
}

/// The replica's proof in `Hello`: the primary's challenge and the whole request, keyed with
/// the cluster secret.
pub fn hello_mac(secret: &[u8], challenge: &Nonce, req: &HelloRequest) -> MacBytes {
    hello_hmac(secret, challenge, req).finalize().into_bytes().into()
}

/// Checks a `Hello`'s proof in constant time.
pub fn hello_mac_ok(secret: &[u8], challenge: &Nonce, req: &HelloRequest, mac: &MacBytes) -> bool {
    hello_hmac(secret, challenge, req).verify_slice(mac).is_ok()
}

/// The primary's proof in `Accepted`, over the replica's nonce.
pub fn accepted_mac(secret: &[u8], replica_nonce: &Nonce, database: &str) -> MacBytes {
    mac_over(secret, &[b"tern-primary-accepted", replica_nonce, database.as_bytes()]).finalize().into_bytes().into()
}

pub fn accepted_mac_ok(secret: &[u8], replica_nonce: &Nonce, database: &str, mac: &MacBytes) -> bool {
    mac_over(secret, &[b"tern-primary-accepted", replica_nonce, database.as_bytes()]).verify_slice(mac).is_ok()
}

/// A fresh random nonce.
pub fn nonce() -> Nonce {
    use rand::RngCore;
    let mut n = [0u8; NONCE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut n);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kinds() -> Vec<Message> {
        vec![
            Message::Challenge { nonce: [7; 32] },
            Message::Hello { database: "db_1".into(), applied_offset: 42, history: 3, nonce: [1; 32], mac: [2; 32] },
            Message::Accepted { history: 4, mac: [3; 32] },
            Message::Refused { reason: "no such database".into() },
            Message::FullSyncBegin { offset: 9 },
            Message::SnapshotEntry { entry: Bytes::from_static(b"entry bytes") },
            Message::FullSyncEnd,
            Message::Record { offset: u64::MAX, payload: Bytes::from_static(b"\x03\0\0\0SET") },
            Message::Record { offset: 1, payload: Bytes::new() },
            Message::Heartbeat { last_offset: 5 },
        ]
    }

    #[test]
    fn every_message_round_trips_whole_and_byte_by_byte() {
        let mut wire = BytesMut::new();
        for m in all_kinds() {
            encode(&m, &mut wire);
        }
        let whole = wire.clone();
        let mut got = Vec::new();
        while let Some(m) = decode(&mut wire).unwrap() {
            got.push(m);
        }
        assert_eq!(got, all_kinds());
        assert!(wire.is_empty());
        // Fed one byte at a time, the same messages come out, each once complete.
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in whole.iter() {
            buf.put_u8(*b);
            while let Some(m) = decode(&mut buf).unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, all_kinds());
    }

    #[test]
    fn oversized_unknown_and_malformed_frames_are_errors() {
        let mut buf = BytesMut::new();
        buf.put_u32_le(MAX_FRAME_BYTES as u32 + 1);
        assert_eq!(decode(&mut buf), Err(FrameError::TooLarge(MAX_FRAME_BYTES + 1)));
        let mut buf = BytesMut::from(&[1u8, 0, 0, 0, 99][..]);
        assert_eq!(decode(&mut buf), Err(FrameError::UnknownKind(99)));
        // A heartbeat with 3 bytes instead of 8, and one with trailing bytes.
        let mut buf = BytesMut::from(&[4u8, 0, 0, 0, 9, 1, 2, 3][..]);
        assert_eq!(decode(&mut buf), Err(FrameError::Malformed(9)));
        let mut buf = BytesMut::from(&[10u8, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9][..]);
        assert_eq!(decode(&mut buf), Err(FrameError::Malformed(9)));
        let mut buf = BytesMut::from(&[0u8, 0, 0, 0][..]);
        assert_eq!(decode(&mut buf), Err(FrameError::Malformed(0)));
    }

    #[test]
    fn macs_bind_the_secret_nonces_database_and_offset() {
        let (challenge, n) = (nonce(), nonce());
        assert_ne!(challenge, n);
        let req = HelloRequest { database: "db", applied_offset: 7, history: 1, nonce: &n };
        let mac = hello_mac(b"secret", &challenge, &req);
        assert!(hello_mac_ok(b"secret", &challenge, &req, &mac));
        assert!(!hello_mac_ok(b"other", &challenge, &req, &mac));
        assert!(!hello_mac_ok(b"secret", &challenge, &HelloRequest { applied_offset: 8, ..req }, &mac));
        assert!(!hello_mac_ok(b"secret", &challenge, &HelloRequest { history: 2, ..req }, &mac));
        assert!(!hello_mac_ok(b"secret", &challenge, &HelloRequest { database: "db2", ..req }, &mac));
        assert!(!hello_mac_ok(b"secret", &n, &req, &mac));
        let acc = accepted_mac(b"secret", &n, "db");
        assert!(accepted_mac_ok(b"secret", &n, "db", &acc));
        assert!(!accepted_mac_ok(b"secret", &challenge, "db", &acc));
        assert!(!accepted_mac_ok(b"other", &n, "db", &acc));
    }
}
