//! Software x87 80-bit extended precision, the `long double` Redis uses on x86-64 for
//! HINCRBYFLOAT (and INCRBYFLOAT): `strtold` parsing with Redis's checks, addition, and
//! `%.17Lf` output with trailing zeros removed, all correctly rounded (ties to even), so
//! results match Redis digit for digit.

use std::cmp::Ordering;

/// Exponent of the least significant mantissa bit of the smallest denormal.
const MIN_E: i64 = -16445;
/// Exponent of the least significant mantissa bit of the largest finite numbers.
const MAX_E: i64 = 16320;
/// Redis refuses float strings this long (MAX_LONG_DOUBLE_CHARS).
const MAX_CHARS: usize = 5 * 1024;

/// A long double: `(-1)^neg * m * 2^e` (zero when `m == 0`), or an infinity, or NaN.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ld {
    Finite { neg: bool, m: u64, e: i32 },
    Inf { neg: bool },
    Nan,
}

impl Ld {
    pub const ZERO: Ld = Ld::Finite { neg: false, m: 0, e: 0 };

    pub fn is_finite(&self) -> bool {
        matches!(self, Ld::Finite { .. })
    }
}

/// Unsigned big integer, little-endian 32-bit limbs without high zero limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u128(v: u128) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32, (v >> 64) as u32, (v >> 96) as u32]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn bits(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(&top) => (self.0.len() as u64 - 1) * 32 + (32 - top.leading_zeros()) as u64,
        }
    }

    fn bit(&self, i: u64) -> bool {
        let limb = (i / 32) as usize;
        limb < self.0.len() && (self.0[limb] >> (i % 32)) & 1 == 1
    }

    /// Whether any bit below position `i` is set.
    fn any_below(&self, i: u64) -> bool {
        let full = ((i / 32) as usize).min(self.0.len());
        if self.0[..full].iter().any(|&l| l != 0) {
            return true;
        }
        let rem = i % 32;
        full < self.0.len() && rem > 0 && self.0[full] & ((1u32 << rem) - 1) != 0
    }

    /// `self * m + a`.
    fn mul_add(&mut self, m: u32, a: u32) {
        let mut carry = a as u64;
        for limb in self.0.iter_mut() {
            let v = *limb as u64 * m as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    /// Divides in place by `d`; returns the remainder.
    fn div_rem_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let v = (rem << 32) | *limb as u64;
            *limb = (v / d as u64) as u32;
            rem = v % d as u64;
        }
        self.trim();
        rem as u32
    }

    fn shl(&self, n: u64) -> Big {
        if self.is_zero() {
            return self.clone();
        }
        let (limbs, bits) = ((n / 32) as usize, (n % 32) as u32);
        let mut out = vec![0u32; limbs];
        out.reserve(self.0.len() + 1);
        let mut carry = 0u32;
        for &l in &self.0 {
            if bits == 0 {
                out.push(l);
            } else {
                out.push((l << bits) | carry);
                carry = l >> (32 - bits);
            }
        }
        if carry != 0 {
            out.push(carry);
        }
        Big(out)
    }

    /// The low 128 bits of `self >> n`.
    fn shr_u128(&self, n: u64) -> u128 {
        let mut v = 0u128;
        for k in 0..128u64 {
            if self.bit(n + k) {
                v |= 1u128 << k;
            }
        }
        v
    }

    fn add(&self, o: &Big) -> Big {
        let (long, short) = if self.0.len() >= o.0.len() { (self, o) } else { (o, self) };
        let mut out = Vec::with_capacity(long.0.len() + 1);
        let mut carry = 0u64;
        for (i, &l) in long.0.iter().enumerate() {
            let v = l as u64 + short.0.get(i).copied().unwrap_or(0) as u64 + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        if carry != 0 {
            out.push(carry as u32);
        }
        Big(out)
    }

    /// `self - o`, for `self >= o`.
    fn sub(&self, o: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for (i, &l) in self.0.iter().enumerate() {
            let mut v = l as i64 - o.0.get(i).copied().unwrap_or(0) as i64 - borrow;
            borrow = 0;
            if v < 0 {
                v += 1 << 32;
                borrow = 1;
            }
            out.push(v as u32);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn cmp(&self, o: &Big) -> Ordering {
        self.0.len().cmp(&o.0.len()).then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }

    fn pow10(n: u64) -> Big {
        let mut b = Big(vec![1]);
        let mut left = n;
        while left >= 9 {
            b.mul_add(1_000_000_000, 0);
            left -= 9;
        }
        for _ in 0..left {
            b.mul_add(10, 0);
        }
        b
    }

    /// `(num / den, num % den != 0)` for a quotient known to be below 2^127.
    fn div_small_quotient(num: &Big, den: &Big) -> (u128, bool) {
        if num.cmp(den) == Ordering::Less {
            return (0, !num.is_zero());
        }
        let top = (num.bits() - den.bits()).min(126);
        let mut rem = num.clone();
        let mut q = 0u128;
        for i in (0..=top).rev() {
            let t = den.shl(i);
            if rem.cmp(&t) != Ordering::Less {
                rem = rem.sub(&t);
                q |= 1u128 << i;
            }
        }
        (q, !rem.is_zero())
    }

    fn to_decimal(&self) -> String {
        let mut n = self.clone();
        let mut chunks = Vec::new();
        while !n.is_zero() {
            chunks.push(n.div_rem_small(1_000_000_000));
        }
        let mut s = chunks.last().map_or_else(|| "0".to_string(), |c| c.to_string());
        for c in chunks.iter().rev().skip(1) {
            s.push_str(&format!("{c:09}"));
        }
        s
    }
}

/// Rounds `(n + sticky fraction) * 2^e` to a long double (to nearest, ties to even).
/// When `sticky` is set, `n` must carry at least 66 significant bits.
fn round(neg: bool, n: &Big, e: i64, sticky: bool) -> Ld {
    let len = n.bits() as i64;
    if len == 0 {
        return Ld::Finite { neg, m: 0, e: 0 };
    }
    let mut lsb = (e + len - 64).max(MIN_E);
    let shift = lsb - e;
    let mut m: u128 = if shift <= 0 {
        // Exact: fewer than 64 significant bits.
        n.shr_u128(0) << (-shift) as u32
    } else {
        let s = shift as u64;
        let mut m = n.shr_u128(s);
        let half = n.bit(s - 1);
        let rest = sticky || n.any_below(s - 1);
        if half && (rest || m & 1 == 1) {
            m += 1;
        }
        m
    };
    if m == 1u128 << 64 {
        m = 1u128 << 63;
        lsb += 1;
    }
    if m == 0 {
        return Ld::Finite { neg, m: 0, e: 0 };
    }
    if lsb > MAX_E {
        return Ld::Inf { neg };
    }
    Ld::Finite { neg, m: m as u64, e: lsb as i32 }
}

fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Parses like Redis's `string2ld`: `strtold` syntax (decimal, hex `0x…p…`, `inf`,
/// `infinity`), no leading space, nothing left over, no NaN, and no overflow or
/// underflow to zero. `None` means "not a valid float".
pub fn parse(arg: &[u8]) -> Option<Ld> {
    if arg.is_empty() || arg.len() >= MAX_CHARS {
        return None;
    }
    // Redis hands a C string to strtold: it ends at the first NUL byte.
    let s = match arg.iter().position(|&c| c == 0) {
        Some(i) => &arg[..i],
        None => arg,
    };
    if s.is_empty() {
        return Some(Ld::ZERO);
    }
    if is_c_space(s[0]) {
        return None;
    }
    let (neg, body) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    if lower == b"inf" || lower == b"infinity" {
        return Some(Ld::Inf { neg });
    }
    if lower.starts_with(b"nan") {
        return None;
    }
    let value = if lower.len() > 2 && lower.starts_with(b"0x") {
        parse_hex(neg, &lower[2..])?
    } else {
        parse_decimal(neg, &lower)?
    };
    match value {
        Ld::Inf { .. } | Ld::Nan => None,
        v => Some(v),
    }
}

/// Decimal digits with an optional point and exponent; the exponent is clamped (values
/// beyond it over- or underflow anyway).
fn split_number(s: &[u8], is_digit: fn(u8) -> bool, exp_char: u8) -> Option<(Vec<u8>, i64, i64)> {
    let mut i = 0;
    let mut digits = Vec::new();
    let mut frac = 0i64;
    while i < s.len() && is_digit(s[i]) {
        digits.push(s[i]);
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && is_digit(s[i]) {
            digits.push(s[i]);
            frac += 1;
            i += 1;
        }
    }
    if digits.is_empty() {
        return None;
    }
    let mut exp = 0i64;
    if i < s.len() && s[i] == exp_char {
        i += 1;
        let mut eneg = false;
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            eneg = s[i] == b'-';
            i += 1;
        }
        if i >= s.len() {
            return None;
        }
        while i < s.len() && s[i].is_ascii_digit() {
            exp = (exp * 10 + (s[i] - b'0') as i64).min(1_000_000_000);
            i += 1;
        }
        if eneg {
            exp = -exp;
        }
    }
    if i != s.len() {
        return None;
    }
    Some((digits, frac, exp))
}

fn parse_decimal(neg: bool, s: &[u8]) -> Option<Ld> {
    let (digits, frac, exp) = split_number(s, |c| c.is_ascii_digit(), b'e')?;
    let start = digits.iter().position(|&d| d != b'0');
    let Some(start) = start else {
        return Some(Ld::Finite { neg, m: 0, e: 0 });
    };
    let end = digits.iter().rposition(|&d| d != b'0').map_or(digits.len(), |p| p + 1);
    let sig = &digits[start..end];
    let e10 = exp - frac + (digits.len() - end) as i64;
    let magnitude = sig.len() as i64 + e10; // value < 10^magnitude
    if magnitude > 4934 {
        return Some(Ld::Inf { neg });
    }
    if magnitude < -4952 {
        return None; // underflows to zero
    }
    let mut d = Big(Vec::new());
    for chunk in sig.chunks(9) {
        let mut v = 0u32;
        for &c in chunk {
            v = v * 10 + (c - b'0') as u32;
        }
        d.mul_add(10u32.pow(chunk.len() as u32), v);
    }
    let value = if e10 >= 0 {
        let n = big_mul(&d, &Big::pow10(e10 as u64));
        round(neg, &n, 0, false)
    } else {
        let p = Big::pow10((-e10) as u64);
        // Scale so that the quotient has 69 to 71 bits: enough to round correctly.
        let k = 70 + p.bits() as i64 - d.bits() as i64;
        let (num, den) = if k >= 0 { (d.shl(k as u64), p) } else { (d, p.shl((-k) as u64)) };
        let (q, inexact) = Big::div_small_quotient(&num, &den);
        round(neg, &Big::from_u128(q), -k, inexact)
    };
    match value {
        Ld::Finite { m: 0, .. } => None, // nonzero input rounded to zero: ERANGE
        v => Some(v),
    }
}

fn parse_hex(neg: bool, s: &[u8]) -> Option<Ld> {
    let (digits, frac, exp) = split_number(s, |c| c.is_ascii_hexdigit(), b'p')?;
    let mut h = Big(Vec::new());
    for &c in &digits {
        let v = (c as char).to_digit(16)?;
        h.mul_add(16, v);
    }
    if h.is_zero() {
        return Some(Ld::Finite { neg, m: 0, e: 0 });
    }
    let e = exp - 4 * frac;
    if e + h.bits() as i64 > 16400 {
        return Some(Ld::Inf { neg });
    }
    match round(neg, &h, e.max(MIN_E - 200 - h.bits() as i64), false) {
        Ld::Finite { m: 0, .. } => None,
        v => Some(v),
    }
}

fn big_mul(a: &Big, b: &Big) -> Big {
    let mut out = vec![0u32; a.0.len() + b.0.len()];
    for (i, &x) in a.0.iter().enumerate() {
        let mut carry = 0u64;
        for (j, &y) in b.0.iter().enumerate() {
            let v = out[i + j] as u64 + x as u64 * y as u64 + carry;
            out[i + j] = v as u32;
            carry = v >> 32;
        }
        let mut k = i + b.0.len();
        while carry != 0 && k < out.len() {
            let v = out[k] as u64 + carry;
            out[k] = v as u32;
            carry = v >> 32;
            k += 1;
        }
    }
    let mut r = Big(out);
    r.trim();
    r
}

/// `a + b`, rounded once, as the FPU does.
pub fn add(a: Ld, b: Ld) -> Ld {
    match (a, b) {
        (Ld::Nan, _) | (_, Ld::Nan) => Ld::Nan,
        (Ld::Inf { neg: x }, Ld::Inf { neg: y }) => {
            if x == y {
                a
            } else {
                Ld::Nan
            }
        }
        (Ld::Inf { .. }, _) => a,
        (_, Ld::Inf { .. }) => b,
        (Ld::Finite { neg: na, m: ma, e: ea }, Ld::Finite { neg: nb, m: mb, e: eb }) => {
            if ma == 0 && mb == 0 {
                return Ld::Finite { neg: na && nb, m: 0, e: 0 };
            }
            if ma == 0 {
                return b;
            }
            if mb == 0 {
                return a;
            }
            let e = ea.min(eb) as i64;
            let x = Big::from_u128(ma as u128).shl((ea as i64 - e) as u64);
            let y = Big::from_u128(mb as u128).shl((eb as i64 - e) as u64);
            if na == nb {
                return round(na, &x.add(&y), e, false);
            }
            match x.cmp(&y) {
                Ordering::Equal => Ld::ZERO,
                Ordering::Greater => round(na, &x.sub(&y), e, false),
                Ordering::Less => round(nb, &y.sub(&x), e, false),
            }
        }
    }
}

/// `%.17Lf` with trailing zeros (and a trailing point) removed, and "-0" written "0":
/// Redis's `ld2string(…, LD_STR_HUMAN)`. Only for finite values.
pub fn format_human(v: Ld) -> String {
    let Ld::Finite { neg, m, e } = v else {
        return if v == Ld::Nan { "nan".into() } else { "inf".into() };
    };
    let mut out = String::new();
    if e >= 0 {
        out.push_str(&Big::from_u128(m as u128).shl(e as u64).to_decimal());
    } else {
        // Scaled by 10^17 the value fits in a u128; round the binary fraction away.
        let num = m as u128 * 100_000_000_000_000_000u128;
        let s = (-e) as u32;
        let q = if s >= 129 {
            0
        } else if s == 128 {
            (num > 1u128 << 127) as u128
        } else {
            let q = num >> s;
            let rem = num & ((1u128 << s) - 1);
            let half = 1u128 << (s - 1);
            q + (rem > half || (rem == half && q & 1 == 1)) as u128
        };
        let int_part = q / 100_000_000_000_000_000u128;
        let frac = q % 100_000_000_000_000_000u128;
        out.push_str(&int_part.to_string());
        if frac != 0 {
            let f = format!("{frac:017}");
            out.push('.');
            out.push_str(f.trim_end_matches('0'));
        }
    }
    if neg && out != "0" {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(a: &str, b: &str) -> String {
        format_human(add(parse(a.as_bytes()).unwrap(), parse(b.as_bytes()).unwrap()))
    }

    #[test]
    fn matches_redis_outputs() {
        // Expected strings were produced by Redis 7.0 on x86-64.
        assert_eq!(incr("10", "0.1"), "10.1");
        assert_eq!(incr("0.1", "0.2"), "0.3");
        assert_eq!(incr("0.1", "0.7"), "0.8");
        assert_eq!(incr("10000000000", "0.1"), "10000000000.09999999962747097");
        assert_eq!(incr("0", "1e-20"), "0");
        assert_eq!(incr("0", "-1e-20"), "0");
        assert_eq!(incr("0", "1e20"), "100000000000000000000");
        assert_eq!(incr("0", "-5.0"), "-5");
        assert_eq!(incr("1e3", "1"), "1001");
        assert_eq!(incr("0", "0x10"), "16");
        assert_eq!(incr("0", "0x1p-3"), "0.125");
        assert_eq!(incr("0", "0X1.8P1"), "3");
        assert_eq!(incr("0", "+.5"), "0.5");
        assert_eq!(incr("0", "5."), "5");
        assert_eq!(incr("0", "3.0e3"), "3000");
        assert_eq!(incr("0", "123456789012345678901234567890"), "123456789012345678899921813504");
        assert_eq!(incr("5", "-5"), "0");
        assert_eq!(incr("0", "-0.0"), "0");
        assert_eq!(incr("0.00000000000000001", "0.000000000000000005"), "0.00000000000000002");
        assert_eq!(incr("0", "0.000003814697265625"), "0.00000381469726562");
        assert_eq!(incr("0", "0.000003814697265635"), "0.00000381469726563");
        assert_eq!(incr("0", "9007199254740993"), "9007199254740993");
        assert_eq!(incr("17179869184", "1.5"), "17179869185.5");
        assert_eq!(incr("0", "1e-4940"), "0");
        assert!(incr("0", "1e308").starts_with("99999999999999999996685879655845645660560099847415567207797047"));
        assert_eq!(incr("0", "1e308").len(), 308);
        assert!(incr("0", "1.5e400").starts_with("149999999999999999997875712581806327576020165562441099464"));
    }

    #[test]
    fn rejects_like_string2ld() {
        for bad in ["", " 1", "1 ", "1.5e", "1_0", ".e1", "nan", "-nan", "1e5000", "1e-4951", "0x", "abc", "--1"] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse(b"inf"), Some(Ld::Inf { neg: false }));
        assert_eq!(parse(b"-Infinity"), Some(Ld::Inf { neg: true }));
        assert_eq!(parse(b"0e99999999999"), Some(Ld::ZERO));
        assert_eq!(parse(b"1\0junk").map(format_human), Some("1".to_string()));
    }

    #[test]
    fn overflow_gives_infinity() {
        let big = parse(b"1e4932").unwrap();
        assert!(add(big, big) == Ld::Inf { neg: false });
        assert_eq!(add(Ld::Inf { neg: false }, Ld::Inf { neg: true }), Ld::Nan);
    }
}
