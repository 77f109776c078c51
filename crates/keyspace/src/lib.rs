//! One Redis database in memory: keys, typed values, TTLs, watch/ready signals and the
//! ordered change log that durability and replication consume. No I/O, no protocol.

pub mod changelog;
pub mod codec;
pub mod db;
pub mod stream;
pub mod table;
pub mod value;

pub use changelog::{ChangeLog, ChangeRecord};
pub use db::{Db, Entry, Eviction, Expiry, MemoryPolicy, Room, WrongType};
pub use stream::{StreamId, StreamValue};
pub use value::{Blob, HashValue, ListValue, SetValue, Value, ZSetValue};

/// Hasher used by every table of the keyspace: fast, and randomly seeded per process so that a
/// client cannot choose keys that collide (hash flooding).
pub type RandomState = foldhash::fast::RandomState;
pub type IndexMap<K, V> = indexmap::IndexMap<K, V, RandomState>;
pub type IndexSet<K> = indexmap::IndexSet<K, RandomState>;
