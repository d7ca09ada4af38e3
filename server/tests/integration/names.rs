//! Chosen names cannot pass for others: account, worker and team names are made canonical
//! (NFKC, invisible characters out), `#` and names with nothing visible are refused, and a
//! worker or team name that looks like another's is refused.

use crate::common::{assert_error, Server};
use reqwest::StatusCode;
use serde_json::json;

const MODEL: &str = "test/Tiny-1B";

#[tokio::test]
async fn account_names_are_canonical_and_cannot_fake_an_alias() {
    let server = Server::start(&[]);
    let register = |name: &str| server.post("/register", None, json!({ "username": name }));
    for fake in [
        "\u{200B}\u{200B}\u{200B}\u{200B}",
        "\u{FEFF}\u{200F}\u{200E}\u{2060}",
        "\u{3164}\u{3164}\u{3164}",
        "x#1",
        "x\u{FF03}1",
    ] {
        assert_error(&register(fake).await, StatusCode::BAD_REQUEST, "BadRequest");
    }
    let (status, body) = register("\u{FF44}\u{FF42}\u{200B}\u{FF10}").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["username"], format!("db0#{}", body["id"]));

    // A moderator's rename follows the same rules.
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let renamed = server
        .put(
            &format!("/users/{}", body["id"]),
            Some(&moderator),
            json!({"username": "admin#1"}),
        )
        .await;
    assert_error(&renamed, StatusCode::BAD_REQUEST, "BadRequest");
}

#[tokio::test]
async fn a_worker_name_like_another_accounts_is_refused() {
    let server = Server::start(&[]);
    let (_, first) = server.register("first").await;
    let (_, second) = server.register("second").await;
    assert_eq!(
        server.pop_text(&first, "Admin Box", MODEL).await.0,
        StatusCode::OK
    );
    for look_alike in ["adm1n box", "ADM\u{0399}N\u{200B} BOX", "\u{0430}dmin box"] {
        let (status, body) = server.pop_text(&second, look_alike, MODEL).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{look_alike}: {body}");
        assert_eq!(body["rc"], "WorkerNameAlreadyExists", "{body}");
    }
    // The owner may name its own workers alike, and others may take names unlike it.
    assert_eq!(
        server.pop_text(&first, "Adm1n Box", MODEL).await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.pop_text(&second, "Other Box", MODEL).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_team_name_like_another_is_refused() {
    let server = Server::start(&[]);
    let (_, creator) = server.admin_user("creator", &["--trusted"]);
    let (_, rival) = server.admin_user("rival", &["--trusted"]);
    let (status, team) = server
        .post("/teams", Some(&creator), json!({"name": "Direct Action"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{team}");
    let copy = server
        .post("/teams", Some(&rival), json!({"name": "D1RECT  Acti0n"}))
        .await;
    assert_error(&copy, StatusCode::BAD_REQUEST, "TeamNameAlreadyExists");
    let (status, _) = server
        .post("/teams", Some(&rival), json!({"name": "Indirect Action"}))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn names_kept_before_likeness_existed_get_theirs_at_start() {
    let mut server = Server::start(&[]);
    let (_, first) = server.register("first").await;
    let (_, second) = server.register("second").await;
    assert_eq!(
        server.pop_text(&first, "Old Box", MODEL).await.0,
        StatusCode::OK
    );
    // As a database migrated from before the column was there.
    let mut sql = server.sql().await;
    sqlx::query("UPDATE workers SET name_likeness = NULL")
        .execute(&mut sql)
        .await
        .unwrap();
    server.kill_and_restart();
    let (status, body) = server.pop_text(&second, "0ld B0x", MODEL).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["rc"], "WorkerNameAlreadyExists");
}
