//! What the AI Horde publishes besides the job cycle, over HTTP: generation statistics
//! (`/stats/*`), the operator's news and documents, `/.well-known/serviceinfo`, kudos awards by
//! admins, and the aesthetic ratings of shared image requests (`/generate/rate/{id}`).

use crate::common::{assert_error, close, webp, Server, ANON};
use base64::{engine::general_purpose::STANDARD, Engine};
use reqwest::StatusCode;
use serde_json::{json, Value};

const TEXT_MODEL: &str = "test/Tiny-1B";
const IMAGE_MODEL: &str = "stable_diffusion";

#[tokio::test]
async fn statistics_count_finished_generations_per_period_and_model() {
    let server = Server::start(&[]);
    let (_, worker) = server.admin_user("worker-owner", &["--trusted"]);
    // The figures are read once and kept a little while: the first read comes after the work.
    server.pop_text(&worker, "writer", TEXT_MODEL).await;
    for prompt in ["one", "two"] {
        server
            .submit_text_request(ANON, json!({"prompt": prompt, "models": [TEXT_MODEL]}))
            .await;
        let (_, job) = server.pop_text(&worker, "writer", TEXT_MODEL).await;
        let (status, _) = server
            .post(
                "/generate/text/submit",
                Some(&worker),
                json!({"id": job["id"], "generation": "A short answer."}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    // The periods end at the last full minute, as the AI Horde's: a generation of the current
    // minute counts in the total at once, in the others once its minute is over.
    let (status, totals) = server.get("/stats/text/totals", None).await;
    assert_eq!(status, StatusCode::OK, "{totals}");
    assert_eq!(totals["total"]["requests"], 2, "{totals}");
    assert!(totals["total"]["tokens"].as_i64().unwrap() > 0, "{totals}");
    for period in ["minute", "hour", "day", "month"] {
        let counted = totals[period]["requests"].as_i64().unwrap();
        assert!(counted == 0 || counted == 2, "{period}: {totals}");
    }
    let (_, models) = server.get("/stats/text/models", None).await;
    assert_eq!(models["total"][TEXT_MODEL], 2, "{models}");
    // Images: none yet, in the same shape.
    let (_, images) = server.get("/stats/img/totals", None).await;
    assert_eq!(images["total"]["images"], 0, "{images}");
    let (status, image_models) = server.get("/stats/img/models?model_state=all", None).await;
    assert_eq!(status, StatusCode::OK, "{image_models}");
    assert_eq!(image_models["total"], json!({}));
    let bad = server.get("/stats/img/models?model_state=some", None).await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "BadRequest");
}

#[tokio::test]
async fn documents_news_and_service_info() {
    let dir = tempfile::tempdir().unwrap();
    let news = dir.path().join("news.json");
    std::fs::write(
        &news,
        json!([{"date_published": "2026-12-01", "newspiece": "Potluck serves the whole API.",
                "importance": "Information", "tags": ["api"], "title": "All of it",
                "more_info_urls": []}])
        .to_string(),
    )
    .unwrap();
    let terms = dir.path().join("terms.md");
    std::fs::write(&terms, "# Terms\n\nBe *kind*.").unwrap();
    let server = Server::start(&[
        "--news",
        news.to_str().unwrap(),
        "--terms",
        terms.to_str().unwrap(),
        "--source-url",
        "https://example.org/potluck",
    ]);

    let (status, pieces) = server.get("/status/news", None).await;
    assert_eq!(status, StatusCode::OK, "{pieces}");
    assert_eq!(pieces[0]["newspiece"], "Potluck serves the whole API.");
    assert_eq!(pieces[0]["title"], "All of it");

    let (_, html) = server.get("/documents/terms", None).await;
    let html = html["html"].as_str().unwrap();
    assert!(html.contains("<em>kind</em>"), "{html}");
    let (_, markdown) = server.get("/documents/terms?format=markdown", None).await;
    assert_eq!(markdown["markdown"], "# Terms\n\nBe *kind*.");
    // The privacy document is Potluck's own policy, the privacy page's text.
    let (_, privacy) = server.get("/documents/privacy?format=markdown", None).await;
    assert!(
        privacy["markdown"].as_str().unwrap().contains("API key"),
        "{privacy}"
    );
    let (status, sponsors) = server.get("/documents/sponsors", None).await;
    assert_eq!(status, StatusCode::OK, "{sponsors}");
    let bad = server.get("/documents/terms?format=pdf", None).await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "BadRequest");

    let response = reqwest::get(format!("{}/.well-known/serviceinfo", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let info: Value = response.json().await.unwrap();
    assert_eq!(info["software"]["name"], "Potluck");
    assert_eq!(
        info["software"]["repository"],
        "https://example.org/potluck"
    );
    assert_eq!(info["api"]["aihorde"]["rel_url"], "/api/v2");
}

#[tokio::test]
async fn only_admins_award_kudos_and_never_to_the_anonymous() {
    let server = Server::start(&[]);
    let (_, admin) = server.admin_user("admin", &["--admin"]);
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let (id, user) = server.register("deserving").await;
    let alias = format!("deserving#{id}");
    let award = |key: &str, username: &str, amount: f64| {
        let server = &server;
        let key = key.to_string();
        let body = json!({"username": username, "amount": amount});
        async move { server.post("/kudos/award", Some(&key), body).await }
    };
    assert_error(
        &award(&moderator, &alias, 10.0).await,
        StatusCode::FORBIDDEN,
        "NotAllowedAwards",
    );
    assert_error(
        &award(&admin, "anonymous#0", 10.0).await,
        StatusCode::BAD_REQUEST,
        "KudosAwardToAnon",
    );
    assert_error(
        &award(&admin, &alias, -5.0).await,
        StatusCode::BAD_REQUEST,
        "KudosValidationError",
    );
    let (status, awarded) = award(&admin, &alias, 30.0).await;
    assert_eq!(status, StatusCode::OK, "{awarded}");
    assert_eq!(awarded["awarded"], 30.0);
    assert!(close(server.kudos(&user).await, 30.0));
    let details = server.user(id, Some(&user)).await;
    assert_eq!(details["kudos_details"]["awarded"], 30.0, "{details}");
}

/// A finished image request of `n` images (shared or not), by `requester`, served by `worker`.
async fn finished_images(server: &Server, requester: &str, worker: &str, shared: bool) -> String {
    let body = json!({"prompt": "a lighthouse", "shared": shared, "r2": false,
                      "params": {"width": 256, "height": 256, "steps": 10, "n": 2},
                      "models": [IMAGE_MODEL]});
    let (status, accepted) = server.post("/generate/async", Some(requester), body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    for marker in [1, 2] {
        let (_, job) = server.pop_image(worker, "painter", IMAGE_MODEL).await;
        let (status, _) = server
            .post(
                "/generate/submit",
                Some(worker),
                json!({"id": job["id"], "generation": STANDARD.encode(webp(marker)), "seed": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    accepted["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn shared_images_are_rated_once_and_the_requester_earns_for_it() {
    let server = Server::start(&[]);
    let (_, worker) = server.admin_user("painter-owner", &["--trusted"]);
    let (requester_id, requester) = server.register("requester").await;
    server.grant(requester_id, 100.0).await;
    server.pop_image(&worker, "painter", IMAGE_MODEL).await;

    let private = finished_images(&server, &requester, &worker, false).await;
    let path = format!("/generate/rate/{private}");
    let refused = server.post(&path, None, json!({"ratings": []})).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "AestheticsNotPublic");

    let id = finished_images(&server, &requester, &worker, true).await;
    let (_, done) = server.get(&format!("/generate/status/{id}"), None).await;
    let images: Vec<String> = done["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(images.len(), 2, "{done}");
    let path = format!("/generate/rate/{id}");
    let unknown = server
        .post(
            &path,
            None,
            json!({"ratings": [{"id": "nope", "rating": 5}]}),
        )
        .await;
    assert_error(&unknown, StatusCode::BAD_REQUEST, "ProcGenNotFound");
    let out_of_range = server
        .post(
            &path,
            None,
            json!({"ratings": [{"id": images[0], "rating": 11}]}),
        )
        .await;
    assert_error(&out_of_range, StatusCode::BAD_REQUEST, "BadRequest");

    let before = server.kudos(&requester).await;
    let rating = json!({"best": images[1],
                        "ratings": [{"id": images[0], "rating": 7, "artifacts": 1},
                                    {"id": images[1], "rating": 9}]});
    let (status, rated) = server.post(&path, None, rating.clone()).await;
    assert_eq!(status, StatusCode::OK, "{rated}");
    let reward = rated["reward"].as_f64().unwrap();
    assert!(reward > 0.0, "{rated}");
    assert!(close(server.kudos(&requester).await, before + reward));
    // Once: a second rating is refused and pays nothing.
    let again = server.post(&path, None, rating).await;
    assert_error(&again, StatusCode::BAD_REQUEST, "AestheticsAlreadyExist");
    assert!(close(server.kudos(&requester).await, before + reward));
}
