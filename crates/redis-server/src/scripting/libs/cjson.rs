//! The `cjson` library: JSON encode/decode with lua-cjson's rules (numbers as `%.14g`, empty
//! tables as objects, sparse arrays refused, `cjson.null` as a null light userdata).

use super::{format_g, lib_error};
use mlua::{LightUserData, Lua, Table, Value};

const MAX_DEPTH: usize = 1000;

pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|_, v: Value| {
            let mut out = Vec::new();
            encode(&v, &mut out, 0)?;
            Ok(mlua::BString::from(out))
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let bytes = s.as_bytes();
            let mut p = Parser { s: &bytes, pos: 0, depth: 0 };
            let v = p.value(lua)?;
            p.skip_ws();
            if p.pos < p.s.len() {
                let (name, at) = p.token_name();
                return Err(lib_error(format!("Expected the end but found {name} at character {at}")));
            }
            Ok(v)
        })?,
    )?;
    t.set("null", Value::LightUserData(LightUserData(std::ptr::null_mut())))?;
    for name in [
        "encode_keep_buffer",
        "encode_max_depth",
        "decode_max_depth",
        "encode_number_precision",
        "encode_invalid_numbers",
        "decode_invalid_numbers",
        "encode_sparse_array",
    ] {
        t.set(name, lua.create_function(|_, _: mlua::MultiValue| Ok(()))?)?;
    }
    lua.globals().set("cjson", t)?;
    Ok(())
}

fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn encode_number(n: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    if !n.is_finite() {
        return Err(lib_error("Cannot serialise number: must not be NaN or Inf"));
    }
    out.extend_from_slice(format_g(n, 14).as_bytes());
    Ok(())
}

/// The length of a table that is a JSON array, or `None` for an object.
fn array_length(t: &Table) -> mlua::Result<Option<usize>> {
    let Some((items, max)) = super::positive_integer_keys(t)? else { return Ok(None) };
    if max > 10 && max > items * 2 {
        return Err(lib_error("Cannot serialise table: excessively sparse array"));
    }
    Ok(if max > 0 { Some(max) } else { None })
}

fn encode(v: &Value, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Number(n) => encode_number(*n, out)?,
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth + 1 > MAX_DEPTH {
                return Err(lib_error(format!("Cannot serialise, excessive nesting ({})", depth + 2)));
            }
            match array_length(t)? {
                Some(len) => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        encode(&t.raw_get::<Value>(i)?, out, depth + 1)?;
                    }
                    out.push(b']');
                }
                None => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.pairs::<Value, Value>() {
                        let (k, val) = pair?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match k {
                            Value::String(s) => encode_string(&s.as_bytes(), out),
                            Value::Integer(i) => encode_string(i.to_string().as_bytes(), out),
                            Value::Number(n) => encode_string(format_g(n, 14).as_bytes(), out),
                            _ => return Err(lib_error("Cannot serialise table: table key must be a number or string")),
                        }
                        out.push(b':');
                        encode(&val, out, depth + 1)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => return Err(lib_error(format!("Cannot serialise {}: type not supported", other.type_name()))),
    }
    Ok(())
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    /// Name of the token at the current position, as lua-cjson's errors word it.
    fn token_name(&self) -> (&'static str, usize) {
        let at = self.pos + 1;
        let name = match self.s.get(self.pos) {
            None => "T_END",
            Some(b'{') => "T_OBJ_BEGIN",
            Some(b'}') => "T_OBJ_END",
            Some(b'[') => "T_ARR_BEGIN",
            Some(b']') => "T_ARR_END",
            Some(b',') => "T_COMMA",
            Some(b':') => "T_COLON",
            Some(b'"') => "T_STRING",
            Some(c) if c.is_ascii_digit() || *c == b'-' => "T_NUMBER",
            Some(b't') if self.s[self.pos..].starts_with(b"true") => "T_BOOLEAN",
            Some(b'f') if self.s[self.pos..].starts_with(b"false") => "T_BOOLEAN",
            Some(b'n') if self.s[self.pos..].starts_with(b"null") => "T_NULL",
            Some(_) => "invalid token",
        };
        (name, at)
    }

    fn expected(&self, what: &str) -> mlua::Error {
        let (name, at) = self.token_name();
        lib_error(format!("Expected {what} but found {name} at character {at}"))
    }

    fn value(&mut self, lua: &Lua) -> mlua::Result<Value> {
        self.skip_ws();
        let Some(&c) = self.s.get(self.pos) else { return Err(self.expected("value")) };
        match c {
            b'{' => self.object(lua),
            b'[' => self.array(lua),
            b'"' => Ok(Value::String(lua.create_string(self.string()?)?)),
            b't' if self.s[self.pos..].starts_with(b"true") => {
                self.pos += 4;
                Ok(Value::Boolean(true))
            }
            b'f' if self.s[self.pos..].starts_with(b"false") => {
                self.pos += 5;
                Ok(Value::Boolean(false))
            }
            b'n' if self.s[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                Ok(Value::LightUserData(LightUserData(std::ptr::null_mut())))
            }
            c if c.is_ascii_digit() || c == b'-' => self.number(),
            _ => Err(self.expected("value")),
        }
    }

    fn number(&mut self) -> mlua::Result<Value> {
        let start = self.pos;
        while self.pos < self.s.len() && matches!(self.s[self.pos], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
        text.parse::<f64>()
            .map(Value::Number)
            .map_err(|_| lib_error(format!("Expected value but found invalid number at character {}", start + 1)))
    }

    fn string(&mut self) -> mlua::Result<Vec<u8>> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Err(lib_error(format!(
                    "Expected value but found unexpected end of string at character {}",
                    start + 1
                )));
            };
            self.pos += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else { continue };
                    self.pos += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4().ok_or_else(|| self.bad_escape(start))?;
                            if (0xD800..0xDC00).contains(&cp) && self.s[self.pos..].starts_with(b"\\u") {
                                self.pos += 2;
                                let low = self.hex4().ok_or_else(|| self.bad_escape(start))?;
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3ff);
                            }
                            let ch = char::from_u32(cp).ok_or_else(|| self.bad_escape(start))?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(self.bad_escape(start)),
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn bad_escape(&self, start: usize) -> mlua::Error {
        lib_error(format!("Expected value but found invalid escape code at character {}", start + 1))
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.pos..self.pos + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        self.pos += 4;
        Some(v)
    }

    fn enter(&mut self) -> mlua::Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(lib_error(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth,
                self.pos + 1
            )));
        }
        Ok(())
    }

    fn object(&mut self, lua: &Lua) -> mlua::Result<Value> {
        self.enter()?;
        self.pos += 1;
        let t = lua.create_table()?;
        self.skip_ws();
        if self.s.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Table(t));
        }
        loop {
            self.skip_ws();
            if self.s.get(self.pos) != Some(&b'"') {
                return Err(self.expected("object key string"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.s.get(self.pos) != Some(&b':') {
                return Err(self.expected("colon"));
            }
            self.pos += 1;
            let v = self.value(lua)?;
            t.raw_set(lua.create_string(&key)?, v)?;
            self.skip_ws();
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Value::Table(t));
                }
                _ => return Err(self.expected("comma or object end")),
            }
        }
    }

    fn array(&mut self, lua: &Lua) -> mlua::Result<Value> {
        self.enter()?;
        self.pos += 1;
        let t = lua.create_table()?;
        self.skip_ws();
        if self.s.get(self.pos) == Some(&b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Table(t));
        }
        let mut i = 1;
        loop {
            let v = self.value(lua)?;
            t.raw_set(i, v)?;
            i += 1;
            self.skip_ws();
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Value::Table(t));
                }
                _ => return Err(self.expected("comma or array end")),
            }
        }
    }
}
