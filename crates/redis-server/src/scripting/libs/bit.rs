//! The `bit` library (LuaBitOp): 32-bit operations on Lua numbers.

use mlua::{Lua, Variadic};

/// A Lua number as LuaBitOp's 32-bit integer: rounded, then wrapped modulo 2^32.
pub fn tobit(n: f64) -> i32 {
    if !n.is_finite() {
        return 0;
    }
    let r = n.round_ties_even();
    r.rem_euclid(4_294_967_296.0) as u64 as u32 as i32
}

fn num(v: &mlua::Value) -> mlua::Result<f64> {
    match v {
        mlua::Value::Integer(i) => Ok(*i as f64),
        mlua::Value::Number(n) => Ok(*n),
        mlua::Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| super::lib_error("bad argument (number expected)")),
        _ => Err(super::lib_error("bad argument (number expected)")),
    }
}

fn fold(args: &Variadic<mlua::Value>, op: fn(i32, i32) -> i32) -> mlua::Result<f64> {
    let mut it = args.iter();
    let first = it.next().ok_or_else(|| super::lib_error("bad argument #1 (number expected, got no value)"))?;
    let mut acc = tobit(num(first)?);
    for v in it {
        acc = op(acc, tobit(num(v)?));
    }
    Ok(acc as f64)
}

pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.set("tobit", lua.create_function(|_, x: mlua::Value| Ok(tobit(num(&x)?) as f64))?)?;
    t.set("bnot", lua.create_function(|_, x: mlua::Value| Ok(!tobit(num(&x)?) as f64))?)?;
    t.set("band", lua.create_function(|_, a: Variadic<mlua::Value>| fold(&a, |x, y| x & y))?)?;
    t.set("bor", lua.create_function(|_, a: Variadic<mlua::Value>| fold(&a, |x, y| x | y))?)?;
    t.set("bxor", lua.create_function(|_, a: Variadic<mlua::Value>| fold(&a, |x, y| x ^ y))?)?;
    let shift = |f: fn(u32, u32) -> u32| {
        move |_: &Lua, (x, n): (mlua::Value, mlua::Value)| -> mlua::Result<f64> {
            let x = tobit(num(&x)?) as u32;
            let n = (tobit(num(&n)?) as u32) & 31;
            Ok(f(x, n) as i32 as f64)
        }
    };
    t.set("lshift", lua.create_function(shift(|x, n| x << n))?)?;
    t.set("rshift", lua.create_function(shift(|x, n| x >> n))?)?;
    t.set("arshift", lua.create_function(shift(|x, n| ((x as i32) >> n) as u32))?)?;
    t.set("rol", lua.create_function(shift(|x, n| x.rotate_left(n)))?)?;
    t.set("ror", lua.create_function(shift(|x, n| x.rotate_right(n)))?)?;
    t.set("bswap", lua.create_function(|_, x: mlua::Value| Ok((tobit(num(&x)?) as u32).swap_bytes() as i32 as f64))?)?;
    t.set(
        "tohex",
        lua.create_function(|_, (x, n): (mlua::Value, Option<mlua::Value>)| {
            let x = tobit(num(&x)?) as u32;
            let n = match n {
                Some(v) => tobit(num(&v)?),
                None => 8,
            };
            let upper = n < 0;
            let digits = (n.unsigned_abs().min(8)) as usize;
            let digits = if digits == 0 { 8 } else { digits };
            let masked = if digits >= 8 { x } else { x & ((1u32 << (4 * digits)) - 1) };
            Ok(if upper { format!("{masked:0digits$X}") } else { format!("{masked:0digits$x}") })
        })?,
    )?;
    lua.globals().set("bit", t)?;
    Ok(())
}
