//! Compression codecs of the records section of a batch: gzip, snappy (raw, or the xerial
//! framing older Java clients write), lz4 (frame format) and zstd. Decompression is bounded so
//! a small hostile batch cannot expand without limit.

use std::io::{self, Read, Write};

use crate::batch::Compression;
use crate::BatchError;

/// Upper bound of a decompressed records section (a "zip bomb" guard).
pub const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

/// The 8 magic bytes opening xerial-framed snappy data, then two big-endian version ints.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_BYTES: usize = 16;

/// Returns the uncompressed records section.
pub fn decompress(codec: Compression, data: &[u8], limit_bytes: usize) -> Result<Vec<u8>, BatchError> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(data), limit_bytes),
        Compression::Snappy => snappy_decompress(data, limit_bytes),
        Compression::Lz4 => read_bounded(lz4_flex::frame::FrameDecoder::new(data), limit_bytes),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(data).map_err(decompress_error)?;
            read_bounded(decoder, limit_bytes)
        }
    }
}

fn read_bounded(reader: impl Read, limit_bytes: usize) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::new();
    reader.take(limit_bytes as u64 + 1).read_to_end(&mut out).map_err(decompress_error)?;
    if out.len() > limit_bytes {
        return Err(BatchError::Decompress(format!("records expand beyond {limit_bytes} bytes")));
    }
    Ok(out)
}

fn decompress_error(error: io::Error) -> BatchError {
    BatchError::Decompress(error.to_string())
}

fn snappy_decompress(data: &[u8], limit_bytes: usize) -> Result<Vec<u8>, BatchError> {
    if !data.starts_with(&XERIAL_MAGIC) {
        return snappy_block(data, limit_bytes);
    }
    let mut out = Vec::new();
    let mut rest = data.get(XERIAL_HEADER_BYTES..).unwrap_or_default();
    while !rest.is_empty() {
        let (length, after) = rest.split_first_chunk::<4>().ok_or_else(|| xerial_error("cut block length"))?;
        let length = u32::from_be_bytes(*length) as usize;
        let block = after.get(..length).ok_or_else(|| xerial_error("cut block"))?;
        out.extend_from_slice(&snappy_block(block, limit_bytes.saturating_sub(out.len()))?);
        rest = &after[length..];
    }
    Ok(out)
}

fn xerial_error(what: &str) -> BatchError {
    BatchError::Decompress(format!("xerial snappy: {what}"))
}

fn snappy_block(block: &[u8], limit_bytes: usize) -> Result<Vec<u8>, BatchError> {
    let length = snap::raw::decompress_len(block).map_err(|e| BatchError::Decompress(e.to_string()))?;
    if length > limit_bytes {
        return Err(BatchError::Decompress(format!("records expand beyond {limit_bytes} bytes")));
    }
    snap::raw::Decoder::new().decompress_vec(block).map_err(|e| BatchError::Decompress(e.to_string()))
}

/// Which snappy layout to write (readers must accept both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnappyFraming {
    Raw,
    Xerial,
}

/// Compresses a records section (used by encoders; the log itself writes uncompressed).
pub fn compress(codec: Compression, data: &[u8], snappy_framing: SnappyFraming) -> io::Result<Vec<u8>> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(data)?;
            encoder.finish()
        }
        Compression::Snappy => snappy_compress(data, snappy_framing),
        Compression::Lz4 => {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
            encoder.write_all(data)?;
            encoder.finish().map_err(io::Error::other)
        }
        Compression::Zstd => zstd::stream::encode_all(data, 0),
    }
}

fn snappy_compress(data: &[u8], framing: SnappyFraming) -> io::Result<Vec<u8>> {
    let block = snap::raw::Encoder::new().compress_vec(data).map_err(io::Error::other)?;
    if framing == SnappyFraming::Raw {
        return Ok(block);
    }
    let mut out = XERIAL_MAGIC.to_vec();
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&(block.len() as u32).to_be_bytes());
    out.extend_from_slice(&block);
    Ok(out)
}
