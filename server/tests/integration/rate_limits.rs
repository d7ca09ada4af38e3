//! Rate limits per endpoint class: per client address and per API key, answered with 429, the
//! API's error shape and `Retry-After`; counted per instance.

use crate::common::{postgres_or_skip, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Sends `request`, and returns its status, its `Retry-After` in seconds, and its body.
async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Option<u64>, Value) {
    let response = request.send().await.unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let status = response.status();
    (status, retry_after, response.json().await.unwrap())
}

fn register(server: &Server, name: &str) -> reqwest::RequestBuilder {
    server
        .http()
        .post(format!("{}/api/v2/register", server.base))
        .json(&json!({ "username": name }))
}

#[tokio::test]
async fn registrations_over_the_limit_get_429_with_retry_after() {
    let server = Server::start(&["--rate-limits", "off,register=3/m"]);
    for i in 0..3 {
        let (status, retry_after, body) = send(register(&server, &format!("farm{i}"))).await;
        assert_eq!((status, retry_after), (StatusCode::CREATED, None), "{body}");
    }
    let (status, retry_after, body) = send(register(&server, "farm3")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["rc"], "TooManyRequests");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("3 per minute"), "{message}");
    // One registration comes back every 20 s.
    let retry_after = retry_after.expect("a Retry-After header");
    assert!((15..=20).contains(&retry_after), "{retry_after}");

    // Other classes are not limited by it, and the health checks never are.
    assert_eq!(
        server.get("/status/heartbeat", None).await.0,
        StatusCode::OK
    );
    let ready = server.http().get(format!("{}/health/ready", server.base));
    assert_eq!(ready.send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn a_key_is_counted_from_every_address_and_an_address_for_every_key() {
    let server = Server::start(&[
        "--rate-limits",
        "off,api=2/m",
        "--client-ip-header",
        "X-Forwarded-For",
    ]);
    let find_user = |key: &str, address: &str| {
        server
            .http()
            .get(format!("{}/api/v2/find_user", server.base))
            .header("apikey", key)
            .header("X-Forwarded-For", address)
    };
    // One key from three addresses: the key's quota runs out.
    assert_ne!(
        send(find_user("key-a", "10.0.0.1")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_ne!(
        send(find_user("key-a", "10.0.0.2")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        send(find_user("key-a", "10.0.0.3")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Made-up keys from one address: the address's quota runs out.
    assert_ne!(
        send(find_user("key-b", "10.0.0.9")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_ne!(
        send(find_user("key-c", "10.0.0.9")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        send(find_user("key-d", "10.0.0.9")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn the_openai_api_answers_in_its_own_shape() {
    let server = Server::start(&["--rate-limits", "off,generate=1/h"]);
    let (_, key) = server.register("chatter").await;
    let chat = || {
        server
            .http()
            .post(format!("{}/v1/chat/completions", server.base))
            .bearer_auth(&key)
            .json(&json!({"model": "nobody-serves-this", "messages": [{"role": "user", "content": "hi"}]}))
    };
    let (status, _, body) = send(chat()).await;
    assert_ne!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, retry_after, body) = send(chat()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert_eq!(body["error"]["code"], "TooManyRequests", "{body}");
    assert!(retry_after.unwrap() > 3000);
}

#[tokio::test]
async fn each_instance_counts_its_own_requests() {
    if !postgres_or_skip("each_instance_counts_its_own_requests") {
        return;
    }
    let limits = ["--rate-limits", "off,register=1/h"];
    let first = Server::start(&limits);
    let second = first.start_beside(&limits);
    assert_eq!(send(register(&first, "one")).await.0, StatusCode::CREATED);
    assert_eq!(
        send(register(&first, "two")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The documented choice: counters live in each instance, so the other one still takes one.
    assert_eq!(
        send(register(&second, "three")).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        send(register(&second, "four")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}
