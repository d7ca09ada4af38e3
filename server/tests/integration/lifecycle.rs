//! Time-driven behaviour: lease expiry and re-queue, request expiry, purge
//! after delivery, and durability across a killed server.

use crate::common::{assert_error, Server, ANON};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

const MODEL: &str = "test/Tiny-1B";

#[tokio::test]
async fn a_lost_job_is_requeued_after_its_lease_then_faults_the_request() {
    let server = Server::start(&[
        "--job-ttl-override-secs",
        "1",
        "--sweep-interval-ms",
        "100",
        "--max-restarts",
        "1",
    ]);
    let (_, key) = server.register("owner").await;
    server.pop_text(&key, "vanishing", MODEL).await;
    let id = server
        .submit_text_request(ANON, json!({"prompt": "hello"}))
        .await;
    let (_, first) = server.pop_text(&key, "vanishing", MODEL).await;
    assert_eq!(first["ttl"], 1);
    let path = format!("/generate/text/status/{id}");
    // The worker never submits: after its lease the generation waits again.
    let requeued = server
        .wait_for(&path, Duration::from_secs(10), |_, s| s["restarted"] == 1)
        .await;
    assert_eq!(requeued["waiting"], 1);
    assert_eq!(requeued["processing"], 0);
    assert_eq!(requeued["done"], false);
    // A late submit for the abandoned job is refused.
    let late = server
        .post(
            "/generate/text/submit",
            Some(&key),
            json!({"id": first["id"], "generation": "late"}),
        )
        .await;
    assert_error(&late, StatusCode::BAD_REQUEST, "AbortedGen");

    // Another worker takes it and also vanishes: past max restarts the request faults.
    let (_, second) = server.pop_text(&key, "also-vanishing", MODEL).await;
    assert_eq!(second["payload"]["prompt"], "hello");
    let faulted = server
        .wait_for(&path, Duration::from_secs(10), |_, s| s["faulted"] == true)
        .await;
    assert_eq!(faulted["done"], true);
    assert_eq!(faulted["waiting"], 0);
    let (_, worker) = server.get(&format!("/workers/{}", "x"), None).await;
    assert_eq!(worker["rc"], "WorkerNotFound");
    assert_eq!(server.kudos(&key).await, 0.0);
}

#[tokio::test]
async fn a_requeued_job_completes_with_another_worker() {
    let server = Server::start(&["--job-ttl-override-secs", "1", "--sweep-interval-ms", "100"]);
    let (_, key) = server.register("owner").await;
    server.pop_text(&key, "vanishing", MODEL).await;
    let id = server
        .submit_text_request(ANON, json!({"prompt": "hello"}))
        .await;
    server.pop_text(&key, "vanishing", MODEL).await;
    let path = format!("/generate/text/status/{id}");
    server
        .wait_for(&path, Duration::from_secs(10), |_, s| s["restarted"] == 1)
        .await;
    let (_, job) = server.pop_text(&key, "reliable", MODEL).await;
    let (status, _) = server
        .post(
            "/generate/text/submit",
            Some(&key),
            json!({"id": job["id"], "generation": "made it"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, done) = server.get(&path, None).await;
    assert_eq!(done["done"], true);
    assert_eq!(done["generations"][0]["worker_name"], "reliable");
    let (_, workers) = server.get("/workers?type=text", None).await;
    let vanishing = workers
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "vanishing")
        .unwrap();
    assert_eq!(vanishing["uncompleted_jobs"], 1);
}

#[tokio::test]
async fn idle_requests_expire() {
    let server = Server::start(&["--request-expiry-secs", "1", "--sweep-interval-ms", "100"]);
    let id = server
        .submit_text_request(ANON, json!({"prompt": "nobody serves me"}))
        .await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let expired = server
        .get(&format!("/generate/text/status/{id}"), None)
        .await;
    assert_error(&expired, StatusCode::GONE, "RequestExpired");
}

#[tokio::test]
async fn results_are_purged_after_delivery_and_retention() {
    let server = Server::start(&["--result-retention-secs", "1", "--sweep-interval-ms", "100"]);
    // Trusted, so no check copies the prompt (log_privacy.rs covers checks).
    let (_, key) = server.admin_user("owner", &["--trusted"]);
    server.pop_text(&key, "worker", MODEL).await;
    let id = server
        .submit_text_request(ANON, json!({"prompt": "secret prompt"}))
        .await;
    let (_, job) = server.pop_text(&key, "worker", MODEL).await;
    server
        .post(
            "/generate/text/submit",
            Some(&key),
            json!({"id": job["id"], "generation": "secret answer"}),
        )
        .await;
    // Kept until delivered: the search below finds what is there.
    let secrets = ["secret prompt", "secret answer"];
    assert_eq!(server.stored(&secrets).await, secrets);
    let path = format!("/generate/text/status/{id}");
    let (_, delivered) = server.get(&path, None).await;
    assert_eq!(delivered["generations"][0]["text"], "secret answer");
    let purged = server
        .wait_for(&path, Duration::from_secs(10), |status, _| {
            status == StatusCode::GONE
        })
        .await;
    assert_eq!(purged["rc"], "RequestExpired");
    // Neither the prompt nor the answer is left anywhere in the database.
    server
        .wait_until_unstored(&secrets, Duration::from_secs(10))
        .await;
}

#[tokio::test]
async fn nothing_is_lost_when_the_server_is_killed() {
    let mut server = Server::start(&[]);
    let (_, key) = server.register("owner").await;
    server.pop_text(&key, "worker", MODEL).await;
    let waiting = server
        .submit_text_request(ANON, json!({"prompt": "still here"}))
        .await;
    let in_flight = server
        .submit_text_request(ANON, json!({"prompt": "in flight"}))
        .await;
    let (_, job) = server.pop_text(&key, "worker", MODEL).await;
    assert_eq!(job["payload"]["prompt"], "still here");
    server.kill_and_restart();
    let (_, job_after) = server.pop_text(&key, "worker", MODEL).await;
    assert_eq!(job_after["payload"]["prompt"], "in flight");
    for j in [&job, &job_after] {
        let (status, _) = server
            .post(
                "/generate/text/submit",
                Some(&key),
                json!({"id": j["id"], "generation": "ok"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    for id in [&waiting, &in_flight] {
        let (_, done) = server
            .get(&format!("/generate/text/status/{id}"), None)
            .await;
        assert_eq!(done["done"], true, "{done}");
    }
    let (ok, audit) = server.admin(&["audit-kudos"]);
    assert!(ok, "{audit}");
}

#[tokio::test]
async fn concurrent_workers_never_share_a_job() {
    let server = Server::start(&["--default-concurrency", "100"]);
    let (_, key) = server.register("owner").await;
    server.pop_text(&key, "w0", MODEL).await;
    for i in 0..40 {
        server
            .submit_text_request(ANON, json!({"prompt": format!("job {i}")}))
            .await;
        if i == 9 {
            // Anonymous clients are limited to 10 active requests by default.
            let over = server
                .post(
                    "/generate/text/async",
                    Some(ANON),
                    json!({"prompt": "one too many"}),
                )
                .await;
            assert_error(&over, StatusCode::TOO_MANY_REQUESTS, "TooManyPrompts");
            break;
        }
    }
    let pops = (0..10).map(|i| {
        let (server, key) = (&server, &key);
        async move {
            let mut got = Vec::new();
            loop {
                let (_, job) = server.pop_text(key, &format!("w{i}"), MODEL).await;
                match job["id"].as_str() {
                    Some(id) => got.push(id.to_string()),
                    None => return got,
                }
            }
        }
    });
    let all: Vec<String> = futures::future::join_all(pops)
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(all.len(), 10);
    assert_eq!(unique.len(), 10);
}

#[tokio::test]
async fn a_stopping_server_lets_requests_finish_within_its_grace_period() {
    // Nothing in flight: it exits at once.
    let mut idle = Server::start(&["--shutdown-grace-secs", "3"]);
    idle.register("someone").await;
    let took = idle.terminate(Duration::from_secs(10)).expect("it exits");
    assert!(took < Duration::from_millis(1500), "{took:?}");

    // A /v1 stream waiting for a worker that never takes its job would go on for minutes; the
    // server waits for it for its grace period, then exits anyway.
    let mut server = Server::start(&["--shutdown-grace-secs", "3"]);
    let (_, owner) = server.register("owner").await;
    server.pop_text(&owner, "idle", MODEL).await;
    let body = json!({"model": MODEL, "stream": true,
                      "messages": [{"role": "user", "content": "Hi"}]});
    let stream = server
        .http()
        .post(format!("{}/v1/chat/completions", server.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let took = server
        .terminate(Duration::from_secs(15))
        .expect("it exits within its grace period");
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_secs(8),
        "{took:?}"
    );
    drop(stream);
}
