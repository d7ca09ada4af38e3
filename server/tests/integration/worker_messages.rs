//! Messages to workers: who writes to whom, what each pop carries, who lists, reads and
//! deletes them, and their expiry.

use crate::common::{assert_error, Server, ANON};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MODEL: &str = "test/Tiny-1B";
const IMAGE_MODEL: &str = "stable_diffusion";

async fn worker_id(server: &Server, key: &str, name: &str) -> String {
    let (status, worker) = server
        .get(&format!("/workers/name/{name}"), Some(key))
        .await;
    assert_eq!(status, StatusCode::OK, "{worker}");
    worker["id"].as_str().unwrap().to_string()
}

async fn send(server: &Server, key: &str, body: Value) -> Value {
    let (status, message) = server.post("/workers/messages", Some(key), body).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    message
}

fn texts(messages: &Value) -> Vec<&str> {
    let mut texts: Vec<&str> = messages
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {messages}"))
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    texts.sort();
    texts
}

#[tokio::test]
async fn moderators_write_to_a_worker_an_account_or_everyone_and_pops_carry_it() {
    let server = Server::start(&[]);
    let (owner_id, owner) = server.register("owner").await;
    let (_, other) = server.register("other").await;
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    server.pop_text(&owner, "text-one", MODEL).await;
    server.pop_image(&owner, "image-one", IMAGE_MODEL).await;
    server.pop_text(&other, "other-one", MODEL).await;
    let text_one = worker_id(&server, &owner, "text-one").await;

    let to_worker = send(
        &server,
        &moderator,
        json!({"worker_id": text_one, "message": "to text-one"}),
    )
    .await;
    assert_eq!(to_worker["worker_id"], text_one);
    assert_eq!(to_worker["user_id"], owner_id.to_string());
    assert_eq!(to_worker["origin"], "Moderators");
    assert_eq!(to_worker["expiry"], 12);
    assert!(
        to_worker["created"].as_str().unwrap().ends_with(" -0000"),
        "{to_worker}"
    );
    let to_account = send(
        &server,
        &moderator,
        json!({"user_id": owner_id.to_string(), "message": "to the owner's workers",
               "origin": "The operators", "expiry": 720}),
    )
    .await;
    assert_eq!(to_account["worker_id"], Value::Null);
    assert_eq!(to_account["origin"], "The operators");
    assert_eq!(to_account["expiry"], 720);
    send(
        &server,
        &moderator,
        json!({"message": "to everyone", "expiry": 1}),
    )
    .await;

    let (_, popped) = server.pop_text(&owner, "text-one", MODEL).await;
    assert_eq!(
        texts(&popped["messages"]),
        ["to everyone", "to text-one", "to the owner's workers"],
        "{popped}"
    );
    let message = &popped["messages"][0];
    assert!(
        message["id"].is_string() && message["origin"].is_string(),
        "{message}"
    );
    assert!(
        message["expiry"].as_str().unwrap().ends_with(" -0000"),
        "{message}"
    );
    let (_, popped) = server.pop_image(&owner, "image-one", IMAGE_MODEL).await;
    assert_eq!(
        texts(&popped["messages"]),
        ["to everyone", "to the owner's workers"]
    );
    let (_, popped) = server.pop_text(&other, "other-one", MODEL).await;
    assert_eq!(texts(&popped["messages"]), ["to everyone"]);
    // With a job, too.
    server
        .submit_text_request(ANON, json!({"prompt": "hello", "models": [MODEL]}))
        .await;
    let (_, job) = server.pop_text(&other, "other-one", MODEL).await;
    assert!(job["id"].is_string(), "{job}");
    assert_eq!(texts(&job["messages"]), ["to everyone"]);

    // Worker details show them to the owner and moderators only.
    let path = format!("/workers/{text_one}");
    for viewer in [&owner, &moderator] {
        let (_, details) = server.get(&path, Some(viewer)).await;
        assert_eq!(texts(&details["messages"]).len(), 3, "{details}");
        let (_, list) = server.get("/workers?name=text-one", Some(viewer)).await;
        assert_eq!(texts(&list[0]["messages"]).len(), 3, "{list}");
    }
    for viewer in [Some(other.as_str()), None] {
        let (_, details) = server.get(&path, viewer).await;
        assert!(details.get("messages").is_none(), "{details}");
    }

    for bad in [
        json!({"message": ""}),
        json!({"message": "m".repeat(10_241)}),
        json!({"message": "x", "expiry": 0}),
        json!({"message": "x", "expiry": 721}),
        json!({"message": "x", "origin": ""}),
        json!({"message": "x", "user_id": "one"}),
        json!({"message": "x", "worker_id": text_one, "user_id": "9"}),
    ] {
        let refused = server
            .post("/workers/messages", Some(&moderator), bad.clone())
            .await;
        assert_error(&refused, StatusCode::BAD_REQUEST, "BadRequest");
    }
    let unknown = server
        .post(
            "/workers/messages",
            Some(&moderator),
            json!({"worker_id": "no-such", "message": "x"}),
        )
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "WorkerNotFound");
    let nobody = server
        .post(
            "/workers/messages",
            Some(&moderator),
            json!({"user_id": "4242", "message": "x"}),
        )
        .await;
    assert_error(&nobody, StatusCode::NOT_FOUND, "UserNotFound");
}

#[tokio::test]
async fn owners_write_to_their_own_workers_only() {
    let server = Server::start(&[]);
    let (owner_id, owner) = server.register("owner").await;
    let (other_id, other) = server.register("other").await;
    server.pop_text(&owner, "mine", MODEL).await;
    server.pop_text(&other, "theirs", MODEL).await;
    let mine = worker_id(&server, &owner, "mine").await;
    let theirs = worker_id(&server, &other, "theirs").await;

    // Its origin is the owner's id, whatever they say.
    let note = send(
        &server,
        &owner,
        json!({"worker_id": mine, "message": "note to self", "origin": "Moderators"}),
    )
    .await;
    assert_eq!(note["origin"], owner_id.to_string());
    let all = send(&server, &owner, json!({"message": "to all of mine"})).await;
    assert_eq!(all["user_id"], owner_id.to_string());
    assert_eq!(all["worker_id"], Value::Null);
    let (_, popped) = server.pop_text(&owner, "mine", MODEL).await;
    assert_eq!(
        texts(&popped["messages"]),
        ["note to self", "to all of mine"]
    );
    let (_, popped) = server.pop_text(&other, "theirs", MODEL).await;
    assert_eq!(popped["messages"], json!([]));

    for body in [
        json!({"worker_id": theirs, "message": "hello neighbour"}),
        json!({"user_id": other_id.to_string(), "message": "to someone's workers"}),
    ] {
        let refused = server.post("/workers/messages", Some(&owner), body).await;
        assert_error(&refused, StatusCode::FORBIDDEN, "MessagesOnlyOwnWorkers");
    }
    for key in [Some(ANON), None] {
        let refused = server
            .post("/workers/messages", key, json!({"message": "x"}))
            .await;
        assert_error(&refused, StatusCode::FORBIDDEN, "AnonForbidden");
    }
}

#[tokio::test]
async fn messages_are_listed_read_and_deleted_by_whom_they_concern() {
    let server = Server::start(&[]);
    let (owner_id, owner) = server.register("owner").await;
    let (other_id, other) = server.register("other").await;
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    server.pop_text(&owner, "mine", MODEL).await;
    server.pop_text(&other, "theirs", MODEL).await;
    let mine = worker_id(&server, &owner, "mine").await;
    let theirs = worker_id(&server, &other, "theirs").await;
    let to_mine = send(
        &server,
        &moderator,
        json!({"worker_id": mine, "message": "to mine"}),
    )
    .await;
    send(
        &server,
        &moderator,
        json!({"worker_id": theirs, "message": "to theirs"}),
    )
    .await;
    let global = send(&server, &moderator, json!({"message": "to everyone"})).await;
    let own_note = send(
        &server,
        &owner,
        json!({"worker_id": mine, "message": "own note"}),
    )
    .await;

    // An owner lists those for their workers and those for everyone, never another's.
    let (status, listed) = server.get("/workers/messages", Some(&owner)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(texts(&listed), ["own note", "to everyone", "to mine"]);
    let (_, same) = server
        .get(
            &format!("/workers/messages?user_id={owner_id}"),
            Some(&owner),
        )
        .await;
    assert_eq!(texts(&same), texts(&listed));
    let refused = server
        .get(
            &format!("/workers/messages?user_id={other_id}"),
            Some(&owner),
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "Forbidden");
    let (_, filtered) = server
        .get(
            &format!("/workers/messages?worker_id={theirs}"),
            Some(&owner),
        )
        .await;
    assert_eq!(filtered, json!([]));
    // A moderator lists any.
    let (_, everything) = server.get("/workers/messages", Some(&moderator)).await;
    assert_eq!(texts(&everything).len(), 4);
    let (_, theirs_only) = server
        .get(
            &format!("/workers/messages?worker_id={theirs}"),
            Some(&moderator),
        )
        .await;
    assert_eq!(texts(&theirs_only), ["to theirs"]);
    let (_, for_other) = server
        .get(
            &format!("/workers/messages?user_id={other_id}"),
            Some(&moderator),
        )
        .await;
    assert_eq!(texts(&for_other), ["to everyone", "to theirs"]);
    for bad in ["validity=soon", "page=0", "page=x", "user_id=abc"] {
        let answer = server
            .get(&format!("/workers/messages?{bad}"), Some(&moderator))
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "BadRequest");
    }
    let (_, beyond) = server
        .get("/workers/messages?page=2", Some(&moderator))
        .await;
    assert_eq!(beyond, json!([]));

    // Expired: out of pops and the active list, in the expired one.
    let mut db = server.sql().await;
    sqlx::query("UPDATE worker_messages SET expires_at = 1 WHERE id = $1")
        .bind(to_mine["id"].as_str().unwrap())
        .execute(&mut db)
        .await
        .unwrap();
    let (_, popped) = server.pop_text(&owner, "mine", MODEL).await;
    assert_eq!(texts(&popped["messages"]), ["own note", "to everyone"]);
    let (_, expired) = server
        .get("/workers/messages?validity=expired", Some(&owner))
        .await;
    assert_eq!(texts(&expired), ["to mine"]);
    assert_eq!(expired[0]["expiry"], 0);
    // All: the active and the expired ones, still only those that concern the owner.
    let (_, all) = server
        .get("/workers/messages?validity=all", Some(&owner))
        .await;
    let mut all = texts(&all);
    all.sort();
    assert_eq!(all, ["own note", "to everyone", "to mine"]);

    // Anyone with the id reads one; its writer or a moderator deletes it.
    let path = format!("/workers/messages/{}", own_note["id"].as_str().unwrap());
    let (status, read) = server.get(&path, None).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["message"], "own note");
    let unknown = server.get("/workers/messages/no-such-message", None).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "WorkermessageNotFound");
    for key in [Some(other.as_str()), Some(ANON), None] {
        let refused = server.delete(&path, key).await;
        assert_error(&refused, StatusCode::FORBIDDEN, "Forbidden");
    }
    let (status, deleted) = server.delete(&path, Some(&owner)).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted, json!({"message": "OK"}));
    assert_error(
        &server.get(&path, None).await,
        StatusCode::NOT_FOUND,
        "WorkermessageNotFound",
    );
    // The owner may not delete what a moderator wrote to their worker; the moderator may.
    let global_path = format!("/workers/messages/{}", global["id"].as_str().unwrap());
    assert_error(
        &server.delete(&global_path, Some(&owner)).await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    );
    let (status, _) = server.delete(&global_path, Some(&moderator)).await;
    assert_eq!(status, StatusCode::OK);

    // A deleted worker's messages go with it.
    let (status, _) = server
        .delete(&format!("/workers/{theirs}"), Some(&other))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, everything) = server
        .get("/workers/messages?validity=all", Some(&moderator))
        .await;
    assert_eq!(texts(&everything), ["to mine"]);
}
