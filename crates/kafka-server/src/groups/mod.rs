//! Consumer groups of one cluster (Kafka's classic group protocol): the table of groups behind
//! one lock, their limits, and the durable log of committed offsets. Handlers in `apis/` turn
//! requests into calls here; membership rules live in `group.rs`, the file in `offsets.rs`.

pub mod group;
pub mod offsets;

use group::{CommittedOffset, Group, GroupState, JoinOutcome, JoinRequest, MemberClaim, MemberSummary, Reply};
use group::{SyncOutcome, SyncRequest};
use kafka_protocol::error::ResponseError;
use offsets::{Change, Journal, JournalSource, OffsetLog};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Limits of a cluster's groups. Session timeouts follow Kafka's broker defaults
/// (`group.min.session.timeout.ms`, `group.max.session.timeout.ms`).
#[derive(Clone, Debug)]
pub struct GroupLimits {
    pub max_groups: usize,
    pub max_members_per_group: usize,
    pub min_session_timeout: Duration,
    pub max_session_timeout: Duration,
    /// Longest rebalance a member may ask for (its `max.poll.interval.ms`).
    pub max_rebalance_timeout: Duration,
    /// Kafka's `offset.metadata.max.bytes`.
    pub max_offset_metadata_bytes: usize,
    /// The offsets log is not compacted below this size.
    pub compaction_min_bytes: u64,
    /// Commits are refused (retriably) while this many bytes wait for a failing disk.
    pub max_unwritten_bytes: usize,
}

impl Default for GroupLimits {
    fn default() -> Self {
        GroupLimits {
            max_groups: 1000,
            max_members_per_group: 1000,
            min_session_timeout: Duration::from_millis(6_000),
            max_session_timeout: Duration::from_millis(1_800_000),
            max_rebalance_timeout: Duration::from_millis(1_800_000),
            max_offset_metadata_bytes: 4096,
            compaction_min_bytes: 1 << 20,
            max_unwritten_bytes: 64 << 20,
        }
    }
}

/// What DescribeGroups shows of a group.
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberSummary>,
}

/// What ListGroups shows of a group.
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
}

/// Offsets of one topic a client asks for: `None` for a partition never committed.
pub type TopicOffsets = Vec<(i32, Option<CommittedOffset>)>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lookup {
    Existing,
    CreateIfMissing,
}

struct Table {
    groups: BTreeMap<String, Group>,
    /// `None` when the cluster keeps everything in memory.
    journal: Option<Journal>,
}

impl Table {
    fn record(&mut self, change: Change) -> Option<u64> {
        self.journal.as_mut().map(|j| j.record(&change))
    }

    fn apply(&mut self, change: Change, now: Instant) {
        match change {
            Change::Commit { group, topic, partition, committed } => {
                let entry = self.groups.entry(group.clone()).or_insert_with(|| Group::new(group, now));
                entry.offsets.insert((topic, partition), committed);
            }
            Change::DeleteOffset { group, topic, partition } => {
                if let Some(entry) = self.groups.get_mut(&group) {
                    entry.offsets.remove(&(topic, partition));
                    if entry.is_disposable() {
                        self.groups.remove(&group);
                    }
                }
            }
            Change::DeleteGroup { group } => {
                self.groups.remove(&group);
            }
        }
    }

    fn snapshot(&self) -> Vec<Change> {
        let mut changes = Vec::new();
        for (group_id, group) in &self.groups {
            for ((topic, partition), committed) in &group.offsets {
                changes.push(Change::Commit {
                    group: group_id.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                    committed: committed.clone(),
                });
            }
        }
        changes
    }
}

impl JournalSource for Mutex<Table> {
    fn drain(&self, snapshot: bool) -> (Vec<Vec<u8>>, u64, Option<Vec<Change>>) {
        let mut table = self.lock();
        let (records, last_seq) = table.journal.as_mut().map(Journal::drain).unwrap_or_default();
        let snapshot = snapshot.then(|| table.snapshot());
        (records, last_seq, snapshot)
    }
}

pub struct Groups {
    pub limits: GroupLimits,
    table: Mutex<Table>,
    log: Option<OffsetLog>,
}

impl Default for Groups {
    fn default() -> Self {
        Groups::in_memory(GroupLimits::default())
    }
}

impl Groups {
    pub fn in_memory(limits: GroupLimits) -> Groups {
        Groups { limits, table: Mutex::new(Table { groups: BTreeMap::new(), journal: None }), log: None }
    }

    /// Opens the groups of a cluster stored in `dir`, replaying its committed offsets.
    pub fn open(dir: Option<&Path>, limits: GroupLimits) -> anyhow::Result<Groups> {
        Groups::open_on(dir, limits, Arc::new(durability::RealDisk))
    }

    /// `open` on a chosen disk (tests inject failures).
    pub fn open_on(dir: Option<&Path>, limits: GroupLimits, disk: Arc<dyn durability::Disk>) -> anyhow::Result<Groups> {
        let Some(dir) = dir else { return Ok(Groups::in_memory(limits)) };
        let path = dir.join("group-offsets.log");
        let replay = OffsetLog::open(disk, &path, limits.compaction_min_bytes)?;
        if replay.torn_tail_bytes > 0 {
            tracing::warn!(path = %path.display(), bytes = replay.torn_tail_bytes, "offsets log ended in a torn write; cut off");
        }
        let mut table = Table { groups: BTreeMap::new(), journal: Some(Journal::default()) };
        let now = Instant::now();
        for change in replay.changes {
            table.apply(change, now);
        }
        Ok(Groups { limits, table: Mutex::new(table), log: Some(replay.log) })
    }

    /// Runs `f` on a group under the table lock; a group left with nothing to keep is dropped.
    fn with_group<R>(
        &self,
        group_id: &str,
        lookup: Lookup,
        now: Instant,
        f: impl FnOnce(&mut Group, &mut Table) -> R,
    ) -> Result<R, ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let mut table = self.table.lock();
        let mut group = match table.groups.remove(group_id) {
            Some(group) => group,
            None if lookup == Lookup::Existing => return Err(ResponseError::GroupIdNotFound),
            None if table.groups.len() >= self.limits.max_groups => {
                tracing::warn!(group = group_id, max = self.limits.max_groups, "cluster has its maximum of groups");
                return Err(ResponseError::PolicyViolation);
            }
            None => Group::new(group_id.to_string(), now),
        };
        let result = f(&mut group, &mut table);
        if !group.is_disposable() {
            table.groups.insert(group_id.to_string(), group);
        }
        Ok(result)
    }

    pub fn join(&self, group_id: &str, request: JoinRequest, now: Instant) -> Reply<JoinOutcome> {
        let member_id = request.member_id.clone();
        self.with_group(group_id, Lookup::CreateIfMissing, now, |group, _| group.join(request, &self.limits, now))
            .unwrap_or_else(|error| Reply::Now(JoinOutcome::failed(member_id, error)))
    }

    pub fn sync(&self, group_id: &str, request: SyncRequest, now: Instant) -> Reply<SyncOutcome> {
        self.with_group(group_id, Lookup::Existing, now, |group, _| group.sync(request, now))
            .unwrap_or_else(|error| Reply::Now(SyncOutcome::failed(member_error(error))))
    }

    pub fn heartbeat(&self, group_id: &str, claim: &MemberClaim, now: Instant) -> Result<(), ResponseError> {
        self.with_group(group_id, Lookup::Existing, now, |group, _| group.heartbeat(claim, now))
            .map_err(member_error)?
    }

    /// Members leaving, by (member id, instance id); one result each.
    pub fn leave(
        &self,
        group_id: &str,
        leaving: &[(String, Option<String>)],
        now: Instant,
    ) -> Vec<Result<(), ResponseError>> {
        self.with_group(group_id, Lookup::Existing, now, |group, _| group.leave(leaving, now))
            .unwrap_or_else(|error| leaving.iter().map(|_| Err(member_error(error))).collect())
    }

    /// Lets time act on a group (expired sessions, rebalance deadline); waiting handlers call it.
    pub fn tick(&self, group_id: &str, now: Instant) {
        let _ = self.with_group(group_id, Lookup::Existing, now, |group, _| group.sweep(now));
    }

    /// Commits offsets (already checked one by one by the caller) in memory and queues them for
    /// the log. Returns the sequence number to pass to `make_durable` before acknowledging.
    /// Commits with generation -1 and no member id come from tools and create the group.
    pub fn commit(
        &self,
        group_id: &str,
        claim: &MemberClaim,
        offsets: Vec<(String, i32, CommittedOffset)>,
        now: Instant,
    ) -> Result<Option<u64>, ResponseError> {
        let simple = claim.generation < 0 && claim.member_id.is_empty();
        let lookup = if simple { Lookup::CreateIfMissing } else { Lookup::Existing };
        let committed = self.with_group(group_id, lookup, now, |group, table| {
            if table.journal.as_ref().is_some_and(|j| j.pending_bytes() > self.limits.max_unwritten_bytes) {
                return Err(ResponseError::CoordinatorNotAvailable);
            }
            group.check_commit(claim, now)?;
            let mut seq = None;
            for (topic, partition, committed) in offsets {
                let change = Change::Commit {
                    group: group.id.clone(),
                    topic: topic.clone(),
                    partition,
                    committed: committed.clone(),
                };
                seq = table.record(change).or(seq);
                group.offsets.insert((topic, partition), committed);
            }
            Ok(seq)
        });
        committed.map_err(member_error)?
    }

    /// Blocks until every change up to `seq` is on disk (fsynced). Run off the async threads.
    pub fn make_durable(&self, seq: u64) -> std::io::Result<()> {
        match &self.log {
            Some(log) => log.sync_through(seq, &self.table),
            None => Ok(()),
        }
    }

    /// Committed offsets of the wanted partitions.
    pub fn fetch(&self, group_id: &str, wanted: &[(String, Vec<i32>)]) -> Vec<TopicOffsets> {
        let table = self.table.lock();
        let group = table.groups.get(group_id);
        wanted
            .iter()
            .map(|(topic, partitions)| {
                partitions
                    .iter()
                    .map(|p| (*p, group.and_then(|g| g.offsets.get(&(topic.clone(), *p)).cloned())))
                    .collect()
            })
            .collect()
    }

    /// Every committed offset of a group, by topic.
    pub fn fetch_all(&self, group_id: &str) -> Vec<(String, TopicOffsets)> {
        let table = self.table.lock();
        let mut topics: Vec<(String, TopicOffsets)> = Vec::new();
        for ((topic, partition), committed) in table.groups.get(group_id).map(|g| &g.offsets).into_iter().flatten() {
            match topics.last_mut() {
                Some((last, partitions)) if last == topic => partitions.push((*partition, Some(committed.clone()))),
                _ => topics.push((topic.clone(), vec![(*partition, Some(committed.clone()))])),
            }
        }
        topics
    }

    pub fn describe(&self, group_id: &str, now: Instant) -> Option<GroupDescription> {
        self.with_group(group_id, Lookup::Existing, now, |group, _| {
            group.sweep(now);
            let (protocol, members) = group.summary();
            GroupDescription {
                state: group.state(),
                protocol_type: group.protocol_type().to_string(),
                protocol: protocol.to_string(),
                members,
            }
        })
        .ok()
    }

    pub fn list(&self, now: Instant) -> Vec<ListedGroup> {
        let mut table = self.table.lock();
        for group in table.groups.values_mut() {
            group.sweep(now);
        }
        table.groups.retain(|_, g| !g.is_disposable());
        table
            .groups
            .iter()
            .map(|(id, g)| ListedGroup {
                group_id: id.clone(),
                protocol_type: g.protocol_type().to_string(),
                state: g.state(),
            })
            .collect()
    }

    /// Deletes an empty group and its offsets. Returns the sequence number to make durable.
    pub fn delete(&self, group_id: &str, now: Instant) -> Result<Option<u64>, ResponseError> {
        let deleted = self.with_group(group_id, Lookup::Existing, now, |group, table| {
            group.sweep(now);
            if !group.has_no_members() {
                return Err(ResponseError::NonEmptyGroup);
            }
            group.offsets.clear();
            Ok(table.record(Change::DeleteGroup { group: group.id.clone() }))
        });
        deleted?
    }

    /// Deletes committed offsets of partitions no member consumes (the group must be empty:
    /// the broker does not read consumers' subscriptions). Returns the sequence to make durable.
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
        now: Instant,
    ) -> Result<Option<u64>, ResponseError> {
        let deleted = self.with_group(group_id, Lookup::Existing, now, |group, table| {
            group.sweep(now);
            if !group.has_no_members() {
                return Err(ResponseError::NonEmptyGroup);
            }
            let mut seq = None;
            for (topic, partition) in partitions {
                if group.offsets.remove(&(topic.clone(), *partition)).is_some() {
                    let change =
                        Change::DeleteOffset { group: group.id.clone(), topic: topic.clone(), partition: *partition };
                    seq = table.record(change).or(seq);
                }
            }
            Ok(seq)
        });
        deleted?
    }

    /// Size of the offsets log file (tests of compaction).
    pub fn log_bytes(&self) -> u64 {
        self.log.as_ref().map(OffsetLog::file_bytes).unwrap_or(0)
    }
}

/// A request naming a group that does not exist names a member that does not either.
fn member_error(error: ResponseError) -> ResponseError {
    match error {
        ResponseError::GroupIdNotFound => ResponseError::UnknownMemberId,
        other => other,
    }
}

#[cfg(test)]
mod tests;
