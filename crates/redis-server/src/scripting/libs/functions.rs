//! Function libraries (FUNCTION LOAD, FCALL): each library's code and registered functions.

use mlua::Function;
use std::collections::BTreeMap;

/// A function registered by a library.
pub struct RegisteredFunction {
    pub name: String,
    pub func: Function,
    pub flags: Vec<String>,
    pub description: Option<String>,
}

/// A loaded library.
pub struct Library {
    pub name: String,
    pub code: bytes::Bytes,
    pub functions: Vec<String>,
}

/// Every library of a tenant and the functions they registered, by name.
#[derive(Default)]
pub struct Libraries {
    pub libraries: BTreeMap<String, Library>,
    pub functions: BTreeMap<String, (String, RegisteredFunction)>,
}
