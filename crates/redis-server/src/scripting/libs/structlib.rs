//! The `struct` library (Roberto Ierusalimschy's lstruct): binary pack/unpack/size for the
//! formats `< > = !` (endianness), `x b B h H i I l L T f d s c`; alignment is not applied.

use super::lib_error;
use mlua::{Lua, MultiValue, Value, Variadic};

struct Fmt<'a> {
    f: &'a [u8],
    i: usize,
    little: bool,
    func: &'static str,
}

enum Item {
    Pad,
    Int { size: usize, signed: bool },
    Float,
    Double,
    ZString,
    Chars(usize),
}

impl Fmt<'_> {
    fn number(&mut self) -> Option<usize> {
        let start = self.i;
        while self.i < self.f.len() && self.f[self.i].is_ascii_digit() && self.i - start < 9 {
            self.i += 1;
        }
        std::str::from_utf8(&self.f[start..self.i]).ok()?.parse().ok()
    }

    fn next(&mut self) -> mlua::Result<Option<Item>> {
        while self.i < self.f.len() {
            let c = self.f[self.i];
            self.i += 1;
            let item = match c {
                b' ' => continue,
                b'<' => {
                    self.little = true;
                    continue;
                }
                b'>' => {
                    self.little = false;
                    continue;
                }
                b'=' => {
                    self.little = cfg!(target_endian = "little");
                    continue;
                }
                b'!' => {
                    self.number();
                    continue;
                }
                b'x' => Item::Pad,
                b'b' | b'B' => Item::Int { size: 1, signed: c == b'b' },
                b'h' | b'H' => Item::Int { size: 2, signed: c == b'h' },
                b'l' | b'L' | b'T' => Item::Int { size: 8, signed: c == b'l' },
                b'i' | b'I' => {
                    let size = self.number().unwrap_or(4);
                    if !(1..=8).contains(&size) {
                        return Err(lib_error(format!("integral size {size} is larger than limit of 8")));
                    }
                    Item::Int { size, signed: c == b'i' }
                }
                b'f' => Item::Float,
                b'd' => Item::Double,
                b's' => Item::ZString,
                b'c' => Item::Chars(self.number().unwrap_or(1)),
                other => {
                    return Err(lib_error(format!(
                        "bad argument #1 to '{}' (invalid format option '{}')",
                        self.func, other as char
                    )))
                }
            };
            return Ok(Some(item));
        }
        Ok(None)
    }
}

fn num(v: Option<&Value>, arg: usize) -> mlua::Result<f64> {
    match v {
        Some(Value::Integer(i)) => Ok(*i as f64),
        Some(Value::Number(n)) => Ok(*n),
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| lib_error(format!("bad argument #{arg} to 'pack' (number expected, got string)"))),
        _ => Err(lib_error(format!("bad argument #{arg} to 'pack' (number expected)"))),
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8], little: bool) {
    if little {
        out.extend_from_slice(bytes);
    } else {
        out.extend(bytes.iter().rev());
    }
}

fn pack(fmt: &[u8], args: &[Value]) -> mlua::Result<Vec<u8>> {
    let mut f = Fmt { f: fmt, i: 0, little: cfg!(target_endian = "little"), func: "pack" };
    let mut out = Vec::new();
    let mut a = 0;
    while let Some(item) = f.next()? {
        match item {
            Item::Pad => out.push(0),
            Item::Int { size, .. } => {
                let n = num(args.get(a), a + 2)?;
                a += 1;
                let v = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                put(&mut out, &v.to_le_bytes()[..size], f.little);
            }
            Item::Float => {
                let n = num(args.get(a), a + 2)?;
                a += 1;
                put(&mut out, &(n as f32).to_le_bytes(), f.little);
            }
            Item::Double => {
                let n = num(args.get(a), a + 2)?;
                a += 1;
                put(&mut out, &n.to_le_bytes(), f.little);
            }
            Item::ZString | Item::Chars(_) => {
                let s = match args.get(a) {
                    Some(Value::String(s)) => s.as_bytes().to_vec(),
                    Some(Value::Integer(i)) => i.to_string().into_bytes(),
                    Some(Value::Number(n)) => super::format_g(*n, 14).into_bytes(),
                    _ => return Err(lib_error(format!("bad argument #{} to 'pack' (string expected)", a + 2))),
                };
                a += 1;
                match item {
                    Item::ZString => {
                        out.extend_from_slice(&s);
                        out.push(0);
                    }
                    Item::Chars(0) => out.extend_from_slice(&s),
                    Item::Chars(n) => {
                        if s.len() < n {
                            return Err(lib_error(format!("bad argument #{} to 'pack' (string too short)", a + 1)));
                        }
                        out.extend_from_slice(&s[..n]);
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

fn unpack(lua: &Lua, fmt: &[u8], data: &[u8], start: usize) -> mlua::Result<MultiValue> {
    let mut f = Fmt { f: fmt, i: 0, little: cfg!(target_endian = "little"), func: "unpack" };
    let mut pos = start;
    let mut out: Vec<Value> = Vec::new();
    let short = || lib_error("bad argument #2 to 'unpack' (data string too short)");
    while let Some(item) = f.next()? {
        match item {
            Item::Pad => pos += 1,
            Item::Int { size, signed } => {
                let b = data.get(pos..pos + size).ok_or_else(short)?;
                let mut v: u64 = 0;
                for k in 0..size {
                    let byte = if f.little { b[size - 1 - k] } else { b[k] };
                    v = (v << 8) | byte as u64;
                }
                let n = if signed && size < 8 && v & (1 << (size * 8 - 1)) != 0 {
                    (v | (!0u64 << (size * 8))) as i64 as f64
                } else if signed {
                    v as i64 as f64
                } else {
                    v as f64
                };
                out.push(Value::Number(n));
                pos += size;
            }
            Item::Float | Item::Double => {
                let size = if matches!(item, Item::Float) { 4 } else { 8 };
                let b = data.get(pos..pos + size).ok_or_else(short)?;
                let mut le = b.to_vec();
                if !f.little {
                    le.reverse();
                }
                let n = if size == 4 {
                    f32::from_le_bytes([le[0], le[1], le[2], le[3]]) as f64
                } else {
                    f64::from_le_bytes([le[0], le[1], le[2], le[3], le[4], le[5], le[6], le[7]])
                };
                out.push(Value::Number(n));
                pos += size;
            }
            Item::ZString => {
                let rest = data.get(pos..).ok_or_else(short)?;
                let end = rest.iter().position(|&c| c == 0).ok_or_else(|| lib_error("unfinished string in data"))?;
                out.push(Value::String(lua.create_string(&rest[..end])?));
                pos += end + 1;
            }
            Item::Chars(n) => {
                let n = if n == 0 {
                    match out.pop() {
                        Some(Value::Number(l)) if l >= 0.0 => l as usize,
                        _ => return Err(lib_error("format 'c0' needs a previous size")),
                    }
                } else {
                    n
                };
                let b = data.get(pos..pos.saturating_add(n)).ok_or_else(short)?;
                out.push(Value::String(lua.create_string(b)?));
                pos += n;
            }
        }
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(out))
}

fn size(fmt: &[u8]) -> mlua::Result<usize> {
    let mut f = Fmt { f: fmt, i: 0, little: true, func: "size" };
    let mut total = 0usize;
    while let Some(item) = f.next()? {
        total += match item {
            Item::Pad => 1,
            Item::Int { size, .. } => size,
            Item::Float => 4,
            Item::Double => 8,
            Item::Chars(n) if n > 0 => n,
            _ => return Err(lib_error("options 'c0' - 's' have undefined sizes")),
        };
    }
    Ok(total)
}

pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|_, (fmt, args): (mlua::String, Variadic<Value>)| {
            Ok(mlua::BString::from(pack(&fmt.as_bytes(), &args)?))
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, (fmt, data, init): (mlua::String, mlua::String, Option<i64>)| {
            let data = data.as_bytes();
            let start = init.unwrap_or(1);
            if start < 1 || start as usize > data.len() + 1 {
                return Err(lib_error("bad argument #3 to 'unpack' (offset must be 1 or greater)"));
            }
            unpack(lua, &fmt.as_bytes(), &data, start as usize - 1)
        })?,
    )?;
    t.set("size", lua.create_function(|_, fmt: mlua::String| Ok(size(&fmt.as_bytes())? as f64))?)?;
    lua.globals().set("struct", t)?;
    Ok(())
}
