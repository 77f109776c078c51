//! Test harness: runs commands through the real dispatcher against an in-process tenant,
//! without sockets, so command families can be unit-tested next to their code.

use crate::blocking::serve_ready_keys;
use crate::context::{BlockRequest, ClientHandle, ClientState, Ctx};
use crate::exec::dispatch;
use crate::node::{Node, NodeLimits};
use crate::pubsub::PushMessage;
use crate::tenant::{Tenant, TenantConfig, TenantId};
use bytes::Bytes;
use resp::Reply;
use std::sync::Arc;
use tokio::sync::mpsc;

pub struct TestClient {
    pub node: Arc<Node>,
    pub tenant: Arc<Tenant>,
    pub client: ClientState,
    pub push_rx: mpsc::Receiver<PushMessage>,
    /// Fixed clock in Unix milliseconds; `None` uses the real time.
    pub clock_ms: Option<u64>,
}

impl Default for TestClient {
    fn default() -> Self {
        Self::new()
    }
}

impl TestClient {
    /// A node with one database (`test`), and a client authenticated to it.
    pub fn new() -> Self {
        let node = Arc::new(Node::new(NodeLimits::default(), "test".into(), 0));
        let tenant = node
            .upsert_tenant(&TenantConfig {
                id: TenantId("test".into()),
                password: "pw".into(),
                limits: Default::default(),
                role: Default::default(),
            })
            .expect("fresh registry");
        Self::attach(node, tenant)
    }

    pub fn attach(node: Arc<Node>, tenant: Arc<Tenant>) -> Self {
        let id = node.next_client_id();
        let (tx, push_rx) = mpsc::channel(1024);
        let handle = Arc::new(ClientHandle::new(id, "127.0.0.1:1".into(), "127.0.0.1:2".into(), 0, tx.clone()));
        let mut client = ClientState::new(handle.clone(), tx);
        client.tenant = Some(tenant.clone());
        tenant.clients.lock().insert(id, handle);
        TestClient { node, tenant, client, push_rx, clock_ms: None }
    }

    /// Another client of the same database.
    pub fn another(&self) -> TestClient {
        let mut c = Self::attach(self.node.clone(), self.tenant.clone());
        c.clock_ms = self.clock_ms;
        c
    }

    /// Runs a command; returns its reply and the block request if it wants to wait.
    pub fn run(&mut self, args: &[&[u8]]) -> (Reply, Option<BlockRequest>) {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut guard = self.tenant.state.lock();
        let state = &mut *guard;
        state.db.set_clock(self.clock_ms.unwrap_or_else(crate::context::unix_time_ms));
        let (reply, block) = {
            let mut ctx = Ctx::new(&mut state.db, &mut self.client, &self.node);
            let reply = dispatch(&mut ctx, &args);
            (reply, ctx.block.take())
        };
        if state.db.has_ready_keys() {
            serve_ready_keys(&mut state.db, &mut state.blocked, &self.node);
        }
        (reply, block)
    }

    /// Runs a command as a worker thread does: a script not known to be quick is not run but
    /// handed over. Returns the reply and where the script would run.
    pub fn run_on_worker(&mut self, args: &[&str]) -> (Reply, crate::context::ScriptThread) {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        let mut guard = self.tenant.state.lock();
        let mut ctx = Ctx::new(&mut guard.db, &mut self.client, &self.node);
        ctx.script_thread = crate::context::ScriptThread::Worker;
        let reply = dispatch(&mut ctx, &args);
        (reply, ctx.script_thread)
    }

    /// Runs a command given as string arguments and returns its reply.
    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.run(&bytes).0
    }

    /// Runs a command given as byte-string arguments and returns its reply.
    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> Reply {
        self.run(args).0
    }

    /// Change-log records appended so far, as argument lists of strings.
    pub fn change_log(&self) -> Vec<Vec<String>> {
        let state = self.tenant.state.lock();
        let records = state.db.change_log.read_after(0).expect("test backlogs are not trimmed");
        records.map(|r| r.args().iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect()).collect()
    }
}

/// Shorthands for expected replies.
pub fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

pub fn int(i: i64) -> Reply {
    Reply::Integer(i)
}

pub fn ok() -> Reply {
    Reply::ok()
}

pub fn arr(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

pub fn err(prefix: &str) -> impl Fn(&Reply) -> bool + '_ {
    move |r| matches!(r, Reply::Error(e) if e.starts_with(prefix))
}
