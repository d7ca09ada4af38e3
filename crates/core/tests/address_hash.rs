//! Client-address hashes: every instance on a database hashes an address alike, the secret
//! changes every period, and a past period's secret is deleted, so an old hash cannot be tied
//! to its address any more.

use potluck_core::relay::Relay;
use potluck_core::{Horde, Policy, SqliteStore, Store};
use std::sync::Arc;
use std::time::Duration;

const PERIOD: Duration = Duration::from_secs(2);

fn horde(store: Arc<dyn Store>) -> Horde {
    let policy = Policy {
        address_hash_lifetime: PERIOD,
        ..Policy::default()
    };
    Horde::new(store, policy, Relay::in_memory())
}

/// The settings that hold the secrets.
async fn secrets(store: &dyn Store) -> usize {
    let mut found = 0;
    let now = potluck_core::now_ms() as u64 / PERIOD.as_millis() as u64;
    for period in now.saturating_sub(3)..now + 3 {
        let key = format!("secret:client_hash:{period:020}");
        found += usize::from(store.setting(&key).await.unwrap().is_some());
    }
    found
}

#[tokio::test]
async fn the_secret_changes_every_period_and_the_past_ones_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url).await.unwrap());
    let one = horde(store.clone());
    let two = horde(store.clone());
    assert_eq!(
        one.hash_address("203.0.113.9"),
        None,
        "no secret loaded yet"
    );

    // Early in a period, so that both hashes fall in it.
    let into_period = potluck_core::now_ms() as u64 % PERIOD.as_millis() as u64;
    tokio::time::sleep(Duration::from_millis(
        (PERIOD.as_millis() as u64 - into_period) % PERIOD.as_millis() as u64 + 50,
    ))
    .await;
    one.refresh_address_secrets().await.unwrap();
    two.refresh_address_secrets().await.unwrap();
    let before = one.hash_address("203.0.113.9").unwrap();
    assert_eq!(before.len(), 32);
    assert!(!before.contains("203.0.113.9"));
    assert_eq!(
        two.hash_address("203.0.113.9").unwrap(),
        before,
        "instances agree"
    );
    assert_ne!(one.hash_address("203.0.113.10").unwrap(), before);
    assert_eq!(secrets(&*store).await, 2, "this period's and the next");

    // The next period: a new hash, at once (its secret was fetched ahead), and the past
    // period's secret gone after the next refresh.
    tokio::time::sleep(PERIOD).await;
    let after = one.hash_address("203.0.113.9").unwrap();
    assert_ne!(after, before);
    one.refresh_address_secrets().await.unwrap();
    assert_eq!(one.hash_address("203.0.113.9").unwrap(), after);
    assert_eq!(
        secrets(&*store).await,
        2,
        "the past period's secret is deleted"
    );
}
