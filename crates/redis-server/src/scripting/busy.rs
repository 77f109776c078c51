//! A long script must not freeze its connection's worker thread: every connection of a
//! tenant, and other tenants, run on that thread. So a script command (EVAL…, FCALL…, an EXEC
//! holding one) runs on a blocking-pool thread, which takes the tenant lock, while the
//! worker thread goes on serving. The *gate* says a script command is in flight: it is
//! opened on the connection's thread before the hand-over and closed by the script thread
//! after it released the lock. A connection of the same tenant that finds the gate open does
//! not take the lock: it waits for the gate to close, but once the script has run longer
//! than `busy-reply-threshold` it answers BUSY (or runs SCRIPT KILL, FUNCTION KILL, FUNCTION
//! STATS and the ALLOW_BUSY commands, which need no database).

use super::{kill, last_counts, running_function, running_kind, ScriptKind, ScriptState};
use crate::tenant::Tenant;
use bytes::Bytes;
use resp::Reply;
use std::time::{Duration, Instant};

/// Default of `busy-reply-threshold` (Redis's `lua-time-limit`), in milliseconds.
pub const DEFAULT_BUSY_THRESHOLD_MS: u64 = 5000;

/// Opens the gate: a script command is about to be handed to a script thread.
pub fn open_gate(state: &ScriptState) {
    state.gate.send_replace(Some(Instant::now()));
}

/// Closes the gate when dropped: held by the script thread, dropped after the tenant lock.
pub struct GateGuard(pub std::sync::Arc<Tenant>);

impl Drop for GateGuard {
    fn drop(&mut self) {
        self.0.scripting.gate.send_replace(None);
    }
}

/// Since when a script command is in flight, if one is.
pub fn busy_since(state: &ScriptState) -> Option<Instant> {
    *state.gate.borrow()
}

/// Waits until no script command is in flight, at most `limit`; true if none is.
pub async fn wait_until_idle(state: &ScriptState, limit: Duration) -> bool {
    let mut rx = state.gate.subscribe();
    let idle = matches!(tokio::time::timeout(limit, rx.wait_for(|g| g.is_none())).await, Ok(Ok(_)));
    idle
}

/// The tenant's `busy-reply-threshold` (CONFIG SET, aliased `lua-time-limit`).
pub fn threshold(tenant: &Tenant) -> Duration {
    let ms = tenant
        .config
        .lock()
        .get("busy-reply-threshold")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(DEFAULT_BUSY_THRESHOLD_MS);
    Duration::from_millis(ms)
}

/// SCRIPT KILL, FUNCTION KILL and FUNCTION STATS, answered while the database is busy
/// (without its lock); `None` for any other command.
pub fn answer(state: &ScriptState, args: &[Bytes]) -> Option<Reply> {
    let is = crate::args::is;
    if args.len() != 2 {
        return None;
    }
    if is(&args[0], "SCRIPT") && is(&args[1], "KILL") {
        return Some(kill(state, ScriptKind::Eval));
    }
    if !is(&args[0], "FUNCTION") {
        return None;
    }
    if is(&args[1], "KILL") {
        return Some(kill(state, ScriptKind::Function));
    }
    if !is(&args[1], "STATS") {
        return None;
    }
    if running_kind(state) == ScriptKind::Eval {
        return Some(Reply::error(ScriptKind::Eval.busy_error()));
    }
    Some(crate::commands::functions::stats_reply(running_function(state), last_counts(state)))
}

/// The BUSY error for the script in flight.
pub fn busy_error(state: &ScriptState) -> Reply {
    Reply::error(running_kind(state).busy_error())
}
