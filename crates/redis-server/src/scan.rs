//! Shared parts of SCAN, HSCAN, SSCAN and ZSCAN: the cursor, the options, the reply.

use crate::args::{int, is};
use crate::error::CommandError;
use crate::glob::glob_match;
use bytes::Bytes;
use resp::Reply;

/// Most entries one scan step may visit, whatever COUNT asks for (bounds one step's work).
pub const MAX_SCAN_COUNT: usize = 100_000;

/// `[cursor, [items…]]`, the reply of every *SCAN command.
pub fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::Bulk(Bytes::from(cursor.to_string())), Reply::Array(items)])
}

/// Parses a scan cursor as Redis does with `strtoul`: an optional sign then decimal digits
/// (a negative cursor wraps around, as in C); anything else is an invalid cursor.
pub fn parse_cursor(arg: &[u8]) -> Result<u64, CommandError> {
    let invalid = || CommandError::err("invalid cursor");
    // `strtoul` of an empty string converts nothing and stops at the end: cursor 0.
    if arg.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(invalid());
        }
        v = v.checked_mul(10).and_then(|v| v.checked_add((d - b'0') as u64)).ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// Scan options: `MATCH pattern`, `COUNT n`, for SCAN `TYPE t`, for HSCAN `NOVALUES`.
pub struct ScanOptions {
    pub pattern: Option<Bytes>,
    pub count: usize,
    pub type_filter: Option<String>,
    pub novalues: bool,
}

impl ScanOptions {
    pub fn parse(opts: &[Bytes], allow_type: bool, allow_novalues: bool) -> Result<ScanOptions, CommandError> {
        let mut out = ScanOptions { pattern: None, count: 10, type_filter: None, novalues: false };
        let mut i = 0;
        while i < opts.len() {
            let more = i + 1 < opts.len();
            if is(&opts[i], "COUNT") && more {
                let n = int(&opts[i + 1])?;
                if n < 1 {
                    return Err(CommandError::Syntax);
                }
                out.count = usize::try_from(n).unwrap_or(usize::MAX).min(MAX_SCAN_COUNT);
                i += 2;
            } else if is(&opts[i], "MATCH") && more {
                let p = &opts[i + 1];
                // "*" matches everything: skip the matching work.
                out.pattern = if p.as_ref() == b"*" { None } else { Some(p.clone()) };
                i += 2;
            } else if is(&opts[i], "TYPE") && more && allow_type {
                out.type_filter = Some(crate::args::lower_name(&opts[i + 1]));
                i += 2;
            } else if is(&opts[i], "NOVALUES") && allow_novalues {
                out.novalues = true;
                i += 1;
            } else {
                return Err(CommandError::Syntax);
            }
        }
        Ok(out)
    }

    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern.as_ref().is_none_or(|p| glob_match(p, item, false))
    }
}
