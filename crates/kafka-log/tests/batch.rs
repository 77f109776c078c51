//! Record batch v2 format: header fields, CRC, in-place edits, records with every codec.

use kafka_log::batch::{self, BatchHeader, HEADER_BYTES};
use kafka_log::compression::SnappyFraming;
use kafka_log::records::decode_records;
use kafka_log::testing::BatchBuilder;
use kafka_log::{BatchError, BatchIter, Compression, TimestampType};

fn sample(compression: Compression, framing: SnappyFraming) -> Vec<u8> {
    BatchBuilder::new(1000)
        .record_at(Some(b"k1"), Some(b"first value"), 1000)
        .header(b"h", Some(b"hv"))
        .header(b"null", None)
        .record_at(None, None, 1500)
        .record_at(Some(b"k3"), Some(&[7u8; 3000]), 1200)
        .compression(compression)
        .snappy_framing(framing)
        .producer(42, 3, 17)
        .build()
}

#[test]
fn records_round_trip_with_every_codec() {
    let plain = decode_records(&sample(Compression::None, SnappyFraming::Raw)).unwrap().1;
    let codecs = [
        (Compression::Gzip, SnappyFraming::Raw),
        (Compression::Snappy, SnappyFraming::Raw),
        (Compression::Snappy, SnappyFraming::Xerial),
        (Compression::Lz4, SnappyFraming::Raw),
        (Compression::Zstd, SnappyFraming::Raw),
    ];
    for (codec, framing) in codecs {
        let bytes = sample(codec, framing);
        let header = batch::validate(&bytes).unwrap();
        assert_eq!(header.compression().unwrap(), codec);
        assert!(bytes.len() < 1000, "{codec:?} compresses the repeated value");
        assert_eq!(decode_records(&bytes).unwrap().1, plain, "{codec:?} {framing:?}");
    }
    assert_eq!(plain.len(), 3);
    assert_eq!(plain[0].headers.len(), 2);
    assert_eq!(plain[1].key, None);
    assert_eq!(plain[2].value.as_deref(), Some(&[7u8; 3000][..]));
}

#[test]
fn header_fields() {
    let bytes = sample(Compression::None, SnappyFraming::Raw);
    let header = BatchHeader::parse(&bytes).unwrap();
    assert_eq!(header.size_bytes(), bytes.len());
    assert_eq!((header.base_offset, header.last_offset_delta, header.record_count), (0, 2, 3));
    assert_eq!((header.first_timestamp, header.max_timestamp), (1000, 1500));
    assert_eq!((header.producer_id, header.producer_epoch, header.base_sequence), (42, 3, 17));
    assert_eq!(header.last_sequence(), 19);
    assert_eq!(header.timestamp_type(), TimestampType::CreateTime);
    assert!(!header.is_transactional() && !header.is_control());
    let (_, records) = decode_records(&bytes).unwrap();
    assert_eq!(records[1].timestamp(&header), 1500);
    assert_eq!(records[2].offset(&header), 2);
}

#[test]
fn base_offset_is_outside_the_crc_and_log_append_time_inside() {
    let mut bytes = sample(Compression::Lz4, SnappyFraming::Raw);
    batch::set_base_offset(&mut bytes, 1234);
    assert_eq!(batch::validate(&bytes).unwrap().base_offset, 1234);
    let stored_crc = BatchHeader::parse(&bytes).unwrap().crc;
    batch::set_log_append_time(&mut bytes, 99_999);
    let header = batch::validate(&bytes).unwrap();
    assert_ne!(header.crc, stored_crc);
    assert_eq!((header.max_timestamp, header.timestamp_type()), (99_999, TimestampType::LogAppendTime));
    assert_eq!(header.compression().unwrap(), Compression::Lz4);
}

#[test]
fn damaged_batches_are_refused() {
    let good = sample(Compression::None, SnappyFraming::Raw);
    for position in HEADER_BYTES..good.len() {
        let mut bad = good.clone();
        bad[position] ^= 1;
        assert!(matches!(batch::validate(&bad), Err(BatchError::CrcMismatch { .. })), "flip at {position}");
    }
    let mut old = good.clone();
    old[16] = 0;
    assert_eq!(batch::validate(&old), Err(BatchError::UnsupportedMagic(0)));
    assert!(matches!(batch::validate(&good[..good.len() - 1]), Err(BatchError::Truncated { .. })));
    assert!(matches!(batch::validate(&good[..30]), Err(BatchError::Truncated { .. })));
    let mut short_length = good.clone();
    short_length[8..12].copy_from_slice(&10i32.to_be_bytes());
    assert_eq!(batch::validate(&short_length), Err(BatchError::BadLength(10)));
}

#[test]
fn iterating_a_buffer_of_batches() {
    let mut buffer = sample(Compression::None, SnappyFraming::Raw);
    let first_len = buffer.len();
    buffer.extend_from_slice(&sample(Compression::Gzip, SnappyFraming::Raw));
    let batches: Vec<_> = BatchIter::new(&buffer).map(Result::unwrap).collect();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[1].position, first_len);
    buffer.truncate(buffer.len() - 3);
    let results: Vec<_> = BatchIter::new(&buffer).collect();
    assert_eq!(results.len(), 2);
    assert!(results[1].is_err());
}

#[test]
fn hostile_record_sections_are_errors() {
    let good = sample(Compression::None, SnappyFraming::Raw);
    // Rewrite the record count to claim more records than present; fix the CRC.
    let mut more = good.clone();
    more[57..61].copy_from_slice(&1_000_000i32.to_be_bytes());
    batch::write_crc(&mut more);
    assert!(matches!(decode_records(&more), Err(BatchError::BadRecord(_))));
    let mut garbage = good[..HEADER_BYTES].to_vec();
    garbage.extend_from_slice(&[0xff; 40]);
    let length = (garbage.len() - 12) as i32;
    garbage[8..12].copy_from_slice(&length.to_be_bytes());
    garbage[21..23].copy_from_slice(&1i16.to_be_bytes());
    batch::write_crc(&mut garbage);
    assert!(matches!(decode_records(&garbage), Err(BatchError::Decompress(_))));
}
