//! Geo commands (Redis's `geo.c`): a geo key is a sorted set whose scores are 52-bit
//! geohashes, so ZRANGE, ZSCORE and ZREM work on it and its scores equal Redis's.
//! GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH, GEOSEARCHSTORE and the GEORADIUS family.

use super::geohash::{self, Shape, ShapeKind};
use crate::args::{self, is};
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::Ctx;
use crate::error::{CommandError, CommandResult};
use bytes::Bytes;
use keyspace::value::Score;
use keyspace::{Blob, Value, ZSetValue};
use resp::{Protocol, Reply};

fn georadius_keys(args: &[Bytes]) -> Vec<usize> {
    store_keys(args, 6)
}

fn georadiusbymember_keys(args: &[Bytes]) -> Vec<usize> {
    store_keys(args, 5)
}

/// The source key, then the first STORE and the first STOREDIST target, as Redis 7's key
/// specifications find them (keyword searches from the first option).
fn store_keys(args: &[Bytes], first_option: usize) -> Vec<usize> {
    let mut keys = vec![1];
    for keyword in ["store", "storedist"] {
        let found = (first_option..args.len().saturating_sub(1)).find(|&i| is(&args[i], keyword));
        keys.extend(found.map(|i| i + 1));
    }
    keys
}

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "geoadd",
        arity: -5,
        flags: Flags::WRITE.union(Flags::DENYOOM),
        keys: KeySpec::FIRST,
        group: "geo",
        handler: geoadd,
    },
    CommandSpec {
        name: "geopos",
        arity: -2,
        flags: Flags::READONLY,
        keys: KeySpec::FIRST,
        group: "geo",
        handler: geopos,
    },
    CommandSpec {
        name: "geodist",
        arity: -4,
        flags: Flags::READONLY,
        keys: KeySpec::FIRST,
        group: "geo",
        handler: geodist,
    },
    CommandSpec {
        name: "geohash",
        arity: -2,
        flags: Flags::READONLY,
        keys: KeySpec::FIRST,
        group: "geo",
        handler: geohash_cmd,
    },
    CommandSpec {
        name: "georadius",
        arity: -6,
        flags: Flags::WRITE.union(Flags::DENYOOM).union(Flags::MOVABLE_KEYS),
        keys: KeySpec::movable(1, 1, 1, georadius_keys),
        group: "geo",
        handler: georadius,
    },
    CommandSpec {
        name: "georadius_ro",
        arity: -6,
        flags: Flags::READONLY,
        keys: KeySpec::FIRST,
        group: "geo",
        handler: georadius_ro,
    },
    CommandSpec {
        name: "georadiusbymember",
        arity: -5,
        flags: Flags::WRITE.union(Flags::DENYOOM).union(Flags::MOVABLE_KEYS),
        keys: KeySpec::movable(1, 1, 1, georadiusbymember_keys),
        group: "geo",
        handler: georadiusbymember,
    },
    CommandSpec {
        name: "georadiusbymember_ro",
        arity: -5,
        flags: Flags::READONLY,
        keys: KeySpec::FIRST,
        group: "geo",
        handler: georadiusbymember_ro,
    },
    CommandSpec {
        name: "geosearch",
        arity: -7,
        flags: Flags::READONLY,
        keys: KeySpec::FIRST,
        group: "geo",
        handler: geosearch,
    },
    CommandSpec {
        name: "geosearchstore",
        arity: -8,
        flags: Flags::WRITE.union(Flags::DENYOOM),
        keys: KeySpec::range(1, 2, 1),
        group: "geo",
        handler: geosearchstore,
    },
];

// ----- argument helpers ---------------------------------------------------------------------

/// A double as Redis's `getDoubleFromObject` reads it: like `args::parse_f64`, but a literal
/// out of range for `strtod` (ERANGE: `1e999` overflowing to infinity, `1e-400` underflowing
/// to zero) is refused.
fn parse_double(arg: &[u8]) -> Option<f64> {
    let v = args::parse_f64(arg)?;
    if v.is_infinite() && !arg.iter().any(|c| c.eq_ignore_ascii_case(&b'i')) {
        return None;
    }
    if v == 0.0 {
        let mantissa = arg.split(|c| c.eq_ignore_ascii_case(&b'e')).next().unwrap_or_default();
        if mantissa.iter().any(|c| (b'1'..=b'9').contains(c)) {
            return None;
        }
    }
    Some(v)
}

fn double_or(arg: &[u8], msg: &str) -> Result<f64, CommandError> {
    parse_double(arg).ok_or_else(|| CommandError::err(msg))
}

/// A longitude, latitude pair within Redis's limits.
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CommandError> {
    let x = parse_double(lon).ok_or(CommandError::NotFloat)?;
    let y = parse_double(lat).ok_or(CommandError::NotFloat)?;
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&x) || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&y) {
        return Err(CommandError::err(format!(
            "invalid longitude,latitude pair {},{}",
            geohash::format_c_float(x),
            geohash::format_c_float(y)
        )));
    }
    Ok((x, y))
}

/// Meters per unit (case-insensitive M, KM, FT, MI).
fn unit(arg: &[u8]) -> Result<f64, CommandError> {
    if is(arg, "m") {
        Ok(1.0)
    } else if is(arg, "km") {
        Ok(1000.0)
    } else if is(arg, "ft") {
        Ok(0.3048)
    } else if is(arg, "mi") {
        Ok(1609.34)
    } else {
        Err(CommandError::err("unsupported unit provided. please use M, KM, FT, MI"))
    }
}

/// `radius unit`: the radius in the unit, and meters per unit.
fn radius_arg(radius: &[u8], unit_arg: &[u8]) -> Result<(f64, f64), CommandError> {
    let r = double_or(radius, "need numeric radius")?;
    if r < 0.0 {
        return Err(CommandError::err("radius cannot be negative"));
    }
    Ok((r, unit(unit_arg)?))
}

/// `width height unit`.
fn box_arg(width: &[u8], height: &[u8], unit_arg: &[u8]) -> Result<(f64, f64, f64), CommandError> {
    let w = double_or(width, "need numeric width")?;
    let h = double_or(height, "need numeric height")?;
    if h < 0.0 || w < 0.0 {
        return Err(CommandError::err("height or width cannot be negative"));
    }
    Ok((w, h, unit(unit_arg)?))
}

fn member_position(z: &ZSetValue, member: &[u8]) -> Option<(f64, f64)> {
    z.score(member).map(geohash::decode_score)
}

/// A coordinate reply: a bulk string of Redis's digits in RESP2; in RESP3 a double with the
/// value of those same digits.
fn coordinate_reply(resp3: bool, v: f64) -> Reply {
    let text = geohash::format_coordinate(v);
    if resp3 {
        Reply::Double(text.parse().unwrap_or(v))
    } else {
        Reply::Bulk(Bytes::from(text))
    }
}

fn position_reply(resp3: bool, (lon, lat): (f64, f64)) -> Reply {
    Reply::Array(vec![coordinate_reply(resp3, lon), coordinate_reply(resp3, lat)])
}

fn distance_reply(d: f64) -> Reply {
    // A bulk string in both protocols, as in Redis 7.0.
    Reply::Bulk(Bytes::from(geohash::format_distance(d)))
}

// ----- GEOADD, GEOPOS, GEODIST, GEOHASH -------------------------------------------------------

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: a ZADD of encoded positions.
fn geoadd(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut first = 2;
    while first < args.len() {
        let opt = &args[first];
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if is(opt, "ch") {
            ch = true;
        } else {
            break;
        }
        first += 1;
    }
    let rest = &args[first..];
    if rest.is_empty() || !rest.len().is_multiple_of(3) || (nx && xx) {
        return Err(CommandError::Syntax);
    }
    let mut elements = Vec::with_capacity(rest.len() / 3);
    for triple in rest.chunks_exact(3) {
        let (lon, lat) = lon_lat(&triple[0], &triple[1])?;
        let score = geohash::encode_score(lon, lat).ok_or(CommandError::NotFloat)?;
        // Redis formats the score as an integer and ZADD parses it back: same rounding.
        elements.push((score as f64, &triple[2]));
    }

    let key = &args[1];
    // Touch the key only if something changes (no change-log record, no WATCH invalidation
    // otherwise). An element changes the set iff it would against the initial set: until the
    // first change, later elements see the initial set.
    // A write lookup, as ZADD's: it does not count as a keyspace hit or miss.
    let will_change = match ctx.db.get(key) {
        None => !xx,
        Some(Value::ZSet(z)) => elements.iter().any(|(score, member)| match z.score(member) {
            None => !xx,
            Some(old) => !nx && old != *score,
        }),
        Some(_) => return Err(CommandError::WrongType),
    };
    if !will_change {
        return Ok(Reply::Integer(0));
    }
    let Some(z) = ctx.db.zset_mut(key, true)? else {
        return Ok(Reply::Integer(0));
    };
    let (mut added, mut updated) = (0i64, 0i64);
    for (score, member) in elements {
        match z.score(member) {
            None if !xx => {
                z.insert(member, score);
                added += 1;
            }
            Some(old) if !nx && old != score => {
                z.insert(member, score);
                updated += 1;
            }
            _ => {}
        }
    }
    if added > 0 {
        ctx.db.signal_ready(key);
    }
    Ok(Reply::Integer(if ch { added + updated } else { added }))
}

/// GEOPOS key member [...]: positions, a null array for missing members.
fn geopos(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let resp3 = ctx.client.protocol == Protocol::Resp3;
    let z = ctx.db.zset(&args[1])?;
    let items = args[2..]
        .iter()
        .map(|m| match z.and_then(|z| member_position(z, m)) {
            Some(pos) => position_reply(resp3, pos),
            None => Reply::NilArray,
        })
        .collect();
    Ok(Reply::Array(items))
}

/// GEODIST key member1 member2 [M|KM|FT|MI].
fn geodist(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let to_meter = match args.len() {
        4 => 1.0,
        5 => unit(&args[4])?,
        _ => return Err(CommandError::Syntax),
    };
    let Some(z) = ctx.db.zset(&args[1])? else {
        return Ok(Reply::Nil);
    };
    match (member_position(z, &args[2]), member_position(z, &args[3])) {
        (Some((lon1, lat1)), Some((lon2, lat2))) => {
            Ok(distance_reply(geohash::distance(lon1, lat1, lon2, lat2) / to_meter))
        }
        _ => Ok(Reply::Nil),
    }
}

/// GEOHASH key member [...]: 11-character standard geohash strings.
fn geohash_cmd(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let z = ctx.db.zset(&args[1])?;
    let items = args[2..]
        .iter()
        .map(|m| match z.and_then(|z| z.score(m)) {
            Some(score) => Reply::Bulk(Bytes::from(geohash::geohash_string(score))),
            None => Reply::Nil,
        })
        .collect();
    Ok(Reply::Array(items))
}

// ----- searches -------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// GEORADIUS[_RO] key longitude latitude radius unit …
    RadiusCoords,
    /// GEORADIUSBYMEMBER[_RO] key member radius unit …
    RadiusMember,
    /// GEOSEARCH key …
    Search,
    /// GEOSEARCHSTORE destination source …
    SearchStore,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A point found by a search.
struct GeoPoint {
    member: Blob,
    longitude: f64,
    latitude: f64,
    /// In meters until the reply converts it.
    dist: f64,
    score: f64,
}

fn georadius(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    search_generic(ctx, args, 1, Mode::RadiusCoords, false)
}

fn georadius_ro(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    search_generic(ctx, args, 1, Mode::RadiusCoords, true)
}

fn georadiusbymember(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    search_generic(ctx, args, 1, Mode::RadiusMember, false)
}

fn georadiusbymember_ro(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    search_generic(ctx, args, 1, Mode::RadiusMember, true)
}

fn geosearch(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    search_generic(ctx, args, 1, Mode::Search, true)
}

fn geosearchstore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    search_generic(ctx, args, 2, Mode::SearchStore, false)
}

/// What a search command asks for, once its arguments are parsed.
struct Request {
    /// Unset only when the source key is missing and the centre is one of its members.
    center: Option<(f64, f64)>,
    kind: Option<ShapeKind>,
    conversion: f64,
    store: Option<Bytes>,
    store_dist: bool,
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    sort: Sort,
    any: bool,
    /// 0: no limit.
    count: u64,
}

/// Parses a search command's arguments in Redis's order, so the same error comes first.
fn parse_request(args: &[Bytes], z: Option<&ZSetValue>, mode: Mode, nostore: bool) -> Result<Request, CommandError> {
    let mut req = Request {
        center: None,
        kind: None,
        conversion: 1.0,
        store: None,
        store_dist: false,
        with_dist: false,
        with_hash: false,
        with_coord: false,
        sort: Sort::None,
        any: false,
        count: 0,
    };
    let search = matches!(mode, Mode::Search | Mode::SearchStore);
    let base = match mode {
        Mode::RadiusCoords => {
            req.center = Some(lon_lat(&args[2], &args[3])?);
            let (radius, conversion) = radius_arg(&args[4], &args[5])?;
            req.kind = Some(ShapeKind::Circle { radius });
            req.conversion = conversion;
            6
        }
        Mode::RadiusMember => {
            // Without a source key the reply is empty whatever the radius says.
            if let Some(z) = z {
                req.center = Some(
                    member_position(z, &args[2])
                        .ok_or_else(|| CommandError::err("could not decode requested zset member"))?,
                );
                let (radius, conversion) = radius_arg(&args[3], &args[4])?;
                req.kind = Some(ShapeKind::Circle { radius });
                req.conversion = conversion;
            }
            5
        }
        Mode::Search => 2,
        Mode::SearchStore => {
            req.store = Some(args[1].clone());
            3
        }
    };

    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) = (false, false, false, false);
    let mut i = base;
    while i < args.len() {
        let arg = &args[i];
        // Whether `n` more arguments follow this one.
        let has = |n: usize| i + n < args.len();
        if is(arg, "withdist") {
            req.with_dist = true;
        } else if is(arg, "withhash") {
            req.with_hash = true;
        } else if is(arg, "withcoord") {
            req.with_coord = true;
        } else if is(arg, "any") {
            req.any = true;
        } else if is(arg, "asc") {
            req.sort = Sort::Asc;
        } else if is(arg, "desc") {
            req.sort = Sort::Desc;
        } else if is(arg, "count") && has(1) {
            let count = args::int(&args[i + 1])?;
            if count <= 0 {
                return Err(CommandError::err("COUNT must be > 0"));
            }
            req.count = count as u64;
            i += 1;
        } else if (is(arg, "store") || is(arg, "storedist")) && has(1) && !nostore && !search {
            req.store = Some(args[i + 1].clone());
            req.store_dist = is(arg, "storedist");
            i += 1;
        } else if is(arg, "storedist") && mode == Mode::SearchStore {
            req.store_dist = true;
        } else if is(arg, "frommember") && has(1) && search && !from_lonlat {
            if let Some(z) = z {
                req.center = Some(
                    member_position(z, &args[i + 1])
                        .ok_or_else(|| CommandError::err("could not decode requested zset member"))?,
                );
            }
            from_member = true;
            i += 1;
        } else if is(arg, "fromlonlat") && has(2) && search && !from_member {
            req.center = Some(lon_lat(&args[i + 1], &args[i + 2])?);
            from_lonlat = true;
            i += 2;
        } else if is(arg, "byradius") && has(2) && search && !by_box {
            let (radius, conversion) = radius_arg(&args[i + 1], &args[i + 2])?;
            req.kind = Some(ShapeKind::Circle { radius });
            req.conversion = conversion;
            by_radius = true;
            i += 2;
        } else if is(arg, "bybox") && has(3) && search && !by_radius {
            let (width, height, conversion) = box_arg(&args[i + 1], &args[i + 2], &args[i + 3])?;
            req.kind = Some(ShapeKind::Rect { width, height });
            req.conversion = conversion;
            by_box = true;
            i += 3;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }

    if req.store.is_some() && (req.with_dist || req.with_hash || req.with_coord) {
        let what = if mode == Mode::SearchStore { "GEOSEARCHSTORE" } else { "STORE option in GEORADIUS" };
        return Err(CommandError::err(format!(
            "{what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    // Redis names the command as the client spelled it.
    let name = String::from_utf8_lossy(&args[0]);
    if search && !(from_member || from_lonlat) {
        return Err(CommandError::err(format!("exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")));
    }
    if search && !(by_radius || by_box) {
        return Err(CommandError::err(format!("exactly one of BYRADIUS and BYBOX can be specified for {name}")));
    }
    if req.any && req.count == 0 {
        return Err(CommandError::err("the ANY argument requires COUNT argument"));
    }
    Ok(req)
}

/// Appends the points of `z` with scores in [min, max) that lie in the shape, stopping once
/// `limit` points are collected (0: no limit).
fn points_in_range(z: &ZSetValue, min: f64, max: f64, shape: &Shape, out: &mut Vec<GeoPoint>, limit: usize) {
    // Redis compares scores numerically, so a range from 0 includes scores of -0.
    let start = if min == 0.0 { -0.0 } else { min };
    for (Score(score), member) in z.order.range((Score(start), Blob::new())..) {
        if *score >= max {
            break;
        }
        if let Some((longitude, latitude, dist)) = geohash::within_shape(shape, *score) {
            out.push(GeoPoint { member: member.clone(), longitude, latitude, dist, score: *score });
        }
        if limit > 0 && out.len() >= limit {
            break;
        }
    }
}

/// The points of `z` inside the shape, in Redis's scan order (cell by cell, by score).
fn search_points(z: &ZSetValue, shape: &Shape, limit: usize) -> Vec<GeoPoint> {
    let cells = geohash::search_cells(shape).in_scan_order();
    let mut out = Vec::new();
    // Redis's `last_processed` starts at 0 and 0 means "none yet", so a neighbour equal to
    // the centre cell is scanned again (huge radii find duplicates there, as in Redis).
    let mut last_processed = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        if last_processed != 0 && *cell == cells[last_processed] {
            continue;
        }
        if limit > 0 && out.len() >= limit {
            break;
        }
        let (min, max) = geohash::cell_score_range(*cell);
        points_in_range(z, min, max, shape, &mut out, limit);
        last_processed = i;
    }
    out
}

/// GEORADIUS, GEORADIUSBYMEMBER (and their _RO forms), GEOSEARCH and GEOSEARCHSTORE.
fn search_generic(ctx: &mut Ctx, args: &[Bytes], src: usize, mode: Mode, nostore: bool) -> CommandResult {
    let resp3 = ctx.client.protocol == Protocol::Resp3;
    let (req, points) = {
        let z = ctx.db.zset(&args[src])?;
        let req = parse_request(args, z, mode, nostore)?;
        let points = match (z, req.center, req.kind) {
            (Some(z), Some((longitude, latitude)), Some(kind)) => {
                let shape = Shape { longitude, latitude, conversion: req.conversion, kind };
                // ANY stops the scan at COUNT points; otherwise all are needed to sort.
                let limit = if req.any { req.count as usize } else { 0 };
                Some(search_points(z, &shape, limit))
            }
            _ => None,
        };
        (req, points)
    };

    let Some(mut points) = points else {
        // No source key: an empty reply, and STORE deletes the destination.
        return Ok(match &req.store {
            Some(dest) => {
                ctx.db.remove(dest);
                Reply::Integer(0)
            }
            None => Reply::Array(Vec::new()),
        });
    };

    let mut sort = req.sort;
    // The first COUNT points only mean something sorted, unless ANY asked for any of them.
    if req.count != 0 && sort == Sort::None && !req.any {
        sort = Sort::Asc;
    }
    // A stable sort, as glibc's qsort (a merge sort) is for Redis.
    match sort {
        Sort::Asc => points.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Sort::Desc => points.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
        Sort::None => {}
    }
    if req.count != 0 {
        points.truncate(usize::try_from(req.count).unwrap_or(usize::MAX));
    }
    for p in &mut points {
        p.dist /= req.conversion;
    }

    if let Some(dest) = &req.store {
        let n = points.len() as i64;
        if points.is_empty() {
            ctx.db.remove(dest);
        } else {
            let mut z = ZSetValue::default();
            for p in &points {
                z.insert(&p.member, if req.store_dist { p.dist } else { p.score });
            }
            // Replaces whatever the destination held, TTL included, as Redis's setKey.
            ctx.db.insert(dest, Value::ZSet(Box::new(z)));
            ctx.db.signal_ready(dest);
        }
        return Ok(Reply::Integer(n));
    }

    let with_options = req.with_dist || req.with_hash || req.with_coord;
    let items = points
        .into_iter()
        .map(|p| {
            let member = Reply::Bulk(Bytes::copy_from_slice(&p.member));
            if !with_options {
                return member;
            }
            let mut item = vec![member];
            if req.with_dist {
                item.push(distance_reply(p.dist));
            }
            if req.with_hash {
                item.push(Reply::Integer(p.score as i64));
            }
            if req.with_coord {
                item.push(position_reply(resp3, (p.longitude, p.latitude)));
            }
            Reply::Array(item)
        })
        .collect();
    Ok(Reply::Array(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{arr, bulk, err, int, TestClient};

    fn sicily() -> TestClient {
        let mut c = TestClient::new();
        assert_eq!(
            c.cmd(&["GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"]),
            int(2)
        );
        c
    }

    fn scores(c: &TestClient, key: &str) -> Option<Vec<(String, f64)>> {
        let mut state = c.tenant.state.lock();
        let z = state.db.zset(key.as_bytes()).ok()??;
        Some(z.iter().map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), s)).collect())
    }

    fn pos(lon: &str, lat: &str) -> Reply {
        Reply::Array(vec![bulk(lon), bulk(lat)])
    }

    #[test]
    fn geoadd_stores_redis_scores() {
        let c = sicily();
        assert_eq!(
            scores(&c, "Sicily").unwrap(),
            vec![("Palermo".to_string(), 3479099956230698.0), ("Catania".to_string(), 3479447370796909.0)]
        );
        assert_eq!(
            c.change_log(),
            vec![vec!["GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"]]
        );
    }

    #[test]
    fn geoadd_options() {
        let mut c = sicily();
        // Same position: neither added nor changed, and nothing logged.
        assert_eq!(c.cmd(&["GEOADD", "Sicily", "CH", "13.361389", "38.115556", "Palermo"]), int(0));
        assert_eq!(c.change_log().len(), 1);
        assert_eq!(c.cmd(&["GEOADD", "Sicily", "NX", "1", "1", "Palermo", "2", "2", "Rome"]), int(1));
        assert_eq!(
            c.cmd(&["GEOPOS", "Sicily", "Palermo"]),
            Reply::Array(vec![pos("13.36138933897018433", "38.11555639549629859")])
        );
        assert_eq!(c.cmd(&["GEOADD", "Sicily", "XX", "CH", "1", "1", "Palermo", "3", "3", "Nope"]), int(1));
        assert_eq!(c.cmd(&["GEOPOS", "Sicily", "Nope"]), Reply::Array(vec![Reply::NilArray]));
        assert_eq!(c.cmd(&["GEOADD", "Sicily", "XX", "1", "1", "Catania"]), int(0));
        assert_eq!(c.cmd(&["GEOADD", "missing", "XX", "1", "1", "a"]), int(0));
        assert_eq!(scores(&c, "missing"), None);
        // NX with nothing new changes nothing: no log record.
        let before = c.change_log().len();
        assert_eq!(c.cmd(&["GEOADD", "Sicily", "NX", "CH", "5", "5", "Palermo"]), int(0));
        assert_eq!(c.change_log().len(), before);
        // A repeated member in one call: the later position wins, counted once.
        assert_eq!(c.cmd(&["GEOADD", "dup", "1", "1", "a", "2", "2", "a"]), int(1));
        assert_eq!(c.cmd(&["GEOADD", "dup", "CH", "2", "2", "a", "3", "3", "a"]), int(1));
    }

    #[test]
    fn geoadd_errors() {
        let mut c = TestClient::new();
        assert!(err("ERR syntax error")(&c.cmd(&["GEOADD", "k", "NX", "XX", "1", "2", "a"])));
        assert!(err("ERR syntax error")(&c.cmd(&["GEOADD", "k", "NX", "CH", "CH"])));
        assert!(err("ERR syntax error")(&c.cmd(&["GEOADD", "k", "GT", "1", "2", "a"])));
        assert!(err("ERR syntax error")(&c.cmd(&["GEOADD", "k", "1", "2", "a", "3"])));
        assert!(err("ERR wrong number of arguments for 'geoadd'")(&c.cmd(&["GEOADD", "k", "1", "2"])));
        assert!(err("ERR value is not a valid float")(&c.cmd(&["GEOADD", "k", "abc", "2", "a"])));
        assert!(err("ERR value is not a valid float")(&c.cmd(&["GEOADD", "k", "1e999", "2", "a"])));
        assert!(err("ERR value is not a valid float")(&c.cmd(&["GEOADD", "k", "1e-400", "2", "a"])));
        assert_eq!(c.cmd(&["GEOADD", "z0", "0e-400", "-0.0", "zero"]), int(1));
        assert_eq!(
            c.cmd(&["GEOADD", "k", "200", "100", "a"]),
            Reply::error("ERR invalid longitude,latitude pair 200.000000,100.000000")
        );
        assert_eq!(
            c.cmd(&["GEOADD", "k", "inf", "10", "a"]),
            Reply::error("ERR invalid longitude,latitude pair inf,10.000000")
        );
        assert_eq!(
            c.cmd(&["GEOADD", "k", "1", "1", "ok", "1", "85.06", "a"]),
            Reply::error("ERR invalid longitude,latitude pair 1.000000,85.060000")
        );
        // Nothing is added when any element is invalid.
        assert_eq!(scores(&c, "k"), None);
        c.cmd(&["SET", "s", "x"]);
        assert!(err("WRONGTYPE")(&c.cmd(&["GEOADD", "s", "1", "1", "a"])));
        assert!(err("ERR invalid longitude")(&c.cmd(&["GEOADD", "s", "1", "91", "a"])));
        // Only the valid zero-position add was logged.
        assert_eq!(c.change_log().iter().filter(|r| r[0] == "GEOADD").count(), 1);
    }

    #[test]
    fn geopos_geohash_geodist() {
        let mut c = sicily();
        c.cmd(&["GEOADD", "Sicily", "180", "85.05112878", "corner"]);
        assert_eq!(
            c.cmd(&["GEOPOS", "Sicily", "Palermo", "nope", "Catania", "corner"]),
            Reply::Array(vec![
                pos("13.36138933897018433", "38.11555639549629859"),
                Reply::NilArray,
                pos("15.08726745843887329", "37.50266842333162032"),
                pos("180", "85.0511287799999991"),
            ])
        );
        assert_eq!(c.cmd(&["GEOPOS", "missing", "a"]), Reply::Array(vec![Reply::NilArray]));
        assert_eq!(
            c.cmd(&["GEOHASH", "Sicily", "Palermo", "nope", "Catania"]),
            Reply::Array(vec![bulk("sqc8b49rny0"), Reply::Nil, bulk("sqdtr74hyu0")])
        );
        assert_eq!(c.cmd(&["GEOHASH", "missing", "a"]), Reply::Array(vec![Reply::Nil]));
        assert_eq!(c.cmd(&["GEODIST", "Sicily", "Palermo", "Catania"]), bulk("166274.1516"));
        assert_eq!(c.cmd(&["GEODIST", "Sicily", "Palermo", "Catania", "KM"]), bulk("166.2742"));
        assert_eq!(c.cmd(&["GEODIST", "Sicily", "Palermo", "Catania", "mi"]), bulk("103.3182"));
        assert_eq!(c.cmd(&["GEODIST", "Sicily", "Palermo", "Catania", "ft"]), bulk("545518.8700"));
        assert_eq!(c.cmd(&["GEODIST", "Sicily", "Palermo", "Palermo"]), bulk("0.0000"));
        assert_eq!(c.cmd(&["GEODIST", "Sicily", "Palermo", "nope"]), Reply::Nil);
        assert_eq!(c.cmd(&["GEODIST", "missing", "a", "b"]), Reply::Nil);
        assert_eq!(
            c.cmd(&["GEODIST", "missing", "a", "b", "parsec"]),
            Reply::error("ERR unsupported unit provided. please use M, KM, FT, MI")
        );
        assert!(err("ERR syntax error")(&c.cmd(&["GEODIST", "Sicily", "a", "b", "km", "x"])));
        c.cmd(&["SET", "s", "x"]);
        for cmd in [&["GEOPOS", "s", "a"][..], &["GEOHASH", "s", "a"], &["GEODIST", "s", "a", "b"]] {
            assert!(err("WRONGTYPE")(&c.cmd(cmd)), "{cmd:?}");
        }
    }

    #[test]
    fn georadius_family() {
        let mut c = sicily();
        let full = c.cmd(&["GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "WITHCOORD", "WITHHASH", "ASC"]);
        assert_eq!(
            full,
            Reply::Array(vec![
                Reply::Array(vec![
                    bulk("Catania"),
                    bulk("56.4413"),
                    int(3479447370796909),
                    pos("15.08726745843887329", "37.50266842333162032"),
                ]),
                Reply::Array(vec![
                    bulk("Palermo"),
                    bulk("190.4424"),
                    int(3479099956230698),
                    pos("13.36138933897018433", "38.11555639549629859"),
                ]),
            ])
        );
        assert_eq!(c.cmd(&["GEORADIUS", "Sicily", "15", "37", "200", "km", "DESC"]), arr(&["Palermo", "Catania"]));
        assert_eq!(c.cmd(&["GEORADIUS", "Sicily", "15", "37", "100", "km"]), arr(&["Catania"]));
        assert_eq!(c.cmd(&["GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "1"]), arr(&["Catania"]));
        assert_eq!(c.cmd(&["GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "1", "ANY"]), arr(&["Palermo"]));
        assert_eq!(c.cmd(&["GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "ASC"]), arr(&["Catania", "Palermo"]));
        assert_eq!(c.cmd(&["GEORADIUS", "Sicily", "15", "37", "1", "km"]), arr(&[]));
        assert_eq!(c.cmd(&["GEORADIUS", "missing", "15", "37", "1", "km"]), arr(&[]));
        assert_eq!(
            c.cmd(&["GEORADIUSBYMEMBER", "Sicily", "Palermo", "200", "km", "WITHDIST", "ASC"]),
            Reply::Array(vec![
                Reply::Array(vec![bulk("Palermo"), bulk("0.0000")]),
                Reply::Array(vec![bulk("Catania"), bulk("166.2742")]),
            ])
        );
        assert_eq!(c.cmd(&["GEORADIUSBYMEMBER_RO", "Sicily", "Catania", "100", "km"]), arr(&["Catania"]));
        // A missing source answers before the radius is even read.
        assert_eq!(c.cmd(&["GEORADIUSBYMEMBER", "missing", "x", "abc", "km"]), arr(&[]));
        // Read-only searches and searches without STORE log nothing.
        assert_eq!(c.change_log().len(), 1);
    }

    #[test]
    fn georadius_store() {
        let mut c = sicily();
        assert_eq!(c.cmd(&["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst"]), int(2));
        assert_eq!(
            scores(&c, "dst").unwrap(),
            vec![("Palermo".to_string(), 3479099956230698.0), ("Catania".to_string(), 3479447370796909.0)]
        );
        assert_eq!(c.cmd(&["GEORADIUS", "Sicily", "15", "37", "200", "km", "STOREDIST", "dd", "COUNT", "1"]), int(1));
        let dd = scores(&c, "dd").unwrap();
        assert_eq!(dd.len(), 1);
        assert_eq!(dd[0].0, "Catania");
        assert_eq!(geohash::format_distance(dd[0].1), "56.4413");
        assert_eq!(c.cmd(&["GEORADIUSBYMEMBER", "Sicily", "Palermo", "10", "km", "STORE", "dm"]), int(1));
        // No match deletes the destination; a missing source too.
        assert_eq!(c.cmd(&["GEORADIUS", "Sicily", "0", "0", "1", "km", "STORE", "dm"]), int(0));
        assert_eq!(scores(&c, "dm"), None);
        c.cmd(&["SET", "str", "x"]);
        assert_eq!(c.cmd(&["GEORADIUS", "missing", "0", "0", "1", "km", "STORE", "str"]), int(0));
        assert_eq!(c.cmd(&["GET", "str"]), Reply::Nil);
        let log = c.change_log();
        // Every search that changed a destination is logged as is (they are deterministic).
        assert_eq!(log.iter().filter(|r| r[0] == "GEORADIUS" || r[0] == "GEORADIUSBYMEMBER").count(), 5);
        assert_eq!(
            c.cmd(&["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "x", "WITHDIST"]),
            Reply::error(
                "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
            )
        );
        assert!(err("ERR syntax error")(&c.cmd(&["GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "STORE", "x"])));
        assert!(err("ERR syntax error")(&c.cmd(&["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE"])));
    }

    #[test]
    fn geosearch_and_store() {
        let mut c = sicily();
        c.cmd(&["GEOADD", "Sicily", "12.758489", "38.788135", "edge1", "17.241510", "38.788135", "edge2"]);
        assert_eq!(
            c.cmd(&["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC"]),
            arr(&["Catania", "Palermo"])
        );
        assert_eq!(
            c.cmd(&["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "ASC"]),
            arr(&["Catania", "Palermo", "edge2", "edge1"])
        );
        assert_eq!(
            c.cmd(&["GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "200", "200", "km", "DESC", "COUNT", "2"]),
            arr(&["edge1", "Palermo"])
        );
        assert_eq!(
            c.cmd(&["GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "100", "km"]),
            int(1)
        );
        assert_eq!(scores(&c, "dst").unwrap(), vec![("Catania".to_string(), 3479447370796909.0)]);
        assert_eq!(
            c.cmd(&["GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "100", "km", "STOREDIST"]),
            int(1)
        );
        let dst = scores(&c, "dst").unwrap();
        assert_eq!(geohash::format_distance(dst[0].1), "56.4413");
        assert_eq!(c.cmd(&["GEOSEARCHSTORE", "dst", "missing", "FROMMEMBER", "x", "BYRADIUS", "1", "km"]), int(0));
        assert_eq!(scores(&c, "dst"), None);
        assert_eq!(c.cmd(&["GEOSEARCH", "missing", "FROMMEMBER", "x", "BYRADIUS", "1", "km"]), arr(&[]));
    }

    #[test]
    fn search_errors() {
        let mut c = sicily();
        let cases: &[(&[&str], &str)] = &[
            (&["GEORADIUS", "Sicily", "15", "37", "-1", "km"], "ERR radius cannot be negative"),
            (&["GEORADIUS", "Sicily", "15", "37", "abc", "km"], "ERR need numeric radius"),
            (
                &["GEORADIUS", "Sicily", "15", "37", "1", "parsec"],
                "ERR unsupported unit provided. please use M, KM, FT, MI",
            ),
            (
                &["GEORADIUS", "Sicily", "200", "37", "1", "km"],
                "ERR invalid longitude,latitude pair 200.000000,37.000000",
            ),
            (&["GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "0"], "ERR COUNT must be > 0"),
            (
                &["GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "x"],
                "ERR value is not an integer or out of range",
            ),
            (&["GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT"], "ERR syntax error"),
            (&["GEORADIUS", "Sicily", "15", "37", "200", "km", "ANY"], "ERR the ANY argument requires COUNT argument"),
            (&["GEORADIUS", "Sicily", "15", "37", "200", "km", "FROMMEMBER", "x"], "ERR syntax error"),
            (&["GEORADIUSBYMEMBER", "Sicily", "nope", "100", "km"], "ERR could not decode requested zset member"),
            (
                &["GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "FROMLONLAT", "1", "2", "BYRADIUS", "1", "km"],
                "ERR syntax error",
            ),
            (
                &["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "2", "BYRADIUS", "1", "km", "BYBOX", "1", "1", "km"],
                "ERR syntax error",
            ),
            (
                &["GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "-1", "1", "km"],
                "ERR height or width cannot be negative",
            ),
            (&["GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "a", "1", "km"], "ERR need numeric width"),
            (&["GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "1", "a", "km"], "ERR need numeric height"),
            (
                &["GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "STORE", "x"],
                "ERR syntax error",
            ),
            (&["GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "STOREDIST"], "ERR syntax error"),
            (
                &["GEOSEARCH", "Sicily", "FROMMEMBER", "nope", "BYRADIUS", "1", "km"],
                "ERR could not decode requested zset member",
            ),
            (
                &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "WITHDIST", "ASC"],
                "ERR exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH",
            ),
            (
                &["geosearch", "Sicily", "BYRADIUS", "15", "km", "WITHDIST", "ASC"],
                "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for geosearch",
            ),
            (
                &["GEOSEARCHSTORE", "d", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "WITHDIST"],
                "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            ),
            (&["GEOSEARCH", "Sicily", "BYRADIUS", "10", "km"], "ERR wrong number of arguments for 'geosearch' command"),
        ];
        for (cmd, expected) in cases {
            assert_eq!(c.cmd(cmd), Reply::error(*expected), "{cmd:?}");
        }
        c.cmd(&["SET", "s", "x"]);
        assert!(err("WRONGTYPE")(&c.cmd(&["GEORADIUS", "s", "200", "37", "1", "km"])));
        assert!(err("WRONGTYPE")(&c.cmd(&["GEOSEARCH", "s", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km"])));
        // The destination's type does not matter.
        assert_eq!(c.cmd(&["GEOSEARCHSTORE", "s", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km"]), int(1));
    }

    #[test]
    fn resp3_coordinates_are_doubles() {
        let mut c = sicily();
        c.client.protocol = Protocol::Resp3;
        let Reply::Array(items) = c.cmd(&["GEOPOS", "Sicily", "Palermo"]) else { panic!("array expected") };
        // The values of Redis's 17-decimal texts.
        let redis_value = |text: &str| Reply::Double(text.parse().unwrap_or(f64::NAN));
        assert_eq!(
            items,
            vec![Reply::Array(vec![redis_value("13.36138933897018433"), redis_value("38.11555639549629859")])]
        );
        assert_eq!(c.cmd(&["GEODIST", "Sicily", "Palermo", "Catania"]), bulk("166274.1516"));
    }

    #[test]
    fn huge_radius_and_antimeridian() {
        // Redis's search cells do not reach across the antimeridian for small searches; the
        // expected replies are those of Redis 7.0.
        let mut c = TestClient::new();
        c.cmd(&["GEOADD", "w", "179.9", "0", "east", "-179.9", "0", "west", "0", "0", "origin"]);
        assert_eq!(c.cmd(&["GEOSEARCH", "w", "FROMLONLAT", "180", "0", "BYRADIUS", "50", "km", "ASC"]), arr(&["east"]));
        assert_eq!(c.cmd(&["GEORADIUS", "w", "0", "0", "30000", "km"]), arr(&["origin", "east", "west"]));
        assert_eq!(c.cmd(&["GEORADIUS", "w", "0", "0", "30000", "km", "COUNT", "1", "ANY"]), arr(&["origin"]));
        // The stored point is the centre of its cell, not exactly (0, 0).
        assert_eq!(c.cmd(&["GEORADIUS", "w", "0", "0", "0", "km"]), arr(&[]));
        assert_eq!(c.cmd(&["GEORADIUS", "w", "0", "0", "1", "m"]), arr(&["origin"]));
    }

    /// Runs a command without serving blocked clients afterwards, and tells whether it left
    /// keys marked ready.
    fn signals_ready(c: &mut TestClient, args: &[&str]) -> bool {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        let mut guard = c.tenant.state.lock();
        let state = &mut *guard;
        state.db.set_clock(crate::context::unix_time_ms());
        state.db.block_on(&args[1]);
        state.db.block_on(b"dst");
        let mut ctx = Ctx::new(&mut state.db, &mut c.client, &c.node);
        crate::exec::dispatch(&mut ctx, &args);
        let ready = state.db.take_ready_keys();
        state.db.unblock_from(&args[1]);
        state.db.unblock_from(b"dst");
        !ready.is_empty()
    }

    #[test]
    fn adds_signal_blocked_clients() {
        let mut c = TestClient::new();
        assert!(signals_ready(&mut c, &["GEOADD", "z", "1", "1", "a"]));
        assert!(!signals_ready(&mut c, &["GEOADD", "z", "1", "1", "a"]));
        assert!(signals_ready(&mut c, &["GEOSEARCHSTORE", "dst", "z", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "m"]));
        assert!(!signals_ready(&mut c, &["GEOSEARCH", "z", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "m"]));
    }

    #[test]
    fn key_positions() {
        let args: Vec<Bytes> = ["GEORADIUS", "k", "1", "2", "3", "km", "STORE", "a", "STOREDIST", "b"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        assert_eq!(georadius_keys(&args), vec![1, 7, 9]);
        let args: Vec<Bytes> =
            ["GEORADIUSBYMEMBER", "k", "m", "3", "km", "store"].iter().map(|s| Bytes::from(*s)).collect();
        assert_eq!(georadiusbymember_keys(&args), vec![1]);
    }
}
