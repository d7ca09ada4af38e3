//! Suspicion: profane names and prompts the filters refuse are signs recorded with their
//! reason, which the account itself and moderators see (`/users/{id}/suspicions`) and moderators
//! reset; a suspicious
//! account neither gives nor receives kudos.

use crate::accounts::grant;
use crate::common::{assert_error, Server, ANON};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// An account's signs of suspicion as `viewer` sees them, and their reasons.
async fn signs(server: &Server, viewer: &str, user: i64) -> (Value, Vec<i64>) {
    let (status, signs) = server
        .get(&format!("/users/{user}/suspicions"), Some(viewer))
        .await;
    assert_eq!(status, StatusCode::OK, "{signs}");
    let reasons = signs
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_i64().unwrap())
        .collect();
    (signs, reasons)
}

/// An image request whose prompt the filters refuse (with replacements refused).
async fn refused_prompt(server: &Server, key: &str) {
    let body = json!({"prompt": "a naked kid", "replacement_filter": false,
                      "params": {"width": 256, "height": 256, "steps": 10}});
    let refused = server.post("/generate/async", Some(key), body).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "CorruptPrompt");
}

async fn transfer(server: &Server, from: &str, to: String) -> (StatusCode, Value) {
    let body = json!({"username": to, "amount": 1});
    server.post("/kudos/transfer", Some(from), body).await
}

#[tokio::test]
async fn signs_of_suspicion_are_recorded_shown_to_the_right_people_and_reset() {
    let server = Server::start(&[]);
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let (_, admin) = server.admin_user("admin", &["--admin"]);
    let (id, shady) = server.register("shitlord").await;
    let (other_id, other) = server.register("neighbour").await;
    grant(&server, &admin, id, 100.0).await;
    grant(&server, &admin, other_id, 100.0).await;

    // A profane worker name, and a generated one that merely reads as profane in digits.
    let (status, _) = server
        .pop_text(&shady, "fuck-machine", "test/Tiny-1B")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .pop_text(&other, "browser-b00b5e71", "test/Tiny-1B")
        .await;
    assert_eq!(status, StatusCode::OK);
    // Prompts the filters refuse: the account's, and the anonymous one's (never suspicious).
    let painter = json!({"name": "painter", "models": ["stable_diffusion"], "max_pixels": 1048576});
    let (status, body) = server.post("/generate/pop", Some(&other), painter).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (regex, filter_type) in [(r"\bkid\b", 10), (r"\bnaked\b", 20)] {
        let filter = json!({"regex": regex, "filter_type": filter_type});
        let (status, body) = server.put("/filters", Some(&moderator), filter).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    refused_prompt(&server, &shady).await;
    refused_prompt(&server, ANON).await;

    let (_, seen) = server.get(&format!("/users/{id}"), Some(&moderator)).await;
    assert_eq!(seen["suspicious"], 3, "{seen}");
    let (details, reasons) = signs(&server, &moderator, id).await;
    assert_eq!(reasons, [7, 2, 8]);
    assert_eq!(details[1]["worker_name"], "fuck-machine");
    assert_eq!(details[0]["description"], "Profanity in the username");
    assert_eq!(signs(&server, &shady, id).await.1, [7, 2, 8]);
    let (_, public) = server.get(&format!("/users/{id}"), Some(&other)).await;
    assert!(public.get("suspicious").is_none(), "{public}");
    for viewer in [other.as_str(), ANON] {
        let refused = server
            .get(&format!("/users/{id}/suspicions"), Some(viewer))
            .await;
        assert_error(&refused, StatusCode::FORBIDDEN, "NotModerator");
    }
    let (_, neighbour) = server
        .get(&format!("/users/{other_id}"), Some(&moderator))
        .await;
    assert_eq!(neighbour["suspicious"], 0, "{neighbour}");
    let (_, anonymous) = server.get("/users/0", Some(&moderator)).await;
    assert_eq!(anonymous["suspicious"], 0, "{anonymous}");
    let worker_id = details[1]["worker_id"].as_str().unwrap();
    let (_, worker) = server
        .get(&format!("/workers/{worker_id}"), Some(&moderator))
        .await;
    assert_eq!(worker["suspicious"], 1, "{worker}");

    // Five signs: the account can neither give nor receive kudos.
    refused_prompt(&server, &shady).await;
    refused_prompt(&server, &shady).await;
    assert_error(
        &transfer(&server, &shady, format!("neighbour#{other_id}")).await,
        StatusCode::BAD_REQUEST,
        "FaultWhenKudosSending",
    );
    assert_error(
        &transfer(&server, &other, format!("shitlord#{id}")).await,
        StatusCode::BAD_REQUEST,
        "FaultWhenKudosReceiving",
    );

    // A moderator resets it: the signs are gone, the account's and its worker's.
    let (status, reset) = server
        .put(
            &format!("/users/{id}"),
            Some(&moderator),
            json!({"reset_suspicion": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!(reset["new_suspicion"], 0);
    let (_, seen) = server.get(&format!("/users/{id}"), Some(&moderator)).await;
    assert_eq!(seen["suspicious"], 0, "{seen}");
    assert!(signs(&server, &moderator, id).await.1.is_empty());
    let (_, worker) = server
        .get(&format!("/workers/{worker_id}"), Some(&moderator))
        .await;
    assert_eq!(worker["suspicious"], 0, "{worker}");
    let (status, body) = transfer(&server, &other, format!("shitlord#{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn flagged_accounts_neither_give_nor_receive_kudos() {
    let server = Server::start(&[]);
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let (_, admin) = server.admin_user("admin", &["--admin"]);
    let (flagged_id, flagged) = server.register("flagged").await;
    let (other_id, other) = server.register("other").await;
    grant(&server, &admin, flagged_id, 100.0).await;
    grant(&server, &admin, other_id, 100.0).await;
    let (status, body) = server
        .put(
            &format!("/users/{flagged_id}"),
            Some(&moderator),
            json!({"flagged": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let to_other = json!({"username": format!("other#{other_id}"), "amount": 1});
    assert_error(
        &server
            .post("/kudos/transfer", Some(&flagged), to_other)
            .await,
        StatusCode::BAD_REQUEST,
        "SourceAccountFlagged",
    );
    let to_flagged = json!({"username": format!("flagged#{flagged_id}"), "amount": 1});
    assert_error(
        &server
            .post("/kudos/transfer", Some(&other), to_flagged)
            .await,
        StatusCode::BAD_REQUEST,
        "TargetAccountFlagged",
    );
}
