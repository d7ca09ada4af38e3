//! Verification of untrusted work over HTTP: held kudos, checks given to trusted workers, their
//! verdicts' consequences, image redundancy, and the model reference. The checkers here are
//! HTTP clients submitting scores as a scoring worker would; `compat/test_trust.py` runs the
//! same with real `potluck-worker` processes and the engine.

use crate::common::{
    assert_error, close, failing_scores, honest_scores, pop_check, Server, ANON, CHECKED_MODEL,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MODEL: &str = CHECKED_MODEL;
const IMAGE_MODEL: &str = "stable_diffusion";

/// A text pop of a worker that can score.
async fn pop_scorer(server: &Server, key: &str, worker: &str) -> Value {
    let (status, job) = server
        .post(
            "/generate/text/pop",
            Some(key),
            json!({"name": worker, "models": [MODEL], "can_score": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    job
}

/// Queues a request for MODEL, lets `worker` of `owner_key` take it and submit `text` with its
/// token ids; returns (request id, job id, reward).
async fn serve_one(
    server: &Server,
    requester: &str,
    owner_key: &str,
    worker: &str,
    text: &str,
) -> (String, String, f64) {
    let id = server
        .submit_text_request(
            requester,
            json!({"prompt": "Once upon a time", "params": {"max_length": 32, "top_k": 20},
                   "models": [MODEL]}),
        )
        .await;
    let (_, job) = server.pop_text(owner_key, worker, MODEL).await;
    let job_id = job["id"].as_str().expect("a job").to_string();
    let (status, submitted) = server
        .post(
            "/generate/text/submit",
            Some(owner_key),
            json!({"id": job_id, "generation": text, "token_ids": [5, 6, 7, 2]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    (id, job_id, submitted["reward"].as_f64().unwrap())
}

async fn details(server: &Server, key: &str) -> Value {
    let (status, me) = server.get("/find_user", Some(key)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    me
}

#[tokio::test]
async fn a_passed_check_releases_the_held_reward_and_a_failed_one_forfeits_it() {
    // One passed check makes a clean enough record to release (the default asks for 10).
    let server = Server::start(&["--initial-checks", "1"]);
    let (owner_id, owner) = server.register("owner").await;
    let (requester_id, requester) = server.register("requester").await;
    let (_, vouched) = server.admin_user("vouched", &["--trusted"]);
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    // Both above their floors, so that every movement shows.
    server.grant(owner_id, 100.0).await;
    server.grant(requester_id, 100.0).await;
    // Both workers announce the model first.
    server.pop_text(&owner, "untrusted", MODEL).await;
    pop_scorer(&server, &vouched, "checker").await;

    let (_, _, reward) = serve_one(&server, &requester, &owner, "untrusted", "a tale").await;
    assert!(reward > 0.0);
    let me = details(&server, &owner).await;
    assert_eq!(me["kudos"], 100.0);
    assert!(
        close(me["evaluating_kudos"].as_f64().unwrap(), reward),
        "{me}"
    );
    // Held kudos are the owner's and moderators' business only.
    assert!(server
        .user(owner_id, None)
        .await
        .get("evaluating_kudos")
        .is_none());
    let (_, stranger) = server.register("stranger").await;
    assert!(server
        .user(owner_id, Some(&stranger))
        .await
        .get("evaluating_kudos")
        .is_none());
    let seen = server.user(owner_id, Some(&moderator)).await;
    assert!(
        close(seen["evaluating_kudos"].as_f64().unwrap(), reward),
        "{seen}"
    );

    // The check: the same prompt and parameters, and what to score, for the trusted scorer.
    let check = pop_check(&server, &vouched).await;
    let check_id = check["id"].as_str().expect("a check").to_string();
    assert_eq!(check["payload"]["prompt"], "Once upon a time");
    assert_eq!(check["payload"]["top_k"], 20);
    assert_eq!(
        check["score_check"],
        json!({"text": "a tale", "token_ids": [5, 6, 7, 2]})
    );
    // A check wants scores, not a text.
    let text = server
        .post(
            "/generate/text/submit",
            Some(&vouched),
            json!({"id": check_id, "generation": "x"}),
        )
        .await;
    assert_error(&text, StatusCode::BAD_REQUEST, "BadRequest");
    let (status, paid) = server
        .post(
            "/generate/text/submit",
            Some(&vouched),
            json!({"id": check_id, "scores": honest_scores()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert!(close(
        paid["reward"].as_f64().unwrap(),
        (reward * 25.0).round() / 100.0
    ));
    let me = details(&server, &owner).await;
    assert!(close(me["kudos"].as_f64().unwrap(), 100.0 + reward), "{me}");
    assert_eq!(me["evaluating_kudos"], 0.0);
    let (_, worker) = server
        .get(
            &format!("/workers/{}", worker_id(&server, &owner).await),
            None,
        )
        .await;
    assert_eq!(
        (
            worker["checks_passed"].as_i64(),
            worker["checks_failed"].as_i64()
        ),
        (Some(1), Some(0))
    );

    // A second job fails its check before its requester looked: the requester is refunded,
    // the reward forfeited, and the generation queued again.
    let before = server.kudos(&requester).await;
    let released = 100.0 + reward;
    let (request_id, _, _) = serve_one(&server, &requester, &owner, "untrusted", "junk").await;
    let charged = server.kudos(&requester).await;
    assert!(charged < before);
    let check = pop_check(&server, &vouched).await;
    let check_id = check["id"].as_str().expect("a check").to_string();
    let (status, _) = server
        .post(
            "/generate/text/submit",
            Some(&vouched),
            json!({"id": check_id, "scores": failing_scores()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Refunded what the job cost; the 1 kudos its request cost to queue stays spent.
    assert!(
        close(server.kudos(&requester).await, before - 1.0),
        "refunded"
    );
    let me = details(&server, &owner).await;
    assert!(close(me["kudos"].as_f64().unwrap(), released), "{me}");
    assert_eq!(me["evaluating_kudos"], 0.0, "forfeited");
    assert_eq!(me["suspicious"], 1);
    let (_, status) = server
        .get(&format!("/generate/text/status/{request_id}"), None)
        .await;
    assert_eq!(
        (status["done"].as_bool(), status["waiting"].as_i64()),
        (Some(false), Some(1)),
        "{status}"
    );
    assert!(
        status["generations"].as_array().unwrap().is_empty(),
        "{status}"
    );
    let (_, worker) = server
        .get(
            &format!("/workers/{}", worker_id(&server, &owner).await),
            None,
        )
        .await;
    assert_eq!(worker["checks_failed"], 1);
    server.admin(&["audit-kudos"]);
}

async fn worker_id(server: &Server, owner: &str) -> String {
    let me = details(server, owner).await;
    me["worker_ids"][0].as_str().expect("a worker").to_string()
}

#[tokio::test]
async fn repeated_failures_pause_the_worker_and_its_kudos_are_never_released() {
    let server = Server::start(&["--pause-after-failed-checks", "2"]);
    let (_, owner) = server.register("cheat").await;
    let (_, vouched) = server.admin_user("vouched", &["--trusted"]);
    server.pop_text(&owner, "cheater", MODEL).await;
    pop_scorer(&server, &vouched, "checker").await;
    for _ in 0..2 {
        serve_one(&server, ANON, &owner, "cheater", "junk junk junk").await;
        let check = pop_check(&server, &vouched).await;
        let check_id = check["id"].as_str().expect("a check").to_string();
        let (status, _) = server
            .post(
                "/generate/text/submit",
                Some(&vouched),
                json!({"id": check_id, "scores": failing_scores()}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let me = details(&server, &owner).await;
    assert_eq!(
        (me["kudos"].as_f64(), me["evaluating_kudos"].as_f64()),
        (Some(0.0), Some(0.0))
    );
    let (_, worker) = server
        .get(
            &format!("/workers/{}", worker_id(&server, &owner).await),
            Some(&owner),
        )
        .await;
    assert_eq!(worker["paused"], true, "{worker}");
    // Paused: it gets no more jobs.
    server
        .submit_text_request(ANON, json!({"prompt": "x", "models": [MODEL]}))
        .await;
    let (_, job) = server.pop_text(&owner, "cheater", MODEL).await;
    assert!(job["id"].is_null(), "{job}");
    server.admin(&["audit-kudos"]);
}

/// The farming scenario: a fresh account's worker claims a model nobody else serves,
/// queues anonymous requests for it and answers each with junk.
#[tokio::test]
async fn a_farm_of_junk_jobs_earns_nothing_spendable() {
    let server = Server::start(&[]);
    let (_, farmer) = server.register("farmer").await;
    let farm = "Farm-Llama-405B";
    server.pop_text(&farmer, "farm", farm).await;
    let mut rewards = 0.0;
    for i in 0..50 {
        server
            .submit_text_request(ANON, json!({"prompt": format!("p{i}"), "models": [farm]}))
            .await;
        let (_, job) = server.pop_text(&farmer, "farm", farm).await;
        let job_id = job["id"].as_str().expect("a job").to_string();
        let (status, submitted) = server
            .post(
                "/generate/text/submit",
                Some(&farmer),
                json!({"id": job_id, "generation": "x".repeat(400)}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{submitted}");
        let reward = submitted["reward"].as_f64().unwrap();
        // Outside the model reference: the floor (the context term of a short prompt, 20
        // tokens), not 405B's rate.
        assert!(close(reward, 1.21), "{reward}");
        rewards += reward;
    }
    let me = details(&server, &farmer).await;
    assert_eq!(me["kudos"], 0.0, "{me}");
    assert!(close(me["evaluating_kudos"].as_f64().unwrap(), rewards));
    // It cannot give what it holds.
    let (_, other) = server.register("friend").await;
    let friend = details(&server, &other).await["username"]
        .as_str()
        .unwrap()
        .to_string();
    let gift = server
        .post(
            "/kudos/transfer",
            Some(&farmer),
            json!({"username": friend, "amount": 1}),
        )
        .await;
    assert_error(&gift, StatusCode::BAD_REQUEST, "KudosTransferNotEnough");
    server.admin(&["audit-kudos"]);
}

#[tokio::test]
async fn status_models_filters_by_the_model_reference() {
    let server = Server::start(&[]);
    let (_, owner) = server.register("owner").await;
    server.pop_text(&owner, "known", MODEL).await;
    server.pop_text(&owner, "custom", "my/Own-Model-70B").await;
    let names = |list: Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, known) = server
        .get("/status/models?type=text&model_state=known", None)
        .await;
    assert_eq!(names(known), [MODEL]);
    let (_, custom) = server
        .get("/status/models?type=text&model_state=custom", None)
        .await;
    assert_eq!(names(custom), ["my/Own-Model-70B"]);
    let (_, all) = server.get("/status/models?type=text", None).await;
    assert_eq!(names(all).len(), 2);
    let (_, none) = server
        .get("/status/models?type=text&min_count=2", None)
        .await;
    assert!(names(none).is_empty());
    let bad = server.get("/status/models?model_state=some", None).await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "BadRequest");
}

/// A PNG that depends only on the seed and the prompt, as a deterministic image model's
/// picture would; `noise` draws random pixels instead.
fn picture(seed: &str, prompt: &str, noise: bool) -> String {
    let key: u32 = seed
        .bytes()
        .chain(prompt.bytes())
        .fold(7, |h, b| h.wrapping_mul(31) ^ u32::from(b));
    let mut state = key;
    let image = image::RgbImage::from_fn(64, 64, |x, y| {
        if noise {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            return image::Rgb([(state >> 16) as u8, (state >> 8) as u8, state as u8]);
        }
        let (cx, cy) = ((key % 40 + 12) as f32, (key / 40 % 40 + 12) as f32);
        let ring = (((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt() / 6.0) as u32 % 2;
        image::Rgb([(ring * 220) as u8, (x * 3) as u8, (y * 3 + key % 50) as u8])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    image.write_to(&mut png, image::ImageFormat::Png).unwrap();
    STANDARD.encode(png.into_inner())
}

/// Pops an image job for `worker` of `key` and submits its picture (noise if `cheat`).
async fn paint(server: &Server, key: &str, worker: &str, cheat: bool) -> Value {
    let (status, job) = server.pop_image(key, worker, IMAGE_MODEL).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    let id = job["id"].as_str().expect("a job").to_string();
    let seed = job["payload"]["seed"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| job["payload"]["seed"].to_string());
    let prompt = job["payload"]["prompt"].as_str().unwrap().to_string();
    let (status, submitted) = server
        .post(
            "/generate/submit",
            Some(key),
            json!({"id": id, "generation": picture(&seed, &prompt, cheat),
                     "seed": seed.parse::<i64>().unwrap_or_default()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    job
}

#[tokio::test]
async fn images_are_checked_by_painting_the_same_seed_again() {
    let server = Server::start(&["--initial-checks", "1"]);
    let (_, honest) = server.register("honest").await;
    let (_, cheat) = server.register("cheat").await;
    let (_, vouched) = server.admin_user("vouched", &["--trusted"]);
    for (key, worker) in [
        (&honest, "honest-gpu"),
        (&cheat, "noise-gpu"),
        (&vouched, "trusted-gpu"),
    ] {
        server.pop_image(key, worker, IMAGE_MODEL).await;
    }
    for (key, worker, cheating) in [(&honest, "honest-gpu", false), (&cheat, "noise-gpu", true)] {
        let body = json!({"prompt": "a lighthouse", "models": [IMAGE_MODEL],
                          "params": {"width": 64, "height": 64, "steps": 10}});
        let (status, _) = server.post("/generate/async", Some(ANON), body).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let job = paint(&server, key, worker, cheating).await;
        let me = details(&server, key).await;
        assert_eq!(me["kudos"], 0.0);
        assert!(me["evaluating_kudos"].as_f64().unwrap() > 0.0);
        // The check: the same request and seed, for the trusted worker, who paints honestly.
        let check = paint(&server, &vouched, "trusted-gpu", false).await;
        assert_eq!(check["payload"]["seed"], job["payload"]["seed"]);
        assert_eq!(check["payload"]["prompt"], job["payload"]["prompt"]);
        let me = details(&server, key).await;
        if cheating {
            assert_eq!(
                (me["kudos"].as_f64(), me["evaluating_kudos"].as_f64()),
                (Some(0.0), Some(0.0))
            );
            assert_eq!(me["suspicious"], 1);
        } else {
            assert!(me["kudos"].as_f64().unwrap() > 0.0, "{me}");
            assert_eq!(me["evaluating_kudos"], 0.0);
        }
    }
    server.admin(&["audit-kudos"]);
}

#[tokio::test]
async fn a_check_keeps_the_requests_data_policy() {
    let server = Server::start(&[]);
    let (_, owner) = server.register("owner").await;
    let (_, vouched) = server.admin_user("vouched", &["--trusted"]);
    server.pop_text(&owner, "untrusted", MODEL).await;
    let body = json!({"prompt": "private", "models": [MODEL], "workers_keep_nothing": true});
    server.submit_text_request(ANON, body).await;
    let (_, job) = server.pop_text(&owner, "untrusted", MODEL).await;
    let (status, _) = server
        .post(
            "/generate/text/submit",
            Some(&owner),
            json!({"id": job["id"], "generation": "a text", "token_ids": [1, 2]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // A trusted scorer that keeps prompts is passed by, as it would be for the request itself.
    let keeper =
        json!({"name": "keeper", "models": [MODEL], "can_score": true, "keeps_prompts": true});
    let (_, skipped) = server
        .post("/generate/text/pop", Some(&vouched), keeper)
        .await;
    assert!(skipped["id"].is_null(), "{skipped}");
    assert_eq!(skipped["skipped"]["keeps_prompts"], 1, "{skipped}");
    let check = pop_check(&server, &vouched).await;
    assert_eq!(check["payload"]["prompt"], "private");
}

#[tokio::test]
async fn where_no_trusted_worker_scores_a_text_is_generated_again_with_its_seed() {
    let server = Server::start(&["--initial-checks", "1"]);
    let (_, owner) = server.register("owner").await;
    let (_, vouched) = server.admin_user("vouched", &["--trusted"]);
    // The trusted worker serves the model but cannot score.
    server.pop_text(&vouched, "plain", MODEL).await;
    server.pop_text(&owner, "untrusted", MODEL).await;
    for (text, ids, passes) in [("same", [4, 5, 6], true), ("other", [4, 5, 6], false)] {
        server
            .submit_text_request(
                ANON,
                json!({"prompt": "p", "models": [MODEL], "params": {"sampler_seed": 9}}),
            )
            .await;
        let (_, job) = server.pop_text(&owner, "untrusted", MODEL).await;
        let answer =
            json!({"id": job["id"], "generation": "same", "token_ids": [4, 5, 6], "seed": 9});
        let (status, _) = server
            .post("/generate/text/submit", Some(&owner), answer)
            .await;
        assert_eq!(status, StatusCode::OK);
        // The check: the same request with the seed the worker reported, for the trusted worker.
        let (_, check) = server.pop_text(&vouched, "plain", MODEL).await;
        assert!(check["score_check"].is_null(), "{check}");
        assert_eq!(check["payload"]["sampler_seed"], "9", "{check}");
        let again_ids = if passes { ids.to_vec() } else { vec![7, 8, 9] };
        let again = json!({"id": check["id"], "generation": text, "token_ids": again_ids});
        let (status, _) = server
            .post("/generate/text/submit", Some(&vouched), again)
            .await;
        assert_eq!(status, StatusCode::OK);
        let me = details(&server, &owner).await;
        let (_, worker) = server
            .get(
                &format!("/workers/{}", worker_id(&server, &owner).await),
                None,
            )
            .await;
        if passes {
            assert!(me["kudos"].as_f64().unwrap() > 0.0, "{me}");
            assert_eq!(worker["checks_passed"], 1);
        } else {
            // Another back end may not be deterministic: undecided, the reward stays held.
            assert!(me["evaluating_kudos"].as_f64().unwrap() > 0.0, "{me}");
            assert_eq!(
                (
                    worker["checks_passed"].as_i64(),
                    worker["checks_failed"].as_i64()
                ),
                (Some(1), Some(0))
            );
        }
    }
}
