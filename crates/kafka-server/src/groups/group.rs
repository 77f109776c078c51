//! One consumer group's membership state machine (Kafka's classic protocol): joins, the
//! rebalance barrier, the leader's assignment, heartbeats and session expiry, and the group's
//! committed offsets. No I/O: time comes in as `now`, and held responses leave through oneshot
//! channels that the waiting handlers hold.

use super::GroupLimits;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    /// No members (the group may still hold committed offsets).
    Empty,
    /// Waiting for every member to (re)join, until the rebalance deadline.
    PreparingRebalance,
    /// Joins answered; waiting for the leader's assignment (SyncGroup).
    CompletingRebalance,
    Stable,
}

impl GroupState {
    /// The name Kafka uses in DescribeGroups and ListGroups.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// An answer now, or a channel the answer will come through once the group moves on.
pub enum Reply<T> {
    Now(T),
    Later(oneshot::Receiver<T>),
}

/// What a JoinGroup asks.
pub struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    /// Protocol names with their metadata, in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub id_policy: MemberIdPolicy,
}

/// KIP-394: from JoinGroup v4 a new member first receives its id (MEMBER_ID_REQUIRED) and
/// joins again with it, so a client that retries a lost response does not leave a ghost member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberIdPolicy {
    AssignAndAdmit,
    RequireKnownId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Clone, Debug)]
pub struct JoinOutcome {
    pub error: Option<ResponseError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member with its metadata for the chosen protocol; only the leader gets them.
    pub members: Vec<JoinedMember>,
}

impl JoinOutcome {
    pub fn failed(member_id: String, error: ResponseError) -> JoinOutcome {
        JoinOutcome {
            error: Some(error),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id,
            members: Vec::new(),
        }
    }
}

/// What a SyncGroup asks.
pub struct SyncRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// Sent by the leader only: each member's assignment.
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Clone, Debug)]
pub struct SyncOutcome {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    pub fn failed(error: ResponseError) -> SyncOutcome {
        SyncOutcome { error: Some(error), protocol_type: None, protocol_name: None, assignment: Bytes::new() }
    }
}

/// Who a request says it is (Heartbeat, SyncGroup, OffsetCommit).
pub struct MemberClaim<'a> {
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    pub generation: i32,
}

/// A committed offset of one partition.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp_ms: i64,
}

/// What DescribeGroups shows of a member.
pub struct MemberSummary {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    last_heartbeat: Instant,
    join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
}

impl Member {
    fn new(id: String, request: &JoinRequest, now: Instant) -> Member {
        Member {
            id,
            instance_id: request.instance_id.clone(),
            client_id: request.client_id.clone(),
            client_host: request.client_host.clone(),
            session_timeout: request.session_timeout,
            rebalance_timeout: request.rebalance_timeout,
            protocols: request.protocols.clone(),
            assignment: Bytes::new(),
            last_heartbeat: now,
            join_waiter: None,
            sync_waiter: None,
        }
    }

    /// A waiter whose connection closed no longer counts as waiting.
    fn awaiting_join(&self) -> bool {
        self.join_waiter.as_ref().is_some_and(|w| !w.is_closed())
    }

    fn awaiting_sync(&self) -> bool {
        self.sync_waiter.as_ref().is_some_and(|w| !w.is_closed())
    }

    /// Members held in a join or sync are alive whatever their last heartbeat (as in Kafka).
    fn is_alive(&self, now: Instant) -> bool {
        self.awaiting_join() || self.awaiting_sync() || now < self.last_heartbeat + self.session_timeout
    }

    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }

    fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(name, _)| name == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }
}

pub struct Group {
    pub id: String,
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    /// In join order: the first member becomes leader when there is none.
    members: Vec<Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, valid until the deadline.
    pending: Vec<(String, Instant)>,
    rebalance_deadline: Instant,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
}

impl Group {
    pub fn new(id: String, now: Instant) -> Group {
        Group {
            id,
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            pending: Vec::new(),
            rebalance_deadline: now,
            offsets: BTreeMap::new(),
        }
    }

    pub fn state(&self) -> GroupState {
        self.state
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    pub fn protocol_type(&self) -> &str {
        self.protocol_type.as_deref().unwrap_or("")
    }

    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    pub fn member_ids(&self) -> Vec<String> {
        self.members.iter().map(|m| m.id.clone()).collect()
    }

    /// No members, no member about to join: DeleteGroups may remove it.
    pub fn has_no_members(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty()
    }

    /// Nothing worth keeping: no members and no committed offsets.
    pub fn is_disposable(&self) -> bool {
        self.has_no_members() && self.offsets.is_empty()
    }

    /// The chosen protocol, shown by DescribeGroups only once the group is stable (as Kafka).
    pub fn summary(&self) -> (&str, Vec<MemberSummary>) {
        let stable = self.state == GroupState::Stable;
        let protocol = if stable { self.protocol_name.as_deref().unwrap_or("") } else { "" };
        let members = self
            .members
            .iter()
            .map(|m| MemberSummary {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable { m.metadata(protocol) } else { Bytes::new() },
                assignment: if stable { m.assignment.clone() } else { Bytes::new() },
            })
            .collect();
        (protocol, members)
    }

    pub fn join(&mut self, request: JoinRequest, limits: &GroupLimits, now: Instant) -> Reply<JoinOutcome> {
        self.sweep(now);
        if let Err(error) = self.check_join(&request, limits) {
            return Reply::Now(JoinOutcome::failed(request.member_id, error));
        }
        let index = match self.admit(&request, limits, now) {
            Ok(index) => index,
            Err((member_id, error)) => return Reply::Now(JoinOutcome::failed(member_id, error)),
        };
        if self.members.len() == 1 || self.protocol_type.is_none() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        let (sender, receiver) = oneshot::channel();
        let member = &mut self.members[index];
        member.protocols = request.protocols;
        member.session_timeout = request.session_timeout;
        member.rebalance_timeout = request.rebalance_timeout;
        member.client_id = request.client_id;
        member.client_host = request.client_host;
        member.last_heartbeat = now;
        member.join_waiter = Some(sender);
        if self.state != GroupState::PreparingRebalance {
            tracing::debug!(group = %self.id, member = %self.members[index].id, "member joins: rebalance");
            self.prepare_rebalance(now);
        }
        self.maybe_complete_join(now);
        Reply::Later(receiver)
    }

    fn check_join(&self, request: &JoinRequest, limits: &GroupLimits) -> Result<(), ResponseError> {
        if request.session_timeout < limits.min_session_timeout || request.session_timeout > limits.max_session_timeout
        {
            return Err(ResponseError::InvalidSessionTimeout);
        }
        if request.protocol_type.is_empty() || request.protocols.is_empty() {
            return Err(ResponseError::InconsistentGroupProtocol);
        }
        let others: Vec<&Member> = self.members.iter().filter(|m| m.id != request.member_id).collect();
        if others.is_empty() {
            return Ok(());
        }
        let common = request.protocols.iter().any(|(name, _)| others.iter().all(|m| m.supports(name)));
        if self.protocol_type.as_deref() != Some(request.protocol_type.as_str()) || !common {
            return Err(ResponseError::InconsistentGroupProtocol);
        }
        Ok(())
    }

    /// Finds or adds the joining member; `Err` is the member id and error to answer at once.
    fn admit(
        &mut self,
        request: &JoinRequest,
        limits: &GroupLimits,
        now: Instant,
    ) -> Result<usize, (String, ResponseError)> {
        let fail = |error| Err((request.member_id.clone(), error));
        if !request.member_id.is_empty() {
            if let Some(index) = self.members.iter().position(|m| m.id == request.member_id) {
                if request.instance_id.is_some() && self.members[index].instance_id != request.instance_id {
                    return fail(ResponseError::FencedInstanceId);
                }
                return Ok(index);
            }
            if let Some(position) = self.pending.iter().position(|(id, _)| *id == request.member_id) {
                self.pending.swap_remove(position);
                self.members.push(Member::new(request.member_id.clone(), request, now));
                return Ok(self.members.len() - 1);
            }
            let taken =
                request.instance_id.is_some() && self.index_of_instance(request.instance_id.as_deref()).is_some();
            return fail(if taken { ResponseError::FencedInstanceId } else { ResponseError::UnknownMemberId });
        }
        let new_id = format!("{}-{}", request.client_id, uuid::Uuid::new_v4());
        if let Some(index) = self.index_of_instance(request.instance_id.as_deref()) {
            // A static member came back without its id: it takes a new id, and whatever the
            // old incarnation was waiting for is refused.
            self.replace_member_id(index, new_id);
            return Ok(index);
        }
        if self.members.len() + self.pending.len() >= limits.max_members_per_group {
            return fail(ResponseError::GroupMaxSizeReached);
        }
        if request.id_policy == MemberIdPolicy::RequireKnownId && request.instance_id.is_none() {
            self.pending.push((new_id.clone(), now + request.session_timeout));
            return Err((new_id, ResponseError::MemberIdRequired));
        }
        self.members.push(Member::new(new_id, request, now));
        Ok(self.members.len() - 1)
    }

    fn index_of_instance(&self, instance_id: Option<&str>) -> Option<usize> {
        let instance_id = instance_id?;
        self.members.iter().position(|m| m.instance_id.as_deref() == Some(instance_id))
    }

    fn replace_member_id(&mut self, index: usize, new_id: String) {
        let member = &mut self.members[index];
        if let Some(waiter) = member.join_waiter.take() {
            let _ = waiter.send(JoinOutcome::failed(member.id.clone(), ResponseError::FencedInstanceId));
        }
        if let Some(waiter) = member.sync_waiter.take() {
            let _ = waiter.send(SyncOutcome::failed(ResponseError::FencedInstanceId));
        }
        if self.leader.as_deref() == Some(member.id.as_str()) {
            self.leader = Some(new_id.clone());
        }
        member.id = new_id;
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        for member in &mut self.members {
            member.assignment = Bytes::new();
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(SyncOutcome::failed(ResponseError::RebalanceInProgress));
            }
        }
        self.state = GroupState::PreparingRebalance;
        let longest = self.members.iter().map(|m| m.rebalance_timeout).max().unwrap_or_default();
        self.rebalance_deadline = now + longest;
    }

    /// Ends the join phase once every member rejoined, or at the deadline without the
    /// members that did not (they are removed).
    fn maybe_complete_join(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let everyone_joined = self.pending.is_empty() && self.members.iter().all(Member::awaiting_join);
        if !everyone_joined && now < self.rebalance_deadline {
            return;
        }
        self.members.retain(|m| {
            let keep = m.awaiting_join();
            if !keep {
                tracing::info!(member = %m.id, "consumer group member did not rejoin in time; removed");
            }
            keep
        });
        self.pending.clear();
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.leader = None;
            self.protocol_name = None;
            return;
        }
        if !self.leader.as_ref().is_some_and(|leader| self.members.iter().any(|m| &m.id == leader)) {
            self.leader = Some(self.members[0].id.clone());
        }
        self.protocol_name = Some(self.select_protocol());
        self.state = GroupState::CompletingRebalance;
        tracing::debug!(group = %self.id, generation = self.generation, members = self.members.len(), "rebalance joined");
        self.answer_joins(now);
    }

    /// The leader's most preferred protocol that every member supports.
    fn select_protocol(&self) -> String {
        let leader = self.members.iter().find(|m| Some(&m.id) == self.leader.as_ref()).unwrap_or(&self.members[0]);
        let common = leader.protocols.iter().find(|(name, _)| self.members.iter().all(|m| m.supports(name)));
        common.or(leader.protocols.first()).map(|(name, _)| name.clone()).unwrap_or_default()
    }

    fn answer_joins(&mut self, now: Instant) {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let leader = self.leader.clone().unwrap_or_default();
        let everyone: Vec<JoinedMember> = self
            .members
            .iter()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                metadata: m.metadata(&protocol),
            })
            .collect();
        let mut everyone = Some(everyone);
        for member in &mut self.members {
            member.last_heartbeat = now;
            let Some(waiter) = member.join_waiter.take() else { continue };
            let members = if member.id == leader { everyone.take().unwrap_or_default() } else { Vec::new() };
            let _ = waiter.send(JoinOutcome {
                error: None,
                generation: self.generation,
                protocol_type: self.protocol_type.clone(),
                protocol_name: Some(protocol.clone()),
                leader: leader.clone(),
                member_id: member.id.clone(),
                members,
            });
        }
    }

    /// Applies what time did: forgotten pending ids, members whose session expired, and the
    /// rebalance deadline.
    pub fn sweep(&mut self, now: Instant) {
        self.pending.retain(|(_, deadline)| now < *deadline);
        let before = self.members.len();
        self.members.retain(|m| {
            let alive = m.is_alive(now);
            if !alive {
                tracing::info!(member = %m.id, "consumer group member's session expired");
            }
            alive
        });
        if self.members.len() != before {
            self.after_removal(now);
        } else {
            self.maybe_complete_join(now);
        }
    }

    fn after_removal(&mut self, now: Instant) {
        if matches!(self.state, GroupState::Stable | GroupState::CompletingRebalance) {
            self.prepare_rebalance(now);
        }
        self.maybe_complete_join(now);
    }

    /// The member a request names, if it belongs to the current generation.
    fn check_member(&self, claim: &MemberClaim) -> Result<usize, ResponseError> {
        let Some(index) = self.members.iter().position(|m| m.id == claim.member_id) else {
            let fenced = claim.instance_id.is_some() && self.index_of_instance(claim.instance_id).is_some();
            return Err(if fenced { ResponseError::FencedInstanceId } else { ResponseError::UnknownMemberId });
        };
        if claim.instance_id.is_some() && self.members[index].instance_id.as_deref() != claim.instance_id {
            return Err(ResponseError::FencedInstanceId);
        }
        if claim.generation != self.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(index)
    }

    pub fn sync(&mut self, request: SyncRequest, now: Instant) -> Reply<SyncOutcome> {
        self.sweep(now);
        let claim = MemberClaim {
            member_id: &request.member_id,
            instance_id: request.instance_id.as_deref(),
            generation: request.generation,
        };
        let index = match self.check_member(&claim) {
            Ok(index) => index,
            Err(error) => return Reply::Now(SyncOutcome::failed(error)),
        };
        let type_differs = request.protocol_type.is_some() && request.protocol_type != self.protocol_type;
        let name_differs = request.protocol_name.is_some() && request.protocol_name != self.protocol_name;
        if type_differs || name_differs {
            return Reply::Now(SyncOutcome::failed(ResponseError::InconsistentGroupProtocol));
        }
        self.members[index].last_heartbeat = now;
        match self.state {
            GroupState::Empty => Reply::Now(SyncOutcome::failed(ResponseError::UnknownMemberId)),
            GroupState::PreparingRebalance => Reply::Now(SyncOutcome::failed(ResponseError::RebalanceInProgress)),
            GroupState::Stable => Reply::Now(self.assignment_of(index)),
            GroupState::CompletingRebalance if self.leader.as_deref() == Some(request.member_id.as_str()) => {
                self.apply_assignments(request.assignments);
                Reply::Now(self.assignment_of(index))
            }
            GroupState::CompletingRebalance => {
                let (sender, receiver) = oneshot::channel();
                self.members[index].sync_waiter = Some(sender);
                Reply::Later(receiver)
            }
        }
    }

    fn assignment_of(&self, index: usize) -> SyncOutcome {
        SyncOutcome {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self.members[index].assignment.clone(),
        }
    }

    /// The leader's assignments: the group becomes stable and every waiting member gets its own.
    fn apply_assignments(&mut self, assignments: Vec<(String, Bytes)>) {
        let mut by_member: BTreeMap<String, Bytes> = assignments.into_iter().collect();
        for member in &mut self.members {
            member.assignment = by_member.remove(&member.id).unwrap_or_default();
        }
        self.state = GroupState::Stable;
        for index in 0..self.members.len() {
            if let Some(waiter) = self.members[index].sync_waiter.take() {
                let _ = waiter.send(self.assignment_of(index));
            }
        }
    }

    pub fn heartbeat(&mut self, claim: &MemberClaim, now: Instant) -> Result<(), ResponseError> {
        self.sweep(now);
        let index = self.check_member(claim)?;
        self.members[index].last_heartbeat = now;
        match self.state {
            GroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// Removes members (by member id, or by instance id for static members); one result each.
    pub fn leave(&mut self, leaving: &[(String, Option<String>)], now: Instant) -> Vec<Result<(), ResponseError>> {
        self.sweep(now);
        let mut removed = false;
        let results = leaving
            .iter()
            .map(|(member_id, instance_id)| {
                let index = match instance_id {
                    Some(instance) => {
                        let index = self.index_of_instance(Some(instance)).ok_or(ResponseError::UnknownMemberId)?;
                        if !member_id.is_empty() && self.members[index].id != *member_id {
                            return Err(ResponseError::FencedInstanceId);
                        }
                        index
                    }
                    None => {
                        self.members.iter().position(|m| m.id == *member_id).ok_or(ResponseError::UnknownMemberId)?
                    }
                };
                let member = self.members.remove(index);
                tracing::debug!(group = %self.id, member = %member.id, "consumer group member left");
                removed = true;
                Ok(())
            })
            .collect();
        if removed {
            self.after_removal(now);
        }
        results
    }

    /// Whether a member (or, with generation -1 and no member id, an admin tool on an empty
    /// group) may commit offsets now.
    pub fn check_commit(&mut self, claim: &MemberClaim, now: Instant) -> Result<(), ResponseError> {
        self.sweep(now);
        if claim.generation < 0 && claim.member_id.is_empty() && self.state == GroupState::Empty {
            return Ok(());
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        let index = self.check_member(claim)?;
        self.members[index].last_heartbeat = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
