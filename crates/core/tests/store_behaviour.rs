//! The Store's behaviour, driven with explicit timestamps so that time-based
//! rules (uptime rewards, leases, expiry, purge) are checked exactly. Written
//! against the trait, so every implementation can run the same suite.

use potluck_core::kudos::Kudos;
use potluck_core::matching::Capabilities;
use potluck_core::store::{
    Completion, CompletionOutcome, NewRequest, PopQuery, PurgeCutoffs, RequestRow, Store,
    UserChange, WorkerCheckIn,
};
use potluck_core::SqliteStore;
use protocol::SubmitState;

const MINUTE: i64 = 60_000;

async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    (dir, store)
}

fn check_in(owner: i64, now: i64) -> WorkerCheckIn {
    WorkerCheckIn {
        new_id: "worker-1".into(),
        name: "Worker One".into(),
        owner_id: owner,
        kind: "text".into(),
        models: vec!["m".into()],
        max_length: 512,
        max_context_length: 2048,
        max_pixels: 0,
        nsfw: false,
        allow_img2img: false,
        allow_painting: false,
        allow_post_processing: false,
        allow_lora: false,
        allow_controlnet: false,
        threads: 1,
        bridge_agent: "test:1:none".into(),
        now,
        stale_ms: 5 * MINUTE,
        uptime_reward: Kudos(5_000),
    }
}

fn request(id: &str, user_id: i64, n: i64, now: i64) -> NewRequest {
    NewRequest {
        id: id.into(),
        kind: "text".into(),
        user_id,
        client_hash: None,
        prompt: format!("prompt of {id}"),
        params: serde_json::json!({"max_length": 80}),
        models: vec![],
        workers: vec![],
        worker_blacklist: false,
        trusted_workers: false,
        nsfw: false,
        r2: true,
        shared: false,
        max_length: 80,
        max_context_length: 1024,
        width: 0,
        height: 0,
        steps: 0,
        img2img: false,
        post_processors: 0,
        loras: 0,
        n,
        priority: 0,
        kudos_estimate: Kudos(100),
        now,
    }
}

async fn pop(
    store: &SqliteStore,
    caps: &Capabilities,
    now: i64,
) -> Option<potluck_core::store::Claimed> {
    let ttl = |_: &RequestRow| MINUTE;
    let query = PopQuery {
        kind: "text",
        worker: caps,
        amount: 1,
        now,
        ttl_ms: &ttl,
        with_upload_token: false,
        scan_limit: 100,
    };
    store.pop(&query).await.unwrap().claimed
}

fn completion(job_id: &str, worker_id: &str, reward: i64, cost: i64, now: i64) -> Completion {
    Completion {
        job_id: job_id.into(),
        worker_id: worker_id.into(),
        state: SubmitState::Ok,
        generation: Some("text".into()),
        image: None,
        seed: "1".into(),
        gen_metadata: vec![],
        reward: Kudos(reward),
        cost: Kudos(cost),
        things: 20.0,
        max_restarts: 2,
        now,
    }
}

#[tokio::test]
async fn uptime_earns_a_reward_every_ten_minutes_online() {
    let (_dir, store) = sqlite().await;
    let owner = store
        .create_user("owner", "hash-owner", 30, 0)
        .await
        .unwrap();
    let t0 = 1_000 * MINUTE;
    store
        .check_in_worker(&check_in(owner.id, t0))
        .await
        .unwrap();
    // Popping every four minutes: 12 minutes online earn one reward.
    for step in 1..=3 {
        store
            .check_in_worker(&check_in(owner.id, t0 + step * 4 * MINUTE))
            .await
            .unwrap();
    }
    assert_eq!(store.user(owner.id).await.unwrap().unwrap().kudos, 5_000);
    // Offline for an hour: coming back restarts the clock, nothing is paid for the gap.
    let back = t0 + 72 * MINUTE;
    let worker = store
        .check_in_worker(&check_in(owner.id, back))
        .await
        .unwrap();
    assert_eq!(worker.uptime_ms, 12 * MINUTE);
    store
        .check_in_worker(&check_in(owner.id, back + 4 * MINUTE))
        .await
        .unwrap();
    assert_eq!(store.user(owner.id).await.unwrap().unwrap().kudos, 5_000);
    store
        .check_in_worker(&check_in(owner.id, back + 8 * MINUTE))
        .await
        .unwrap();
    store
        .check_in_worker(&check_in(owner.id, back + 11 * MINUTE))
        .await
        .unwrap();
    assert_eq!(store.user(owner.id).await.unwrap().unwrap().kudos, 10_000);
    assert!(store.kudos_mismatches().await.unwrap().is_empty());
}

#[tokio::test]
async fn leases_requeue_a_bounded_number_of_times() {
    let (_dir, store) = sqlite().await;
    let owner = store
        .create_user("owner", "hash-owner", 30, 0)
        .await
        .unwrap();
    let worker = store.check_in_worker(&check_in(owner.id, 0)).await.unwrap();
    let caps = Capabilities::of(&worker);
    store
        .insert_request(&request("r1", 0, 1, 0), 10)
        .await
        .unwrap();
    for attempt in 0..3 {
        let now = attempt * 2 * MINUTE;
        let claimed = pop(&store, &caps, now).await.expect("a job");
        assert_eq!(claimed.request.id, "r1");
        assert!(
            pop(&store, &caps, now).await.is_none(),
            "the only generation is taken"
        );
        assert_eq!(
            store
                .requeue_expired_leases(now + MINUTE + 1, 2)
                .await
                .unwrap(),
            1
        );
    }
    let faulted = store.request("r1").await.unwrap().unwrap();
    assert_eq!(faulted.state, "faulted");
    assert_eq!(faulted.restarts, 3);
    assert_eq!(faulted.n_waiting, 0);
    assert!(pop(&store, &caps, 10 * MINUTE).await.is_none());
}

#[tokio::test]
async fn completion_moves_kudos_once_and_in_the_ledger() {
    let (_dir, store) = sqlite().await;
    let owner = store
        .create_user("owner", "hash-owner", 30, 0)
        .await
        .unwrap();
    let requester = store
        .create_user("requester", "hash-requester", 30, 0)
        .await
        .unwrap();
    let worker = store.check_in_worker(&check_in(owner.id, 0)).await.unwrap();
    let caps = Capabilities::of(&worker);
    store
        .insert_request(&request("r1", requester.id, 2, 0), 10)
        .await
        .unwrap();
    let first = pop(&store, &caps, 1).await.unwrap().jobs.remove(0);
    let second = pop(&store, &caps, 2).await.unwrap().jobs.remove(0);
    let outcome = store
        .complete_job(&completion(&first.id, &worker.id, 250, 350, 3))
        .await
        .unwrap();
    assert_eq!(outcome, CompletionOutcome::Rewarded(Kudos(250)));
    let again = store
        .complete_job(&completion(&first.id, &worker.id, 250, 350, 4))
        .await
        .unwrap();
    assert_eq!(again, CompletionOutcome::AlreadySubmitted);
    let stranger = store
        .complete_job(&completion(&second.id, "someone-else", 250, 350, 4))
        .await
        .unwrap();
    assert_eq!(stranger, CompletionOutcome::NotFound);
    assert_eq!(store.request("r1").await.unwrap().unwrap().state, "active");
    store
        .complete_job(&completion(&second.id, &worker.id, 250, 350, 5))
        .await
        .unwrap();
    assert_eq!(store.request("r1").await.unwrap().unwrap().state, "done");
    assert_eq!(store.user(owner.id).await.unwrap().unwrap().kudos, 500);
    assert_eq!(store.user(requester.id).await.unwrap().unwrap().kudos, -700);
    assert!(store.kudos_mismatches().await.unwrap().is_empty());
    let reasons = store.kudos_by_reason(requester.id).await.unwrap();
    assert_eq!(reasons, vec![("spent".to_string(), -700)]);
}

#[tokio::test]
async fn transfers_and_admin_changes_balance_the_ledger() {
    let (_dir, store) = sqlite().await;
    let giver = store
        .create_user("giver", "hash-giver", 30, 0)
        .await
        .unwrap();
    let taker = store
        .create_user("taker", "hash-taker", 30, 0)
        .await
        .unwrap();
    let grant = UserChange {
        kudos_delta: Some(Kudos(1_000)),
        ..UserChange::default()
    };
    store.update_user(giver.id, &grant, 1).await.unwrap();
    store
        .transfer_kudos(giver.id, taker.id, Kudos(400), 2)
        .await
        .unwrap();
    let too_much = store
        .transfer_kudos(giver.id, taker.id, Kudos(601), 3)
        .await;
    assert_eq!(
        too_much.unwrap_err().rejection().unwrap().rc,
        "KudosTransferNotEnough"
    );
    assert_eq!(store.user(giver.id).await.unwrap().unwrap().kudos, 600);
    assert_eq!(store.user(taker.id).await.unwrap().unwrap().kudos, 400);
    assert!(store.kudos_mismatches().await.unwrap().is_empty());
}

#[tokio::test]
async fn idle_requests_expire_and_finished_ones_are_purged_then_deleted() {
    let (_dir, store) = sqlite().await;
    store
        .insert_request(&request("idle", 0, 1, 0), 10)
        .await
        .unwrap();
    store
        .insert_request(&request("watched", 0, 1, 0), 10)
        .await
        .unwrap();
    store
        .touch_request("watched", 15 * MINUTE, false)
        .await
        .unwrap();
    assert_eq!(
        store
            .expire_idle_requests(10 * MINUTE, 20 * MINUTE)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.request("idle").await.unwrap().unwrap().state,
        "expired"
    );
    assert_eq!(
        store.request("watched").await.unwrap().unwrap().state,
        "active"
    );

    let cutoffs = PurgeCutoffs {
        delivered_before: 0,
        finished_before: 30 * MINUTE,
        history_before: 0,
    };
    assert_eq!(store.purge(&cutoffs).await.unwrap(), 1);
    let purged = store.request("idle").await.unwrap().unwrap();
    assert!(purged.purged && purged.prompt.is_none() && purged.params.is_none());
    let later = PurgeCutoffs {
        history_before: 60 * MINUTE,
        ..cutoffs
    };
    store.purge(&later).await.unwrap();
    assert!(store.request("idle").await.unwrap().is_none());
    assert!(store.request("watched").await.unwrap().is_some());
}

#[tokio::test]
async fn concurrency_limits_count_active_requests() {
    let (_dir, store) = sqlite().await;
    let user = store.create_user("busy", "hash-busy", 2, 0).await.unwrap();
    store
        .insert_request(&request("a", user.id, 1, 0), 2)
        .await
        .unwrap();
    store
        .insert_request(&request("b", user.id, 1, 0), 2)
        .await
        .unwrap();
    let third = store.insert_request(&request("c", user.id, 1, 0), 2).await;
    assert_eq!(third.unwrap_err().rejection().unwrap().rc, "TooManyPrompts");
    store.cancel_request("a", 1).await.unwrap();
    store
        .insert_request(&request("c", user.id, 1, 0), 2)
        .await
        .unwrap();
}
