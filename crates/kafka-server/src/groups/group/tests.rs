use super::*;

const SESSION: Duration = Duration::from_secs(10);
const REBALANCE: Duration = Duration::from_secs(30);

fn limits() -> GroupLimits {
    GroupLimits { max_members_per_group: 5, ..GroupLimits::default() }
}

fn request(member_id: &str, protocols: &[&str]) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_string(),
        instance_id: None,
        client_id: "client".to_string(),
        client_host: "/127.0.0.1".to_string(),
        session_timeout: SESSION,
        rebalance_timeout: REBALANCE,
        protocol_type: "consumer".to_string(),
        protocols: protocols.iter().map(|p| (p.to_string(), Bytes::from(format!("{member_id}:{p}")))).collect(),
        id_policy: MemberIdPolicy::AssignAndAdmit,
    }
}

/// The answer if the group gave it (now, or already sent through the channel).
fn answered<T>(reply: Reply<T>) -> Option<T> {
    match reply {
        Reply::Now(answer) => Some(answer),
        Reply::Later(mut receiver) => receiver.try_recv().ok(),
    }
}

fn pending<T>(reply: Reply<T>) -> oneshot::Receiver<T> {
    match reply {
        Reply::Later(receiver) => receiver,
        Reply::Now(_) => panic!("expected a held answer"),
    }
}

fn claim(member_id: &str, generation: i32) -> MemberClaim<'_> {
    MemberClaim { member_id, instance_id: None, generation }
}

fn sync(member_id: &str, generation: i32, assignments: &[(&str, &str)]) -> SyncRequest {
    SyncRequest {
        member_id: member_id.to_string(),
        instance_id: None,
        generation,
        protocol_type: None,
        protocol_name: None,
        assignments: assignments.iter().map(|(m, a)| (m.to_string(), Bytes::from(a.to_string()))).collect(),
    }
}

/// A group whose single member joined and synced; returns the member id.
fn stable_with_one(group: &mut Group, now: Instant) -> String {
    let outcome = answered(group.join(request("", &["range"]), &limits(), now)).unwrap();
    assert_eq!(outcome.error, None);
    let id = outcome.member_id.clone();
    assert!(answered(group.sync(sync(&id, outcome.generation, &[(&id, "a0")]), now)).unwrap().error.is_none());
    id
}

#[test]
fn a_single_member_joins_after_receiving_its_id() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), now);
    let mut first = request("", &["range"]);
    first.id_policy = MemberIdPolicy::RequireKnownId;
    let required = answered(group.join(first, &limits(), now)).unwrap();
    assert_eq!(required.error, Some(ResponseError::MemberIdRequired));
    assert!(required.member_id.starts_with("client-"));
    assert_eq!(group.state(), GroupState::Empty);
    let mut again = request(&required.member_id, &["range"]);
    again.id_policy = MemberIdPolicy::RequireKnownId;
    let joined = answered(group.join(again, &limits(), now)).unwrap();
    assert_eq!(joined.error, None);
    assert_eq!(joined.generation, 1);
    assert_eq!(joined.leader, required.member_id);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.members[0].metadata, Bytes::from(format!("{}:range", required.member_id)));
    assert_eq!(group.state(), GroupState::CompletingRebalance);
    // An id that was never handed out is refused.
    let stranger = answered(group.join(request("client-nobody", &["range"]), &limits(), now)).unwrap();
    assert_eq!(stranger.error, Some(ResponseError::UnknownMemberId));
}

#[test]
fn three_members_rebalance_and_only_the_leader_sees_members() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), now);
    let a = stable_with_one(&mut group, now);
    let b_reply = pending(group.join(request("", &["range"]), &limits(), now));
    let c_reply = pending(group.join(request("", &["range"]), &limits(), now));
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    // The old member learns of the rebalance from its heartbeat, then rejoins.
    assert_eq!(group.heartbeat(&claim(&a, 1), now), Err(ResponseError::RebalanceInProgress));
    let a_outcome = answered(group.join(request(&a, &["range"]), &limits(), now)).unwrap();
    let (mut b_reply, mut c_reply) = (b_reply, c_reply);
    let b_outcome = b_reply.try_recv().unwrap();
    let c_outcome = c_reply.try_recv().unwrap();
    for outcome in [&a_outcome, &b_outcome, &c_outcome] {
        assert_eq!(outcome.error, None);
        assert_eq!(outcome.generation, 2);
        assert_eq!(outcome.leader, a);
    }
    assert_eq!(a_outcome.members.len(), 3);
    assert!(b_outcome.members.is_empty() && c_outcome.members.is_empty());
    assert_eq!(group.member_ids(), vec![a.clone(), b_outcome.member_id.clone(), c_outcome.member_id.clone()]);
}

#[test]
fn followers_wait_for_the_leaders_assignment() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), now);
    let a = stable_with_one(&mut group, now);
    let mut b_join = pending(group.join(request("", &["range"]), &limits(), now));
    answered(group.join(request(&a, &["range"]), &limits(), now)).unwrap();
    let b = b_join.try_recv().unwrap().member_id;
    let mut b_sync = pending(group.sync(sync(&b, 2, &[]), now));
    assert!(b_sync.try_recv().is_err(), "the follower waits for the leader");
    let leader_sync = answered(group.sync(sync(&a, 2, &[(&a, "pa"), (&b, "pb")]), now)).unwrap();
    assert_eq!(leader_sync.assignment, Bytes::from("pa"));
    assert_eq!(b_sync.try_recv().unwrap().assignment, Bytes::from("pb"));
    assert_eq!(group.state(), GroupState::Stable);
    // A stable group answers a late SyncGroup at once.
    assert_eq!(answered(group.sync(sync(&b, 2, &[]), now)).unwrap().assignment, Bytes::from("pb"));
}

#[test]
fn a_leave_triggers_a_rebalance_and_a_new_leader() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), now);
    let a = stable_with_one(&mut group, now);
    let mut b_join = pending(group.join(request("", &["range"]), &limits(), now));
    answered(group.join(request(&a, &["range"]), &limits(), now)).unwrap();
    let b = b_join.try_recv().unwrap().member_id;
    answered(group.sync(sync(&a, 2, &[]), now));
    assert_eq!(group.leave(&[(a.clone(), None)], now), vec![Ok(())]);
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert_eq!(group.heartbeat(&claim(&b, 2), now), Err(ResponseError::RebalanceInProgress));
    let outcome = answered(group.join(request(&b, &["range"]), &limits(), now)).unwrap();
    assert_eq!((outcome.generation, outcome.leader.as_str()), (3, b.as_str()));
    assert_eq!(group.leave(&[(a, None)], now), vec![Err(ResponseError::UnknownMemberId)]);
    assert_eq!(group.leave(&[(b, None)], now), vec![Ok(())]);
    assert_eq!(group.state(), GroupState::Empty);
    assert_eq!(group.generation(), 4);
}

#[test]
fn an_expired_session_removes_the_member() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), now);
    let a = stable_with_one(&mut group, now);
    let mut b_join = pending(group.join(request("", &["range"]), &limits(), now));
    answered(group.join(request(&a, &["range"]), &limits(), now)).unwrap();
    let b = b_join.try_recv().unwrap().member_id;
    answered(group.sync(sync(&a, 2, &[]), now));
    // b keeps heartbeating, a goes silent.
    let mut t = now;
    for _ in 0..4 {
        t += SESSION / 3;
        let result = group.heartbeat(&claim(&b, 2), t);
        if t < now + SESSION {
            assert_eq!(result, Ok(()));
        } else {
            assert_eq!(result, Err(ResponseError::RebalanceInProgress));
        }
    }
    assert_eq!(group.member_ids(), vec![b.clone()]);
    assert_eq!(group.heartbeat(&claim(&a, 2), t), Err(ResponseError::UnknownMemberId));
}

#[test]
fn members_that_do_not_rejoin_before_the_deadline_are_dropped() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), now);
    let a = stable_with_one(&mut group, now);
    // a keeps its session alive with heartbeats but never rejoins.
    let mut b_join = pending(group.join(request("", &["range"]), &limits(), now));
    for seconds in [8, 16, 24, 29] {
        let later = now + Duration::from_secs(seconds);
        assert_eq!(group.heartbeat(&claim(&a, 1), later), Err(ResponseError::RebalanceInProgress));
    }
    assert!(b_join.try_recv().is_err());
    group.sweep(now + REBALANCE);
    let outcome = b_join.try_recv().unwrap();
    assert_eq!(outcome.generation, 2);
    assert_eq!(outcome.leader, outcome.member_id);
    assert_eq!(group.member_ids(), vec![outcome.member_id]);
    assert_eq!(group.heartbeat(&claim(&a, 1), now + REBALANCE), Err(ResponseError::UnknownMemberId));
}

#[test]
fn stale_generations_and_rebalances_are_refused() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), now);
    let a = stable_with_one(&mut group, now);
    assert_eq!(group.heartbeat(&claim(&a, 0), now), Err(ResponseError::IllegalGeneration));
    assert_eq!(answered(group.sync(sync(&a, 7, &[]), now)).unwrap().error, Some(ResponseError::IllegalGeneration));
    assert_eq!(group.check_commit(&claim(&a, 0), now), Err(ResponseError::IllegalGeneration));
    assert_eq!(group.check_commit(&claim(&a, 1), now), Ok(()));
    // Tools commit with generation -1 only while the group has no members.
    assert_eq!(group.check_commit(&claim("", -1), now), Err(ResponseError::UnknownMemberId));
    let _b = pending(group.join(request("", &["range"]), &limits(), now));
    assert_eq!(answered(group.sync(sync(&a, 1, &[]), now)).unwrap().error, Some(ResponseError::RebalanceInProgress));
    answered(group.join(request(&a, &["range"]), &limits(), now)).unwrap();
    assert_eq!(group.check_commit(&claim(&a, 2), now), Err(ResponseError::RebalanceInProgress));
    let mut empty = Group::new("e".into(), now);
    assert_eq!(empty.check_commit(&claim("", -1), now), Ok(()));
}

#[test]
fn the_leaders_preferred_common_protocol_wins() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), now);
    let a = answered(group.join(request("", &["cooperative", "roundrobin", "range"]), &limits(), now)).unwrap();
    let mut b_join = pending(group.join(request("", &["range", "roundrobin"]), &limits(), now));
    let a2 = answered(group.join(request(&a.member_id, &["cooperative", "roundrobin", "range"]), &limits(), now));
    assert_eq!(a2.unwrap().protocol_name.as_deref(), Some("roundrobin"));
    assert_eq!(b_join.try_recv().unwrap().protocol_name.as_deref(), Some("roundrobin"));
    let refused = answered(group.join(request("", &["sticky"]), &limits(), now)).unwrap();
    assert_eq!(refused.error, Some(ResponseError::InconsistentGroupProtocol));
    let mut other_type = request("", &["range"]);
    other_type.protocol_type = "connect".into();
    let refused = answered(group.join(other_type, &limits(), now)).unwrap();
    assert_eq!(refused.error, Some(ResponseError::InconsistentGroupProtocol));
    let mut short = request("", &["range"]);
    short.session_timeout = Duration::from_millis(10);
    let refused = answered(group.join(short, &limits(), now)).unwrap();
    assert_eq!(refused.error, Some(ResponseError::InvalidSessionTimeout));
}

#[test]
fn a_static_member_comes_back_with_a_new_id_and_fences_the_old_one() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), now);
    let mut first = request("", &["range"]);
    first.instance_id = Some("host-1".into());
    first.id_policy = MemberIdPolicy::RequireKnownId;
    let old = answered(group.join(first, &limits(), now)).unwrap();
    assert_eq!(old.error, None, "static members need no second join");
    let mut again = request("", &["range"]);
    again.instance_id = Some("host-1".into());
    let new = answered(group.join(again, &limits(), now)).unwrap();
    assert_ne!(new.member_id, old.member_id);
    assert_eq!(new.leader, new.member_id);
    assert_eq!(group.member_ids(), vec![new.member_id.clone()]);
    let fenced = MemberClaim { member_id: &old.member_id, instance_id: Some("host-1"), generation: new.generation };
    assert_eq!(group.heartbeat(&fenced, now), Err(ResponseError::FencedInstanceId));
    assert_eq!(group.leave(&[(String::new(), Some("host-1".into()))], now), vec![Ok(())]);
    assert!(group.has_no_members());
}

#[test]
fn the_member_count_is_bounded() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), now);
    for _ in 0..limits().max_members_per_group {
        let _ = group.join(request("", &["range"]), &limits(), now);
    }
    let refused = answered(group.join(request("", &["range"]), &limits(), now)).unwrap();
    assert_eq!(refused.error, Some(ResponseError::GroupMaxSizeReached));
}
