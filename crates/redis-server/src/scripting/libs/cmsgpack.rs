//! The `cmsgpack` library: MessagePack pack/unpack with lua-cmsgpack's encoding choices
//! (smallest integer form, float32 when exact, tables as arrays when they are sequences).

use super::lib_error;
use mlua::{Lua, MultiValue, Table, Value, Variadic};

/// lua-cmsgpack encodes tables nested deeper than this as nil.
const MAX_NESTING: usize = 16;
/// Deepest structure unpacked (each level is a recursion).
const MAX_UNPACK_DEPTH: usize = 1000;

pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|_, args: Variadic<Value>| {
            if args.is_empty() {
                return Err(lib_error("MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                pack(v, &mut out, 0)?;
            }
            Ok(mlua::BString::from(out))
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| {
            let b = s.as_bytes();
            let mut pos = 0;
            let mut out = Vec::new();
            while pos < b.len() {
                out.push(unpack(lua, &b, &mut pos, 0)?);
            }
            Ok(MultiValue::from_iter(out))
        })?,
    )?;
    t.set(
        "unpack_one",
        lua.create_function(|lua, (s, offset): (mlua::String, Option<i64>)| {
            unpack_limit(lua, &s.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(|lua, (s, limit, offset): (mlua::String, i64, Option<i64>)| {
            unpack_limit(lua, &s.as_bytes(), limit, offset.unwrap_or(0))
        })?,
    )?;
    lua.globals().set("cmsgpack", t)?;
    Ok(())
}

fn unpack_limit(lua: &Lua, b: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    if offset < 0 || offset as usize > b.len() {
        return Err(lib_error("Start offset greater than input length."));
    }
    let mut pos = offset as usize;
    let mut values = Vec::new();
    while pos < b.len() && (limit <= 0 || (values.len() as i64) < limit) {
        values.push(unpack(lua, b, &mut pos, 0)?);
    }
    let next = if pos >= b.len() { -1.0 } else { pos as f64 };
    let mut out = vec![Value::Number(next)];
    out.extend(values);
    Ok(MultiValue::from_iter(out))
}

fn pack_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_number(n: f64, out: &mut Vec<u8>) {
    if n.is_finite() && n.fract() == 0.0 && n >= i64::MIN as f64 && n < i64::MAX as f64 {
        return pack_int(n as i64, out);
    }
    let f = n as f32;
    if f as f64 == n || n.is_nan() {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_len(len: usize, fix: u8, fix_max: usize, codes: [u8; 3], has8: bool, out: &mut Vec<u8>) {
    if len < fix_max {
        out.push(fix | len as u8);
    } else if has8 && len <= 0xff {
        out.extend_from_slice(&[codes[0], len as u8]);
    } else if len <= 0xffff {
        out.push(codes[1]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(codes[2]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// The length of a table that is a sequence 1..n without holes, or `None`.
fn sequence_len(t: &Table) -> mlua::Result<Option<usize>> {
    let Some((count, max)) = super::positive_integer_keys(t)? else { return Ok(None) };
    Ok(if max == count { Some(count) } else { None })
}

fn pack(v: &Value, out: &mut Vec<u8>, level: usize) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => pack_int(*i, out),
        Value::Number(n) => pack_number(*n, out),
        Value::String(s) => {
            let b = s.as_bytes();
            pack_len(b.len(), 0xa0, 32, [0xd9, 0xda, 0xdb], true, out);
            out.extend_from_slice(&b);
        }
        Value::Table(t) if level < MAX_NESTING => match sequence_len(t)? {
            Some(n) => {
                pack_len(n, 0x90, 16, [0, 0xdc, 0xdd], false, out);
                for i in 1..=n {
                    pack(&t.raw_get::<Value>(i)?, out, level + 1)?;
                }
            }
            None => {
                let pairs: Vec<(Value, Value)> = t.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
                pack_len(pairs.len(), 0x80, 16, [0, 0xde, 0xdf], false, out);
                for (k, v) in &pairs {
                    pack(k, out, level + 1)?;
                    pack(v, out, level + 1)?;
                }
            }
        },
        _ => out.push(0xc0),
    }
    Ok(())
}

fn take<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> mlua::Result<&'a [u8]> {
    let end = pos.checked_add(n).filter(|&e| e <= b.len()).ok_or_else(|| lib_error("Missing bytes in input."))?;
    let s = &b[*pos..end];
    *pos = end;
    Ok(s)
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64)
}

fn unpack(lua: &Lua, b: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    if depth > MAX_UNPACK_DEPTH {
        return Err(lib_error("Bad data format in input."));
    }
    let c = take(b, pos, 1)?[0];
    let str_of =
        |pos: &mut usize, n: usize| -> mlua::Result<Value> { Ok(Value::String(lua.create_string(take(b, pos, n)?)?)) };
    Ok(match c {
        0x00..=0x7f => Value::Number(c as f64),
        0xe0..=0xff => Value::Number(c as i8 as f64),
        0xa0..=0xbf => str_of(pos, (c & 0x1f) as usize)?,
        0x90..=0x9f => array(lua, b, pos, (c & 0x0f) as usize, depth)?,
        0x80..=0x8f => map(lua, b, pos, (c & 0x0f) as usize, depth)?,
        0xc0 => Value::Nil,
        0xc2 => Value::Boolean(false),
        0xc3 => Value::Boolean(true),
        0xc4 | 0xd9 => {
            let n = take(b, pos, 1)?[0] as usize;
            str_of(pos, n)?
        }
        0xc5 | 0xda => {
            let n = be(take(b, pos, 2)?) as usize;
            str_of(pos, n)?
        }
        0xc6 | 0xdb => {
            let n = be(take(b, pos, 4)?) as usize;
            str_of(pos, n)?
        }
        0xca => Value::Number(f32::from_bits(be(take(b, pos, 4)?) as u32) as f64),
        0xcb => Value::Number(f64::from_bits(be(take(b, pos, 8)?))),
        0xcc => Value::Number(be(take(b, pos, 1)?) as f64),
        0xcd => Value::Number(be(take(b, pos, 2)?) as f64),
        0xce => Value::Number(be(take(b, pos, 4)?) as f64),
        0xcf => Value::Number(be(take(b, pos, 8)?) as f64),
        0xd0 => Value::Number(be(take(b, pos, 1)?) as u8 as i8 as f64),
        0xd1 => Value::Number(be(take(b, pos, 2)?) as u16 as i16 as f64),
        0xd2 => Value::Number(be(take(b, pos, 4)?) as u32 as i32 as f64),
        0xd3 => Value::Number(be(take(b, pos, 8)?) as i64 as f64),
        0xdc => {
            let n = be(take(b, pos, 2)?) as usize;
            array(lua, b, pos, n, depth)?
        }
        0xdd => {
            let n = be(take(b, pos, 4)?) as usize;
            array(lua, b, pos, n, depth)?
        }
        0xde => {
            let n = be(take(b, pos, 2)?) as usize;
            map(lua, b, pos, n, depth)?
        }
        0xdf => {
            let n = be(take(b, pos, 4)?) as usize;
            map(lua, b, pos, n, depth)?
        }
        _ => return Err(lib_error("Bad data format in input.")),
    })
}

fn array(lua: &Lua, b: &[u8], pos: &mut usize, n: usize, depth: usize) -> mlua::Result<Value> {
    // Each element takes at least one byte: a count beyond the input is malformed.
    if n > b.len() - *pos {
        return Err(lib_error("Missing bytes in input."));
    }
    let t = lua.create_table_with_capacity(n, 0)?;
    for i in 1..=n {
        t.raw_set(i, unpack(lua, b, pos, depth + 1)?)?;
    }
    Ok(Value::Table(t))
}

fn map(lua: &Lua, b: &[u8], pos: &mut usize, n: usize, depth: usize) -> mlua::Result<Value> {
    if n > (b.len() - *pos) / 2 {
        return Err(lib_error("Missing bytes in input."));
    }
    let t = lua.create_table()?;
    for _ in 0..n {
        let k = unpack(lua, b, pos, depth + 1)?;
        let v = unpack(lua, b, pos, depth + 1)?;
        if !k.is_nil() {
            t.raw_set(k, v)?;
        }
    }
    Ok(Value::Table(t))
}
