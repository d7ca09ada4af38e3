//! The moderation log: what moderators and admins do with their rights over others is written
//! down (who, what, when), and nothing of what accounts do with their own; no message text and
//! no address gets into it.

use crate::common::Server;
use reqwest::StatusCode;
use serde_json::{json, Value};

const MODEL: &str = "test/Tiny-1B";

#[tokio::test]
async fn moderators_actions_are_logged_and_owners_are_not() {
    let server = Server::start(&[]);
    let (moderator_id, moderator) = server.admin_user("warden", &["--moderator", "--admin"]);
    let (user_id, user) = server.register("someone").await;
    assert_eq!(
        server.pop_text(&user, "their-box", MODEL).await.0,
        StatusCode::OK
    );
    let (_, worker) = server.get("/workers/name/their-box", Some(&user)).await;
    let worker_id = worker["id"].as_str().unwrap().to_string();

    // The owner's own changes are not moderation.
    let own = server
        .put(
            &format!("/workers/{worker_id}"),
            Some(&user),
            json!({"info": "mine"}),
        )
        .await;
    assert_eq!(own.0, StatusCode::OK, "{}", own.1);
    let own = server
        .put(
            &format!("/users/{user_id}"),
            Some(&user),
            json!({"public_workers": true}),
        )
        .await;
    assert_eq!(own.0, StatusCode::OK, "{}", own.1);

    let ok = |(status, body): (StatusCode, Value)| assert_eq!(status, StatusCode::OK, "{body}");
    ok(server
        .put(
            &format!("/users/{user_id}"),
            Some(&moderator),
            json!({"flagged": true, "concurrency": 5}),
        )
        .await);
    ok(server
        .put(
            &format!("/workers/{worker_id}"),
            Some(&moderator),
            json!({"paused": true}),
        )
        .await);
    ok(server
        .post(
            "/workers/messages",
            Some(&moderator),
            json!({"worker_id": worker_id, "message": "a private word about your box", "expiry": 12}),
        )
        .await);
    ok(server
        .put(
            "/status/modes",
            Some(&moderator),
            json!({"raid_mode": true}),
        )
        .await);
    ok(server
        .post(
            "/operations/ipaddr",
            Some(&moderator),
            json!({"ipaddr": "203.0.113.50", "hours": 1}),
        )
        .await);

    assert_eq!(
        server
            .get("/operations/moderation_log", Some(&user))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, log) = server
        .get("/operations/moderation_log", Some(&moderator))
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let entries = log.as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "address timeout",
            "modes set",
            "worker message sent",
            "worker changed",
            "account changed"
        ],
        "{log}"
    );
    for entry in entries {
        assert_eq!(entry["actor"], format!("warden#{moderator_id}"), "{entry}");
        assert!(entry["at"].as_i64().unwrap() > 1_700_000_000, "{entry}");
    }
    assert_eq!(
        entries[4]["target"],
        format!("user #{user_id}: concurrency, flagged")
    );
    assert_eq!(entries[3]["target"], format!("worker {worker_id}: paused"));
    assert_eq!(entries[1]["target"], "mode.raid=true");
    let text = log.to_string();
    assert!(
        !text.contains("private word") && !text.contains("203.0.113"),
        "{log}"
    );
    // Pages past the end are empty.
    let (_, past) = server
        .get("/operations/moderation_log?page=2", Some(&moderator))
        .await;
    assert_eq!(past, json!([]));
}
