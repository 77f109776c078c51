//! Clients blocked on keys (BLPOP, BZPOPMIN, BLMOVE, …): per-key FIFO queues of waiters and
//! the wake-up that re-runs a waiter's command when one of its keys becomes ready.

use crate::context::{ClientHandle, ClientState, Ctx};
use crate::node::Node;
use crate::pubsub::PushMessage;
use bytes::Bytes;
use keyspace::Db;
use resp::{Protocol, Reply};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

pub type WaiterId = u64;

pub struct Waiter {
    pub keys: Vec<Bytes>,
    /// The blocking command as the client sent it; re-run (without blocking) to serve it.
    pub args: Vec<Bytes>,
    pub reply_tx: oneshot::Sender<Reply>,
    pub protocol: Protocol,
    pub tenant: Option<Arc<crate::tenant::Tenant>>,
    pub handle: Arc<ClientHandle>,
    pub push_tx: mpsc::Sender<PushMessage>,
}

#[derive(Default)]
pub struct BlockedClients {
    next_id: WaiterId,
    waiters: HashMap<WaiterId, Waiter>,
    queues: HashMap<Bytes, VecDeque<WaiterId>>,
}

impl BlockedClients {
    pub fn add(&mut self, db: &mut Db, waiter: Waiter) -> WaiterId {
        self.next_id += 1;
        let id = self.next_id;
        for key in &waiter.keys {
            let queue = self.queues.entry(key.clone()).or_default();
            if !queue.contains(&id) {
                queue.push_back(id);
                db.block_on(key);
            }
        }
        self.waiters.insert(id, waiter);
        id
    }

    /// Removes a waiter (timeout, disconnect, served). Returns it if it was still waiting.
    pub fn remove(&mut self, db: &mut Db, id: WaiterId) -> Option<Waiter> {
        let waiter = self.waiters.remove(&id)?;
        for key in &waiter.keys {
            if let Some(queue) = self.queues.get_mut(key) {
                if let Some(pos) = queue.iter().position(|&w| w == id) {
                    queue.remove(pos);
                    db.unblock_from(key);
                }
                if queue.is_empty() {
                    self.queues.remove(key);
                }
            }
        }
        Some(waiter)
    }

    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    fn first_waiter(&self, key: &[u8]) -> Option<WaiterId> {
        self.queues.get(key).and_then(|q| q.front().copied())
    }
}

/// Most wake-up rounds after one command; each round can make new keys ready (BLMOVE pushes).
const MAX_SERVE_ROUNDS: usize = 1000;

/// Serves waiters of every key that became ready, oldest waiter first, until the key runs
/// out of elements. Runs under the tenant lock right after the command that made keys ready,
/// so pushes from MULTI, scripts and pipelines wake clients exactly like direct pushes.
pub fn serve_ready_keys(db: &mut Db, blocked: &mut BlockedClients, node: &Arc<Node>) {
    let mut rounds = 0;
    while db.has_ready_keys() && rounds < MAX_SERVE_ROUNDS {
        rounds += 1;
        for key in db.take_ready_keys() {
            serve_key(db, blocked, node, &key);
        }
    }
}

fn serve_key(db: &mut Db, blocked: &mut BlockedClients, node: &Arc<Node>, key: &[u8]) {
    while let Some(id) = blocked.first_waiter(key) {
        let Some(waiter) = blocked.waiters.get(&id) else {
            return;
        };
        if waiter.reply_tx.is_closed() {
            blocked.remove(db, id);
            continue;
        }
        let Some(spec) = crate::command::COMMANDS.lookup(&waiter.args[0]) else {
            blocked.remove(db, id);
            continue;
        };
        let args = waiter.args.clone();
        let mut client = ClientState::new(waiter.handle.clone(), waiter.push_tx.clone());
        client.protocol = waiter.protocol;
        client.tenant = waiter.tenant.clone();
        client.in_exec = true;
        let reply = {
            let mut ctx = Ctx::new(db, &mut client, node);
            crate::exec::call(&mut ctx, spec, &args)
        };
        if reply.is_empty_response() {
            // Nothing to hand out (the key was emptied): stay blocked, and so do those behind.
            return;
        }
        // A reply, or an error such as WRONGTYPE on a BLMOVE destination: either way this
        // client is done (as in Redis) and the next one in line may be served.
        if let Some(waiter) = blocked.remove(db, id) {
            if let Err(lost) = waiter.reply_tx.send(reply) {
                tracing::error!(?lost, "blocked client vanished while being served");
            }
        }
    }
}
