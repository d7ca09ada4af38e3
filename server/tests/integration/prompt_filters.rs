//! Prompt filters (`/api/v2/filters`): moderators manage them; image requests whose prompt
//! matches both groups are refused or have their prompt replaced, and NSFW requests always go
//! through the replacements for minors, built-in ones included.

use crate::common::{assert_error, Server, ANON};
use reqwest::StatusCode;
use serde_json::{json, Value};

const FORCED_NEGATIVE: &str = "child, infant, underage, immature, teenager, tween";

/// An image worker's pop that takes NSFW requests too.
async fn pop(server: &Server, key: &str) -> Value {
    let body = json!({"name": "painter", "models": ["stable_diffusion"], "max_pixels": 1024 * 1024, "nsfw": true});
    let (status, answer) = server.post("/generate/pop", Some(key), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn put_filter(server: &Server, key: &str, body: Value) -> Value {
    let (status, filter) = server.put("/filters", Some(key), body).await;
    assert_eq!(status, StatusCode::OK, "{filter}");
    filter
}

#[tokio::test]
async fn moderators_manage_filters() {
    let server = Server::start(&[]);
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let (_, user) = server.register("someone").await;
    let kid = json!({"regex": r"\bkid\b", "filter_type": 10, "replacement": "adult", "description": "minors"});

    assert_error(
        &server.put("/filters", Some(&user), kid.clone()).await,
        StatusCode::FORBIDDEN,
        "NotModerator",
    );
    for bad in [
        json!({"regex": r"\bkid\b", "filter_type": 12}),
        json!({"regex": "(unclosed", "filter_type": 10}),
        json!({"regex": "", "filter_type": 10}),
    ] {
        let (status, body) = server.put("/filters", Some(&moderator), bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let added = put_filter(&server, &moderator, kid.clone()).await;
    assert_eq!(added["regex"], r"\bkid\b");
    assert_eq!(
        added["user"],
        format!(
            "moderator#{}",
            added["user"].as_str().unwrap().split('#').nth(1).unwrap()
        )
    );
    // The same pattern and type again is the same filter.
    assert_eq!(
        put_filter(&server, &moderator, kid).await["id"],
        added["id"]
    );
    put_filter(
        &server,
        &moderator,
        json!({"regex": r"\bnaked\b", "filter_type": 20}),
    )
    .await;

    let (_, all) = server.get("/filters", Some(&moderator)).await;
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    let (_, sexual) = server
        .get("/filters?filter_type=20", Some(&moderator))
        .await;
    assert_eq!(sexual.as_array().unwrap().len(), 1, "{sexual}");
    let (_, found) = server
        .get("/filters?contains=minors", Some(&moderator))
        .await;
    assert_eq!(found[0]["id"], added["id"], "{found}");
    let (_, regexes) = server
        .get("/filters/regex?filter_type=10", Some(&moderator))
        .await;
    assert_eq!(
        regexes,
        json!([{"filter_type": 10, "regex": r"(?:\bkid\b)"}])
    );

    let (_, check) = server
        .post(
            "/filters",
            Some(&moderator),
            json!({"prompt": "a n a k e d kid"}),
        )
        .await;
    assert_eq!(check["suspicion"], 2, "{check}");
    let (_, check) = server
        .post(
            "/filters",
            Some(&moderator),
            json!({"prompt": "a naked kid", "filter_type": 20}),
        )
        .await;
    assert_eq!(check["suspicion"], 1, "{check}");

    let path = format!("/filters/{}", added["id"].as_str().unwrap());
    let (status, changed) = server
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&moderator),
            Some(json!({"replacement": "grown-up"})),
        )
        .await;
    assert_eq!(
        (status, &changed["replacement"]),
        (StatusCode::OK, &json!("grown-up"))
    );
    assert_eq!(
        server.get("/filters/abc", Some(&moderator)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.delete(&path, Some(&moderator)).await.0,
        StatusCode::OK
    );
    assert_error(
        &server.get(&path, Some(&moderator)).await,
        StatusCode::NOT_FOUND,
        "FilterNotFound",
    );

    let (_, log) = server
        .get("/operations/moderation_log", Some(&moderator))
        .await;
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "filter deleted",
            "filter changed",
            "filter added",
            "filter added"
        ]
    );
}

#[tokio::test]
async fn image_prompts_are_refused_or_replaced_as_the_filters_say() {
    let server = Server::start(&[]);
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let (_, worker_key) = server.register("painter-owner").await;
    pop(&server, &worker_key).await;
    put_filter(
        &server,
        &moderator,
        json!({"regex": r"\bkid\b", "filter_type": 10, "replacement": "adult"}),
    )
    .await;
    put_filter(
        &server,
        &moderator,
        json!({"regex": r"\bnaked\b", "filter_type": 20}),
    )
    .await;

    let request = |prompt: &str, extra: Value| {
        let mut body =
            json!({"prompt": prompt, "params": {"width": 256, "height": 256, "steps": 10}});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        server.post("/generate/async", Some(ANON), body)
    };
    // Both groups, replacements refused: the request is.
    let refused = request("a naked kid", json!({"replacement_filter": false})).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "CorruptPrompt");
    // Replacements allowed (the default): the minor is replaced and pushed into the negative
    // (workers get the negative prompt after " ### ").
    let (status, body) = request("a naked kid###blurry", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job = pop(&server, &worker_key).await;
    assert_eq!(
        job["payload"]["prompt"],
        format!("a naked adult ### {FORCED_NEGATIVE}, blurry"),
        "{job}"
    );

    // An NSFW request goes through the built-in replacements; the same prompt otherwise not.
    let (status, _) = request("a little girl on a beach", json!({"nsfw": true})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let job = pop(&server, &worker_key).await;
    assert_eq!(
        job["payload"]["prompt"],
        format!("a adult adult woman on a beach ### {FORCED_NEGATIVE}"),
        "{job}"
    );
    let (status, _) = request("a little girl on a beach", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let job = pop(&server, &worker_key).await;
    assert_eq!(
        job["payload"]["prompt"], "a little girl on a beach",
        "{job}"
    );
}
