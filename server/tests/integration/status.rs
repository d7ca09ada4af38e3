//! The public status endpoints and the OpenAPI document.

use crate::common::{assert_error, close, Server, ANON};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const MODEL: &str = "test/Tiny-1B";
const OTHER_MODEL: &str = "test/Other-7B";
const IMAGE_MODEL: &str = "stable_diffusion";

#[tokio::test]
async fn heartbeat_and_modes() {
    let server = Server::start(&[]);
    let (status, heartbeat) = server.get("/status/heartbeat", None).await;
    assert_eq!(status, StatusCode::OK, "{heartbeat}");
    assert_eq!(heartbeat["message"], "OK");
    assert_eq!(heartbeat["version"], env!("CARGO_PKG_VERSION"));
    let (status, modes) = server.get("/status/modes", None).await;
    assert_eq!(status, StatusCode::OK, "{modes}");
    // Raid mode is for moderators' eyes (modes.rs has the rest).
    assert_eq!(
        modes,
        json!({"maintenance_mode": false, "invite_only_mode": false})
    );
    // Public status reads no key, so even a wrong one does not matter.
    let (status, _) = server
        .get("/status/heartbeat", Some("AAAAAAAAAAAAAAAAAAAAAA"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

fn by_name<'a>(models: &'a Value, name: &str) -> &'a Value {
    models
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {models}"))
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {models}"))
}

#[tokio::test]
async fn models_reflect_online_workers_and_queued_requests() {
    let server = Server::start(&[]);
    let (_, key) = server.register("owner").await;
    let (status, none) = server.get("/status/models", None).await;
    assert_eq!(status, StatusCode::OK, "{none}");
    assert_eq!(none, json!([]));

    let (status, _) = server.pop_text(&key, "text-one", MODEL).await;
    assert_eq!(status, StatusCode::OK);
    let body = json!({"name": "text-two", "models": [MODEL, OTHER_MODEL], "threads": 2});
    let (status, answer) = server.post("/generate/text/pop", Some(&key), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = server.pop_image(&key, "painter", IMAGE_MODEL).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let (_, idle) = server.get("/status/models?type=text", None).await;
    assert_eq!(idle.as_array().unwrap().len(), 2, "{idle}");
    let tiny = by_name(&idle, MODEL);
    assert_eq!(tiny["count"], 2);
    assert_eq!(tiny["jobs"], 0.0);
    assert_eq!(tiny["queued"], 0.0);
    assert_eq!(tiny["type"], "text");
    assert_eq!(by_name(&idle, OTHER_MODEL)["count"], 1);

    server
        .submit_text_request(
            ANON,
            json!({"prompt": "one", "models": [MODEL], "params": {"max_length": 64}}),
        )
        .await;
    server
        .submit_text_request(
            ANON,
            json!({"prompt": "three", "models": [MODEL], "params": {"n": 3, "max_length": 100}}),
        )
        .await;
    server
        .submit_text_request(
            ANON,
            json!({"prompt": "other", "models": [OTHER_MODEL], "params": {"max_length": 50}}),
        )
        .await;
    // A request for any model counts for no model in particular.
    server
        .submit_text_request(ANON, json!({"prompt": "anything"}))
        .await;
    let (status, answer) = server
        .post(
            "/generate/async",
            Some(ANON),
            json!({"prompt": "a picture", "models": [IMAGE_MODEL], "params": {"n": 2, "width": 512, "height": 512, "steps": 30}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");

    let (status, text) = server.get("/status/models?type=text", None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(text.as_array().unwrap().len(), 2, "{text}");
    let tiny = by_name(&text, MODEL);
    assert_eq!(tiny["count"], 2);
    assert_eq!(tiny["jobs"], 4.0);
    assert_eq!(tiny["queued"], 64.0 + 3.0 * 100.0);
    let other = by_name(&text, OTHER_MODEL);
    assert_eq!(other["count"], 1);
    assert_eq!(other["jobs"], 1.0);
    assert_eq!(other["queued"], 50.0);
    assert_eq!(other["type"], "text");

    let (_, image) = server.get("/status/models?type=image", None).await;
    assert_eq!(image.as_array().unwrap().len(), 1, "{image}");
    let sd = by_name(&image, IMAGE_MODEL);
    assert_eq!(sd["count"], 1);
    assert_eq!(sd["jobs"], 2.0);
    assert!(
        close(
            sd["queued"].as_f64().unwrap(),
            2.0 * 512.0 * 512.0 * 30.0 / 1e6
        ),
        "{sd}"
    );
    assert_eq!(sd["type"], "image");

    let (_, all) = server.get("/status/models", None).await;
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    assert_eq!(by_name(&all, MODEL), tiny);
    assert_eq!(by_name(&all, IMAGE_MODEL), sd);

    // A popped generation no longer waits.
    let (_, job) = server.pop_text(&key, "text-one", MODEL).await;
    assert!(job["id"].is_string(), "{job}");
    let (_, text) = server.get("/status/models?type=text", None).await;
    // Equal priority, oldest first: the single generation went, the three wait.
    assert_eq!(job["payload"]["prompt"], "one");
    assert_eq!(by_name(&text, MODEL)["jobs"], 3.0, "{text}");
    assert_eq!(by_name(&text, MODEL)["queued"], 300.0, "{text}");

    for bad in ["/status/models?type=audio", "/status/models?type=Image"] {
        let answer = server.get(bad, None).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "BadRequest");
    }
}

#[tokio::test]
async fn one_model_by_name() {
    let server = Server::start(&[]);
    let (_, key) = server.register("owner").await;
    server.pop_text(&key, "text-one", MODEL).await;
    server.pop_image(&key, "painter", IMAGE_MODEL).await;
    server
        .submit_text_request(ANON, json!({"prompt": "one", "models": [MODEL]}))
        .await;

    // The slash in the name travels encoded.
    let (status, tiny) = server.get("/status/models/test%2FTiny-1B", None).await;
    assert_eq!(status, StatusCode::OK, "{tiny}");
    let list = tiny.as_array().unwrap();
    assert_eq!(list.len(), 1, "{tiny}");
    assert_eq!(list[0]["name"], MODEL);
    assert_eq!(list[0]["count"], 1);
    assert_eq!(list[0]["jobs"], 1.0);
    assert_eq!(list[0]["type"], "text");

    let (status, sd) = server.get("/status/models/stable_diffusion", None).await;
    assert_eq!(status, StatusCode::OK, "{sd}");
    assert_eq!(sd.as_array().unwrap().len(), 1, "{sd}");
    assert_eq!(sd[0]["name"], IMAGE_MODEL);
    assert_eq!(sd[0]["type"], "image");

    for unknown in ["no-such-model", "Stable_Diffusion", "test%2Fno-such-model"] {
        let (status, empty) = server.get(&format!("/status/models/{unknown}"), None).await;
        assert_eq!(status, StatusCode::OK, "{unknown}: {empty}");
        assert_eq!(empty, json!([]), "{unknown}");
    }
}

#[tokio::test]
async fn performance_reflects_workers_and_queues() {
    let server = Server::start(&[]);
    let (status, empty) = server.get("/status/performance", None).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    for field in [
        "queued_requests",
        "queued_text_requests",
        "worker_count",
        "text_worker_count",
        "thread_count",
        "text_thread_count",
    ] {
        assert_eq!(empty[field], 0, "{field}: {empty}");
    }
    assert_eq!(empty["queued_tokens"], 0.0);
    assert_eq!(empty["queued_megapixelsteps"], 0.0);

    let (_, key) = server.register("owner").await;
    server.pop_text(&key, "text-one", MODEL).await;
    let body = json!({"name": "text-two", "models": [MODEL], "threads": 3});
    let (status, answer) = server.post("/generate/text/pop", Some(&key), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = server.pop_image(&key, "painter", IMAGE_MODEL).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    server
        .submit_text_request(
            ANON,
            json!({"prompt": "two", "params": {"n": 2, "max_length": 64}}),
        )
        .await;
    let (_, requester) = server.register("requester").await;
    server
        .submit_text_request(
            &requester,
            json!({"prompt": "one", "params": {"max_length": 100}}),
        )
        .await;
    let (status, answer) = server
        .post(
            "/generate/async",
            Some(ANON),
            json!({"prompt": "a picture", "params": {"n": 3, "width": 512, "height": 512, "steps": 10}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");

    let (_, perf) = server.get("/status/performance", None).await;
    assert_eq!(perf["text_worker_count"], 2, "{perf}");
    assert_eq!(perf["text_thread_count"], 4, "{perf}");
    assert_eq!(perf["worker_count"], 1, "{perf}");
    assert_eq!(perf["thread_count"], 1, "{perf}");
    assert_eq!(perf["queued_text_requests"], 3, "{perf}");
    assert_eq!(perf["queued_tokens"], 2.0 * 64.0 + 100.0, "{perf}");
    assert_eq!(perf["queued_requests"], 3, "{perf}");
    assert!(
        close(
            perf["queued_megapixelsteps"].as_f64().unwrap(),
            3.0 * 512.0 * 512.0 * 10.0 / 1e6
        ),
        "{perf}"
    );

    // The registered request goes first and leaves the queue.
    let (_, job) = server.pop_text(&key, "text-one", MODEL).await;
    assert_eq!(job["payload"]["prompt"], "one");
    let (_, perf) = server.get("/status/performance", None).await;
    assert_eq!(perf["queued_text_requests"], 2, "{perf}");
    assert_eq!(perf["queued_tokens"], 2.0 * 64.0, "{perf}");
    assert_eq!(perf["queued_requests"], 3, "{perf}");
}

/// The routes of the API routers (AI Horde and OpenAI), read from their source, as (full
/// path, methods).
fn routes() -> Vec<(String, Vec<&'static str>)> {
    let mut routes = routes_of(include_str!("../../src/api/mod.rs"), "/api/v2");
    routes.extend(routes_of(
        include_str!("../../src/openai_api/mod.rs"),
        "/v1",
    ));
    routes
}

fn routes_of(source: &str, prefix: &str) -> Vec<(String, Vec<&'static str>)> {
    let mut routes = Vec::new();
    for chunk in source.split(".route(").skip(1) {
        let chunk = chunk
            .split(".fallback(")
            .next()
            .unwrap()
            .split(".with_state(")
            .next()
            .unwrap();
        // The catch-alls that answer 404 in the API's shape are no endpoints.
        if chunk.contains("any(not_found)") {
            continue;
        }
        // OpenAPI writes axum's catch-all `{*name}` as a plain `{name}`.
        let path = chunk
            .split('"')
            .nth(1)
            .expect("a quoted path")
            .replace("{*", "{");
        // The API's own paths, the one well-known path and the health checks sit at the root.
        let at_root = ["/api/", "/.well-known/", "/health/"];
        let path = if at_root.iter().any(|root| path.starts_with(root)) {
            path
        } else {
            format!("{prefix}{path}")
        };
        let methods: Vec<&str> = ["get", "post", "put", "delete"]
            .into_iter()
            .filter(|m| chunk.contains(&format!("{m}(")) || chunk.contains(&format!(".{m}(")))
            .collect();
        assert!(!methods.is_empty(), "no method for {path}");
        routes.push((path, methods));
    }
    routes
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint() {
    let server = Server::start(&[]);
    let response = server
        .http()
        .get(format!("{}/api/swagger.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json")));
    let document: Value = serde_json::from_str(&response.text().await.unwrap()).expect("JSON");
    assert!(document["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with('3')));
    let paths = document["paths"].as_object().expect("paths");

    let routes = routes();
    assert!(routes.len() >= 20, "{routes:?}");
    let mut expected = BTreeSet::new();
    for (full, methods) in &routes {
        let full = full.clone();
        if full == "/api/swagger.json" {
            continue;
        }
        let entry = paths
            .get(&full)
            .unwrap_or_else(|| panic!("{full} missing from the OpenAPI paths"));
        for method in methods {
            let operation = entry
                .get(*method)
                .unwrap_or_else(|| panic!("{method} {full} missing from the OpenAPI document"));
            // Every `{name}` of the path template is declared as a path parameter.
            for name in full
                .split('{')
                .skip(1)
                .map(|t| t.split('}').next().unwrap())
            {
                let declared = operation["parameters"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true)
                });
                assert!(
                    declared,
                    "{method} {full} does not declare {{{name}}}: {operation}"
                );
            }
        }
        expected.insert(full);
    }
    // And nothing is documented that the router does not serve.
    let documented: BTreeSet<String> = paths.keys().cloned().collect();
    assert_eq!(documented, expected);
    // Registration, a Potluck addition, is documented with its answer.
    assert!(paths["/api/v2/register"]["post"]["responses"]["201"].is_object());
}

#[tokio::test]
async fn workers_gone_quiet_count_for_nothing() {
    let server = Server::start(&["--worker-stale-secs", "1"]);
    let (_, key) = server.register("owner").await;
    server.pop_text(&key, "gone-quiet", MODEL).await;
    server.pop_image(&key, "painter", IMAGE_MODEL).await;
    let (_, perf) = server.get("/status/performance", None).await;
    assert_eq!(perf["text_worker_count"], 1, "{perf}");
    assert_eq!(perf["worker_count"], 1, "{perf}");
    let (_, models) = server.get("/status/models", None).await;
    assert_eq!(models.as_array().unwrap().len(), 2, "{models}");
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (_, perf) = server.get("/status/performance", None).await;
    assert_eq!(perf["text_worker_count"], 0, "{perf}");
    assert_eq!(perf["text_thread_count"], 0, "{perf}");
    assert_eq!(perf["worker_count"], 0, "{perf}");
    let (_, models) = server.get("/status/models", None).await;
    assert_eq!(models, json!([]));
    let (_, model) = server.get("/status/models/stable_diffusion", None).await;
    assert_eq!(model, json!([]));
}
