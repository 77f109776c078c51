//! Command errors and their exact Redis wording; turned into `-ERR …` replies in one place.

use keyspace::WrongType;
use resp::Reply;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// Any other error; the text includes its code (`ERR …`, `BUSYKEY …`).
    #[error("{0}")]
    Other(String),
}

pub type CommandResult = Result<Reply, CommandError>;

impl CommandError {
    /// An `ERR`-coded error with the given message (without the `ERR ` prefix).
    pub fn err(msg: impl std::fmt::Display) -> Self {
        CommandError::Other(format!("ERR {msg}"))
    }

    pub fn to_reply(&self) -> Reply {
        Reply::Error(self.to_string())
    }
}

impl From<WrongType> for CommandError {
    fn from(_: WrongType) -> Self {
        CommandError::WrongType
    }
}
