//! Fuzz target: the RESP request parser must never panic, never consume bytes when it asks
//! for more, and always make progress. Run: `cargo +nightly fuzz run parse_request` in `fuzz/`.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = resp::Limits { max_bulk_bytes: 1 << 16, max_args: 1024, max_inline_bytes: 4096, max_request_bytes: 1 << 20 };
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match resp::parse_request(&mut buf, &limits) {
            Ok(Some(_)) => assert!(buf.len() < before),
            Ok(None) => {
                assert_eq!(buf.len(), before);
                break;
            }
            Err(_) => break,
        }
    }
});
