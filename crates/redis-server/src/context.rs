//! What a command handler sees: the database, the calling client's state, the node, and the
//! requests it can make of the connection (block, rewrite its change-log record).

use crate::node::Node;
use crate::pubsub::PushMessage;
use crate::tenant::Tenant;
use bytes::Bytes;
use keyspace::Db;
use resp::{Protocol, Reply};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How a write command is recorded in the change log.
#[derive(Debug, Default, Clone, PartialEq)]
pub enum Propagate {
    /// The command exactly as received (deterministic commands).
    #[default]
    AsIs,
    /// These commands instead (relative TTLs made absolute, random choices made, …).
    Rewrite(Vec<Vec<Bytes>>),
    /// Nothing, even if the dataset changed.
    Nothing,
}

/// A blocking command found nothing to serve and asks the connection to wait.
#[derive(Debug, Clone)]
pub struct BlockRequest {
    /// Keys whose change may let the command proceed.
    pub keys: Vec<Bytes>,
    /// `None` waits forever.
    pub timeout: Option<Duration>,
    /// Reply sent when the timeout passes (`*-1` for most pops, `$-1` for BLMOVE).
    pub timeout_reply: Reply,
    /// The command to re-run when a key becomes ready, if not the one received: XREAD with
    /// `$` must be re-run with the last ID it saw at blocking time, not with `$` again.
    pub rerun_args: Option<Vec<Bytes>>,
}

/// State of an open MULTI block.
#[derive(Debug, Default)]
pub struct MultiState {
    pub queue: Vec<Vec<Bytes>>,
    /// A command was refused while queueing: EXEC must fail with EXECABORT.
    pub aborted: bool,
}

/// Fields of a client that other connections read (CLIENT LIST) or act on (CLIENT KILL).
#[derive(Debug)]
pub struct ClientHandle {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub created_ms: u64,
    pub last_interaction_ms: AtomicU64,
    pub killed: AtomicBool,
    /// The connection's own push queue, used to wake it when it is killed (a `Notify` would
    /// cost a lock on every loop of the connection; the queue is polled anyway).
    wake_tx: mpsc::Sender<PushMessage>,
    /// Bytes of pub/sub payload queued for this client and not yet written.
    pub pending_push_bytes: AtomicU64,
    pub info: parking_lot::Mutex<ClientInfo>,
}

/// Mutable descriptive fields shown by CLIENT LIST / CLIENT INFO.
#[derive(Debug, Default, Clone)]
pub struct ClientInfo {
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    pub last_command: &'static str,
    pub protocol: u8,
    pub subscriptions: usize,
    pub patterns: usize,
    pub in_multi: bool,
    pub blocked: bool,
}

impl ClientHandle {
    pub fn new(id: u64, addr: String, laddr: String, now_ms: u64, wake_tx: mpsc::Sender<PushMessage>) -> Self {
        ClientHandle {
            id,
            addr,
            laddr,
            created_ms: now_ms,
            last_interaction_ms: AtomicU64::new(now_ms),
            killed: AtomicBool::new(false),
            wake_tx,
            pending_push_bytes: AtomicU64::new(0),
            info: parking_lot::Mutex::new(ClientInfo { protocol: 2, ..ClientInfo::default() }),
        }
    }

    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        // If the queue is full the connection is busy draining it and sees the flag next.
        let _ = self.wake_tx.try_send(PushMessage::Wake);
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

/// Per-connection state, owned by the connection task.
pub struct ClientState {
    pub id: u64,
    pub protocol: Protocol,
    pub tenant: Option<Arc<Tenant>>,
    /// Set by AUTH/HELLO; the connection switches tenant after the command returns.
    pub pending_auth: Option<Arc<Tenant>>,
    /// Set by RESET: leave the tenant and return to the unauthenticated state.
    pub pending_reset: bool,
    pub multi: Option<MultiState>,
    pub watched: Vec<Bytes>,
    pub channels: BTreeSet<Bytes>,
    pub shard_channels: BTreeSet<Bytes>,
    pub patterns: BTreeSet<Bytes>,
    pub push_tx: mpsc::Sender<PushMessage>,
    pub handle: Arc<ClientHandle>,
    /// Close the connection once the reply is written (QUIT).
    pub close_after_reply: bool,
    /// Inside EXEC or a script: blocking commands must not block.
    pub in_exec: bool,
    /// CLIENT REPLY OFF/SKIP state.
    pub reply_mode: ReplyMode,
    /// Name of the last command run, for CLIENT LIST.
    pub last_command: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyMode {
    #[default]
    On,
    Off,
    SkipNext,
    Skip,
}

impl ClientState {
    pub fn new(handle: Arc<ClientHandle>, push_tx: mpsc::Sender<PushMessage>) -> Self {
        ClientState {
            id: handle.id,
            protocol: Protocol::Resp2,
            tenant: None,
            pending_auth: None,
            pending_reset: false,
            multi: None,
            watched: Vec::new(),
            channels: BTreeSet::new(),
            shard_channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            push_tx,
            handle,
            close_after_reply: false,
            in_exec: false,
            reply_mode: ReplyMode::On,
            last_command: "NULL",
        }
    }

    /// Number of channel and pattern subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.channels.len() + self.shard_channels.len() + self.patterns.len()
    }

    /// A RESP2 client with subscriptions may only run pub/sub commands.
    pub fn in_subscribe_mode(&self) -> bool {
        self.protocol == Protocol::Resp2 && self.subscription_count() > 0
    }
}

pub struct Ctx<'a> {
    pub db: &'a mut Db,
    pub client: &'a mut ClientState,
    pub node: &'a Arc<Node>,
    pub propagate: Propagate,
    pub block: Option<BlockRequest>,
    /// Whether a script command may run on this thread (`scripting/busy.rs`).
    pub script_thread: ScriptThread,
}

/// Where a script command runs. A worker thread serves many connections, so it runs only
/// scripts known to be quick, and gives up one that turns out slow before it had any effect;
/// the others go to a script thread, where SCRIPT KILL and BUSY replies stay possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptThread {
    /// Run it here, however long it takes (a script thread, EXEC, tests).
    Here,
    /// A worker thread: run it only if its last run was quick, and give it up if it passes
    /// the inline budget before writing or publishing anything.
    Worker,
    /// Set by a script command on a worker thread that did not run (or was given up without
    /// effects): the connection hands it to a script thread.
    HandOver,
}

impl<'a> Ctx<'a> {
    pub fn new(db: &'a mut Db, client: &'a mut ClientState, node: &'a Arc<Node>) -> Self {
        Ctx { db, client, node, propagate: Propagate::AsIs, block: None, script_thread: ScriptThread::Here }
    }

    /// Whether a blocking command may block now (not inside MULTI/EXEC or a script).
    pub fn may_block(&self) -> bool {
        !self.client.in_exec
    }

    /// The tenant of the calling client (always set once authenticated).
    pub fn tenant(&self) -> Option<&Arc<Tenant>> {
        self.client.tenant.as_ref()
    }

    pub fn now_ms(&self) -> u64 {
        self.db.now_ms()
    }
}

pub fn unix_time_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
