//! Pub/sub of one tenant: channel and pattern subscribers and message delivery.

use crate::glob::glob_match;
use bytes::Bytes;
use std::collections::HashMap;
use tokio::sync::mpsc;

/// A message delivered to a subscriber's connection, encoded there for its protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum PushMessage {
    Message {
        channel: Bytes,
        payload: Bytes,
    },
    PMessage {
        pattern: Bytes,
        channel: Bytes,
        payload: Bytes,
    },
    /// A message on a shard channel (SPUBLISH), delivered as `smessage`.
    SMessage {
        channel: Bytes,
        payload: Bytes,
    },
    /// Not a message: wakes the connection so it notices it was killed.
    Wake,
}

/// Plain channels (PUBLISH/SUBSCRIBE) and shard channels (SPUBLISH/SSUBSCRIBE) are separate
/// namespaces, as in Redis: a message on one never reaches subscribers of the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    Plain,
    Shard,
}

struct Subscriber {
    tx: mpsc::Sender<PushMessage>,
    handle: std::sync::Arc<crate::context::ClientHandle>,
}

pub struct PubSub {
    channels: HashMap<Bytes, HashMap<u64, Subscriber>>,
    shard_channels: HashMap<Bytes, HashMap<u64, Subscriber>>,
    patterns: HashMap<Bytes, HashMap<u64, Subscriber>>,
    max_pending_bytes: u64,
}

impl PushMessage {
    /// Bytes this message holds, for the per-subscriber queue limit.
    pub fn size_bytes(&self) -> u64 {
        match self {
            PushMessage::Message { channel, payload } | PushMessage::SMessage { channel, payload } => {
                (channel.len() + payload.len()) as u64
            }
            PushMessage::PMessage { pattern, channel, payload } => {
                (pattern.len() + channel.len() + payload.len()) as u64
            }
            PushMessage::Wake => 0,
        }
    }
}

impl PubSub {
    pub fn new(max_pending_bytes: usize) -> Self {
        PubSub {
            channels: HashMap::new(),
            shard_channels: HashMap::new(),
            patterns: HashMap::new(),
            max_pending_bytes: max_pending_bytes as u64,
        }
    }

    fn table(&self, kind: ChannelKind) -> &HashMap<Bytes, HashMap<u64, Subscriber>> {
        match kind {
            ChannelKind::Plain => &self.channels,
            ChannelKind::Shard => &self.shard_channels,
        }
    }

    fn table_mut(&mut self, kind: ChannelKind) -> &mut HashMap<Bytes, HashMap<u64, Subscriber>> {
        match kind {
            ChannelKind::Plain => &mut self.channels,
            ChannelKind::Shard => &mut self.shard_channels,
        }
    }

    pub fn subscribe(
        &mut self,
        kind: ChannelKind,
        channel: Bytes,
        client_id: u64,
        tx: mpsc::Sender<PushMessage>,
        handle: std::sync::Arc<crate::context::ClientHandle>,
    ) {
        self.table_mut(kind).entry(channel).or_default().insert(client_id, Subscriber { tx, handle });
    }

    pub fn unsubscribe(&mut self, kind: ChannelKind, channel: &[u8], client_id: u64) {
        let table = self.table_mut(kind);
        if let Some(subs) = table.get_mut(channel) {
            subs.remove(&client_id);
            if subs.is_empty() {
                table.remove(channel);
            }
        }
    }

    /// SPUBLISH: delivers to the shard channel's subscribers only (patterns do not apply).
    pub fn spublish(&self, channel: &Bytes, payload: &Bytes) -> usize {
        let Some(subs) = self.shard_channels.get(channel) else { return 0 };
        for sub in subs.values() {
            deliver(
                sub,
                self.max_pending_bytes,
                PushMessage::SMessage { channel: channel.clone(), payload: payload.clone() },
            );
        }
        subs.len()
    }

    pub fn psubscribe(
        &mut self,
        pattern: Bytes,
        client_id: u64,
        tx: mpsc::Sender<PushMessage>,
        handle: std::sync::Arc<crate::context::ClientHandle>,
    ) {
        self.patterns.entry(pattern).or_default().insert(client_id, Subscriber { tx, handle });
    }

    pub fn punsubscribe(&mut self, pattern: &[u8], client_id: u64) {
        if let Some(subs) = self.patterns.get_mut(pattern) {
            subs.remove(&client_id);
            if subs.is_empty() {
                self.patterns.remove(pattern);
            }
        }
    }

    /// Delivers to channel subscribers, then to matching pattern subscribers; returns the
    /// number of receivers. A subscriber whose queue is full is disconnected, as Redis does
    /// when a pub/sub client passes its output buffer limit.
    pub fn publish(&self, channel: &Bytes, payload: &Bytes) -> usize {
        let mut receivers = 0;
        if let Some(subs) = self.channels.get(channel) {
            for sub in subs.values() {
                deliver(
                    sub,
                    self.max_pending_bytes,
                    PushMessage::Message { channel: channel.clone(), payload: payload.clone() },
                );
                receivers += 1;
            }
        }
        for (pattern, subs) in &self.patterns {
            if glob_match(pattern, channel, false) {
                for sub in subs.values() {
                    deliver(
                        sub,
                        self.max_pending_bytes,
                        PushMessage::PMessage {
                            pattern: pattern.clone(),
                            channel: channel.clone(),
                            payload: payload.clone(),
                        },
                    );
                    receivers += 1;
                }
            }
        }
        receivers
    }

    /// Active channels, optionally filtered by a glob pattern.
    pub fn channel_names(&self, kind: ChannelKind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.table(kind).keys().filter(|c| pattern.is_none_or(|p| glob_match(p, c, false))).cloned().collect()
    }

    pub fn channel_subscribers(&self, kind: ChannelKind, channel: &[u8]) -> usize {
        self.table(kind).get(channel).map_or(0, |s| s.len())
    }

    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }
}

fn deliver(sub: &Subscriber, max_pending_bytes: u64, msg: PushMessage) {
    use std::sync::atomic::Ordering;
    let size = msg.size_bytes();
    let pending = sub.handle.pending_push_bytes.fetch_add(size, Ordering::Relaxed) + size;
    if pending > max_pending_bytes || sub.tx.try_send(msg).is_err() {
        sub.handle.pending_push_bytes.fetch_sub(size, Ordering::Relaxed);
        if !sub.handle.is_killed() {
            tracing::warn!(client_id = sub.handle.id, "pub/sub subscriber too slow: disconnecting it");
            sub.handle.kill();
        }
    }
}
