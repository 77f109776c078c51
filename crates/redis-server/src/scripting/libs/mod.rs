//! The libraries Redis preloads into its Lua state (cjson, cmsgpack, bit, struct) and the
//! function libraries of FUNCTION LOAD.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod structlib;

use mlua::Lua;

/// Installs the preloaded libraries as globals.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    bit::register(lua)?;
    cjson::register(lua)?;
    cmsgpack::register(lua)?;
    structlib::register(lua)?;
    Ok(())
}

/// An error raised by a library function; the script's error reply gets the position of the
/// calling line in front of it, as `luaL_error` does.
#[derive(Debug)]
pub struct LibError(pub String);

impl std::fmt::Display for LibError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LibError {}

pub fn lib_error(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::external(LibError(msg.into()))
}

/// C's `%.<precision>g` for a finite or infinite double.
pub fn format_g(n: f64, precision: usize) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let p = precision.max(1);
    // The exponent after rounding to `p` significant digits decides the notation.
    let sci = format!("{:.*e}", p - 1, n);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, n)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// For a table whose keys are all positive whole numbers: how many keys there are and the
/// largest one (`(0, 0)` when empty); `None` if any key is something else. cjson and cmsgpack
/// both decide "array or map" from these two figures.
pub fn positive_integer_keys(t: &mlua::Table) -> mlua::Result<Option<(usize, usize)>> {
    let mut count = 0usize;
    let mut max = 0usize;
    for pair in t.pairs::<mlua::Value, mlua::Value>() {
        let (k, _) = pair?;
        let n = match k {
            mlua::Value::Integer(i) => i as f64,
            mlua::Value::Number(n) => n,
            _ => return Ok(None),
        };
        if n < 1.0 || n.fract() != 0.0 {
            return Ok(None);
        }
        count += 1;
        max = max.max(n as usize);
    }
    Ok(Some((count, max)))
}

#[cfg(test)]
mod tests {
    use super::format_g;

    #[test]
    fn format_g_matches_c() {
        assert_eq!(format_g(0.1, 17), "0.10000000000000001");
        assert_eq!(format_g(3.0, 14), "3");
        assert_eq!(format_g(1e20, 14), "1e+20");
        assert_eq!(format_g(1.5, 14), "1.5");
        assert_eq!(format_g(0.0001, 14), "0.0001");
        assert_eq!(format_g(0.00001, 14), "1e-05");
        assert_eq!(format_g(-123456789012345678.0, 17), "-1.2345678901234568e+17");
    }
}
