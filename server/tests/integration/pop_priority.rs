//! Whose requests a worker serves first, as in the AI Horde: its owner's and those of the
//! accounts it names in `priority_usernames` (among them by priority, then age), then
//! everyone's by priority; and a worker in
//! maintenance (or paused) still serves its owner's requests.

use crate::accounts::grant;
use crate::common::{assert_error, Server, ANON};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MODEL: &str = "test/Tiny-1B";
const IMAGE_MODEL: &str = "stable_diffusion";

/// A text pop of worker `name` (serving MODEL) naming `priority` accounts.
async fn pop_naming(
    server: &Server,
    key: &str,
    name: &str,
    priority: Value,
) -> (StatusCode, Value) {
    let body = json!({"name": name, "models": [MODEL], "max_length": 512,
                      "max_context_length": 4096, "priority_usernames": priority});
    server.post("/generate/text/pop", Some(key), body).await
}

async fn queue(server: &Server, key: &str, prompt: &str) -> String {
    server
        .submit_text_request(key, json!({"prompt": prompt, "models": [MODEL]}))
        .await
}

async fn worker_id(server: &Server, key: &str, name: &str) -> String {
    let (status, worker) = server
        .get(&format!("/workers/name/{name}"), Some(key))
        .await;
    assert_eq!(status, StatusCode::OK, "{worker}");
    worker["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_worker_serves_its_owner_then_the_accounts_it_names_first() {
    let server = Server::start(&[]);
    let (_, owner) = server.register("owner").await;
    let (rich_id, rich) = server.register("rich").await;
    let (friend_id, friend) = server.register("friend").await;
    let (_, admin) = server.admin_user("admin", &["--admin"]);
    grant(&server, &admin, rich_id, 1000.0).await;
    server.pop_text(&owner, "owners-worker", MODEL).await;

    // Best and oldest first otherwise: the rich account's, then the friend's, then the owner's.
    queue(&server, &rich, "from the rich").await;
    queue(&server, &friend, "from a friend").await;
    queue(&server, &owner, "from the owner").await;
    let friend_alias = format!("friend#{friend_id}");
    let (status, job) = pop_naming(&server, &owner, "owners-worker", json!([friend_alias])).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["payload"]["prompt"], "from a friend");
    let (_, job) = pop_naming(&server, &owner, "owners-worker", json!([friend_alias])).await;
    assert_eq!(job["payload"]["prompt"], "from the owner");
    let (_, job) = pop_naming(&server, &owner, "owners-worker", json!([friend_alias])).await;
    assert_eq!(job["payload"]["prompt"], "from the rich");

    // Another owner's worker serves by priority: its owner has nothing waiting.
    let (_, other) = server.register("other-owner").await;
    queue(&server, &friend, "second from a friend").await;
    queue(&server, &rich, "second from the rich").await;
    let (_, job) = server.pop_text(&other, "others-worker", MODEL).await;
    assert_eq!(job["payload"]["prompt"], "second from the rich");
    // Only the id counts; an account that does not exist has no requests.
    let (_, job) = pop_naming(&server, &other, "others-worker", json!(["nobody#4242"])).await;
    assert_eq!(job["payload"]["prompt"], "second from a friend");

    // Image workers alike.
    let image = json!({"prompt": "a picture", "models": [IMAGE_MODEL]});
    let (status, _) = server.post("/generate/async", Some(&rich), image).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let own = json!({"prompt": "my picture", "models": [IMAGE_MODEL]});
    server.post("/generate/async", Some(&owner), own).await;
    let (_, job) = server
        .pop_image(&owner, "owners-painter", IMAGE_MODEL)
        .await;
    assert!(
        job["payload"]["prompt"]
            .as_str()
            .unwrap()
            .starts_with("my picture"),
        "{job}"
    );
}

#[tokio::test]
async fn priority_usernames_must_name_accounts() {
    let server = Server::start(&[]);
    let (_, owner) = server.register("owner").await;
    for bad in [
        json!(["db0"]),
        json!(["db0#"]),
        json!(["db0#one"]),
        json!(["#-1"]),
    ] {
        let answer = pop_naming(&server, &owner, "worker-one", bad.clone()).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "InvalidPriorityUsername");
    }
    let too_many: Vec<String> = (0..101).map(|i| format!("user#{i}")).collect();
    let answer = pop_naming(&server, &owner, "worker-one", json!(too_many)).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "InvalidPriorityUsername");
    let (status, answer) = pop_naming(
        &server,
        &owner,
        "worker-one",
        json!(["a#b#7", "Anonymous#0"]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn a_worker_in_maintenance_serves_its_owner_alone() {
    let server = Server::start(&[]);
    let (_, owner) = server.register("owner").await;
    server.pop_text(&owner, "worker-one", MODEL).await;
    let path = format!(
        "/workers/{}",
        worker_id(&server, &owner, "worker-one").await
    );
    let (status, _) = server
        .put(
            &path,
            Some(&owner),
            json!({"maintenance": true, "maintenance_msg": "Upgrading"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    queue(&server, ANON, "from someone").await;
    queue(&server, &owner, "testing my own worker").await;
    let (status, job) = server.pop_text(&owner, "worker-one", MODEL).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["payload"]["prompt"], "testing my own worker");
    let id = job["id"].as_str().unwrap();
    let (status, submitted) = server
        .post(
            "/generate/text/submit",
            Some(&owner),
            json!({"id": id, "generation": "works"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    // Nothing of its owner's left: the maintenance is said, with its message.
    let refused = server.pop_text(&owner, "worker-one", MODEL).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "WorkerMaintenance");
    assert_eq!(refused.1["message"], "Upgrading");
    // Leaving maintenance forgets the message.
    server
        .put(&path, Some(&owner), json!({"maintenance": false}))
        .await;
    server
        .put(&path, Some(&owner), json!({"maintenance": true}))
        .await;
    let refused = server.pop_text(&owner, "worker-one", MODEL).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "WorkerMaintenance");
    assert_ne!(refused.1["message"], "Upgrading");
}

#[tokio::test]
async fn a_paused_worker_serves_its_owner_alone() {
    let server = Server::start(&[]);
    let (_, owner) = server.register("owner").await;
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    server.pop_text(&owner, "worker-one", MODEL).await;
    let path = format!(
        "/workers/{}",
        worker_id(&server, &owner, "worker-one").await
    );
    server
        .put(&path, Some(&moderator), json!({"paused": true}))
        .await;

    queue(&server, ANON, "from someone").await;
    let (status, nothing) = server.pop_text(&owner, "worker-one", MODEL).await;
    assert_eq!(status, StatusCode::OK, "{nothing}");
    assert!(nothing["id"].is_null(), "{nothing}");
    queue(&server, &owner, "my own").await;
    let (_, job) = server.pop_text(&owner, "worker-one", MODEL).await;
    assert_eq!(job["payload"]["prompt"], "my own");
}
