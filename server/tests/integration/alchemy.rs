//! Alchemy (`/api/v2/interrogate/*`) and webhooks, over HTTP: an interrogation's forms are
//! popped, served and paid like any job; what cannot be served is refused with a clear error;
//! the server never fetches from or calls into its own network unless the operator allows it;
//! a finished job is POSTed to its request's webhook, again after a failed attempt.

use crate::common::{assert_error, Server, ANON};
use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::{engine::general_purpose::STANDARD, Engine};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TEXT_MODEL: &str = "test/Tiny-1B";

/// A PNG of this size, as an alchemist would get it.
fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::GrayImage::from_pixel(width, height, image::Luma([200]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

/// An alchemist's pop of `forms`.
async fn pop_forms(server: &Server, key: &str, forms: &[&str], amount: u32) -> Value {
    let body = json!({"name": "alchemist", "forms": forms, "amount": amount, "max_tiles": 16});
    let (status, popped) = server.post("/interrogate/pop", Some(key), body).await;
    assert_eq!(status, StatusCode::OK, "{popped}");
    popped
}

#[tokio::test]
async fn alchemists_serve_an_interrogations_forms_and_are_paid() {
    let server = Server::start(&[]);
    let (_, owner) = server.admin_user("alchemist-owner", &["--trusted"]);
    let (requester_id, requester) = server.register("requester").await;
    server.grant(requester_id, 50.0).await;
    let image = png(1024, 512);
    let body = json!({"forms": [{"name": "caption"}, {"name": "nsfw"}],
                      "source_image": STANDARD.encode(&image)});
    let (status, accepted) = server
        .post("/interrogate/async", Some(&requester), body)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    let status_path = format!("/interrogate/status/{id}");
    let (_, waiting) = server.get(&status_path, None).await;
    assert_eq!(waiting["state"], "waiting", "{waiting}");
    assert_eq!(waiting["forms"].as_array().unwrap().len(), 2);

    let popped = pop_forms(&server, &owner, &["caption", "nsfw"], 2).await;
    let forms = popped["forms"].as_array().unwrap().clone();
    assert_eq!(forms.len(), 2, "{popped}");
    let client = reqwest::Client::new();
    for form in &forms {
        // The image, from this server, while the alchemist holds the form.
        let url = form["source_image"].as_str().unwrap();
        let download = client.get(url).send().await.unwrap();
        assert_eq!(download.status(), StatusCode::OK);
        assert_eq!(download.bytes().await.unwrap().as_ref(), image.as_slice());
        assert!(
            form["r2_upload"].is_null(),
            "an analysis uploads nothing: {form}"
        );
        let name = form["form"].as_str().unwrap();
        let result = match name {
            "caption" => json!({"caption": "a grey rectangle"}),
            _ => json!({"nsfw": false}),
        };
        let (status, submitted) = server
            .post(
                "/interrogate/submit",
                Some(&owner),
                json!({"id": form["id"], "result": result}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{submitted}");
        assert_eq!(submitted["reward"], 1.0, "one kudos a form: {submitted}");
        // Once delivered, the image is no longer handed out.
        assert_eq!(
            client.get(url).send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
    }

    let (_, done) = server.get(&status_path, None).await;
    assert_eq!(done["state"], "done", "{done}");
    let results: Vec<&Value> = done["forms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["result"])
        .collect();
    assert!(
        results.contains(&&json!({"caption": "a grey rectangle"})),
        "{done}"
    );
    assert!(results.contains(&&json!({"nsfw": false})), "{done}");
    // Each form cost its reward and 1; the trusted owner's rewards are spendable at once.
    assert!((server.kudos(&requester).await - 46.0).abs() < 0.01);
    let (_, owner_details) = server.get("/find_user", Some(&owner)).await;
    assert_eq!(
        owner_details["kudos_details"]["accumulated"], 2.0,
        "{owner_details}"
    );
    let (ok, audit) = server.admin(&["audit-kudos"]);
    assert!(ok, "{audit}");
}

#[tokio::test]
async fn interrogations_refuse_what_cannot_be_served() {
    let server = Server::start(&[]);
    let image = STANDARD.encode(png(64, 64));
    let refused = |body: Value| {
        let server = &server;
        async move { server.post("/interrogate/async", Some(ANON), body).await }
    };
    assert_error(
        &refused(json!({"forms": [], "source_image": image})).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    );
    assert_error(
        &refused(json!({"forms": [{"name": "mind_reading"}], "source_image": image})).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    );
    assert_error(
        &refused(json!({"forms": [{"name": "caption"}]})).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    );
    assert_error(
        &refused(json!({"forms": [{"name": "caption"}], "source_image": STANDARD.encode("text")}))
            .await,
        StatusCode::BAD_REQUEST,
        "ImageValidationFailed",
    );
    // The server fetches from public addresses only, and calls only public https webhooks.
    assert_error(
        &refused(json!({"forms": [{"name": "caption"}],
                        "source_image": "http://127.0.0.1:9/image.png"}))
        .await,
        StatusCode::BAD_REQUEST,
        "SourceImageUrlInvalid",
    );
    for webhook in [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/x",
    ] {
        let answer = refused(
            json!({"forms": [{"name": "caption"}], "source_image": image,
                                    "webhook": webhook}),
        )
        .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "BadRequest");
        assert!(
            answer.1["message"].as_str().unwrap().contains("webhook"),
            "{}",
            answer.1
        );
    }
    let text_hook = server
        .post(
            "/generate/text/async",
            Some(ANON),
            json!({"prompt": "x", "webhook": "https://192.168.0.1/hook"}),
        )
        .await;
    assert_error(&text_hook, StatusCode::BAD_REQUEST, "BadRequest");

    assert_error(
        &server.get("/interrogate/status/no-such-id", None).await,
        StatusCode::NOT_FOUND,
        "RequestNotFound",
    );
    let anonymous_pop = server
        .post(
            "/interrogate/pop",
            Some(ANON),
            json!({"forms": ["caption"]}),
        )
        .await;
    assert_error(&anonymous_pop, StatusCode::FORBIDDEN, "AnonForbiddenWorker");
}

/// What a local receiver got: each POST's path and body. `/flaky` fails its first call.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Value)>>>);

async fn receive(
    State(got): State<Received>,
    uri: axum::http::Uri,
    Json(body): Json<Value>,
) -> AxumStatus {
    let mut calls = got.0.lock().unwrap();
    let path = uri.path().to_string();
    let first = !calls.iter().any(|(p, _)| *p == path);
    calls.push((path.clone(), body));
    if path == "/flaky" && first {
        AxumStatus::INTERNAL_SERVER_ERROR
    } else {
        AxumStatus::OK
    }
}

/// A receiver on loopback that takes webhooks anywhere and serves a PNG at `/image.png`.
async fn receiver(image: Vec<u8>) -> (String, Received) {
    let got = Received::default();
    let app = Router::new()
        .route("/image.png", get(move || async move { image.clone() }))
        .fallback(post(receive))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), got)
}

impl Received {
    /// The bodies POSTed to `path`, once at least `count` arrived (or after 10 s).
    async fn at(&self, path: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let bodies: Vec<Value> = {
                let calls = self.0.lock().unwrap();
                calls
                    .iter()
                    .filter(|(p, _)| p == path)
                    .map(|(_, b)| b.clone())
                    .collect()
            };
            if bodies.len() >= count || Instant::now() > deadline {
                return bodies;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn finished_jobs_are_posted_to_their_webhook_and_retried_once_failed() {
    // The receiver is on loopback over http: allowed here as an operator may for tests.
    let server = Server::start_with_env(
        &["--result-retention-secs", "1", "--sweep-interval-ms", "100"],
        &[
            ("POTLUCK_OUTBOUND_ALLOW_PRIVATE_ADDRESSES", "true"),
            ("POTLUCK_WEBHOOK_ALLOW_HTTP", "true"),
        ],
    );
    let (base, got) = receiver(png(512, 512)).await;
    let (_, worker) = server.admin_user("worker-owner", &["--trusted"]);
    server.pop_text(&worker, "writer", TEXT_MODEL).await;

    // A text job: its text, the request's id and the job's.
    let id = server
        .submit_text_request(
            ANON,
            json!({"prompt": "Hello", "models": [TEXT_MODEL], "webhook": format!("{base}/flaky")}),
        )
        .await;
    let (_, job) = server.pop_text(&worker, "writer", TEXT_MODEL).await;
    let (status, _) = server
        .post(
            "/generate/text/submit",
            Some(&worker),
            json!({"id": job["id"], "generation": "Hello there", "seed": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // The first attempt failed; the retry delivered the same body.
    let calls = got.at("/flaky", 2).await;
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], calls[1]);
    let body = &calls[1];
    assert_eq!(body["text"], "Hello there", "{body}");
    assert_eq!(body["request"], id.as_str());
    assert_eq!(body["id"], job["id"]);
    assert_eq!(body["worker_name"], "writer");
    assert!(body["kudos"].as_f64().unwrap() > 0.0, "{body}");

    // An interrogation of an image at a URL: fetched once, its form reported when done.
    let body = json!({"forms": [{"name": "caption"}], "source_image": format!("{base}/image.png"),
                      "webhook": format!("{base}/alchemy")});
    let (status, accepted) = server.post("/interrogate/async", Some(ANON), body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let popped = pop_forms(&server, &worker, &["caption"], 1).await;
    let form = &popped["forms"][0];
    server
        .post(
            "/interrogate/submit",
            Some(&worker),
            json!({"id": form["id"], "result": {"caption": "a grey square"}}),
        )
        .await;
    let calls = got.at("/alchemy", 1).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["form"], "caption");
    assert_eq!(calls[0]["result"], json!({"caption": "a grey square"}));
    assert_eq!(calls[0]["request"], accepted["id"]);

    // The URL goes with the request's prompt: purged once its results are delivered.
    let (_, status) = server
        .get(&format!("/generate/text/status/{id}"), None)
        .await;
    assert_eq!(status["done"], true, "{status}");
    server
        .wait_until_unstored(&[&format!("{base}/flaky")], Duration::from_secs(10))
        .await;
}
