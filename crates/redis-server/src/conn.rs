//! One client connection: reads requests, runs them in batches under the tenant lock, writes
//! replies, delivers pub/sub pushes, and waits for blocking commands.

use crate::blocking::{serve_ready_keys, Waiter, WaiterId};
use crate::context::{unix_time_ms, ClientHandle, ClientState, Ctx, ReplyMode, ScriptThread};
use crate::exec::{dispatch, dispatch_spec};
use crate::node::Node;
use crate::persistence::Backlog;
use crate::pubsub::PushMessage;
use crate::tenant::Tenant;
use bytes::{Bytes, BytesMut};
use keyspace::Db;
use resp::{parse_request, Reply};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

mod forward;
mod script;

/// Read buffer growth step.
const READ_CHUNK: usize = 16 * 1024;
/// A batch stops (lock released, replies flushed) once this much output is pending, which
/// bounds both memory per connection and how long one pipeline holds the tenant lock.
const FLUSH_THRESHOLD: usize = 1024 * 1024;
/// A request list that grew past this many entries is dropped rather than kept for reuse.
const SPARE_REQUESTS_MAX: usize = 1024;

pub struct Connection {
    node: Arc<Node>,
    stream: TcpStream,
    client: ClientState,
    push_rx: mpsc::Receiver<PushMessage>,
    /// Stand-in database for commands run before AUTH (none of them touches data).
    limbo: Db,
    inbuf: BytesMut,
    out: BytesMut,
    /// A framing error found while parsing, replied to after the requests before it.
    pending_protocol_error: Option<String>,
    /// Set when a hand-off to the tenant's home thread failed: stay on this thread.
    stay_here: bool,
    /// Replies in `out` acknowledge writes up to this offset, not yet durable (`always`).
    pending_durable: Option<(Arc<Tenant>, u64)>,
    /// The emptied request list of the last read, reused by the next one.
    spare_requests: Vec<Vec<Bytes>>,
    /// On a replica: the connection to the primary's node that writes are forwarded on.
    upstream: Option<forward::Upstream>,
}

/// A connection on its way to another worker thread (its socket detached from this
/// thread's reactor), with everything it had read, buffered or subscribed to.
pub struct Handoff {
    node: Arc<Node>,
    stream: std::net::TcpStream,
    client: ClientState,
    push_rx: mpsc::Receiver<PushMessage>,
    limbo: Db,
    inbuf: BytesMut,
    out: BytesMut,
    pending_protocol_error: Option<String>,
}

impl Handoff {
    /// Resumes the connection on the calling thread's runtime.
    pub fn resume(self: Box<Self>) -> std::io::Result<Connection> {
        let Handoff { node, stream, mut client, push_rx, limbo, inbuf, out, pending_protocol_error } = *self;
        let stream = match TcpStream::from_std(stream) {
            Ok(s) => s,
            Err(e) => {
                leave_tenant(&mut client);
                return Err(e);
            }
        };
        Ok(Connection {
            node,
            stream,
            client,
            push_rx,
            limbo,
            inbuf,
            out,
            pending_protocol_error,
            stay_here: false,
            pending_durable: None,
            spare_requests: Vec::new(),
            upstream: None,
        })
    }
}

enum Outcome {
    Closed,
    /// Continue on this worker thread (the authenticated tenant's home).
    MoveTo(usize),
}

thread_local! {
    /// Index of the worker thread running on this OS thread (none outside workers).
    static CURRENT_WORKER: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

pub fn set_current_worker(index: usize) {
    CURRENT_WORKER.with(|w| w.set(Some(index)));
}

enum BatchEnd {
    Done,
    /// The next request runs a script: it goes to a script thread (`conn/script.rs`).
    Script,
    /// The next request is a write on a replica: forwarded to the primary (`conn/forward.rs`).
    Forward,
    Block {
        tenant: Arc<Tenant>,
        waiter: WaiterId,
        rx: oneshot::Receiver<Reply>,
        req: crate::context::BlockRequest,
    },
}

impl Connection {
    pub fn new(node: Arc<Node>, stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
        let local = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let id = node.next_client_id();
        let (push_tx, push_rx) = mpsc::channel(node.limits.max_pending_push_messages);
        let handle = Arc::new(ClientHandle::new(id, peer, local, unix_time_ms(), push_tx.clone()));
        Connection {
            node,
            stream,
            client: ClientState::new(handle, push_tx),
            push_rx,
            limbo: Db::new(0),
            inbuf: BytesMut::with_capacity(READ_CHUNK),
            out: BytesMut::with_capacity(READ_CHUNK),
            pending_protocol_error: None,
            stay_here: false,
            pending_durable: None,
            spare_requests: Vec::new(),
            upstream: None,
        }
    }

    pub async fn run(mut self) {
        loop {
            match self.serve().await {
                Ok(Outcome::MoveTo(worker)) => match self.hand_off(worker) {
                    None => return,
                    Some(back) => {
                        self = back;
                        self.stay_here = true;
                    }
                },
                Ok(Outcome::Closed) => break,
                Err(e) => {
                    tracing::debug!(client_id = self.client.id, error = %e, "connection closed with an error");
                    break;
                }
            }
        }
        self.switch_tenant(None);
    }

    /// The worker this connection should run on, if not the current one: every connection
    /// of a tenant runs on the tenant's home thread, so a tenant's lock is never contended
    /// across cores and its data stays in one core's caches. Different tenants spread over
    /// the threads.
    fn move_target(&self) -> Option<usize> {
        if self.stay_here {
            return None;
        }
        let tenant = self.client.tenant.as_ref()?;
        let home = self.node.home_worker(&tenant.id)?;
        let current = CURRENT_WORKER.with(|w| w.get())?;
        (home != current).then_some(home)
    }

    /// Sends the connection to `worker`. Returns it back if that failed and it can go on here.
    fn hand_off(self, worker: usize) -> Option<Connection> {
        let Connection { node, stream, mut client, push_rx, limbo, inbuf, out, pending_protocol_error, .. } = self;
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot detach a connection for hand-off: closing it");
                leave_tenant(&mut client);
                return None;
            }
        };
        let handoff = Box::new(Handoff {
            node: node.clone(),
            stream,
            client,
            push_rx,
            limbo,
            inbuf,
            out,
            pending_protocol_error,
        });
        match node.send_to_worker(worker, handoff) {
            Ok(()) => {
                tracing::trace!(worker, "connection handed to its tenant's home thread");
                None
            }
            Err(handoff) => match handoff.resume() {
                Ok(conn) => Some(conn),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot resume a connection after a failed hand-off");
                    None
                }
            },
        }
    }

    async fn serve(&mut self) -> std::io::Result<Outcome> {
        loop {
            self.flush_out().await?;
            if self.client.close_after_reply || self.client.handle.is_killed() {
                return Ok(Outcome::Closed);
            }
            if let Some(worker) = self.move_target() {
                return Ok(Outcome::MoveTo(worker));
            }
            if self.inbuf.capacity() - self.inbuf.len() < READ_CHUNK / 2 {
                self.inbuf.reserve(READ_CHUNK);
            }
            let spare = self.inbuf.capacity() - self.inbuf.len();
            tokio::select! {
                biased;
                read = self.stream.read_buf(&mut self.inbuf) => {
                    let n = read?;
                    if n == 0 {
                        return Ok(Outcome::Closed);
                    }
                    self.count_bytes_in(n);
                    crate::busy_poll::note_read();
                    if n < spare {
                        // The read drained the socket. Say so to the reactor now, so the next
                        // read waits for readiness instead of first making a recv() syscall
                        // that can only fail with EAGAIN (one syscall less per request at
                        // pipeline 1). Data arriving later raises a new edge-triggered event.
                        let _ = self.stream.try_io(tokio::io::Interest::READABLE, || {
                            Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
                        });
                    }
                }
                msg = self.push_rx.recv() => {
                    if let Some(msg) = msg {
                        self.emit_push(msg);
                        while let Ok(more) = self.push_rx.try_recv() {
                            self.emit_push(more);
                        }
                    }
                    continue;
                }
            }
            let requests = self.parse_requests();
            let keep_open = self.run_requests(&requests).await?;
            self.recycle(requests);
            if !keep_open {
                return Ok(Outcome::Closed);
            }
        }
    }

    /// Takes every complete request from the read buffer. A framing error gets its error
    /// reply and closes the connection, as in Redis.
    fn parse_requests(&mut self) -> Vec<Vec<Bytes>> {
        let mut requests = std::mem::take(&mut self.spare_requests);
        let limits = match &self.client.tenant {
            Some(t) => t.limits.read().parse_limits(&self.node.limits.parse),
            None => self.node.limits.parse,
        };
        loop {
            match parse_request(&mut self.inbuf, &limits) {
                Ok(Some(args)) if args.is_empty() => continue,
                Ok(Some(args)) => requests.push(args),
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(client_id = self.client.id, error = %e, "protocol error");
                    requests.push(vec![]);
                    self.inbuf.clear();
                    self.client.close_after_reply = true;
                    // The error is written after the replies of the requests before it.
                    self.pending_protocol_error = Some(e.to_string());
                    break;
                }
            }
        }
        requests
    }

    /// Keeps the emptied request list for the next read (one allocation less per read), unless
    /// a large pipeline made it big.
    fn recycle(&mut self, mut requests: Vec<Vec<Bytes>>) {
        requests.clear();
        if requests.capacity() <= SPARE_REQUESTS_MAX {
            self.spare_requests = requests;
        }
    }

    /// Runs parsed requests; returns false when the connection must close.
    async fn run_requests(&mut self, requests: &[Vec<Bytes>]) -> std::io::Result<bool> {
        let mut next = 0;
        // Set by the first rate check of a rate-limited tenant, right after the read.
        let mut rate_deadline = None;
        while next < requests.len() {
            if requests[next].is_empty() {
                if let Some(msg) = self.pending_protocol_error.take() {
                    self.emit(Reply::Error(msg));
                }
                next += 1;
                continue;
            }
            if let Some(reply) = self.answer_while_busy(&requests[next]).await {
                self.emit(reply);
                self.apply_pending();
                next += 1;
                continue;
            }
            let granted = self.admit_rate(requests.len() - next, &mut rate_deadline).await;
            if granted == 0 {
                self.emit(Reply::error(crate::limits::RATE_EXCEEDED));
                next += 1;
                continue;
            }
            let admitted = &requests[..next + granted];
            let end = self.run_batch(admitted, &mut next);
            if let BatchEnd::Script = end {
                self.run_scripts(admitted, &mut next).await?;
            }
            if let BatchEnd::Forward = end {
                self.forward(&admitted[next]).await;
                next += 1;
            }
            if let BatchEnd::Block { tenant, waiter, rx, req } = end {
                self.flush_out().await?;
                match self.wait_blocked(&tenant, waiter, rx, req).await? {
                    Some(reply) => {
                        // `next` already points past the command that waited.
                        if let Some(spec) = crate::command::COMMANDS.lookup(&requests[next - 1][0]) {
                            crate::usage::record(&self.client, spec, &reply);
                        }
                        self.emit(reply);
                    }
                    None => return Ok(false),
                }
            }
            if self.out.len() >= FLUSH_THRESHOLD {
                self.flush_out().await?;
            }
            if self.client.close_after_reply {
                break;
            }
        }
        Ok(true)
    }

    /// How many of the next `want` requests the tenant's command rate lets run now. When the
    /// bucket is empty the connection waits for a token (never under the tenant lock), but
    /// not past `deadline` (`MAX_RATE_DELAY` after the first check of these requests, made
    /// as soon as they were read); 0 means the next request is to be refused. A tenant
    /// without a rate limit costs no clock reading.
    async fn admit_rate(&self, want: usize, deadline: &mut Option<std::time::Instant>) -> usize {
        let Some(tenant) = &self.client.tenant else { return want };
        let now = {
            let mut bucket = tenant.rate.lock();
            if bucket.is_unlimited() {
                return want;
            }
            let now = std::time::Instant::now();
            let (granted, wait) = bucket.take(want, now);
            let deadline = *deadline.get_or_insert(now + crate::limits::MAX_RATE_DELAY);
            if granted > 0 || now + wait > deadline {
                return granted;
            }
            now + wait
        };
        tokio::time::sleep_until(now.into()).await;
        tenant.rate.lock().take(want, std::time::Instant::now()).0
    }

    /// Runs requests from `*next` on under one acquisition of the tenant lock, until the
    /// batch ends, a command blocks, the tenant changes, or enough output is pending.
    fn run_batch(&mut self, requests: &[Vec<Bytes>], next: &mut usize) -> BatchEnd {
        let node = self.node.clone();
        let Some(tenant) = self.client.tenant.clone() else {
            while *next < requests.len() && self.client.tenant.is_none() && !requests[*next].is_empty() {
                let reply = {
                    let mut ctx = Ctx::new(&mut self.limbo, &mut self.client, &node);
                    dispatch(&mut ctx, &requests[*next])
                };
                *next += 1;
                self.emit(reply);
                self.apply_pending();
                if self.client.close_after_reply {
                    break;
                }
            }
            return BatchEnd::Done;
        };
        let mut guard = tenant.state.lock();
        let state = &mut *guard;
        let offset_before = state.db.change_log.last_offset();
        let first = *next;
        let mut end = BatchEnd::Done;
        while *next < requests.len() && !requests[*next].is_empty() {
            let args = &requests[*next];
            let spec = crate::command::COMMANDS.lookup(&args[0]);
            if forward::forwards(&self.client, spec) {
                end = BatchEnd::Forward;
                break;
            }
            let script_thread = match script::runs_script(&self.client, spec) {
                script::ScriptRun::No => ScriptThread::Here,
                script::ScriptRun::MaybeHere => ScriptThread::Worker,
                script::ScriptRun::OnScriptThread => {
                    end = BatchEnd::Script;
                    break;
                }
            };
            state.db.set_clock(unix_time_ms());
            let (reply, block, script_thread) = {
                let mut ctx = Ctx::new(&mut state.db, &mut self.client, &node);
                ctx.script_thread = script_thread;
                let reply = dispatch_spec(&mut ctx, spec, args);
                (reply, ctx.block.take(), ctx.script_thread)
            };
            if script_thread == ScriptThread::HandOver {
                end = BatchEnd::Script;
                break;
            }
            *next += 1;
            if state.db.has_ready_keys() {
                serve_ready_keys(&mut state.db, &mut state.blocked, &node);
            }
            if let Some(req) = block {
                let (tx, rx) = oneshot::channel();
                let waiter = state.blocked.add(
                    &mut state.db,
                    Waiter {
                        keys: req.keys.clone(),
                        args: req.rerun_args.clone().unwrap_or_else(|| args.clone()),
                        reply_tx: tx,
                        protocol: self.client.protocol,
                        tenant: Some(tenant.clone()),
                        handle: self.client.handle.clone(),
                        push_tx: self.client.push_tx.clone(),
                    },
                );
                let (offset_after, now_ms) = (state.db.change_log.last_offset(), state.db.now_ms());
                let backlog = Backlog::of(&state.db.change_log);
                drop(guard);
                self.after_writes(&tenant, offset_before, offset_after, backlog);
                self.note_activity(now_ms);
                return BatchEnd::Block { tenant, waiter, rx, req };
            }
            self.emit(reply);
            if script::ends_batch(&self.client, &self.out) {
                break;
            }
        }
        let offset_after = state.db.change_log.last_offset();
        // The clock of the batch's last command; a batch that ran none (a script is next)
        // reads it again.
        let now_ms = if *next > first { state.db.now_ms() } else { unix_time_ms() };
        let backlog = Backlog::of(&state.db.change_log);
        drop(guard);
        self.after_writes(&tenant, offset_before, offset_after, backlog);
        self.note_activity(now_ms);
        self.apply_pending();
        end
    }

    /// After a batch: wakes the log writer if the batch wrote, and if the database's fsync
    /// policy is `always` holds the replies until the batch's last record is on disk.
    fn after_writes(&mut self, tenant: &Arc<Tenant>, before: u64, after: u64, backlog: Backlog) {
        if after <= before {
            return;
        }
        tenant.replication.changes.notify();
        let Some(persistence) = &self.node.persistence else { return };
        // The database's policy now: a plan change applies from the next batch that writes.
        if persistence.notify(tenant, backlog) == crate::persistence::FsyncPolicy::Always {
            self.pending_durable = Some((tenant.clone(), after));
        }
    }

    /// Writes pending replies, first waiting (under `always`) until the writes they
    /// acknowledge are durable. If the log cannot be written the connection is closed
    /// rather than acknowledging writes that are not on disk.
    async fn flush_out(&mut self) -> std::io::Result<()> {
        if let Some((tenant, offset)) = self.pending_durable.take() {
            if let Some(persistence) = &self.node.persistence {
                persistence.durable_waits.wait(&tenant, offset).await;
            }
            if *tenant.durable_offset.borrow() < offset {
                return Err(std::io::Error::other("the change log could not be made durable"));
            }
        }
        if !self.out.is_empty() {
            if let Some(tenant) = &self.client.tenant {
                tenant.usage.add_bytes_out(self.out.len());
            }
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Bytes read from the client, billed as bandwidth to the tenant it is authenticated to
    /// (bytes read before AUTH belong to no database and are not counted).
    fn count_bytes_in(&self, bytes: usize) {
        if let Some(tenant) = &self.client.tenant {
            tenant.usage.add_bytes_in(bytes);
        }
    }

    /// Publishes what CLIENT LIST shows about this connection (once per batch, not per command).
    /// `now_ms` is the clock of the batch's last command (read once per command anyway).
    fn note_activity(&self, now_ms: u64) {
        self.client.handle.last_interaction_ms.store(now_ms, std::sync::atomic::Ordering::Relaxed);
        let mut info = self.client.handle.info.lock();
        if !std::ptr::eq(info.last_command, self.client.last_command) {
            info.last_command = self.client.last_command;
        }
    }

    /// Waits for a blocked command to be served, time out, or the client to go away.
    /// Returns `None` when the connection must close.
    async fn wait_blocked(
        &mut self,
        tenant: &Arc<Tenant>,
        waiter: WaiterId,
        mut rx: oneshot::Receiver<Reply>,
        req: crate::context::BlockRequest,
    ) -> std::io::Result<Option<Reply>> {
        self.client.handle.info.lock().blocked = true;
        let deadline = req.timeout.map(|t| tokio::time::Instant::now() + t);
        let result = loop {
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            if self.inbuf.capacity() - self.inbuf.len() < READ_CHUNK / 2 {
                self.inbuf.reserve(READ_CHUNK);
            }
            tokio::select! {
                reply = &mut rx => break Ok(reply.ok()),
                _ = sleep => break Ok(Some(self.cancel_wait(tenant, waiter, &mut rx).await.unwrap_or(req.timeout_reply.clone()))),
                msg = self.push_rx.recv() => {
                    if let Some(msg) = msg {
                        self.emit_push(msg);
                    }
                    if self.client.handle.is_killed() {
                        self.cancel_wait(tenant, waiter, &mut rx).await;
                        break Ok(None);
                    }
                }
                read = self.stream.read_buf(&mut self.inbuf) => {
                    match read {
                        Ok(0) | Err(_) => {
                            self.cancel_wait(tenant, waiter, &mut rx).await;
                            break read.map(|_| None);
                        }
                        Ok(_) if self.inbuf.len() > self.node.limits.parse.max_request_bytes => {
                            self.cancel_wait(tenant, waiter, &mut rx).await;
                            break Ok(None);
                        }
                        Ok(n) => {
                            self.count_bytes_in(n);
                            continue;
                        }
                    }
                }
            }
        };
        self.client.handle.info.lock().blocked = false;
        result
    }

    /// Removes the waiter; if it was served in the meantime, returns the reply it got.
    async fn cancel_wait(
        &mut self,
        tenant: &Arc<Tenant>,
        waiter: WaiterId,
        rx: &mut oneshot::Receiver<Reply>,
    ) -> Option<Reply> {
        self.wait_for_script_end(tenant).await;
        let mut guard = tenant.state.lock();
        let state = &mut *guard;
        if state.blocked.remove(&mut state.db, waiter).is_some() {
            return None;
        }
        rx.try_recv().ok()
    }

    fn emit(&mut self, reply: Reply) {
        emit_to(&mut self.client, &mut self.out, reply);
    }

    fn emit_push(&mut self, msg: PushMessage) {
        self.client.handle.pending_push_bytes.fetch_sub(msg.size_bytes(), std::sync::atomic::Ordering::Relaxed);
        let reply = match msg {
            PushMessage::Message { channel, payload } => Reply::Push(vec![
                Reply::Bulk(Bytes::from_static(b"message")),
                Reply::Bulk(channel),
                Reply::Bulk(payload),
            ]),
            PushMessage::PMessage { pattern, channel, payload } => Reply::Push(vec![
                Reply::Bulk(Bytes::from_static(b"pmessage")),
                Reply::Bulk(pattern),
                Reply::Bulk(channel),
                Reply::Bulk(payload),
            ]),
            PushMessage::SMessage { channel, payload } => Reply::Push(vec![
                Reply::Bulk(Bytes::from_static(b"smessage")),
                Reply::Bulk(channel),
                Reply::Bulk(payload),
            ]),
            PushMessage::Wake => return,
        };
        reply.encode(self.client.protocol, &mut self.out);
    }

    /// Applies a tenant change requested by AUTH, HELLO or RESET.
    fn apply_pending(&mut self) {
        if let Some(tenant) = self.client.pending_auth.take() {
            self.switch_tenant(Some(tenant));
        }
        if std::mem::take(&mut self.client.pending_reset) {
            self.switch_tenant(None);
        }
    }

    /// Leaves the current tenant (dropping subscriptions, WATCHes and the client-list entry)
    /// and joins `new`.
    fn switch_tenant(&mut self, new: Option<Arc<Tenant>>) {
        if let (Some(old), Some(new)) = (&self.client.tenant, &new) {
            if Arc::ptr_eq(old, new) {
                return;
            }
        }
        leave_tenant(&mut self.client);
        if let Some(tenant) = new {
            tenant.clients.lock().insert(self.client.id, self.client.handle.clone());
            script::with_state_soon(&tenant, |state| state.db.stats.connections_received += 1);
            self.client.tenant = Some(tenant);
        }
    }
}

/// Encodes `reply` into `out` as the client's CLIENT REPLY mode and protocol say.
fn emit_to(client: &mut ClientState, out: &mut BytesMut, reply: Reply) {
    match client.reply_mode {
        ReplyMode::On => reply.encode(client.protocol, out),
        ReplyMode::Off => {}
        ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skip,
        ReplyMode::Skip => {
            client.reply_mode = ReplyMode::On;
        }
    }
}

/// Takes the client out of its tenant: drops its subscriptions, WATCHes, open MULTI and its
/// client-list entry.
fn leave_tenant(client: &mut ClientState) {
    let Some(old) = client.tenant.take() else { return };
    {
        let mut pubsub = old.pubsub.lock();
        for ch in std::mem::take(&mut client.channels) {
            pubsub.unsubscribe(crate::pubsub::ChannelKind::Plain, &ch, client.id);
        }
        for ch in std::mem::take(&mut client.shard_channels) {
            pubsub.unsubscribe(crate::pubsub::ChannelKind::Shard, &ch, client.id);
        }
        for p in std::mem::take(&mut client.patterns) {
            pubsub.punsubscribe(&p, client.id);
        }
    }
    let watched = std::mem::take(&mut client.watched);
    let id = client.id;
    script::with_state_soon(&old, move |state| state.db.unwatch_all(id, &watched));
    old.clients.lock().remove(&client.id);
    client.multi = None;
}
