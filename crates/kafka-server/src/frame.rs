//! Kafka framing without I/O: every request and response is a 4-byte big-endian size followed
//! by that many bytes. The size is checked against a limit before any of the body is buffered.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

/// Why a byte stream cannot be a Kafka request stream; the connection is closed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("request of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: i64, limit: usize },
    #[error("negative request size {0}")]
    NegativeSize(i32),
}

/// Takes one whole frame (without its size prefix) off the front of `buf`, or `None` when more
/// bytes are needed. `need` tells how many bytes the caller should wait for in total.
pub fn take_frame(buf: &mut BytesMut, max_frame_bytes: usize) -> Result<Option<Bytes>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if size < 0 {
        return Err(FrameError::NegativeSize(size));
    }
    let size = size as usize;
    if size > max_frame_bytes {
        return Err(FrameError::TooLarge { size: size as i64, limit: max_frame_bytes });
    }
    if buf.len() < 4 + size {
        // Reserve once for the whole frame so a large request is read without repeated growth.
        buf.reserve(4 + size - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size).freeze()))
}

/// A request whose header is decoded; the body stays encoded until the handler decodes it
/// with the version it supports.
#[derive(Debug)]
pub struct Request {
    pub api_key: ApiKey,
    pub version: i16,
    pub header: RequestHeader,
    pub body: Bytes,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("request too short for a header")]
    Short,
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("malformed request header: {0}")]
    Malformed(String),
}

/// Decodes the request header (its version depends on the API key and version).
pub fn parse_request(mut frame: Bytes) -> Result<Request, HeaderError> {
    if frame.len() < 8 {
        return Err(HeaderError::Short);
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api_key = ApiKey::try_from(key).map_err(|_| HeaderError::UnknownApiKey(key))?;
    // ApiVersions requests of versions this codec does not know must still be answered
    // (pitfall 2 of the guide), so their header is read as the oldest layout, which every
    // later layout starts with.
    let header_version = if api_key == ApiKey::ApiVersions && version > api_key.valid_versions().max {
        1
    } else {
        api_key.request_header_version(version)
    };
    let header =
        RequestHeader::decode(&mut frame, header_version).map_err(|e| HeaderError::Malformed(e.to_string()))?;
    Ok(Request { api_key, version, header, body: frame })
}

/// Encodes a whole response frame: size, response header, body.
pub fn encode_response(api_key: ApiKey, version: i16, correlation_id: i32, body: &[u8]) -> Bytes {
    // The ApiVersions response header is always v0, even for flexible versions (pitfall 1).
    let header_version = if api_key == ApiKey::ApiVersions { 0 } else { api_key.response_header_version(version) };
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut header_bytes = BytesMut::with_capacity(8);
    // Encoding a header with no tagged fields cannot fail.
    if header.encode(&mut header_bytes, header_version).is_err() {
        header_bytes.clear();
        header_bytes.put_i32(correlation_id);
    }
    let mut out = BytesMut::with_capacity(4 + header_bytes.len() + body.len());
    out.put_u32((header_bytes.len() + body.len()) as u32);
    out.put_slice(&header_bytes);
    out.put_slice(body);
    out.freeze()
}

/// Encodes a message body with the given version.
pub fn encode_body<T: Encodable>(message: &T, version: i16) -> anyhow::Result<Bytes> {
    let mut out = BytesMut::with_capacity(message.compute_size(version)?);
    message.encode(&mut out, version)?;
    Ok(out.freeze())
}

/// Decodes a message body with the given version.
pub fn decode_body<T: Decodable>(body: &mut Bytes, version: i16) -> anyhow::Result<T> {
    T::decode(body, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_split_and_limited() {
        let mut buf = BytesMut::new();
        buf.put_i32(3);
        buf.put_slice(b"ab");
        assert_eq!(take_frame(&mut buf, 10), Ok(None));
        buf.put_slice(b"c");
        buf.put_i32(1);
        assert_eq!(take_frame(&mut buf, 10), Ok(Some(Bytes::from_static(b"abc"))));
        assert_eq!(take_frame(&mut buf, 10), Ok(None));
        let mut big = BytesMut::new();
        big.put_i32(11);
        assert_eq!(take_frame(&mut big, 10), Err(FrameError::TooLarge { size: 11, limit: 10 }));
        let mut negative = BytesMut::new();
        negative.put_i32(-5);
        assert_eq!(take_frame(&mut negative, 10), Err(FrameError::NegativeSize(-5)));
    }

    #[test]
    fn unknown_api_keys_and_short_headers_are_errors() {
        assert_eq!(parse_request(Bytes::from_static(b"\x00\x12")).unwrap_err(), HeaderError::Short);
        let frame = Bytes::from_static(b"\x7f\x00\x00\x00\x00\x00\x00\x01\xff\xff");
        assert_eq!(parse_request(frame).unwrap_err(), HeaderError::UnknownApiKey(0x7f00));
    }

    #[test]
    fn api_versions_response_header_has_no_tagged_fields() {
        let frame = encode_response(ApiKey::ApiVersions, 3, 7, b"xy");
        assert_eq!(&frame[..], b"\x00\x00\x00\x06\x00\x00\x00\x07xy");
        // Metadata v9 is flexible: its response header carries an empty tagged-field section.
        let frame = encode_response(ApiKey::Metadata, 9, 7, b"");
        assert_eq!(&frame[..], b"\x00\x00\x00\x05\x00\x00\x00\x07\x00");
    }
}
