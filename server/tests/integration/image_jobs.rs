//! The image job cycle: upload to the server's own r2_upload URL, or inline.

use crate::common::{assert_error, close, webp, Server, ANON};
use base64::{engine::general_purpose::STANDARD, Engine};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MODEL: &str = "stable_diffusion";

async fn pop_image(server: &Server, key: &str) -> Value {
    let body =
        json!({"name": "painter", "models": [MODEL], "max_pixels": 1024 * 1024, "nsfw": false});
    let (status, answer) = server.post("/generate/pop", Some(key), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test]
async fn image_upload_cycle_serves_the_image_from_the_server() {
    let server = Server::start(&[]);
    // Trusted: its reward is paid at once (an untrusted one's is held; see trust.rs).
    let (_, worker_key) = server.admin_user("painter-owner", &["--trusted"]);
    let (requester_id, requester_key) = server.register("requester").await;
    server.grant(requester_id, 100.0).await;
    pop_image(&server, &worker_key).await;

    let body = json!({"prompt": "a lighthouse ### fog", "params": {"width": 512, "height": 512, "steps": 30, "seed": "7"}, "models": [MODEL]});
    let (status, accepted) = server
        .post("/generate/async", Some(&requester_key), body)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    // The AI Horde's legacy formula: 6.50 for 512 × 512 × 30 of a SD 1.5 model; the requester
    // pays it plus 1 per image, and 1 for the request.
    assert!(
        close(accepted["kudos"].as_f64().unwrap(), 6.50 + 1.0 + 1.0),
        "{accepted}"
    );

    let (_, check) = server.get(&format!("/generate/check/{id}"), None).await;
    assert_eq!(check["waiting"], 1);
    assert!(check.get("generations").is_none());

    let job = pop_image(&server, &worker_key).await;
    let job_id = job["id"].as_str().unwrap().to_string();
    assert_eq!(job["payload"]["prompt"], "a lighthouse ### fog");
    assert_eq!(job["payload"]["width"], 512);
    assert_eq!(job["payload"]["ddim_steps"], 30);
    assert_eq!(job["payload"]["seed"], "7");
    assert_eq!(job["payload"]["n_iter"], 1);
    let upload_url = job["r2_upload"].as_str().unwrap().to_string();
    assert!(upload_url.starts_with(&server.base), "{upload_url}");

    // Submitting R2 before uploading is refused.
    let early = server
        .post(
            "/generate/submit",
            Some(&worker_key),
            json!({"id": job_id, "generation": "R2", "seed": 7}),
        )
        .await;
    assert_error(&early, StatusCode::BAD_REQUEST, "ImageValidationFailed");
    // A wrong token is refused.
    let bad = server
        .http()
        .put(upload_url.replace("token=", "token=x"))
        .body(webp(1))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::FORBIDDEN);
    let put = server
        .http()
        .put(&upload_url)
        .body(webp(1))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);

    let (status, submitted) = server
        .post(
            "/generate/submit",
            Some(&worker_key),
            json!({"id": job_id, "generation": "R2", "seed": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    let reward = submitted["reward"].as_f64().unwrap();
    assert!(close(reward, 6.50), "{submitted}");

    let (_, done) = server.get(&format!("/generate/status/{id}"), None).await;
    assert_eq!(done["done"], true);
    let generation = &done["generations"][0];
    assert_eq!(generation["seed"], "7");
    assert_eq!(generation["censored"], false);
    let url = generation["img"].as_str().unwrap();
    let image = server.http().get(url).send().await.unwrap();
    assert_eq!(image.headers()["content-type"], "image/webp");
    assert_eq!(image.bytes().await.unwrap().to_vec(), webp(1));

    // The owner's first kudos are topped up to its floor (14, pseudonymous).
    assert!(close(server.kudos(&worker_key).await, 14.0));
    assert!(close(server.kudos(&requester_key).await, 100.0 - 8.50));
}

#[tokio::test]
async fn inline_images_and_base64_results() {
    let server = Server::start(&[]);
    let (_, worker_key) = server.register("painter-owner").await;
    pop_image(&server, &worker_key).await;
    let body = json!({"prompt": "a cat", "r2": false, "params": {"width": 256, "height": 256, "steps": 10}});
    let (_, accepted) = server.post("/generate/async", Some(ANON), body).await;
    let id = accepted["id"].as_str().unwrap();
    let job = pop_image(&server, &worker_key).await;
    let not_an_image = server
        .post(
            "/generate/submit",
            Some(&worker_key),
            json!({"id": job["id"], "generation": STANDARD.encode(b"hello"), "seed": 1}),
        )
        .await;
    assert_error(
        &not_an_image,
        StatusCode::BAD_REQUEST,
        "ImageValidationFailed",
    );
    let (status, _) = server
        .post(
            "/generate/submit",
            Some(&worker_key),
            json!({"id": job["id"], "generation": STANDARD.encode(webp(2)), "seed": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, done) = server.get(&format!("/generate/status/{id}"), None).await;
    assert_eq!(
        STANDARD
            .decode(done["generations"][0]["img"].as_str().unwrap())
            .unwrap(),
        webp(2)
    );
}

#[tokio::test]
async fn image_requests_are_validated() {
    let server = Server::start(&[]);
    let bad_size = server
        .post(
            "/generate/async",
            Some(ANON),
            json!({"prompt": "x", "params": {"width": 500}}),
        )
        .await;
    assert_error(&bad_size, StatusCode::BAD_REQUEST, "InvalidSize");
    let steps = server
        .post(
            "/generate/async",
            Some(ANON),
            json!({"prompt": "x", "params": {"steps": 501}}),
        )
        .await;
    assert_error(&steps, StatusCode::BAD_REQUEST, "TooManySteps");
    let sampler = server
        .post(
            "/generate/async",
            Some(ANON),
            json!({"prompt": "x", "params": {"sampler_name": "nope"}}),
        )
        .await;
    assert_error(&sampler, StatusCode::BAD_REQUEST, "UnsupportedSampler");
    let prompt = server
        .post("/generate/async", Some(ANON), json!({"params": {}}))
        .await;
    assert_error(&prompt, StatusCode::BAD_REQUEST, "MissingPrompt");
    // A post-processor is no model (a model no worker serves is queued: see kudos.rs).
    let model = server
        .post(
            "/generate/async",
            Some(ANON),
            json!({"prompt": "x", "models": ["GFPGAN"]}),
        )
        .await;
    assert_error(&model, StatusCode::BAD_REQUEST, "UnexpectedModelName");
    let missing = server
        .get("/generate/check/00000000-0000-0000-0000-000000000000", None)
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "RequestNotFound");
}

#[tokio::test]
async fn nsfw_requests_skip_sfw_workers() {
    let server = Server::start(&[]);
    let (_, worker_key) = server.register("painter-owner").await;
    pop_image(&server, &worker_key).await;
    server
        .post(
            "/generate/async",
            Some(ANON),
            json!({"prompt": "x", "nsfw": true}),
        )
        .await;
    let answer = pop_image(&server, &worker_key).await;
    assert!(answer["id"].is_null());
    assert_eq!(answer["skipped"]["nsfw"], 1);
}
