//! The OpenAI-compatible API over HTTP, with the test acting as the worker through `/api/v2`
//! (pop, progress, submit): shapes, parameter mapping, waiting, streaming, disconnects and
//! errors. The same with the real `openai` client and a real potluck-worker is in
//! compat/test_openai.py.

use std::time::Duration;

use crate::common;
use crate::common::{postgres_or_skip, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MODEL: &str = "org/Tiny-1B";
const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}\
{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// A worker's pop that announces the model's chat template.
async fn pop(server: &Server, key: &str) -> (StatusCode, Value) {
    let body = json!({
        "name": "tiny-box", "models": [MODEL], "max_length": 512, "max_context_length": 4096,
        "chat_template": {"template": CHATML, "bos_token": "", "eos_token": "<|im_end|>"},
    });
    server.post("/generate/text/pop", Some(key), body).await
}

/// A worker's text so far for `job`, as potluck-worker sends it.
async fn progress(
    server: &Server,
    key: &str,
    job: &Value,
    text: &str,
    offset: usize,
) -> (StatusCode, Value) {
    let body = json!({"id": job["id"], "text": text, "offset": offset});
    server
        .post("/generate/text/progress", Some(key), body)
        .await
}

/// Pops until a job comes.
async fn pop_job(server: &Server, key: &str) -> Value {
    for _ in 0..200 {
        let (status, job) = pop(server, key).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        if !job["id"].is_null() {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no job came");
}

async fn v1(server: &Server, path: &str, key: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = server
        .http()
        .post(format!("{}/v1{path}", server.base))
        .json(&body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

/// A GET under `/v1`, anonymous: the status and the JSON body.
async fn v1_get(server: &Server, path: &str) -> (StatusCode, Value) {
    let response = server
        .http()
        .get(format!("{}/v1{path}", server.base))
        .send()
        .await
        .unwrap();
    json_of(response).await
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Server-Sent Events' data lines, one at a time.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some(data.join("\n"));
            }
            let chunk = self.response.chunk().await.unwrap()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    async fn next_json(&mut self) -> Value {
        let data = tokio::time::timeout(Duration::from_secs(20), self.next())
            .await
            .unwrap()
            .unwrap();
        serde_json::from_str(&data).unwrap_or(Value::String(data))
    }
}

fn content(chunk: &Value) -> &str {
    chunk["choices"][0]["delta"]["content"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn models_are_those_online_workers_serve() {
    let server = Server::start(&[]);
    assert_eq!(
        v1_get(&server, "/models").await.1,
        json!({"object": "list", "data": []})
    );
    let (_, key) = server.register("owner").await;
    pop(&server, &key).await;
    let (status, list) = v1_get(&server, "/models").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"][0]["id"], MODEL);
    assert_eq!(list["data"][0]["object"], "model");
    // One model by its name, slash and all.
    let (status, model) = v1_get(&server, &format!("/models/{MODEL}")).await;
    assert_eq!((status, &model["id"]), (StatusCode::OK, &json!(MODEL)));
    let (status, error) = v1_get(&server, "/models/org/Other").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn a_chat_completion_is_an_ordinary_job_through_the_models_template() {
    let server = Server::start(&[]);
    // Trusted: its reward is paid at once (an untrusted one's is held; see trust.rs).
    let (owner_id, owner) = server.admin_user("owner", &["--trusted"]);
    let (requester_id, requester) = server.register("requester").await;
    // Both above their floors, so that every movement shows.
    server.grant(owner_id, 100.0).await;
    server.grant(requester_id, 100.0).await;
    pop(&server, &owner).await;
    let request = json!({
        "model": MODEL, "max_tokens": 40, "temperature": 0, "seed": 11, "stop": ["\n\n"],
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    });
    let answer = tokio::spawn({
        let (base, requester) = (server.base.to_string(), requester.clone());
        async move {
            let client = reqwest::Client::new();
            let response = client
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(requester)
                .json(&request);
            json_of(response.send().await.unwrap()).await
        }
    });
    let job = pop_job(&server, &owner).await;
    let payload = &job["payload"];
    assert_eq!(
        payload["prompt"],
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(
        (
            payload["max_length"].clone(),
            payload["temperature"].clone()
        ),
        (json!(40), json!(0.0))
    );
    assert_eq!(
        (payload["seed"].clone(), payload["stop_sequence"].clone()),
        (json!(11), json!(["\n\n"]))
    );
    assert!(payload.get("potluck_stream").is_none());
    let (status, submitted) = server
        .post(
            "/generate/text/submit",
            Some(&owner),
            json!({"id": job["id"], "generation": "Hello!", "prompt_tokens": 17, "completion_tokens": 3,
                   "finish_reason": "stop"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    let (status, completion) = answer.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{completion}");
    assert_eq!(completion["object"], "chat.completion");
    assert!(completion["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(
        completion["choices"][0]["message"],
        json!({"role": "assistant", "content": "Hello!"})
    );
    assert_eq!(completion["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        completion["usage"],
        json!({"prompt_tokens": 17, "completion_tokens": 3, "total_tokens": 20})
    );
    // Paid and charged as any job: the reward, and the reward plus one kudos, plus one for
    // the request.
    let reward = submitted["reward"].as_f64().unwrap();
    assert!(common::close(server.kudos(&owner).await, 100.0 + reward));
    assert!(common::close(
        server.kudos(&requester).await,
        100.0 - (reward + 1.0) - 1.0
    ));
}

#[tokio::test]
async fn completions_take_a_raw_prompt_and_several_answers() {
    let server = Server::start(&[]);
    let (_, owner) = server.register("owner").await;
    pop(&server, &owner).await;
    let answer = tokio::spawn({
        let base = server.base.to_string();
        async move {
            let body =
                json!({"model": MODEL, "prompt": ["Once upon a time"], "n": 2, "max_tokens": 8});
            json_of(
                reqwest::Client::new()
                    .post(format!("{base}/v1/completions"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    });
    for text in ["one", "two"] {
        let job = pop_job(&server, &owner).await;
        assert_eq!(job["payload"]["prompt"], "Once upon a time");
        server
            .post(
                "/generate/text/submit",
                Some(&owner),
                json!({"id": job["id"], "generation": text}),
            )
            .await;
    }
    let (status, completion) = answer.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{completion}");
    assert_eq!(completion["object"], "text_completion");
    let mut texts: Vec<&str> = completion["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    texts.sort();
    assert_eq!(texts, ["one", "two"]);
    // No counts from this worker: estimated, and "length" only when the limit was reached.
    assert_eq!(completion["choices"][0]["finish_reason"], "stop");
    assert!(completion["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_stream_relays_the_workers_text_as_it_comes() {
    let server = Server::start(&[]);
    let (_, owner) = server.register("owner").await;
    pop(&server, &owner).await;
    let body = json!({"model": MODEL, "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "Hi"}]});
    let mut events = Events {
        response: v1(&server, "/chat/completions", None, body).await,
        buffer: String::new(),
    };
    assert_eq!(events.response.status(), StatusCode::OK);
    let first = events.next_json().await;
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(
        first["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );

    let job = pop_job(&server, &owner).await;
    assert_eq!(job["payload"]["potluck_stream"], true);
    let mut offset = 0;
    for piece in ["Hel", "lo"] {
        let (status, answer) = progress(&server, &owner, &job, piece, offset).await;
        assert_eq!(
            (status, answer),
            (StatusCode::OK, json!({"cancelled": false}))
        );
        offset += piece.len();
        // Each piece reaches the client before the worker sends the next, let alone submits.
        assert_eq!(content(&events.next_json().await), piece);
    }
    // A repeat is not sent twice.
    progress(&server, &owner, &job, "lo", 3).await;
    server
        .post(
            "/generate/text/submit",
            Some(&owner),
            json!({"id": job["id"], "generation": "Hello world", "completion_tokens": 2, "finish_reason": "length"}),
        )
        .await;
    // What the stream did not carry comes from the submit.
    assert_eq!(content(&events.next_json().await), " world");
    let last = events.next_json().await;
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    let usage = events.next_json().await;
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 2);
    assert_eq!(events.next_json().await, json!("[DONE]"));
}

#[tokio::test]
async fn a_requester_who_goes_away_cancels_and_the_worker_learns_it() {
    let server = Server::start(&[]);
    let (_, owner) = server.register("owner").await;
    pop(&server, &owner).await;
    let body = json!({"model": MODEL, "stream": true, "prompt": "Once", "max_tokens": 100});
    let mut events = Events {
        response: v1(&server, "/completions", None, body).await,
        buffer: String::new(),
    };
    let job = pop_job(&server, &owner).await;
    let (_, answer) = progress(&server, &owner, &job, "upon", 0).await;
    assert_eq!(answer["cancelled"], false);
    assert_eq!(events.next_json().await["choices"][0]["text"], "upon");
    drop(events);
    let mut cancelled = false;
    for _ in 0..100 {
        let (_, answer) = progress(&server, &owner, &job, " a", 4).await;
        if answer["cancelled"] == true {
            cancelled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cancelled, "the worker was never told");
    // What the worker did is still paid, as for any cancelled request's running job.
    let (status, _) = server
        .post(
            "/generate/text/submit",
            Some(&owner),
            json!({"id": job["id"], "generation": "upon"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn errors_come_in_openais_shape() {
    let server = Server::start(&[
        "--max-body-bytes",
        "4096",
        "--worker-stale-secs",
        "2",
        "--openai-timeout-secs",
        "1",
    ]);
    let error_of = |body: &Value| {
        (
            body["error"]["type"].clone(),
            body["error"]["code"].clone(),
            body["error"]["param"].clone(),
        )
    };
    let chat =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "Hi"}]});

    let (status, body) = json_of(
        v1(
            &server,
            "/chat/completions",
            None,
            chat("nobody/serves-this"),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        error_of(&body),
        (
            json!("invalid_request_error"),
            json!("model_not_found"),
            json!("model")
        )
    );

    let (status, body) =
        json_of(v1(&server, "/chat/completions", Some("not-a-key"), chat(MODEL)).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "invalid_api_key");

    let (_, owner) = server.register("owner").await;
    pop(&server, &owner).await;
    for (bad, param) in [
        (json!({"temperature": 5}), "temperature"),
        (
            json!({"tools": [{"type": "function", "function": {"name": "f"}}]}),
            "tools",
        ),
        (json!({"max_tokens": 100000}), "max_tokens"),
        (json!({"messages": []}), "messages"),
    ] {
        let mut request = chat(MODEL);
        request
            .as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        let (status, body) = json_of(v1(&server, "/chat/completions", None, request).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{param}: {body}");
        assert_eq!(body["error"]["param"], param);
    }
    let garbage = server
        .http()
        .post(format!("{}/v1/chat/completions", server.base))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(garbage).await.0, StatusCode::BAD_REQUEST);
    let huge = json!({"model": MODEL, "prompt": "x".repeat(10_000)});
    let (status, body) = json_of(v1(&server, "/completions", None, huge).await).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::PAYLOAD_TOO_LARGE, json!("request_too_large"))
    );

    // Nobody takes the job within the timeout: a clear error, and the request is cancelled.
    let (status, body) = json_of(v1(&server, "/chat/completions", None, chat(MODEL)).await).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::GATEWAY_TIMEOUT, json!("timeout"))
    );
    let (_, nothing) = pop(&server, &owner).await;
    assert!(
        nothing["id"].is_null(),
        "the timed-out request was cancelled"
    );

    // The worker goes quiet: known model, nobody online.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, body) = json_of(v1(&server, "/chat/completions", None, chat(MODEL)).await).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::SERVICE_UNAVAILABLE, json!("no_worker_online"))
    );

    assert_eq!(
        v1_get(&server, "/nothing").await.1["error"]["code"],
        "not_found"
    );
}

#[tokio::test]
async fn a_stream_crosses_instances() {
    if !postgres_or_skip("a_stream_crosses_instances") {
        return;
    }
    let requester_side = Server::start(&[]);
    let worker_side = requester_side.start_beside(&[]);
    let (_, owner) = worker_side.register("owner").await;
    pop(&worker_side, &owner).await;
    let body =
        json!({"model": MODEL, "stream": true, "messages": [{"role": "user", "content": "Hi"}]});
    let mut events = Events {
        response: v1(&requester_side, "/chat/completions", None, body).await,
        buffer: String::new(),
    };
    events.next_json().await; // the role
    let job = pop_job(&worker_side, &owner).await;
    progress(&worker_side, &owner, &job, "Hi there", 0).await;
    assert_eq!(content(&events.next_json().await), "Hi there");
    worker_side
        .post(
            "/generate/text/submit",
            Some(&owner),
            json!({"id": job["id"], "generation": "Hi there!"}),
        )
        .await;
    assert_eq!(content(&events.next_json().await), "!");
    assert_eq!(
        events.next_json().await["choices"][0]["finish_reason"],
        "stop"
    );
    assert_eq!(events.next_json().await, json!("[DONE]"));
}
