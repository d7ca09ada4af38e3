//! The text job cycle end to end, with kudos.

use crate::common::{assert_error, close, Server, ANON};
use reqwest::StatusCode;
use serde_json::json;

const MODEL: &str = "test/Tiny-1B";

#[tokio::test]
async fn text_job_cycle_moves_kudos_exactly() {
    let server = Server::start(&[]);
    // Trusted: its reward is paid at once (an untrusted one's is held; see trust.rs).
    let (worker_id, worker_key) = server.admin_user("owner", &["--trusted"]);
    let (requester_id, requester_key) = server.register("requester").await;
    // Both above their floors, so that every movement shows.
    server.grant(worker_id, 100.0).await;
    server.grant(requester_id, 100.0).await;
    server.admin(&["audit-kudos"]);
    // A validated back end (its rewards are not cut to 30 %).
    let pop = json!({"name": "worker-one", "models": [MODEL], "max_length": 512,
                     "max_context_length": 4096, "bridge_agent": "potluck-worker:1.0:engine"});
    let (status, empty) = server
        .post("/generate/text/pop", Some(&worker_key), pop.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(empty["id"].is_null(), "{empty}");

    let body = json!({"prompt": "Once upon a time", "params": {"max_length": 64, "max_context_length": 1024, "temperature": 0.5}, "models": [MODEL]});
    let (status, dry) = server
        .post(
            "/generate/text/async",
            Some(&requester_key),
            json!({"prompt": "x", "dry_run": true, "models": [MODEL]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // 80 tokens (the default max_length) of a 1B model with a 20-token prompt, plus 1 per
    // generation and 1 for the request: 80 / 125 × 1.2114 = 0.78.
    assert!(dry["id"].is_null(), "{dry}");
    assert!(
        close(dry["kudos"].as_f64().unwrap(), 0.78 + 1.0 + 1.0),
        "{dry}"
    );
    let id = server.submit_text_request(&requester_key, body).await;

    let (status, waiting) = server
        .get(&format!("/generate/text/status/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(waiting["waiting"], 1);
    assert_eq!(waiting["done"], false);
    assert_eq!(waiting["queue_position"], 0);
    assert_eq!(waiting["is_possible"], true);

    let (status, job) = server
        .post("/generate/text/pop", Some(&worker_key), pop)
        .await;
    assert_eq!(status, StatusCode::OK);
    let job_id = job["id"].as_str().expect("a job").to_string();
    assert_eq!(job["ids"], json!([job_id]));
    assert_eq!(job["model"], MODEL);
    assert_eq!(job["payload"]["prompt"], "Once upon a time");
    assert_eq!(job["payload"]["max_length"], 64);
    assert_eq!(job["payload"]["temperature"], 0.5);
    assert_eq!(job["ttl"], 150);

    let (_, processing) = server
        .get(&format!("/generate/text/status/{id}"), None)
        .await;
    assert_eq!(processing["processing"], 1);
    assert_eq!(processing["waiting"], 0);

    let text = "there was a worker who generated exactly this text for a test.";
    let (status, submitted) = server
        .post(
            "/generate/text/submit",
            Some(&worker_key),
            json!({"id": job_id, "generation": text, "seed": 42}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    let reward = submitted["reward"].as_f64().unwrap();
    // 63 characters → 20 tokens (the least counted); 1B model; a prompt of 16 characters
    // counts as 20 tokens of context: × 1.2114.
    let context = 1.2 + 2.2_f64.powf((20.0_f64 / 1024.0).log2());
    assert!(
        close(reward, 20.0 * 1.0 / 125.0 * context),
        "reward {reward}"
    );

    let duplicate = server
        .post(
            "/generate/text/submit",
            Some(&worker_key),
            json!({"id": job_id, "generation": "again"}),
        )
        .await;
    assert_error(&duplicate, StatusCode::BAD_REQUEST, "DuplicateGen");

    let (_, done) = server
        .get(&format!("/generate/text/status/{id}"), None)
        .await;
    assert_eq!(done["done"], true);
    assert_eq!(done["finished"], 1);
    let generation = &done["generations"][0];
    assert_eq!(generation["text"], text);
    assert_eq!(generation["seed"], 42);
    assert_eq!(generation["worker_name"], "worker-one");
    assert_eq!(generation["model"], MODEL);
    assert_eq!(generation["state"], "ok");

    assert!(close(server.kudos(&worker_key).await, 100.0 + reward));
    // The reward plus 1 for the generation, and 1 for queueing the request.
    assert!(close(
        server.kudos(&requester_key).await,
        100.0 - (reward + 1.0) - 1.0
    ));
    let (ok, audit) = server.admin(&["audit-kudos"]);
    assert!(ok, "{audit}");
}

#[tokio::test]
async fn anonymous_requests_cost_nothing_and_queue_last() {
    let server = Server::start(&[]);
    let (_, worker_key) = server.register("owner").await;
    let (_, rich_key) = server.register("rich").await;
    server.pop_text(&worker_key, "worker-one", MODEL).await;
    let anonymous = server
        .submit_text_request(ANON, json!({"prompt": "anonymous first"}))
        .await;
    let registered = server
        .submit_text_request(&rich_key, json!({"prompt": "registered second"}))
        .await;

    let (_, status) = server
        .get(&format!("/generate/text/status/{anonymous}"), None)
        .await;
    assert_eq!(
        status["queue_position"], 1,
        "the registered request is ahead: {status}"
    );

    let (_, first) = server.pop_text(&worker_key, "worker-one", MODEL).await;
    assert_eq!(first["payload"]["prompt"], "registered second");
    let (_, second) = server.pop_text(&worker_key, "worker-one", MODEL).await;
    assert_eq!(second["payload"]["prompt"], "anonymous first");
    for job in [&first, &second] {
        let answer = server
            .post(
                "/generate/text/submit",
                Some(&worker_key),
                json!({"id": job["id"], "generation": "done"}),
            )
            .await;
        assert_eq!(answer.0, StatusCode::OK);
    }
    let (_, anon) = server.get("/find_user", Some(ANON)).await;
    assert_eq!(anon["kudos"], 0.0);
    assert_eq!(anon["username"], "Anonymous#0");
    for id in [&anonymous, &registered] {
        let (_, done) = server
            .get(&format!("/generate/text/status/{id}"), None)
            .await;
        assert_eq!(done["done"], true, "{done}");
    }
}

#[tokio::test]
async fn several_generations_and_batched_pops() {
    let server = Server::start(&[]);
    let (_, worker_key) = server.register("owner").await;
    server.pop_text(&worker_key, "worker-one", MODEL).await;
    let id = server
        .submit_text_request(ANON, json!({"prompt": "three", "params": {"n": 3}}))
        .await;
    let body = json!({"name": "worker-one", "models": [MODEL], "amount": 2});
    let (_, batch) = server
        .post("/generate/text/pop", Some(&worker_key), body)
        .await;
    assert_eq!(batch["ids"].as_array().unwrap().len(), 2, "{batch}");
    let (_, last) = server.pop_text(&worker_key, "worker-one", MODEL).await;
    assert_eq!(last["ids"].as_array().unwrap().len(), 1);
    let (_, none) = server.pop_text(&worker_key, "worker-one", MODEL).await;
    assert!(none["id"].is_null());
    let mut ids: Vec<_> = batch["ids"].as_array().unwrap().clone();
    ids.push(last["id"].clone());
    for (i, job) in ids.iter().enumerate() {
        let answer = server
            .post(
                "/generate/text/submit",
                Some(&worker_key),
                json!({"id": job, "generation": format!("answer {i}")}),
            )
            .await;
        assert_eq!(answer.0, StatusCode::OK);
    }
    let (_, done) = server
        .get(&format!("/generate/text/status/{id}"), None)
        .await;
    assert_eq!(done["finished"], 3);
    assert_eq!(done["generations"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn workers_only_take_what_they_can_serve() {
    let server = Server::start(&[]);
    let (_, worker_key) = server.register("owner").await;
    server.pop_text(&worker_key, "small", MODEL).await;
    // Too long for the worker's max_length of 512 (from a requester who holds the kudos it
    // needs up front, as any request over 512 tokens does), and trusted workers only.
    let (requester_id, requester) = server.register("requester").await;
    server.grant(requester_id, 100.0).await;
    server
        .submit_text_request(
            &requester,
            json!({"prompt": "long", "params": {"max_length": 515}}),
        )
        .await;
    server
        .submit_text_request(
            ANON,
            json!({"prompt": "trusted only", "trusted_workers": true}),
        )
        .await;
    server
        .submit_text_request(
            ANON,
            json!({"prompt": "for another worker", "workers": ["someone-else"]}),
        )
        .await;
    let (_, popped) = server.pop_text(&worker_key, "small", MODEL).await;
    assert!(popped["id"].is_null(), "{popped}");
    assert_eq!(popped["skipped"]["max_length"], 1);
    assert_eq!(popped["skipped"]["untrusted"], 1);
    assert_eq!(popped["skipped"]["worker_id"], 1);

    // A worker of a trusted owner takes the trusted-only request.
    let (_, trusted_key) = server.admin_user("trusted-owner", &["--trusted"]);
    let (_, popped) = server.pop_text(&trusted_key, "trusted-worker", MODEL).await;
    assert_eq!(popped["payload"]["prompt"], "trusted only");
}

#[tokio::test]
async fn cancelling_stops_the_rest_and_keeps_what_finished() {
    let server = Server::start(&[]);
    let (_, worker_key) = server.register("owner").await;
    server.pop_text(&worker_key, "worker-one", MODEL).await;
    let id = server
        .submit_text_request(ANON, json!({"prompt": "two", "params": {"n": 2}}))
        .await;
    let (_, job) = server.pop_text(&worker_key, "worker-one", MODEL).await;
    server
        .post(
            "/generate/text/submit",
            Some(&worker_key),
            json!({"id": job["id"], "generation": "first"}),
        )
        .await;
    let (status, cancelled) = server
        .delete(&format!("/generate/text/status/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["done"], true);
    assert_eq!(cancelled["waiting"], 0);
    assert_eq!(cancelled["generations"][0]["text"], "first");
    let (_, nothing) = server.pop_text(&worker_key, "worker-one", MODEL).await;
    assert!(nothing["id"].is_null());
}

#[tokio::test]
async fn a_faulted_submit_requeues_the_generation() {
    let server = Server::start(&[]);
    let (_, worker_key) = server.register("owner").await;
    server.pop_text(&worker_key, "worker-one", MODEL).await;
    let id = server
        .submit_text_request(ANON, json!({"prompt": "fragile"}))
        .await;
    let (_, job) = server.pop_text(&worker_key, "worker-one", MODEL).await;
    let (status, answer) = server
        .post(
            "/generate/text/submit",
            Some(&worker_key),
            json!({"id": job["id"], "state": "faulted"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["reward"], 0.0);
    let (_, status_now) = server
        .get(&format!("/generate/text/status/{id}"), None)
        .await;
    assert_eq!(status_now["restarted"], 1);
    assert_eq!(status_now["waiting"], 1);
    let (_, again) = server.pop_text(&worker_key, "worker-one", MODEL).await;
    assert_eq!(again["payload"]["prompt"], "fragile");
    assert_eq!(server.kudos(&worker_key).await, 0.0);
}
