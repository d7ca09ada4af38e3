//! Who may change what of an account (`PUT /users/{id}`), what each viewer sees of accounts and
//! their workers, and the operator's roles (`potluck admin create-user --admin`, `set-role`).

use crate::common::{assert_error, Server, ANON};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MODEL: &str = "test/Tiny-1B";

async fn change(server: &Server, key: &str, user: i64, body: Value) -> Value {
    let (status, answer) = server.put(&format!("/users/{user}"), Some(key), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test]
async fn an_account_makes_its_workers_public_and_sets_its_contact() {
    let server = Server::start(&[]);
    let (owner_id, owner) = server.register("owner").await;
    let (stranger_id, stranger) = server.register("stranger").await;
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    server.pop_text(&owner, "worker-one", MODEL).await;
    let (_, worker) = server.get("/workers/name/worker-one", Some(&owner)).await;
    let worker_path = format!("/workers/{}", worker["id"].as_str().unwrap());

    let (_, public) = server.get(&worker_path, None).await;
    assert_eq!(public["owner"], Value::Null);
    assert!(server
        .user(owner_id, None)
        .await
        .get("worker_ids")
        .is_none());
    let answer = change(&server, &owner, owner_id, json!({"public_workers": true})).await;
    assert_eq!(answer, json!({"public_workers": true}));
    // Now everyone sees whose the worker is, and the account's workers; nothing else.
    let (_, public) = server.get(&worker_path, None).await;
    assert_eq!(public["owner"], format!("owner#{owner_id}"));
    assert!(public.get("messages").is_none(), "{public}");
    let seen = server.user(owner_id, Some(&stranger)).await;
    assert_eq!(seen["worker_ids"], json!([worker["id"]]));
    assert!(seen.get("public_workers").is_none(), "{seen}");
    assert_eq!(
        server.user(owner_id, Some(&owner)).await["public_workers"],
        true
    );

    let answer = change(
        &server,
        &owner,
        owner_id,
        json!({"contact": " owner@example.org "}),
    )
    .await;
    assert_eq!(answer["contact"], "owner@example.org");
    let (_, me) = server.get("/find_user", Some(&owner)).await;
    assert_eq!(me["contact"], "owner@example.org");
    // Only the owner and moderators see the address, on the account and on its workers.
    for viewer in [Some(stranger.as_str()), None] {
        let details = server.user(owner_id, viewer).await;
        assert!(details.get("contact").is_none(), "{details}");
        let (_, w) = server.get(&worker_path, viewer).await;
        assert!(w.get("contact").is_none(), "{w}");
    }
    let (_, w) = server.get(&worker_path, Some(&moderator)).await;
    assert_eq!(w["contact"], "owner@example.org");
    // An empty address withdraws it.
    let answer = change(&server, &owner, owner_id, json!({"contact": ""})).await;
    assert!(answer.get("contact").is_none(), "{answer}");
    assert!(server
        .user(owner_id, Some(&owner))
        .await
        .get("contact")
        .is_none());
    let bad = server
        .put(
            &format!("/users/{owner_id}"),
            Some(&owner),
            json!({"contact": "not an address"}),
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "BadRequest");

    // A stranger changes nothing of it; a moderator may make workers public, never the contact.
    let path = format!("/users/{owner_id}");
    for body in [
        json!({"public_workers": false}),
        json!({"username": "stolen"}),
    ] {
        for key in [Some(stranger.as_str()), Some(ANON), None] {
            let refused = server.put(&path, key, body.clone()).await;
            assert_error(&refused, StatusCode::FORBIDDEN, "NotModerator");
        }
    }
    for key in [&stranger, &moderator] {
        let refused = server
            .put(&path, Some(key), json!({"contact": "x@example.org"}))
            .await;
        assert_error(&refused, StatusCode::FORBIDDEN, "Forbidden");
    }
    let answer = change(
        &server,
        &moderator,
        owner_id,
        json!({"public_workers": false}),
    )
    .await;
    assert_eq!(answer["public_workers"], false);
    // A pseudonymous account keeps its name (as `PUT /users/me/username`).
    let refused = server
        .put(
            &format!("/users/{stranger_id}"),
            Some(&stranger),
            json!({"username": "new name"}),
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "PseudonymousAccount");

    // Nothing to change; or only what Potluck does not have, refused by name.
    let nothing = server.put(&path, Some(&moderator), json!({})).await;
    assert_error(&nothing, StatusCode::BAD_REQUEST, "NoUserModSelected");
    let unserved = server
        .put(
            &path,
            Some(&moderator),
            json!({"customizer": true, "monthly_kudos": 5}),
        )
        .await;
    assert_error(&unserved, StatusCode::BAD_REQUEST, "BadRequest");
    assert!(unserved.1["message"]
        .as_str()
        .unwrap()
        .contains("customizer"));
}

#[tokio::test]
async fn moderators_invite_flag_trust_and_forgive() {
    let server = Server::start(&[]);
    let (user_id, user) = server.register("member").await;
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let path = format!("/users/{user_id}");
    for body in [
        json!({"worker_invited": 2}),
        json!({"flagged": true}),
        json!({"trusted": true}),
        json!({"reset_suspicion": true}),
        json!({"concurrency": 3}),
    ] {
        let refused = server.put(&path, Some(&user), body).await;
        assert_error(&refused, StatusCode::FORBIDDEN, "NotModerator");
    }
    let answer = change(
        &server,
        &moderator,
        user_id,
        json!({"worker_invited": 2, "flagged": true, "reset_suspicion": true}),
    )
    .await;
    assert_eq!(
        answer,
        json!({"worker_invited": 2, "flagged": true, "new_suspicion": 0})
    );
    for invited in [-1, 1001] {
        let refused = server
            .put(&path, Some(&moderator), json!({"worker_invited": invited}))
            .await;
        assert_error(&refused, StatusCode::BAD_REQUEST, "BadRequest");
    }
    let details = server.user(user_id, None).await;
    assert_eq!(
        (
            details["worker_invited"].clone(),
            details["flagged"].clone()
        ),
        (json!(2), json!(true))
    );

    // Trusting an account lifts its workers' pauses, as in the AI Horde.
    server.pop_text(&user, "paused-one", MODEL).await;
    let (_, worker) = server.get("/workers/name/paused-one", Some(&user)).await;
    let worker_path = format!("/workers/{}", worker["id"].as_str().unwrap());
    server
        .put(&worker_path, Some(&moderator), json!({"paused": true}))
        .await;
    assert_eq!(
        server.get(&worker_path, Some(&user)).await.1["paused"],
        true
    );
    let answer = change(&server, &moderator, user_id, json!({"trusted": true})).await;
    assert_eq!(answer, json!({"trusted": true}));
    assert_eq!(
        server.get(&worker_path, Some(&user)).await.1["paused"],
        false
    );
}

#[tokio::test]
async fn each_viewer_sees_what_is_theirs_to_see() {
    let server = Server::start(&[]);
    let (owner_id, owner) = server.register("owner").await;
    let (_, stranger) = server.register("stranger").await;
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    server.pop_text(&owner, "worker-one", MODEL).await;
    let private = [
        "evaluating_kudos",
        "suspicious",
        "worker_ids",
        "public_workers",
    ];
    for viewer in [&owner, &moderator] {
        let details = server.user(owner_id, Some(viewer)).await;
        for field in private {
            assert!(details.get(field).is_some(), "{field}: {details}");
        }
        let (_, worker) = server.get("/workers/name/worker-one", Some(viewer)).await;
        for field in ["owner", "paused", "suspicious", "messages"] {
            assert!(
                worker.get(field).is_some_and(|v| !v.is_null()),
                "{field}: {worker}"
            );
        }
    }
    for viewer in [Some(stranger.as_str()), Some(ANON), None] {
        let details = server.user(owner_id, viewer).await;
        for field in private.iter().chain(&["contact"]) {
            assert!(details.get(*field).is_none(), "{field}: {details}");
        }
        let (_, worker) = server.get("/workers/name/worker-one", viewer).await;
        assert!(worker["owner"].is_null(), "{worker}");
        for field in ["paused", "suspicious", "messages", "contact", "ipaddr"] {
            assert!(worker.get(field).is_none(), "{field}: {worker}");
        }
        // What any worker shows: its record, and its team (none).
        assert_eq!(worker["team"], json!({"id": null, "name": null}));
        assert_eq!(worker["checks_failed"], 0);
    }
    // The anonymous account is nobody's own.
    let anonymous = server.user(0, Some(ANON)).await;
    assert!(anonymous.get("evaluating_kudos").is_none(), "{anonymous}");
}

#[tokio::test]
async fn a_change_potluck_does_not_make_is_refused_not_ignored() {
    let server = Server::start(&[]);
    let (_, admin) = server.admin_user("admin", &["--admin", "--moderator"]);
    let (user_id, user) = server.register("member").await;
    let path = format!("/users/{user_id}");
    for body in [
        json!({"vpn": true}),
        json!({"concurrency": 5, "usage_multiplier": 2.0}),
        json!({"admin_comment": "note"}),
    ] {
        let refused = server.put(&path, Some(&admin), body.clone()).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, "BadRequest");
        let named = body.as_object().unwrap().keys().any(|field| {
            field != "concurrency"
                && refused.1["message"]
                    .as_str()
                    .unwrap()
                    .contains(field.as_str())
        });
        assert!(named, "the refusal names the field: {}", refused.1);
    }
    // Nothing of a refused change was made; a null stands for a field not sent.
    let (_, details) = server.get(&path, Some(&user)).await;
    assert_ne!(details["concurrency"], 5, "{details}");
    change(
        &server,
        &admin,
        user_id,
        json!({"concurrency": 5, "vpn": null}),
    )
    .await;
}

#[tokio::test]
async fn the_operator_names_admins() {
    let server = Server::start(&[]);
    let (admin_id, admin) = server.admin_user("admin", &["--admin"]);
    let (user_id, user) = server.register("member").await;
    let path = format!("/users/{user_id}");
    let (status, granted) = server.put(&path, Some(&admin), json!({"kudos": 5})).await;
    assert_eq!(status, StatusCode::OK, "{granted}");
    // An admin alone is no moderator.
    assert_eq!(server.user(admin_id, None).await["moderator"], false);

    let user_flag = user_id.to_string();
    let (ok, out) = server.admin(&["set-role", "--user", &user_flag, "--admin", "true"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("admin: true, moderator: false, trusted: false"),
        "{out}"
    );
    let (status, _) = server
        .put(
            &format!("/users/{admin_id}"),
            Some(&user),
            json!({"kudos": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (ok, out) = server.admin(&[
        "set-role",
        "--user",
        &user_flag,
        "--admin",
        "false",
        "--moderator",
        "true",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("admin: false, moderator: true"), "{out}");
    let refused = server
        .put(
            &format!("/users/{admin_id}"),
            Some(&user),
            json!({"kudos": 1}),
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "NotAdmin");
    for user in ["0", "4242"] {
        let (ok, _) = server.admin(&["set-role", "--user", user, "--trusted", "true"]);
        assert!(!ok, "set-role on user {user}");
    }
    // The export says so too.
    let (_, export) = server.get("/users/me/export", Some(&admin)).await;
    assert_eq!(export["account"]["admin"], true);
    let (ok, audit) = server.admin(&["audit-kudos"]);
    assert!(ok, "{audit}");
}
