//! Kafka framing without I/O: every request and response is a 4-byte big-endian size followed
//! by that many bytes. The size is checked against a limit before any of the body is buffered.
//! A response is a list of parts, bytes or ranges of segment files, so that Fetch can send
//! records straight from the files (`sendfile`) instead of copying them into the response.

use bytes::buf::UninitSlice;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_log::{FileRange, ReadSlice};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::buf::ByteBufMut;
use kafka_protocol::protocol::{Decodable, Encodable};
use std::io;

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

/// One piece of a response, written in order.
#[derive(Debug, Clone)]
pub enum Part {
    Bytes(Bytes),
    /// Bytes of a segment file, sent from the file where the OS allows.
    File(FileRange),
}

impl Part {
    pub fn len(&self) -> usize {
        match self {
            Part::Bytes(bytes) => bytes.len(),
            Part::File(range) => range.len as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A response body, or a whole response frame (size, header, body), as parts.
#[derive(Debug, Clone, Default)]
pub struct Parts(pub Vec<Part>);

impl Parts {
    pub fn len(&self) -> usize {
        self.0.iter().map(Part::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies everything into one buffer, reading the file ranges: the path for callers that
    /// need bytes (the router's handlers, tests, a file with no descriptor).
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        if let [Part::Bytes(bytes)] = self.0.as_slice() {
            return Ok(bytes.clone());
        }
        let mut out = BytesMut::with_capacity(self.len());
        for part in &self.0 {
            match part {
                Part::Bytes(bytes) => out.put_slice(bytes),
                Part::File(range) => {
                    let start = out.len();
                    out.resize(start + range.len as usize, 0);
                    range.file.read_at(&mut out[start..], range.position)?;
                }
            }
        }
        Ok(out.freeze())
    }
}

impl From<Bytes> for Parts {
    fn from(bytes: Bytes) -> Self {
        Parts(vec![Part::Bytes(bytes)])
    }
}

/// Encodes a whole response frame: size, response header, body. The size and header are
/// joined to the body's first bytes, so a response without file ranges is one buffer (one
/// write) and one with ranges alternates bytes and ranges.
pub fn encode_response(api_key: ApiKey, version: i16, correlation_id: i32, body: Parts) -> Parts {
    // The ApiVersions response header is always v0, even for flexible versions (pitfall 1).
    let header_version = if api_key == ApiKey::ApiVersions { 0 } else { api_key.response_header_version(version) };
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut header_bytes = BytesMut::with_capacity(8);
    // Encoding a header with no tagged fields cannot fail.
    if header.encode(&mut header_bytes, header_version).is_err() {
        header_bytes.clear();
        header_bytes.put_i32(correlation_id);
    }
    let mut parts = body.0.into_iter().peekable();
    let first = match parts.peek() {
        Some(Part::Bytes(_)) => parts.next(),
        _ => None,
    };
    let first_len = first.as_ref().map_or(0, Part::len);
    let body_len = first_len + parts.clone().map(|part| part.len()).sum::<usize>();
    let mut out = BytesMut::with_capacity(4 + header_bytes.len() + first_len);
    out.put_u32((header_bytes.len() + body_len) as u32);
    out.put_slice(&header_bytes);
    if let Some(Part::Bytes(first)) = first {
        out.put_slice(&first);
    }
    let mut frame = Vec::with_capacity(1 + parts.len());
    frame.push(Part::Bytes(out.freeze()));
    frame.extend(parts);
    Parts(frame)
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

/// Stands for a records field while a response is encoded: `encode_body_with_files` knows it
/// by its address (nothing else can point into this static) and puts file ranges in its place.
static RECORDS_PLACEHOLDER: [u8; 1] = [0];

pub fn records_placeholder() -> Bytes {
    Bytes::from_static(&RECORDS_PLACEHOLDER)
}

/// How the protocol version encodes a records field's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BytesEncoding {
    /// `NULLABLE_BYTES`: a 4-byte length.
    Classic,
    /// `COMPACT_NULLABLE_BYTES` of flexible versions: an unsigned varint of length + 1.
    Compact,
}

/// Encodes `message`, replacing each `records_placeholder()` (in encoding order) by the next
/// of `records`, with the length prefix the real records need: the body is then exactly the
/// one the records themselves would have given, without their bytes passing through here.
pub fn encode_body_with_files<T: Encodable>(
    message: &T,
    version: i16,
    encoding: BytesEncoding,
    records: Vec<ReadSlice>,
) -> anyhow::Result<Parts> {
    let size = message.compute_size(version)?;
    let mut buf = SplicingBuf {
        current: BytesMut::with_capacity(size),
        done: Vec::with_capacity(1 + 2 * records.len()),
        done_len: 0,
        records: records.into_iter(),
        encoding,
        error: None,
    };
    message.encode(&mut buf, version)?;
    if let Some(error) = buf.error {
        anyhow::bail!("response encoding: {error}");
    }
    if buf.records.next().is_some() {
        anyhow::bail!("response encoding: fewer records fields than file ranges");
    }
    if !buf.current.is_empty() {
        buf.done.push(Part::Bytes(buf.current.freeze()));
    }
    Ok(Parts(buf.done))
}

/// The encoder's buffer for `encode_body_with_files`.
struct SplicingBuf {
    current: BytesMut,
    done: Vec<Part>,
    done_len: usize,
    records: std::vec::IntoIter<ReadSlice>,
    encoding: BytesEncoding,
    error: Option<&'static str>,
}

impl SplicingBuf {
    /// The encoder just wrote the placeholder's length prefix (length 1): replace it with the
    /// real length and append the file ranges.
    fn splice(&mut self) {
        let Some(slice) = self.records.next() else {
            self.error = Some("more records fields than file ranges");
            return;
        };
        let prefix_of_one: &[u8] = match self.encoding {
            BytesEncoding::Classic => &[0, 0, 0, 1],
            BytesEncoding::Compact => &[2],
        };
        if !self.current.ends_with(prefix_of_one) {
            self.error = Some("the records field is not where it was expected");
            return;
        }
        self.current.truncate(self.current.len() - prefix_of_one.len());
        let len = slice.len();
        let written = match self.encoding {
            BytesEncoding::Classic => i32::try_from(len).map(|len| self.current.put_i32(len)),
            BytesEncoding::Compact => u32::try_from(len + 1).map(|len| put_unsigned_varint(&mut self.current, len)),
        };
        if written.is_err() {
            self.error = Some("records too large for their length field");
            return;
        }
        let head = self.current.split().freeze();
        self.done_len += head.len() + len as usize;
        self.done.push(Part::Bytes(head));
        self.done.extend(slice.ranges.into_iter().map(Part::File));
    }
}

/// Kafka's unsigned varint: 7 bits a byte, low bits first, high bit set on all but the last.
fn put_unsigned_varint(out: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

// SAFETY: every method delegates to the inner `BytesMut`, which upholds `BufMut`'s contract;
// `put_slice` either delegates or splices (which also only writes through `BytesMut`).
unsafe impl BufMut for SplicingBuf {
    fn remaining_mut(&self) -> usize {
        self.current.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller initialised `cnt` bytes of `chunk_mut()`, which is `current`'s.
        unsafe { self.current.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.current.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if std::ptr::eq(src, &RECORDS_PLACEHOLDER[..]) {
            self.splice();
        } else {
            self.current.put_slice(src);
        }
    }
}

/// Gaps (seek/range) are never used by the generated message encoders; they work within the
/// bytes written since the last file range.
impl ByteBufMut for SplicingBuf {
    fn offset(&self) -> usize {
        self.done_len + self.current.len()
    }

    fn seek(&mut self, offset: usize) {
        self.current.resize(offset.saturating_sub(self.done_len), 0);
    }

    fn range(&mut self, r: std::ops::Range<usize>) -> &mut [u8] {
        let start = r.start.saturating_sub(self.done_len);
        let end = r.end.saturating_sub(self.done_len).min(self.current.len());
        &mut self.current[start.min(end)..end]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::{FetchResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use std::sync::Arc;

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

    /// A segment-like file holding `content`, for file ranges.
    pub(crate) fn file_with(content: &[u8]) -> Arc<dyn kafka_log::SegmentFile> {
        let path = std::env::temp_dir().join(format!("tern-frame-test-{}", uuid::Uuid::new_v4()));
        let file = kafka_log::SegmentDisk::open(&kafka_log::RealDisk, &path, kafka_log::OpenMode::Create).unwrap();
        file.write_at(content, 0).unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    fn partition(index: i32, records: Option<Bytes>) -> PartitionData {
        PartitionData::default().with_partition_index(index).with_high_watermark(77).with_records(records)
    }

    /// Every Fetch version served: the body with file ranges, read back, is byte for byte the
    /// body the codec gives with the records in memory (lengths past one varint byte too).
    #[test]
    fn fetch_bodies_with_file_ranges_are_byte_exact() {
        let content: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let file = file_with(&content);
        let range = |position: u64, len: u64| FileRange { file: file.clone(), position, len };
        // Two ranges in one partition, one in another, an empty one, and a partition with none.
        let slices = vec![
            ReadSlice { ranges: vec![range(10, 300), range(5000, 20_000)] },
            ReadSlice { ranges: vec![range(0, 5)] },
        ];
        let real = |slice: &ReadSlice| Some(Bytes::from(slice.to_vec().unwrap()));
        let topics = |records: [Option<Bytes>; 2]| {
            let [first, second] = records;
            vec![
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_static_str("alpha")))
                    .with_partitions(vec![partition(0, first), partition(1, Some(Bytes::new()))]),
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_static_str("beta")))
                    .with_partitions(vec![partition(0, None), partition(3, second)]),
            ]
        };
        for version in 4..=12 {
            let expected = FetchResponse::default().with_responses(topics([real(&slices[0]), real(&slices[1])]));
            let expected = encode_body(&expected, version).unwrap();
            let spliced = FetchResponse::default()
                .with_responses(topics([Some(records_placeholder()), Some(records_placeholder())]));
            let encoding = if version >= 12 { BytesEncoding::Compact } else { BytesEncoding::Classic };
            let parts = encode_body_with_files(&spliced, version, encoding, slices.clone()).unwrap();
            assert_eq!(parts.0.iter().filter(|p| matches!(p, Part::File(_))).count(), 3);
            assert_eq!(parts.len(), expected.len());
            assert_eq!(parts.to_bytes().unwrap(), expected, "version {version}");
            let framed = encode_response(ApiKey::Fetch, version, 9, parts).to_bytes().unwrap();
            let copied = encode_response(ApiKey::Fetch, version, 9, expected.into()).to_bytes().unwrap();
            assert_eq!(framed, copied, "version {version}");
        }
    }

    #[test]
    fn placeholders_and_ranges_must_pair_up() {
        let file = file_with(b"abc");
        let slice = ReadSlice { ranges: vec![FileRange { file, position: 0, len: 3 }] };
        let one = FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default().with_partitions(vec![partition(0, Some(records_placeholder()))])
        ]);
        assert!(encode_body_with_files(&one, 11, BytesEncoding::Classic, vec![]).is_err());
        assert!(encode_body_with_files(&one, 11, BytesEncoding::Classic, vec![slice.clone(), slice.clone()]).is_err());
        // The wrong length encoding for the version is noticed, not sent.
        assert!(encode_body_with_files(&one, 12, BytesEncoding::Classic, vec![slice.clone()]).is_err());
        assert!(encode_body_with_files(&one, 11, BytesEncoding::Classic, vec![slice]).is_ok());
    }

    #[test]
    fn unsigned_varints_match_the_codec() {
        for value in [1u32, 127, 128, 300, 16_383, 16_384, 20_000] {
            let mut ours = BytesMut::new();
            put_unsigned_varint(&mut ours, value);
            // Flexible PartitionData ends with the records (varint of length + 1, bytes) and an
            // empty tagged-field section.
            let mut theirs = BytesMut::new();
            let records = Bytes::from(vec![0u8; value as usize - 1]);
            PartitionData::default().with_records(Some(records)).encode(&mut theirs, 12).unwrap();
            let at = theirs.len() - 1 - (value as usize - 1) - ours.len();
            assert_eq!(&theirs[at..at + ours.len()], &ours[..], "{value}");
        }
    }

    #[test]
    fn api_versions_response_header_has_no_tagged_fields() {
        let frame = encode_response(ApiKey::ApiVersions, 3, 7, Bytes::from_static(b"xy").into());
        assert_eq!(frame.0.len(), 1, "one buffer, one write");
        assert_eq!(&frame.to_bytes().unwrap()[..], b"\x00\x00\x00\x06\x00\x00\x00\x07xy");
        // Metadata v9 is flexible: its response header carries an empty tagged-field section.
        let frame = encode_response(ApiKey::Metadata, 9, 7, Bytes::new().into());
        assert_eq!(&frame.to_bytes().unwrap()[..], b"\x00\x00\x00\x05\x00\x00\x00\x07\x00");
    }
}
