//! RESP2/RESP3 wire format: request parsing (multibulk and inline) and reply encoding, no I/O.
//!
//! The parser works on a `BytesMut` that the caller fills from a socket; it never blocks and
//! never buffers more than the caller gives it. Every length field is checked against
//! [`Limits`] *before* the bytes it announces are awaited, so a client cannot make the server
//! reserve memory by announcing a huge length.

mod parse;
mod reply;

pub use parse::{parse_request, Limits, ParseError};
pub use reply::{format_double, Protocol, Reply};
