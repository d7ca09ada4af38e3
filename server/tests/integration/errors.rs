//! Error answers: malformed bodies, wrong routes and methods, validation of
//! text requests, concurrency limits, unknown ids. Every error has the AI
//! Horde shape and nothing answers 500.

use crate::common::{assert_error, Server, ANON};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const MODEL: &str = "test/Tiny-1B";

#[tokio::test]
async fn malformed_bodies_are_bad_requests() {
    let server = Server::start(&[]);
    let (_, key) = server.register("owner").await;
    let json_type = Some("application/json");
    for (method, path) in [
        (Method::POST, "/generate/text/async"),
        (Method::POST, "/generate/async"),
        (Method::POST, "/generate/text/pop"),
        (Method::POST, "/generate/text/submit"),
        (Method::POST, "/register"),
        (Method::POST, "/kudos/transfer"),
        (Method::PUT, "/users/1"),
    ] {
        for body in [&b"{not json"[..], b"", b"{\"prompt\": \"x\",}", b"[1, 2"] {
            let answer = server
                .raw(method.clone(), path, Some(&key), json_type, body.to_vec())
                .await;
            assert_error(&answer, StatusCode::BAD_REQUEST, "BadRequest");
        }
    }
    // Valid JSON of the wrong shape.
    for body in [
        json!({"prompt": "x", "params": {"max_length": "long"}}),
        json!({"prompt": "x", "params": {"n": -1}}),
        json!({"prompt": "x", "params": {"n": 1.5}}),
        json!({"prompt": 42}),
        json!({"prompt": "x", "models": "not a list"}),
        json!({"prompt": "x", "params": "none"}),
        json!(["prompt"]),
        json!("prompt"),
        json!(null),
        json!(42),
    ] {
        let answer = server
            .post("/generate/text/async", Some(&key), body.clone())
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "BadRequest");
    }
    let answer = server
        .post(
            "/generate/async",
            Some(&key),
            json!({"prompt": "x", "params": {"width": "wide"}}),
        )
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "BadRequest");
    // A body is an object: serde would otherwise read an array's items as
    // the fields in order, so that this moved kudos.
    let (giver_id, giver) = server.register("giver").await;
    let (_, admin) = server.admin_user("admin", &["--admin"]);
    server
        .put(
            &format!("/users/{giver_id}"),
            Some(&admin),
            json!({"kudos": 10}),
        )
        .await;
    let answer = server
        .post("/kudos/transfer", Some(&giver), json!(["owner#1", 5]))
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "BadRequest");
    // The 10 kudos given were topped up to the account's floor, 14.
    assert_eq!(server.kudos(&giver).await, 14.0);
    let user_path = format!("/users/{giver_id}");
    for (path, body) in [
        ("/register", json!(["arrayname"])),
        ("/generate/async", json!(["a picture"])),
        ("/generate/text/pop", json!(["worker-one", [MODEL]])),
        (user_path.as_str(), json!([1000])),
    ] {
        let answer = server.post(path, Some(&admin), body.clone()).await;
        assert!(
            answer.0 == StatusCode::BAD_REQUEST || answer.0 == StatusCode::METHOD_NOT_ALLOWED,
            "{path}: {answer:?}"
        );
        assert_eq!(answer.1["rc"], "BadRequest", "{path}: {answer:?}");
        let answer = server.put(path, Some(&admin), body).await;
        assert!(answer.0.is_client_error(), "{path}: {answer:?}");
        assert!(answer.1["rc"].is_string(), "{path}: {answer:?}");
    }
    assert_eq!(server.kudos(&giver).await, 14.0);
    let answer = server
        .post(
            "/generate/text/pop",
            Some(&key),
            json!({"name": "worker-one", "models": MODEL}),
        )
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "BadRequest");
    // Nothing was queued by any of it.
    let (_, perf) = server.get("/status/performance", None).await;
    assert_eq!(perf["queued_text_requests"], 0);
    assert_eq!(perf["text_worker_count"], 0);
}

#[tokio::test]
async fn bodies_must_be_declared_json() {
    let server = Server::start(&[]);
    let body = br#"{"prompt": "hello"}"#.to_vec();
    let none = server
        .raw(
            Method::POST,
            "/generate/text/async",
            None,
            None,
            body.clone(),
        )
        .await;
    assert_error(&none, StatusCode::UNSUPPORTED_MEDIA_TYPE, "BadRequest");
    let text = server
        .raw(
            Method::POST,
            "/generate/text/async",
            None,
            Some("text/plain"),
            body.clone(),
        )
        .await;
    assert_error(&text, StatusCode::UNSUPPORTED_MEDIA_TYPE, "BadRequest");
    let form = server
        .raw(
            Method::POST,
            "/register",
            None,
            Some("application/x-www-form-urlencoded"),
            b"username=alice".to_vec(),
        )
        .await;
    assert_error(&form, StatusCode::UNSUPPORTED_MEDIA_TYPE, "BadRequest");
    // With a charset it is still JSON.
    let (status, answer) = server
        .raw(
            Method::POST,
            "/generate/text/async",
            None,
            Some("application/json; charset=utf-8"),
            body,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let server = Server::start(&["--max-body-bytes", "1024"]);
    let (_, key) = server.register("owner").await;
    let big = json!({"prompt": "x".repeat(2000)});
    let answer = server.post("/generate/text/async", Some(&key), big).await;
    assert_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "BadRequest");
    let answer = server
        .post(
            "/register",
            None,
            json!({"username": "y".repeat(50), "padding": "z".repeat(5000)}),
        )
        .await;
    assert_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "BadRequest");
    let answer = server
        .post(
            "/generate/text/submit",
            Some(&key),
            json!({"id": "x", "generation": "g".repeat(100_000)}),
        )
        .await;
    assert_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "BadRequest");
    // An image upload over the limit too, in the same shape.
    let upload = server
        .raw(
            Method::PUT,
            "/images/00000000-0000-0000-0000-000000000000?token=x",
            None,
            Some("image/webp"),
            vec![0u8; 200_000],
        )
        .await;
    assert_error(&upload, StatusCode::PAYLOAD_TOO_LARGE, "BadRequest");
    // Just under the limit is fine, on the same client (a refused body must
    // not leave a half-read connection behind for the next request).
    let (status, answer) = server
        .post(
            "/generate/text/async",
            Some(&key),
            json!({"prompt": "x".repeat(900)}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_answer_json() {
    let server = Server::start(&[]);
    for path in [
        "/nothing-here",
        "/generate/text",
        "/generate/text/status",
        "/status",
        "/users/1/extra",
        "/teams/some-id/extra",
    ] {
        let answer = server.get(path, None).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "NotFound");
        let answer = server.post(path, None, json!({})).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "NotFound");
    }
    for (method, path) in [
        (Method::GET, "/generate/text/async"),
        (Method::PUT, "/generate/text/async"),
        (Method::GET, "/generate/text/pop"),
        (Method::GET, "/generate/text/submit"),
        (Method::POST, "/status/heartbeat"),
        (Method::DELETE, "/status/models"),
        (Method::POST, "/workers"),
        (Method::POST, "/workers/some-id"),
        (Method::DELETE, "/users/1"),
        (Method::GET, "/register"),
        (Method::GET, "/kudos/transfer"),
        (Method::POST, "/generate/text/status/some-id"),
        (Method::PUT, "/generate/check/some-id"),
        (Method::PATCH, "/find_user"),
        (Method::PUT, "/teams"),
        (Method::PUT, "/teams/some-id"),
        (Method::PUT, "/workers/messages"),
        (Method::POST, "/workers/name/some-name"),
    ] {
        let answer = server.call(method.clone(), path, None, None).await;
        assert_error(&answer, StatusCode::METHOD_NOT_ALLOWED, "BadRequest");
        assert!(answer.1.is_object(), "{method} {path}: {}", answer.1);
    }
}

#[tokio::test]
async fn an_empty_blank_or_unreadable_key_is_nobodys() {
    let server = Server::start(&[]);
    let client = reqwest::Client::new();
    let empty = reqwest::header::HeaderValue::from_static("");
    let blank = reqwest::header::HeaderValue::from_static("   ");
    let not_ascii = reqwest::header::HeaderValue::from_bytes(b"cl\xe9").unwrap();
    for key in [empty, blank, not_ascii] {
        for (method, path) in [
            (Method::POST, "/generate/text/async"),
            (Method::GET, "/find_user"),
            (Method::GET, "/status/modes"),
        ] {
            let response = client
                .request(method.clone(), format!("{}/api/v2{path}", server.base))
                .header("apikey", key.clone())
                .json(&json!({"prompt": "never queued"}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["rc"], "InvalidAPIKey", "{method} {path}: {body}");
        }
    }
}

#[tokio::test]
async fn error_messages_never_echo_a_large_input() {
    let server = Server::start(&[]);
    let huge = "m".repeat(1_000_000);
    for (path, body) in [
        (
            "/generate/text/async",
            json!({"prompt": "x", "models": [huge]}),
        ),
        (
            "/generate/async",
            json!({"prompt": "x", "params": {"sampler_name": huge}}),
        ),
        (
            "/generate/text/async",
            json!({"prompt": "x", "params": {"temperature": huge}}),
        ),
    ] {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v2{path}", server.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let text = response.text().await.unwrap();
        assert!(text.len() < 2_000, "{path}: a {} byte error", text.len());
        let error: Value = serde_json::from_str(&text).unwrap();
        assert!(error["rc"].is_string(), "{text}");
    }
}

#[tokio::test]
async fn the_api_document_and_the_health_checks_answer_in_the_api_shape() {
    let server = Server::start(&[]);
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/api/swagger.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["rc"], "BadRequest", "{body}");
    for path in ["/health/live", "/health/ready"] {
        let response = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["message"], "OK", "{path}: {body}");
    }
}

async fn text_error(server: &Server, key: &str, body: Value, rc: &str, field: Option<&str>) {
    let answer = server
        .post("/generate/text/async", Some(key), body.clone())
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, rc);
    if let Some(field) = field {
        assert!(
            answer.1["errors"][field].is_string(),
            "{body} → {}",
            answer.1
        );
    }
}

#[tokio::test]
async fn text_requests_are_validated() {
    let server = Server::start(&[]);
    let (_, key) = server.register("requester").await;
    let (_, worker) = server.register("owner").await;
    server.pop_text(&worker, "worker-one", MODEL).await;
    let bad = |params: Value| json!({"prompt": "hello", "params": params});
    for n in [0, 21] {
        text_error(
            &server,
            &key,
            bad(json!({"n": n})),
            "BadRequest",
            Some("params.n"),
        )
        .await;
    }
    for max_length in [0, 15, 4097] {
        text_error(
            &server,
            &key,
            bad(json!({"max_length": max_length})),
            "BadRequest",
            Some("params.max_length"),
        )
        .await;
    }
    for context in [79, 1_048_577] {
        text_error(
            &server,
            &key,
            bad(json!({"max_context_length": context})),
            "BadRequest",
            Some("params.max_context_length"),
        )
        .await;
    }
    for prompt in [json!(""), json!("   \n\t"), json!(null)] {
        text_error(
            &server,
            &key,
            json!({"prompt": prompt}),
            "MissingPrompt",
            None,
        )
        .await;
    }
    text_error(&server, &key, json!({}), "MissingPrompt", None).await;
    text_error(
        &server,
        &key,
        json!({"prompt": "before\u{0}after"}),
        "NulByteInPayload",
        None,
    )
    .await;
    text_error(
        &server,
        &key,
        json!({"prompt": "hello", "models": [""]}),
        "BadRequest",
        Some("models"),
    )
    .await;
    // The same checks hold for dry runs and for anonymous requesters.
    text_error(
        &server,
        &key,
        json!({"prompt": "", "dry_run": true}),
        "MissingPrompt",
        None,
    )
    .await;
    text_error(
        &server,
        ANON,
        bad(json!({"n": 21})),
        "BadRequest",
        Some("params.n"),
    )
    .await;

    // The limits themselves are accepted (the largest is paid up front, or made smaller when
    // the requester allows it: see kudos.rs).
    for params in [
        json!({"n": 1, "max_length": 16, "max_context_length": 80}),
        json!({"n": 20, "max_length": 4096, "max_context_length": 1_048_576}),
    ] {
        let (status, answer) = server
            .post(
                "/generate/text/async",
                Some(&key),
                json!({"prompt": "edge", "params": params, "dry_run": true,
                       "allow_downgrade": true}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(answer["kudos"].as_f64().unwrap() > 0.0, "{answer}");
    }
    server
        .submit_text_request(
            &key,
            json!({"prompt": "ok", "models": ["no-such-model", MODEL]}),
        )
        .await;
    let (_, perf) = server.get("/status/performance", None).await;
    assert_eq!(perf["queued_text_requests"], 1, "{perf}");
}

#[tokio::test]
async fn anonymous_requesters_have_a_concurrency_limit() {
    let server = Server::start(&["--anonymous-concurrency", "2"]);
    let (_, key) = server.register("requester").await;
    let first = server
        .submit_text_request(ANON, json!({"prompt": "one"}))
        .await;
    server
        .submit_text_request(ANON, json!({"prompt": "two"}))
        .await;
    for anonymous in [Some(ANON), None] {
        let third = server
            .post(
                "/generate/text/async",
                anonymous,
                json!({"prompt": "three"}),
            )
            .await;
        assert_error(&third, StatusCode::TOO_MANY_REQUESTS, "TooManyPrompts");
    }
    // Images count against the same limit.
    let image = server
        .post(
            "/generate/async",
            Some(ANON),
            json!({"prompt": "a picture"}),
        )
        .await;
    assert_error(&image, StatusCode::TOO_MANY_REQUESTS, "TooManyPrompts");
    // A dry run queues nothing and is not limited.
    let (status, _) = server
        .post(
            "/generate/text/async",
            Some(ANON),
            json!({"prompt": "how much?", "dry_run": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // A registered user is not held back by anonymous requests.
    for i in 0..3 {
        server
            .submit_text_request(&key, json!({"prompt": format!("mine {i}")}))
            .await;
    }
    // A cancelled request frees its place.
    let (status, _) = server
        .delete(&format!("/generate/text/status/{first}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    server
        .submit_text_request(ANON, json!({"prompt": "three at last"}))
        .await;
    let again = server
        .post(
            "/generate/text/async",
            Some(ANON),
            json!({"prompt": "four"}),
        )
        .await;
    assert_error(&again, StatusCode::TOO_MANY_REQUESTS, "TooManyPrompts");
}

#[tokio::test]
async fn anonymous_clients_are_told_apart_behind_a_proxy() {
    let server = Server::start(&[
        "--anonymous-concurrency",
        "1",
        "--client-ip-header",
        "X-Forwarded-For",
    ]);
    let submit = |ip: &'static str| {
        let server = &server;
        async move {
            let response = server
                .http()
                .post(format!("{}/api/v2/generate/text/async", server.base))
                .header("X-Forwarded-For", ip)
                .json(&json!({"prompt": "hello"}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }
    };
    assert_eq!(submit("203.0.113.1").await.0, StatusCode::ACCEPTED);
    assert_error(
        &submit("203.0.113.1, 10.0.0.1").await,
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyPrompts",
    );
    assert_eq!(submit("203.0.113.2").await.0, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn unknown_request_ids_are_not_found() {
    let server = Server::start(&[]);
    let unknown = "00000000-0000-0000-0000-000000000000";
    for path in [
        format!("/generate/text/status/{unknown}"),
        format!("/generate/status/{unknown}"),
        format!("/generate/check/{unknown}"),
        "/generate/text/status/not-a-uuid".to_string(),
        "/generate/check/%20".to_string(),
    ] {
        let answer = server.get(&path, None).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "RequestNotFound");
        let answer = server.delete(&path, None).await;
        if path.starts_with("/generate/check/") {
            assert_error(&answer, StatusCode::METHOD_NOT_ALLOWED, "BadRequest");
        } else {
            assert_error(&answer, StatusCode::NOT_FOUND, "RequestNotFound");
        }
    }

    // A text request is unknown to the image endpoints, and the other way round.
    let text = server
        .submit_text_request(ANON, json!({"prompt": "words"}))
        .await;
    let (status, answer) = server
        .post(
            "/generate/async",
            Some(ANON),
            json!({"prompt": "a picture"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let image = answer["id"].as_str().unwrap().to_string();
    for path in [
        format!("/generate/status/{text}"),
        format!("/generate/check/{text}"),
        format!("/generate/text/status/{image}"),
    ] {
        let answer = server.get(&path, None).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "RequestNotFound");
    }
    let cancel_text_as_image = server
        .delete(&format!("/generate/status/{text}"), None)
        .await;
    assert_error(
        &cancel_text_as_image,
        StatusCode::NOT_FOUND,
        "RequestNotFound",
    );
    // Neither was touched.
    let (status, answer) = server
        .get(&format!("/generate/text/status/{text}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["waiting"], 1);
    let (status, answer) = server.get(&format!("/generate/check/{image}"), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["waiting"], 1);
}

/// A minimal WebP header and some bytes: what the server accepts as an image.
fn webp() -> Vec<u8> {
    let mut bytes = b"RIFF\x24\x00\x00\x00WEBPVP8 ".to_vec();
    bytes.extend([7u8; 32]);
    bytes
}

#[tokio::test]
async fn nul_characters_are_refused_everywhere() {
    // PostgreSQL stores no NUL in text or JSON: each of these once answered 503 there.
    let server = Server::start(&[]);
    let (_, key) = server.register("owner").await;
    server.pop_text(&key, "worker-one", MODEL).await;
    let (_, workers) = server.get("/workers", None).await;
    let worker = workers[0]["id"].as_str().unwrap().to_string();
    for (method, path, body) in [
        (
            Method::POST,
            "/generate/text/async",
            json!({"prompt": "x", "params": {"stop_sequence": ["a\u{0}"]}}),
        ),
        (
            Method::POST,
            "/generate/text/async",
            json!({"prompt": "x", "params": {"a\u{0}": 1}}),
        ),
        (
            Method::POST,
            "/generate/text/async",
            json!({"prompt": "x", "workers": ["w\u{0}"]}),
        ),
        (
            Method::POST,
            "/generate/text/async",
            json!({"prompt": "x", "softprompt": "\u{0}"}),
        ),
        (
            Method::POST,
            "/generate/async",
            json!({"prompt": "x", "params": {"extra": "\u{0}"}}),
        ),
        (
            Method::POST,
            "/generate/async",
            json!({"prompt": "x", "params": {"seed": "\u{0}"}}),
        ),
        (
            Method::POST,
            "/generate/async",
            json!({"prompt": "x", "source_processing": "\u{0}"}),
        ),
        (
            Method::POST,
            "/generate/async",
            json!({"prompt": "x", "params": {"loras": [{"name": "\u{0}"}]}}),
        ),
        (
            Method::POST,
            "/generate/text/pop",
            json!({"name": "worker-one", "models": [MODEL], "priority_usernames": ["\u{0}"]}),
        ),
        (
            Method::PUT,
            &format!("/workers/{worker}"),
            json!({"info": "a\u{0}b"}),
        ),
        (
            Method::PUT,
            &format!("/workers/{worker}"),
            json!({"maintenance": true, "maintenance_msg": "a\u{0}b"}),
        ),
        (
            Method::POST,
            "/generate/text/submit",
            json!({"id": "\u{0}", "generation": "x"}),
        ),
        (
            Method::POST,
            "/register",
            json!({"username": "nul\u{0}name"}),
        ),
        (
            Method::POST,
            "/kudos/transfer",
            json!({"username": "x#1\u{0}", "amount": 1}),
        ),
    ] {
        let answer = server
            .call(method.clone(), path, Some(&key), Some(body.clone()))
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "NulByteInPayload");
    }
    // A worker's result with a NUL is refused, and the job can still be done.
    server
        .submit_text_request(ANON, json!({"prompt": "a backslash and u0000: \\u0000"}))
        .await;
    let (_, job) = server.pop_text(&key, "worker-one", MODEL).await;
    // An escaped backslash followed by `u0000` is plain text, not a NUL.
    assert_eq!(job["payload"]["prompt"], "a backslash and u0000: \\u0000");
    let nul = server
        .post(
            "/generate/text/submit",
            Some(&key),
            json!({"id": job["id"], "generation": "a\u{0}b", "gen_metadata": [{"type": "x\u{0}", "value": "y"}]}),
        )
        .await;
    assert_error(&nul, StatusCode::BAD_REQUEST, "NulByteInPayload");
    let (status, answer) = server
        .post(
            "/generate/text/submit",
            Some(&key),
            json!({"id": job["id"], "generation": "fine"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, details) = server.get(&format!("/workers/{worker}"), None).await;
    assert_eq!(details["maintenance_mode"], false);
    assert!(details["info"].is_null(), "{details}");

    // NULs in paths name nothing.
    for (method, path) in [
        (Method::GET, "/workers/%00"),
        (Method::DELETE, "/workers/%00"),
        (Method::GET, "/workers/a%00b"),
    ] {
        let answer = server.call(method, path, Some(&key), None).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "WorkerNotFound");
    }
    let answer = server
        .put("/workers/%00", Some(&key), json!({"info": "x"}))
        .await;
    assert_error(&answer, StatusCode::NOT_FOUND, "WorkerNotFound");
    for (method, path) in [
        (Method::GET, "/generate/text/status/%00"),
        (Method::DELETE, "/generate/text/status/%00"),
        (Method::GET, "/generate/check/%00"),
        (Method::GET, "/generate/status/%00"),
        (Method::DELETE, "/generate/status/%00"),
        (Method::GET, "/images/%00"),
    ] {
        let answer = server.call(method, path, None, None).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "RequestNotFound");
    }
    let answer = server
        .raw(
            Method::PUT,
            "/images/%00?token=x",
            None,
            Some("image/webp"),
            webp(),
        )
        .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "WrongCredentials");
    // A NUL in a query is refused before any handler reads it.
    let answer = server
        .raw(
            Method::PUT,
            "/images/x?token=%00",
            None,
            Some("image/webp"),
            webp(),
        )
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "NulByteInPayload");
    let answer = server.get("/styles/text?tag=%00", None).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "NulByteInPayload");
    let answer = server.get("/users/%00", None).await;
    assert_error(&answer, StatusCode::NOT_FOUND, "UserNotFound");
    for path in ["/styles/image_by_name/%00", "/styles/text_by_name/a%00"] {
        let answer = server.get(path, None).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "StyleNotFound");
    }
    let answer = server.get("/collection_by_name/%00", None).await;
    assert_error(&answer, StatusCode::NOT_FOUND, "CollectionNotFound");
    let (status, models) = server.get("/status/models/%00", None).await;
    assert_eq!(status, StatusCode::OK, "{models}");
    assert_eq!(models, json!([]));
}

#[tokio::test]
async fn paths_that_are_not_utf8_are_bad_requests() {
    let server = Server::start(&[]);
    let (_, key) = server.register("owner").await;
    for (method, path) in [
        (Method::GET, "/workers/%FF"),
        (Method::DELETE, "/workers/%FF"),
        (Method::GET, "/generate/text/status/%FF%FE"),
        (Method::GET, "/generate/check/%C3"),
        (Method::GET, "/generate/status/%FF"),
        (Method::GET, "/images/%FF"),
        (Method::GET, "/users/%FF"),
        (Method::GET, "/status/models/%FF"),
    ] {
        let answer = server.call(method.clone(), path, Some(&key), None).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "BadRequest");
    }
    let answer = server
        .put("/workers/%FF", Some(&key), json!({"info": "x"}))
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "BadRequest");
}
