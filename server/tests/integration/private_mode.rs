//! Private mode (`--private`) over real HTTP: no anonymous use on `/api/v2`, `/v1` or the web
//! UI's server functions, no self-registration, keys from the operator's admin CLI that work,
//! and a banner on every page. Without the flag, nothing of it.

use crate::common::{assert_error, Server, ANON, TEXT_FORM};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MODEL: &str = "org/Tiny-1B";

/// A text request for any model.
fn text_request() -> Value {
    json!({"prompt": "Once upon a time", "params": {"max_length": 16}})
}

async fn html(server: &Server, path: &str) -> String {
    let response = server
        .http()
        .get(format!("{}{path}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.unwrap()
}

async fn chat_completion(server: &Server, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = server
        .http()
        .post(format!("{}/v1/chat/completions", server.base))
        .json(&json!({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_private_server_refuses_anonymous_use_everywhere() {
    let server = Server::start(&["--private"]);
    for key in [Some(ANON), None] {
        let answer = server
            .post("/generate/text/async", key, text_request())
            .await;
        assert_error(&answer, StatusCode::UNAUTHORIZED, "AnonForbidden");
        let image = json!({"prompt": "a pot of soup", "params": {"steps": 10}});
        let answer = server.post("/generate/async", key, image).await;
        assert_error(&answer, StatusCode::UNAUTHORIZED, "AnonForbidden");

        let (status, body) = chat_completion(&server, key).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        assert_eq!(body["error"]["code"], "invalid_api_key", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("private server")),
            "{body}"
        );
    }
    // Who works for it and who has an account are its account holders' business too.
    for path in ["/workers", "/users", "/find_user"] {
        assert_error(
            &server.get(path, None).await,
            StatusCode::UNAUTHORIZED,
            "AnonForbidden",
        );
    }
    // What no key is ever asked for stays open: the cluster's state, and the API's description.
    for path in ["/status/heartbeat", "/status/models", "/status/performance"] {
        let (status, body) = server.get(path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let swagger = server
        .http()
        .get(format!("{}/api/swagger.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(swagger.status(), StatusCode::OK);

    // The web UI asks through the same rules.
    let queued = server
        .server_function("queue_text", TEXT_FORM, None)
        .await
        .status();
    assert_eq!(queued, StatusCode::UNAUTHORIZED);
    let signed_in = server
        .server_function("log_in", &[("apikey", ANON)], None)
        .await
        .status();
    assert_eq!(signed_in, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_private_server_takes_its_accounts_from_the_operator_only() {
    let server = Server::start(&["--private"]);
    let answer = server
        .post("/register", None, json!({"username": "mallory"}))
        .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "RegistrationClosed");
    let registered = server
        .server_function("register", &[("username", "mallory")], None)
        .await
        .status();
    assert_eq!(registered, StatusCode::FORBIDDEN);

    let (_, key) = server.admin_user("alice", &[]);
    let (status, me) = server.get("/find_user", Some(&key)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert!(
        me["username"].as_str().unwrap().starts_with("alice#"),
        "{me}"
    );
    server.submit_text_request(&key, text_request()).await;
    let (status, job) = server.pop_text(&key, "alice-box", MODEL).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert!(job["id"].is_string(), "the worker got the request: {job}");
    let signed_in = server
        .server_function("log_in", &[("apikey", &key)], None)
        .await
        .status();
    assert_eq!(
        signed_in,
        StatusCode::OK,
        "the key signs in on the web UI too"
    );
}

#[tokio::test]
async fn a_private_server_says_so_on_every_page() {
    let server = Server::start(&["--private"]);
    for path in ["/", "/generate/text", "/register", "/privacy"] {
        let page = html(&server, path).await;
        assert!(
            page.contains(r#"id="private-banner""#),
            "{path} has no banner"
        );
        assert!(
            page.contains("only accounts issued by its operator can use it"),
            "{path}"
        );
        assert!(
            !page.contains(r#"href="/register""#),
            "{path} links to registration"
        );
    }
    let register = html(&server, "/register").await;
    assert!(register.contains(r#"id="registration-closed""#));
    assert!(
        !register.contains(r#"name="username""#),
        "no registration form"
    );
    assert!(html(&server, "/privacy")
        .await
        .contains(r#"id="private-server""#));
}

#[tokio::test]
async fn a_public_server_has_no_banner_and_serves_anonymous_requesters() {
    let server = Server::start(&[]);
    for path in ["/", "/register", "/privacy"] {
        let page = html(&server, path).await;
        assert!(!page.contains(r#"id="private-banner""#), "{path}");
        assert!(!page.contains(r#"id="private-server""#), "{path}");
    }
    assert!(html(&server, "/register")
        .await
        .contains(r#"name="username""#));
    server.submit_text_request(ANON, text_request()).await;
}
