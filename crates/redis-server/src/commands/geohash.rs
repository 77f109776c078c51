//! Geohash arithmetic exactly as Redis does it (`geohash.c`, `geohash_helper.c`): 52-bit
//! interleaved scores, neighbouring cells, the cells that cover a search shape, haversine
//! distances, and the number formats Redis prints coordinates and distances with.
//!
//! Everything here mirrors Redis's floating-point operations step by step, because geo keys
//! are plain sorted sets whose scores (and therefore ZRANGE/ZSCORE output, GEOPOS digits and
//! search results) must be bit-identical to what Redis stores and computes.

pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// Web Mercator's latitude limits: Redis refuses points beyond them.
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// 26 bits per coordinate, 52 bits in all: the most a double holds exactly.
pub const STEP_MAX: u8 = 26;
/// Earth's quadratic mean radius for WGS-84, as Redis uses it.
pub const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

/// A geohash cell: `step` bits per coordinate, interleaved (latitude in even bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    /// Redis's "no cell" marker (`GZERO`), used for neighbours excluded from a search.
    pub const ZERO: HashBits = HashBits { bits: 0, step: 0 };

    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The coordinate ranges of Redis's encoding (latitude limited to Web Mercator's).
pub const WGS84_LONG: Range = Range { min: LONG_MIN, max: LONG_MAX };
pub const WGS84_LAT: Range = Range { min: LAT_MIN, max: LAT_MAX };
/// The ranges of standard geohash strings (GEOHASH re-encodes with these).
const STANDARD_LAT: Range = Range { min: -90.0, max: 90.0 };

/// The rectangle a cell covers.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Area {
    pub longitude: Range,
    pub latitude: Range,
}

/// Spreads the bits of `x` over the even positions and those of `y` over the odd ones.
fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] =
        [0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let mut x = xlo as u64;
    let mut y = ylo as u64;
    for k in (0..5).rev() {
        x = (x | (x << S[k])) & B[k];
        y = (y | (y << S[k])) & B[k];
    }
    x | (y << 1)
}

/// Inverse of `interleave64`: even bits in the low 32 bits, odd bits in the high 32.
fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = interleaved;
    let mut y = interleaved >> 1;
    for k in 0..6 {
        x = (x | (x >> S[k])) & B[k];
        y = (y | (y >> S[k])) & B[k];
    }
    x | (y << 32)
}

/// Encodes a point into a cell of `step` bits per coordinate; `None` outside the ranges.
pub fn encode(long_range: Range, lat_range: Range, longitude: f64, latitude: f64, step: u8) -> Option<HashBits> {
    if step > 32 || step == 0 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min || latitude > lat_range.max || longitude < long_range.min || longitude > long_range.max
    {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min) * scale;
    let long_offset = (longitude - long_range.min) / (long_range.max - long_range.min) * scale;
    // The offsets lie in [0, 2^step]: the C conversion to uint32_t truncates like `as`.
    Some(HashBits { bits: interleave64(lat_offset as u32, long_offset as u32), step })
}

/// The 52-bit score Redis stores for a point (`None` outside Redis's limits).
pub fn encode_score(longitude: f64, latitude: f64) -> Option<u64> {
    encode(WGS84_LONG, WGS84_LAT, longitude, latitude, STEP_MAX).map(align52)
}

/// Left-aligns a cell's bits to 52 bits (the score of its first point).
pub fn align52(hash: HashBits) -> u64 {
    hash.bits << (52 - hash.step as u32 * 2)
}

/// The area a cell covers; `None` for the zero cell.
pub fn decode(long_range: Range, lat_range: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let div = (1u64 << hash.step) as f64;
    // `ilato + 1` is 32-bit unsigned arithmetic in Redis: it wraps for out-of-range scores.
    Some(Area {
        latitude: Range {
            min: lat_range.min + (ilato as f64 / div) * lat_scale,
            max: lat_range.min + (ilato.wrapping_add(1) as f64 / div) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (ilono as f64 / div) * long_scale,
            max: long_range.min + (ilono.wrapping_add(1) as f64 / div) * long_scale,
        },
    })
}

/// The centre of an area, clamped to Redis's limits: (longitude, latitude).
fn area_center(area: &Area) -> (f64, f64) {
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// C's `(uint64_t)double` as x86-64 compilers emit it, so that scores a geo command did not
/// write (a plain ZADD of -5 or 1e20) decode to the same positions as in Redis.
fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    // cvttsd2si: out-of-range and NaN give the "integer indefinite" value.
    fn cvtt(x: f64) -> i64 {
        if (-TWO63..TWO63).contains(&x) {
            x as i64
        } else {
            i64::MIN
        }
    }
    if d < TWO63 {
        cvtt(d) as u64
    } else {
        (cvtt(d - TWO63) as u64) ^ (1 << 63)
    }
}

/// The position (longitude, latitude) a sorted-set score stands for.
pub fn decode_score(score: f64) -> (f64, f64) {
    let hash = HashBits { bits: c_double_to_u64(score), step: STEP_MAX };
    // A step-26 cell is never the zero cell, so decoding always succeeds.
    decode(WGS84_LONG, WGS84_LAT, hash).map_or((0.0, 0.0), |area| area_center(&area))
}

/// The 11-character standard geohash of a stored score, as GEOHASH prints it.
pub fn geohash_string(score: f64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score);
    // Redis's cells span latitudes ±85.05; standard geohashes span ±90, so re-encode.
    let bits = encode(WGS84_LONG, STANDARD_LAT, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    (0..11)
        .map(|i| {
            // 52 bits make 10 characters and 2 bits; Redis pads the 11th character with 0.
            let idx = if i == 10 { 0 } else { (bits >> (52 - (i + 1) * 5)) & 0x1f };
            ALPHABET[idx as usize] as char
        })
        .collect()
}

fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let shift = 64 - hash.step as u32 * 2;
    let zz = 0x5555555555555555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> shift;
    hash.bits = x | y;
}

fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let shift = 64 - hash.step as u32 * 2;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> shift;
    hash.bits = x | y;
}

/// The eight cells around a cell (wrapping around the antimeridian and the poles).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Neighbors {
    pub north: HashBits,
    pub south: HashBits,
    pub east: HashBits,
    pub west: HashBits,
    pub north_east: HashBits,
    pub north_west: HashBits,
    pub south_east: HashBits,
    pub south_west: HashBits,
}

pub fn neighbors(hash: HashBits) -> Neighbors {
    let shifted = |dx: i8, dy: i8| {
        let mut h = hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    Neighbors {
        east: shifted(1, 0),
        west: shifted(-1, 0),
        south: shifted(0, -1),
        north: shifted(0, 1),
        north_west: shifted(-1, 1),
        south_west: shifted(-1, -1),
        north_east: shifted(1, 1),
        south_east: shifted(1, -1),
    }
}

/// What a search covers, sizes in the unit given (multiply by `conversion` for meters).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeKind {
    Circle { radius: f64 },
    Rect { width: f64, height: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub longitude: f64,
    pub latitude: f64,
    /// Meters per unit of the sizes (and of the distances reported).
    pub conversion: f64,
    pub kind: ShapeKind,
}

/// Cell precision for a search of this size: cells about as large as the search.
fn estimate_steps_by_radius(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    // Bounded: a positive double reaches MERCATOR_MAX after at most ~1100 doublings.
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    // Meridians converge towards the poles: use wider cells there.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// The bounding box of a shape: [min longitude, min latitude, max longitude, max latitude].
fn bounding_box(shape: &Shape) -> [f64; 4] {
    let (half_h, half_w) = match shape.kind {
        ShapeKind::Circle { radius } => (radius, radius),
        ShapeKind::Rect { width, height } => (height / 2.0, width / 2.0),
    };
    let height = shape.conversion * half_h;
    let width = shape.conversion * half_w;
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(shape.latitude + lat_delta).cos());
    let long_delta_bottom = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(shape.latitude - lat_delta).cos());
    // The box is widest on the side nearer the equator.
    let long_delta = if shape.latitude < 0.0 { long_delta_bottom } else { long_delta_top };
    [shape.longitude - long_delta, shape.latitude - lat_delta, shape.longitude + long_delta, shape.latitude + lat_delta]
}

/// The cell around the search centre and its neighbours (unneeded ones zeroed).
#[derive(Clone, Copy, Debug)]
pub struct SearchCells {
    pub hash: HashBits,
    pub neighbors: Neighbors,
}

impl SearchCells {
    /// In the order Redis scans them.
    pub fn in_scan_order(&self) -> [HashBits; 9] {
        let n = &self.neighbors;
        [self.hash, n.north, n.south, n.east, n.west, n.north_east, n.north_west, n.south_east, n.south_west]
    }
}

/// The nine cells (centre and neighbours) that cover a search shape.
pub fn search_cells(shape: &Shape) -> SearchCells {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let (lon, lat) = (shape.longitude, shape.latitude);
    let radius_meters = match shape.kind {
        ShapeKind::Circle { radius } => radius,
        ShapeKind::Rect { width, height } => ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt(),
    } * shape.conversion;
    let mut steps = estimate_steps_by_radius(radius_meters, lat);
    let cell = |steps: u8| {
        let hash = encode(WGS84_LONG, WGS84_LAT, lon, lat, steps).unwrap_or(HashBits { bits: 0, step: steps });
        let area = decode(WGS84_LONG, WGS84_LAT, hash).unwrap_or_default();
        (hash, neighbors(hash), area)
    };
    let (mut hash, mut nb, mut area) = cell(steps);

    // Near a cell edge the neighbours may not reach the far side of the search: use
    // cells twice as large then.
    let decode_nb = |h: HashBits| decode(WGS84_LONG, WGS84_LAT, h).unwrap_or_default();
    let decrease_step = decode_nb(nb.north).latitude.max < max_lat
        || decode_nb(nb.south).latitude.min > min_lat
        || decode_nb(nb.east).longitude.max < max_lon
        || decode_nb(nb.west).longitude.min > min_lon;
    if steps > 1 && decrease_step {
        steps -= 1;
        (hash, nb, area) = cell(steps);
    }

    // Drop the neighbours the search cannot reach.
    if steps >= 2 {
        if area.latitude.min < min_lat {
            nb.south = HashBits::ZERO;
            nb.south_west = HashBits::ZERO;
            nb.south_east = HashBits::ZERO;
        }
        if area.latitude.max > max_lat {
            nb.north = HashBits::ZERO;
            nb.north_east = HashBits::ZERO;
            nb.north_west = HashBits::ZERO;
        }
        if area.longitude.min < min_lon {
            nb.west = HashBits::ZERO;
            nb.south_west = HashBits::ZERO;
            nb.north_west = HashBits::ZERO;
        }
        if area.longitude.max > max_lon {
            nb.east = HashBits::ZERO;
            nb.south_east = HashBits::ZERO;
            nb.north_east = HashBits::ZERO;
        }
    }
    SearchCells { hash, neighbors: nb }
}

/// The score range [min, max) holding every point of a cell.
pub fn cell_score_range(hash: HashBits) -> (f64, f64) {
    let min = align52(hash);
    let max = align52(HashBits { bits: hash.bits + 1, step: hash.step });
    (min as f64, max as f64)
}

/// Distance along a meridian (the haversine formula reduces to this for equal longitudes).
fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// Great-circle distance in meters (haversine), as Redis computes it.
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// A stored point inside the shape: its (longitude, latitude, distance in meters).
pub fn within_shape(shape: &Shape, score: f64) -> Option<(f64, f64, f64)> {
    let (lon, lat) = decode_score(score);
    let dist = match shape.kind {
        ShapeKind::Circle { radius } => {
            let d = distance(shape.longitude, shape.latitude, lon, lat);
            // Written as Redis does (`d > radius` rejects), so a NaN distance is kept.
            if d > radius * shape.conversion {
                return None;
            }
            d
        }
        ShapeKind::Rect { width, height } => {
            let (width_m, height_m) = (width * shape.conversion, height * shape.conversion);
            if lat_distance(lat, shape.latitude) > height_m / 2.0 {
                return None;
            }
            if distance(lon, lat, shape.longitude, lat) > width_m / 2.0 {
                return None;
            }
            distance(shape.longitude, shape.latitude, lon, lat)
        }
    };
    Some((lon, lat, dist))
}

/// C's `%.Nf` for the values it can meet here (glibc writes NaN as `nan`/`-nan`).
fn fixed(d: f64, decimals: usize) -> String {
    if d.is_nan() {
        return if d.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    format!("{d:.decimals$}")
}

/// A distance as Redis replies it: `%.4f`.
pub fn format_distance(d: f64) -> String {
    fixed(d, 4)
}

/// A coordinate as in Redis's error messages: `%f`.
pub fn format_c_float(d: f64) -> String {
    fixed(d, 6)
}

/// A coordinate as GEOPOS and WITHCOORD print it: Redis's "human" long double format,
/// `%.17Lf` without trailing zeros (the double converts exactly to a long double, so the
/// exact decimal expansion rounded to 17 places is the same).
pub fn format_coordinate(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let mut s = fixed(d, 17);
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_roundtrip() {
        for (x, y) in [(0u32, 0u32), (1, 0), (0, 1), (0x3ffffff, 0x1234567), (u32::MAX, 7)] {
            let sep = deinterleave64(interleave64(x, y));
            assert_eq!((sep as u32, (sep >> 32) as u32), (x, y));
        }
        assert_eq!(interleave64(1, 0), 1);
        assert_eq!(interleave64(0, 1), 2);
        assert_eq!(interleave64(1 << 26, 1 << 26), 3 << 52);
    }

    #[test]
    fn scores_match_redis() {
        // Values read from a real Redis 7.0 after GEOADD.
        assert_eq!(encode_score(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(encode_score(15.087269, 37.502669), Some(3479447370796909));
        assert_eq!(encode_score(180.0, 85.05112878), Some(13510798882111488));
        assert_eq!(encode_score(-180.0, -85.05112878), Some(0));
        assert_eq!(encode_score(180.1, 0.0), None);
        assert_eq!(encode_score(0.0, -85.06), None);
    }

    #[test]
    fn positions_and_hashes_match_redis() {
        let (lon, lat) = decode_score(3479099956230698.0);
        assert_eq!(format_coordinate(lon), "13.36138933897018433");
        assert_eq!(format_coordinate(lat), "38.11555639549629859");
        assert_eq!(geohash_string(3479099956230698.0), "sqc8b49rny0");
        assert_eq!(geohash_string(3479447370796909.0), "sqdtr74hyu0");
        assert_eq!(geohash_string(13510798882111488.0), "bp05b5048p0");
        let (lon, lat) = decode_score(13510798882111488.0);
        assert_eq!((format_coordinate(lon).as_str(), format_coordinate(lat).as_str()), ("180", "85.0511287799999991"));
        let (lon, lat) = decode_score(0.0);
        assert_eq!(format_coordinate(lon), "-179.99999731779098511");
        assert_eq!(format_coordinate(lat), "-85.05112751263942528");
        assert_eq!(geohash_string(0.0), "00bh0hbj200");
    }

    #[test]
    fn foreign_scores_decode_like_redis() {
        // A plain ZADD score of -5 lands at the top corner, 1e20 at the bottom one, as in Redis.
        assert_eq!(decode_score(-5.0), (180.0, LAT_MAX));
        assert_eq!(decode_score(1e20), decode_score(0.0));
        assert_eq!(c_double_to_u64(f64::INFINITY), 0);
        assert_eq!(c_double_to_u64(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(c_double_to_u64(1e19), 10_000_000_000_000_000_000);
    }

    #[test]
    fn distance_matches_redis() {
        let (lon1, lat1) = decode_score(3479099956230698.0);
        let (lon2, lat2) = decode_score(3479447370796909.0);
        assert_eq!(format_distance(distance(lon1, lat1, lon2, lat2)), "166274.1516");
        assert_eq!(format_distance(distance(lon1, lat1, lon2, lat2) / 1000.0), "166.2742");
        assert_eq!(format_distance(distance(lon1, lat1, lon1, lat1)), "0.0000");
    }

    #[test]
    fn neighbors_wrap() {
        let h = HashBits { bits: 0, step: 1 };
        let n = neighbors(h);
        // At step 1 there are 2x2 cells; moving west of the first wraps to the east column.
        assert_eq!(n.west.bits, 0b10);
        assert_eq!(n.east.bits, 0b10);
        assert_eq!(n.north.bits, 0b01);
        assert_eq!(n.south.bits, 0b01);
    }

    #[test]
    fn steps_estimate() {
        assert_eq!(estimate_steps_by_radius(0.0, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(f64::INFINITY, 0.0), 1);
        assert_eq!(estimate_steps_by_radius(f64::MIN_POSITIVE / 1e10, 0.0), 26);
        assert!(estimate_steps_by_radius(1000.0, 0.0) > estimate_steps_by_radius(1000.0, 85.0));
    }

    #[test]
    fn formats() {
        assert_eq!(format_coordinate(-0.0), "0");
        assert_eq!(format_coordinate(1.5), "1.5");
        assert_eq!(format_coordinate(2.0), "2");
        assert_eq!(format_c_float(200.0), "200.000000");
        assert_eq!(format_c_float(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_distance(f64::NAN), "nan");
    }
}
