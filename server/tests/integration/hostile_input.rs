//! Input sized to hurt: prompts are bounded (a text prompt by the context it asks for, an image
//! prompt outright), an image worker's blacklist is bounded and read in one pass, so that a pop
//! with the largest blacklist against the largest prompts does not hold up other writers.

use crate::common::{assert_error, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const MODEL: &str = "test/Tiny-1B";

fn image_request(prompt: &str) -> Value {
    json!({"prompt": prompt, "params": {"width": 256, "height": 256, "steps": 10}})
}

fn painter(blacklist: &[String]) -> Value {
    json!({"name": "painter", "models": ["stable_diffusion"], "max_pixels": 1048576,
           "blacklist": blacklist})
}

/// A refusal whose body stays short, whatever was sent.
fn assert_short_refusal(answer: &(StatusCode, Value), rc: &str) {
    assert_error(answer, StatusCode::BAD_REQUEST, rc);
    let body = answer.1.to_string();
    assert!(body.len() < 1000, "a {}-byte error body", body.len());
}

#[tokio::test]
async fn prompts_and_blacklists_are_bounded() {
    let server = Server::start(&[]);
    let (_, key) = server.register("owner").await;
    // 8 characters per token of the context asked for.
    let context = 1024;
    let text = |chars: usize| {
        json!({"prompt": "a".repeat(chars), "models": [MODEL],
               "params": {"max_length": 16, "max_context_length": context}})
    };
    let (status, body) = server
        .post("/generate/text/async", Some(&key), text(context * 8))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let refused = server
        .post("/generate/text/async", Some(&key), text(context * 8 + 1))
        .await;
    assert_short_refusal(&refused, "TooLongPrompt");
    let refused = server
        .post(
            "/generate/async",
            Some(&key),
            image_request(&"a".repeat(30_001)),
        )
        .await;
    assert_short_refusal(&refused, "TooLongPrompt");

    let too_many = vec!["word".to_string(); 1001];
    let refused = server
        .post("/generate/pop", Some(&key), painter(&too_many))
        .await;
    assert_short_refusal(&refused, "BadRequest");
    let too_long = vec!["w".repeat(101)];
    let refused = server
        .post("/generate/pop", Some(&key), painter(&too_long))
        .await;
    assert_short_refusal(&refused, "BadRequest");
    let (status, body) = server
        .post("/generate/pop", Some(&key), painter(&too_many[..1000]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_largest_blacklist_against_the_largest_prompts_does_not_stall_other_writers() {
    let server = Server::start(&[]);
    let (_, requester) = server.admin_user("requester", &["--trusted"]);
    let (_, worker) = server.register("owner").await;
    // The largest prompts, each read to its end: all but the last (the youngest, which the pop
    // reaches last) end in a word of the blacklist.
    let filler = "lorem ipsum dolor sit amet ".repeat(29_990 / 27);
    for i in 0..10 {
        let prompt = if i < 9 {
            format!("{filler}needle")
        } else {
            filler.clone()
        };
        let (status, body) = server
            .post("/generate/async", Some(&requester), image_request(&prompt))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    // The largest blacklist: 1000 words of 100 characters, among them the one the prompts end in.
    let mut blacklist: Vec<String> = (0..999).map(|i| format!("{i:0>100}")).collect();
    blacklist.push("needle".into());

    let register = |name: String| {
        let server = &server;
        async move {
            let started = Instant::now();
            server.register(&name).await;
            started.elapsed()
        }
    };
    let mut unloaded = Duration::ZERO;
    for i in 0..3 {
        unloaded = unloaded.max(register(format!("before-{i}")).await);
    }
    let pop = async {
        let started = Instant::now();
        let answer = server
            .post("/generate/pop", Some(&worker), painter(&blacklist))
            .await;
        (answer, started.elapsed())
    };
    let registrations = async {
        let mut slowest = Duration::ZERO;
        for i in 0..3 {
            slowest = slowest.max(register(format!("during-{i}")).await);
        }
        slowest
    };
    let (((status, job), pop_took), during) = tokio::join!(pop, registrations);
    assert_eq!(status, StatusCode::OK, "{}", job["message"]);
    // Requests queued within the same millisecond go in either order.
    let skipped = &job["skipped"];
    assert!(skipped["blacklist"].as_i64() >= Some(1), "{skipped}");
    let served = job["payload"]["prompt"].as_str().unwrap_or_default();
    assert!(
        !served.ends_with("needle"),
        "a blacklisted prompt was served"
    );
    eprintln!(
        "blacklist pop: {pop_took:?}; registrations: {unloaded:?} unloaded, {during:?} during"
    );
    assert!(
        during < unloaded + Duration::from_millis(100),
        "registrations took up to {during:?} during a pop of {pop_took:?} (unloaded: {unloaded:?})"
    );
}
