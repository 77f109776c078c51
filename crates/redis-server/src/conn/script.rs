//! The connection's side of scripts (see `scripting/busy.rs` for the scheme): a script
//! command runs on a blocking-pool thread while this worker thread keeps serving; requests of
//! the same tenant meanwhile wait for it, or get BUSY once it ran past the threshold.

use super::Connection;
use crate::blocking::serve_ready_keys;
use crate::command::{CommandSpec, Flags, COMMANDS};
use crate::context::{unix_time_ms, ClientState, Ctx};
use crate::exec::dispatch;
use crate::scripting::busy;
use crate::tenant::{Tenant, TenantState};
use bytes::Bytes;
use resp::Reply;
use std::sync::Arc;
use std::time::Duration;

/// Whether running the command `spec` now runs a script, and where it may run.
pub(super) enum ScriptRun {
    No,
    /// A script command: the worker thread may run it if it is known to be quick.
    MaybeHere,
    /// An EXEC whose transaction holds a script: always on a script thread, since commands
    /// before the script in the transaction may already have written.
    OnScriptThread,
}

pub(super) fn runs_script(client: &ClientState, spec: Option<&CommandSpec>) -> ScriptRun {
    let Some(spec) = spec else { return ScriptRun::No };
    let Some(multi) = &client.multi else {
        return if spec.flags.contains(Flags::RUNS_SCRIPT) { ScriptRun::MaybeHere } else { ScriptRun::No };
    };
    let queued_script = |q: &Vec<Bytes>| COMMANDS.lookup(&q[0]).is_some_and(|s| s.flags.contains(Flags::RUNS_SCRIPT));
    if spec.name == "exec" && !multi.aborted && multi.queue.iter().any(queued_script) {
        ScriptRun::OnScriptThread
    } else {
        ScriptRun::No
    }
}

/// Runs `change` on the tenant's state now if its lock is free or held briefly; while a
/// script holds it, on a blocking-pool thread instead, so this worker thread never waits for
/// a script (used for bookkeeping whose order does not matter: WATCH cleanup, counters).
pub(super) fn with_state_soon(tenant: &Arc<Tenant>, change: impl FnOnce(&mut TenantState) + Send + 'static) {
    if let Some(mut state) = tenant.state.try_lock() {
        change(&mut state);
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(rt) if busy::busy_since(&tenant.scripting).is_some() => {
            let tenant = tenant.clone();
            rt.spawn_blocking(move || change(&mut tenant.state.lock()));
        }
        _ => change(&mut tenant.state.lock()),
    }
}

impl Connection {
    /// While a script command of this tenant is in flight: waits for it during the grace
    /// period (`busy-reply-threshold`), then answers what may be answered without the
    /// database. `None`: no script in flight (any more), run the request normally.
    pub(super) async fn answer_while_busy(&mut self, args: &[Bytes]) -> Option<Reply> {
        let tenant = self.client.tenant.clone()?;
        loop {
            let since = busy::busy_since(&tenant.scripting)?;
            let remaining = busy::threshold(&tenant).saturating_sub(since.elapsed());
            if remaining.is_zero() {
                break;
            }
            busy::wait_until_idle(&tenant.scripting, remaining).await;
        }
        if let Some(reply) = busy::answer(&tenant.scripting, args) {
            return Some(reply);
        }
        let allowed = COMMANDS.lookup(&args[0]).is_some_and(|s| s.flags.contains(Flags::ALLOW_BUSY));
        if allowed {
            // These touch only the connection (AUTH, HELLO, MULTI, QUIT): no database needed.
            let node = self.node.clone();
            let mut ctx = Ctx::new(&mut self.limbo, &mut self.client, &node);
            return Some(dispatch(&mut ctx, args));
        }
        let busy = busy::busy_error(&tenant.scripting);
        let Reply::Error(text) = &busy else { return Some(busy) };
        if crate::args::is(&args[0], "EXEC") && self.client.multi.take().is_some() {
            return Some(Reply::Error(format!("EXECABORT Transaction discarded because of: {text}")));
        }
        if let Some(multi) = self.client.multi.as_mut() {
            multi.aborted = true;
        }
        Some(busy)
    }

    /// Waits until no script command of `tenant` is in flight (bounded by the node's hard
    /// script time limit, after which the script has been stopped).
    pub(super) async fn wait_for_script_end(&self, tenant: &Tenant) {
        let limit = self.node.limits.script_time_limit + Duration::from_secs(1);
        busy::wait_until_idle(&tenant.scripting, limit).await;
    }

    /// Runs the script command at `*next` on a blocking-pool thread, under the tenant lock
    /// there, and the requests pipelined after it while none may block or change the
    /// connection's tenant: a pipeline of scripts then costs one hand-over, not one per
    /// script. The client state and the output buffer travel with the batch and come back.
    pub(super) async fn run_scripts(&mut self, requests: &[Vec<Bytes>], next: &mut usize) -> std::io::Result<()> {
        let Some(tenant) = self.client.tenant.clone() else {
            *next += 1;
            return Ok(());
        };
        // Another connection's script may still be in flight (a connection on another
        // thread): wait for it rather than block this thread on the lock.
        self.wait_for_script_end(&tenant).await;
        busy::open_gate(&tenant.scripting);
        let gate = busy::GateGuard(tenant.clone());
        let placeholder = ClientState::new(self.client.handle.clone(), self.client.push_tx.clone());
        let mut client = std::mem::replace(&mut self.client, placeholder);
        let mut out = std::mem::take(&mut self.out);
        let node = self.node.clone();
        let batch = requests[*next..].to_vec();
        let job = tokio::task::spawn_blocking(move || {
            let gate = gate;
            let mut guard = gate.0.state.lock();
            let state = &mut *guard;
            let before = state.db.change_log.last_offset();
            let mut ran = 0;
            for args in &batch {
                if args.is_empty() || (ran > 0 && may_block(&client, args)) {
                    break;
                }
                ran += 1;
                state.db.set_clock(unix_time_ms());
                let reply = dispatch(&mut Ctx::new(&mut state.db, &mut client, &node), args);
                if state.db.has_ready_keys() {
                    serve_ready_keys(&mut state.db, &mut state.blocked, &node);
                }
                super::emit_to(&mut client, &mut out, reply);
                if ends_batch(&client, &out) {
                    break;
                }
            }
            let after = state.db.change_log.last_offset();
            let backlog = crate::persistence::Backlog::of(&state.db.change_log);
            drop(guard);
            drop(gate);
            (client, out, ran, before, after, backlog)
        });
        let (client, out, ran, before, after, backlog) =
            job.await.map_err(|e| std::io::Error::other(format!("a script thread failed: {e}")))?;
        self.client = client;
        self.out = out;
        *next += ran.max(1);
        self.after_writes(&tenant, before, after, backlog);
        self.note_activity(unix_time_ms());
        self.apply_pending();
        Ok(())
    }
}

/// Whether `args` may have to wait (a blocking command outside MULTI): such a request goes
/// back to the connection's thread, which knows how to wait.
fn may_block(client: &ClientState, args: &[Bytes]) -> bool {
    client.multi.is_none() && COMMANDS.lookup(&args[0]).is_none_or(|s| s.flags.contains(Flags::BLOCKING))
}

/// Whether a batch must stop after a request: the connection changes tenant or closes, or
/// enough output is pending (`FLUSH_THRESHOLD`).
pub(super) fn ends_batch(client: &ClientState, out: &bytes::BytesMut) -> bool {
    client.pending_auth.is_some()
        || client.pending_reset
        || client.close_after_reply
        || out.len() >= super::FLUSH_THRESHOLD
}
