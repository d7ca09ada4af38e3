//! The server's modes (`/api/v2/status/modes`): who sees and sets them, and what each does, on
//! every instance.

use crate::common::{assert_error, backend, Backend, Server, ANON};
use reqwest::StatusCode;
use serde_json::json;

const MODEL: &str = "test/Tiny-1B";

fn text_request() -> serde_json::Value {
    json!({"prompt": "Once upon a time", "params": {"max_length": 16}})
}

#[tokio::test]
async fn moderators_see_and_set_the_modes_and_nobody_else() {
    let server = Server::start(&[]);
    let (_, moderator) = server.admin_user("mod", &["--moderator"]);
    let (_, user) = server.register("someone").await;

    let (status, public) = server.get("/status/modes", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        public,
        json!({"maintenance_mode": false, "invite_only_mode": false})
    );
    let (status, full) = server.get("/status/modes", Some(&moderator)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(full["raid_mode"], false);
    assert_error(
        &server.get("/status/modes", Some(&user)).await,
        StatusCode::FORBIDDEN,
        "NotModerator",
    );
    assert_error(
        &server
            .get("/status/modes", Some("AAAAAAAAAAAAAAAAAAAAAA"))
            .await,
        StatusCode::UNAUTHORIZED,
        "InvalidAPIKey",
    );

    for key in [user.as_str(), ANON] {
        let refused = server
            .put("/status/modes", Some(key), json!({"raid_mode": true}))
            .await;
        assert_error(&refused, StatusCode::FORBIDDEN, "NotModerator");
    }
    // Maintenance stops the whole queue: an admin's to set.
    let maintenance = server
        .put(
            "/status/modes",
            Some(&moderator),
            json!({"maintenance_mode": true}),
        )
        .await;
    assert_error(&maintenance, StatusCode::FORBIDDEN, "NotAdmin");
    let nothing = server
        .put("/status/modes", Some(&moderator), json!({}))
        .await;
    assert_error(&nothing, StatusCode::BAD_REQUEST, "NoHordeModSelected");
    let (status, changed) = server
        .put(
            "/status/modes",
            Some(&moderator),
            json!({"raid_mode": true, "invite_only_mode": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        changed,
        json!({"invite_only_mode": true, "raid_mode": true})
    );
    let (_, full) = server.get("/status/modes", Some(&moderator)).await;
    assert_eq!(
        full,
        json!({"maintenance_mode": false, "invite_only_mode": true, "raid_mode": true})
    );
    let (_, public) = server.get("/status/modes", None).await;
    assert!(public.get("raid_mode").is_none(), "{public}");
}

#[tokio::test]
async fn maintenance_cancels_the_queue_and_refuses_requests_on_every_instance() {
    let server = Server::start(&[]);
    let (_, moderator) = server.admin_user("admin", &["--moderator", "--admin"]);
    let (_, requester) = server.register("requester").await;
    let queued = server.submit_text_request(&requester, text_request()).await;

    let (status, _) = server
        .put(
            "/status/modes",
            Some(&moderator),
            json!({"maintenance_mode": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, cancelled) = server
        .get(&format!("/generate/text/status/{queued}"), None)
        .await;
    assert_eq!(cancelled["done"], true, "{cancelled}");
    assert_eq!(cancelled["waiting"], 0);

    // Another instance on the same database refuses as well (PostgreSQL only: SQLite is one).
    let other = (backend() == Backend::Postgres).then(|| server.start_beside(&[]));
    for instance in [Some(&server), other.as_ref()].into_iter().flatten() {
        let text = instance
            .post("/generate/text/async", Some(&requester), text_request())
            .await;
        assert_error(&text, StatusCode::BAD_REQUEST, "MaintenanceMode");
        let image = instance
            .post("/generate/async", Some(ANON), json!({"prompt": "a cat"}))
            .await;
        assert_error(&image, StatusCode::BAD_REQUEST, "MaintenanceMode");
    }

    server
        .put(
            "/status/modes",
            Some(&moderator),
            json!({"maintenance_mode": false}),
        )
        .await;
    server.submit_text_request(&requester, text_request()).await;
}

#[tokio::test]
async fn invite_only_mode_admits_new_workers_of_invited_owners_only() {
    let server = Server::start(&[]);
    let (_, moderator) = server.admin_user("mod", &["--moderator"]);
    let (owner_id, owner) = server.register("owner").await;
    let (status, _) = server.pop_text(&owner, "old-worker", MODEL).await;
    assert_eq!(status, StatusCode::OK);
    server
        .put(
            "/status/modes",
            Some(&moderator),
            json!({"invite_only_mode": true}),
        )
        .await;

    // A worker it already runs goes on; a new one needs an invitation.
    let (status, _) = server.pop_text(&owner, "old-worker", MODEL).await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &server.pop_text(&owner, "new-worker", MODEL).await,
        StatusCode::FORBIDDEN,
        "WorkerInviteOnly",
    );
    let (status, _) = server
        .put(
            &format!("/users/{owner_id}"),
            Some(&moderator),
            json!({"worker_invited": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.pop_text(&owner, "new-worker", MODEL).await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &server.pop_text(&owner, "third-worker", MODEL).await,
        StatusCode::FORBIDDEN,
        "WorkerInviteOnly",
    );
}

#[tokio::test]
async fn raid_mode_limits_new_and_anonymous_accounts() {
    let server = Server::start(&[]);
    let (_, moderator) = server.admin_user("mod", &["--moderator"]);
    let (_, trusted) = server.admin_user("old-hand", &["--trusted"]);
    let (_, newcomer) = server.register("newcomer").await;
    server
        .put(
            "/status/modes",
            Some(&moderator),
            json!({"raid_mode": true}),
        )
        .await;

    let refused = server
        .post("/register", None, json!({"username": "sockpuppet"}))
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "Forbidden");

    // One waiting request for an anonymous client or a new account; a trusted one queues as
    // usual. Nobody is told that no worker can serve them.
    for key in [ANON, newcomer.as_str()] {
        let (status, first) = server
            .post("/generate/text/async", Some(key), text_request())
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{first}");
        assert_eq!(first["warnings"], json!([]), "{first}");
        let second = server
            .post("/generate/text/async", Some(key), text_request())
            .await;
        assert_error(&second, StatusCode::TOO_MANY_REQUESTS, "TooManyPrompts");
    }
    for _ in 0..3 {
        server.submit_text_request(&trusted, text_request()).await;
    }

    server
        .put(
            "/status/modes",
            Some(&moderator),
            json!({"raid_mode": false}),
        )
        .await;
    server.submit_text_request(&newcomer, text_request()).await;
    server.register("welcome-again").await;
}
