//! The state below the API, on SQLite and on PostgreSQL: migrations are applied once, also
//! when several control planes open a new state at the same moment.

mod common;

use common::TestDb;
use control_plane::Store;

on_both_backends!(run_on_db: control_planes_starting_together_migrate_once);

fn control_planes_starting_together_migrate_once(db: &TestDb) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // Interleaved on one thread: both find the migrations pending, one applies each of
        // them while the other waits on its row and then skips it.
        let (a, b, c) = tokio::join!(Store::open(&db.url), Store::open(&db.url), Store::open(&db.url));
        let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
        let regions = a.regions(15).await.unwrap();
        assert!(!regions.is_empty());
        assert_eq!(b.regions(15).await.unwrap().len(), regions.len(), "the seed rows were inserted twice");
        let created = b.create_org("shared").await.unwrap().unwrap();
        assert_eq!(c.org_for_token(&created.token).await.unwrap().unwrap().id, created.org.id);
        // Opening again later applies nothing and keeps the data.
        let d = Store::open(&db.url).await.unwrap();
        assert_eq!(d.org_by_name("shared").await.unwrap().unwrap().id, created.org.id);
        assert!(d.create_org("shared").await.unwrap().is_none());
        // One identity for the state, whoever created it, kept across restarts.
        let id = a.deployment_id().clone();
        assert!(id.0.starts_with("dep_") && id.0.len() > 20, "{id}");
        for other in [&b, &c, &d] {
            assert_eq!(other.deployment_id(), &id);
        }
    });
}

on_both_backends!(run_on_db: another_state_has_another_deployment_id);

fn another_state_has_another_deployment_id(db: &TestDb) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let other = TestDb::create(common::Backend::Sqlite).unwrap();
        let a = Store::open(&db.url).await.unwrap();
        let b = Store::open(&other.url).await.unwrap();
        assert_ne!(a.deployment_id(), b.deployment_id());
    });
}

on_both_backends!(run_on_db: an_upgrade_refuses_two_free_databases_of_one_org_with_a_clear_error);

fn an_upgrade_refuses_two_free_databases_of_one_org_with_a_clear_error(db: &TestDb) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // A state from before 0004 (one free database per org, enforced by an index), where
        // two creates raced past the API's check.
        let old = Store::open_migrated(&db.url, 3).await.unwrap();
        let org = old.create_org("racer").await.unwrap().unwrap().org;
        let first = old.insert_database(&org.id, "first-free", "free", "ams", &[], false, "pw1", 15).await.unwrap();
        old.insert_database(&org.id, "second-free", "free", "ams", &[], false, "pw2", 15).await.unwrap();
        let other = old.create_org("calm").await.unwrap().unwrap().org;
        old.insert_database(&other.id, "only-free", "free", "ams", &[], false, "pw3", 15).await.unwrap();

        let err = Store::open(&db.url).await.err().expect("the upgrade must refuse");
        let text = err.to_string();
        assert!(text.contains("0004_deployment"), "{text}");
        assert!(text.contains("org racer has free databases first-free, second-free"), "{text}");
        assert!(!text.contains("only-free"), "{text}");
        assert!(text.contains("--plan payg"), "{text}");

        // Nothing was changed: after moving one to another plan, the upgrade goes through.
        old.set_plan(&first, "payg").await.unwrap();
        let upgraded = Store::open(&db.url).await.unwrap();
        assert!(upgraded.deployment_id().0.starts_with("dep_"));
        assert_eq!(upgraded.databases(&org.id).await.unwrap().len(), 2);
    });
}
