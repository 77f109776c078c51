//! Generated database names: adjective-noun-number, like `late-waterfall-1133`.

use rand::Rng;

const ADJECTIVES: &[&str] = &[
    "late", "early", "quiet", "bold", "calm", "brave", "bright", "crisp", "dusty", "eager", "fancy", "gentle", "happy",
    "icy", "jolly", "keen", "lively", "misty", "noble", "proud", "rapid", "shiny", "silent", "sunny", "swift", "tidy",
    "vivid", "warm", "wild", "young", "ancient", "autumn", "blue", "cosmic", "divine", "golden", "hidden", "lucky",
    "polished", "royal",
];

const NOUNS: &[&str] = &[
    "waterfall",
    "river",
    "meadow",
    "forest",
    "canyon",
    "glacier",
    "harbor",
    "island",
    "lake",
    "mountain",
    "ocean",
    "prairie",
    "reef",
    "valley",
    "volcano",
    "breeze",
    "cloud",
    "comet",
    "dawn",
    "dune",
    "ember",
    "falcon",
    "feather",
    "garden",
    "grove",
    "heron",
    "lagoon",
    "lantern",
    "maple",
    "moon",
    "orchard",
    "pebble",
    "pine",
    "rain",
    "sparrow",
    "star",
    "stone",
    "sunset",
    "tern",
    "thunder",
];

pub fn generate() -> String {
    let mut rng = rand::thread_rng();
    let adjective = ADJECTIVES[rng.gen_range(0..ADJECTIVES.len())];
    let noun = NOUNS[rng.gen_range(0..NOUNS.len())];
    format!("{adjective}-{noun}-{}", rng.gen_range(1000..10000))
}

/// A database name: 1 to 63 characters of `a-z`, `0-9` and `-`, not starting or ending with `-`.
pub fn valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_names_are_valid_and_shaped() {
        for _ in 0..100 {
            let n = super::generate();
            assert!(super::valid(&n), "{n}");
            assert_eq!(n.split('-').count(), 3, "{n}");
        }
        assert!(!super::valid("Bad Name"));
        assert!(!super::valid("-x"));
        assert!(!super::valid(""));
    }
}
