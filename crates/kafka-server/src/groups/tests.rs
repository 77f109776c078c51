use super::group::{JoinRequest, MemberIdPolicy};
use super::*;
use bytes::Bytes;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tern-groups-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn tool() -> MemberClaim<'static> {
    MemberClaim { member_id: "", instance_id: None, generation: -1 }
}

fn offset(offset: i64, metadata: &str) -> CommittedOffset {
    CommittedOffset { offset, leader_epoch: -1, metadata: Some(metadata.to_string()), commit_timestamp_ms: 1 }
}

/// Commits one partition as an admin tool would, and waits until it is durable.
fn commit(groups: &Groups, group: &str, topic: &str, partition: i32, committed: CommittedOffset) {
    let seq = groups.commit(group, &tool(), vec![(topic.to_string(), partition, committed)], Instant::now()).unwrap();
    if let Some(seq) = seq {
        groups.make_durable(seq).unwrap();
    }
}

fn fetch_one(groups: &Groups, group: &str, topic: &str, partition: i32) -> Option<CommittedOffset> {
    groups.fetch(group, &[(topic.to_string(), vec![partition])])[0][0].1.clone()
}

fn join(groups: &Groups, group: &str) -> JoinOutcome {
    let request = JoinRequest {
        member_id: String::new(),
        instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: Duration::from_secs(10),
        rebalance_timeout: Duration::from_secs(10),
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::new())],
        id_policy: MemberIdPolicy::AssignAndAdmit,
    };
    match groups.join(group, request, Instant::now()) {
        Reply::Now(outcome) => outcome,
        Reply::Later(mut receiver) => receiver.try_recv().unwrap(),
    }
}

#[test]
fn offsets_round_trip_with_their_metadata() {
    let groups = Groups::default();
    commit(&groups, "g", "t", 3, offset(42, "m"));
    commit(&groups, "g", "t", 1, offset(7, ""));
    commit(&groups, "g", "u", 0, offset(9, "x"));
    assert_eq!(fetch_one(&groups, "g", "t", 3), Some(offset(42, "m")));
    assert_eq!(fetch_one(&groups, "g", "t", 2), None);
    assert_eq!(fetch_one(&groups, "other", "t", 3), None);
    let all = groups.fetch_all("g");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].0, "t");
    assert_eq!(all[0].1, vec![(1, Some(offset(7, ""))), (3, Some(offset(42, "m")))]);
    let listed = groups.list(Instant::now());
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].group_id.as_str(), listed[0].state), ("g", GroupState::Empty));
}

#[test]
fn members_commit_within_their_generation_and_tools_only_on_empty_groups() {
    let groups = Groups::default();
    let joined = join(&groups, "g");
    let now = Instant::now();
    let member = MemberClaim { member_id: &joined.member_id, instance_id: None, generation: joined.generation };
    let offsets = vec![("t".to_string(), 0, offset(5, "a"))];
    // Between JoinGroup and the leader's SyncGroup offsets cannot be committed.
    assert_eq!(groups.commit("g", &member, offsets.clone(), now), Err(ResponseError::RebalanceInProgress));
    let sync = SyncRequest {
        member_id: joined.member_id.clone(),
        instance_id: None,
        generation: joined.generation,
        protocol_type: None,
        protocol_name: None,
        assignments: Vec::new(),
    };
    assert!(matches!(groups.sync("g", sync, now), Reply::Now(SyncOutcome { error: None, .. })));
    assert_eq!(groups.commit("g", &tool(), offsets.clone(), now), Err(ResponseError::UnknownMemberId));
    assert_eq!(groups.commit("g", &member, offsets.clone(), now), Ok(None));
    assert_eq!(fetch_one(&groups, "g", "t", 0), Some(offset(5, "a")));
    let stale = MemberClaim { generation: joined.generation - 1, ..member };
    assert_eq!(groups.heartbeat("g", &stale, now), Err(ResponseError::IllegalGeneration));
    assert_eq!(groups.heartbeat("nope", &stale, now), Err(ResponseError::UnknownMemberId));
    assert_eq!(groups.delete("g", now), Err(ResponseError::NonEmptyGroup));
    assert_eq!(groups.leave("g", &[(joined.member_id.clone(), None)], now), vec![Ok(())]);
    assert_eq!(groups.commit("g", &tool(), offsets, now), Ok(None));
    assert_eq!(groups.delete("g", now), Ok(None));
    assert_eq!(groups.delete("g", now), Err(ResponseError::GroupIdNotFound));
    assert_eq!(fetch_one(&groups, "g", "t", 0), None);
}

#[test]
fn offsets_survive_a_reopen_and_deletions_too() {
    let dir = temp_dir("reopen");
    {
        let groups = Groups::open(Some(&dir), GroupLimits::default()).unwrap();
        commit(&groups, "g", "t", 0, offset(42, "m"));
        commit(&groups, "g", "t", 0, offset(43, "n"));
        commit(&groups, "h", "t", 1, offset(1, "h"));
        commit(&groups, "gone", "t", 1, offset(1, "x"));
        let seq = groups.delete("gone", Instant::now()).unwrap().unwrap();
        groups.make_durable(seq).unwrap();
    }
    let groups = Groups::open(Some(&dir), GroupLimits::default()).unwrap();
    assert_eq!(fetch_one(&groups, "g", "t", 0), Some(offset(43, "n")));
    assert_eq!(fetch_one(&groups, "h", "t", 1), Some(offset(1, "h")));
    let names: Vec<String> = groups.list(Instant::now()).into_iter().map(|g| g.group_id).collect();
    assert_eq!(names, vec!["g".to_string(), "h".to_string()]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_torn_tail_is_cut_and_corruption_is_refused() {
    let dir = temp_dir("torn");
    let path = dir.join("group-offsets.log");
    {
        let groups = Groups::open(Some(&dir), GroupLimits::default()).unwrap();
        commit(&groups, "g", "t", 0, offset(1, "one"));
        commit(&groups, "g", "t", 1, offset(2, "two"));
    }
    let full = std::fs::read(&path).unwrap();
    // A crash in the middle of the second record's append.
    std::fs::write(&path, &full[..full.len() - 5]).unwrap();
    {
        let groups = Groups::open(Some(&dir), GroupLimits::default()).unwrap();
        assert_eq!(fetch_one(&groups, "g", "t", 0), Some(offset(1, "one")));
        assert_eq!(fetch_one(&groups, "g", "t", 1), None);
        commit(&groups, "g", "t", 1, offset(3, "three"));
    }
    let groups = Groups::open(Some(&dir), GroupLimits::default()).unwrap();
    assert_eq!(fetch_one(&groups, "g", "t", 1), Some(offset(3, "three")));
    drop(groups);
    let mut bad = std::fs::read(&path).unwrap();
    bad[20] ^= 0x40; // inside the first record, with more records after it
    std::fs::write(&path, &bad).unwrap();
    assert!(Groups::open(Some(&dir), GroupLimits::default()).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_log_is_compacted_and_stays_bounded() {
    let dir = temp_dir("compact");
    let limits = GroupLimits { compaction_min_bytes: 4096, ..GroupLimits::default() };
    let groups = Groups::open(Some(&dir), limits.clone()).unwrap();
    let mut largest = 0;
    for i in 0..2000 {
        commit(&groups, "g", "t", i % 4, offset(i64::from(i), "meta"));
        largest = largest.max(groups.log_bytes());
    }
    assert!(largest < 3 * 4096, "log grew to {largest} bytes");
    drop(groups);
    let groups = Groups::open(Some(&dir), limits).unwrap();
    for partition in 0..4 {
        assert_eq!(fetch_one(&groups, "g", "t", partition), Some(offset(1996 + i64::from(partition), "meta")));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_failed_fsync_is_reported_and_retried() {
    use std::sync::atomic::Ordering;
    let dir = temp_dir("fsync");
    let faults = Arc::new(durability::Faults::default());
    let disk = Arc::new(durability::FaultyDisk { faults: faults.clone() });
    let groups = Groups::open_on(Some(&dir), GroupLimits::default(), disk).unwrap();
    faults.fail_sync.store(true, Ordering::SeqCst);
    let offsets = vec![("t".to_string(), 0, offset(5, "five"))];
    let seq = groups.commit("g", &tool(), offsets, Instant::now()).unwrap().unwrap();
    assert!(groups.make_durable(seq).is_err());
    faults.fail_sync.store(false, Ordering::SeqCst);
    groups.make_durable(seq).unwrap();
    drop(groups);
    let groups = Groups::open(Some(&dir), GroupLimits::default()).unwrap();
    assert_eq!(fetch_one(&groups, "g", "t", 0), Some(offset(5, "five")));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_group_count_is_bounded() {
    let groups = Groups::in_memory(GroupLimits { max_groups: 2, ..GroupLimits::default() });
    commit(&groups, "a", "t", 0, offset(1, ""));
    commit(&groups, "b", "t", 0, offset(1, ""));
    let refused = groups.commit("c", &tool(), vec![("t".into(), 0, offset(1, ""))], Instant::now());
    assert_eq!(refused, Err(ResponseError::PolicyViolation));
    assert_eq!(join(&groups, "c").error, Some(ResponseError::PolicyViolation));
    assert_eq!(join(&groups, "").error, Some(ResponseError::InvalidGroupId));
}
