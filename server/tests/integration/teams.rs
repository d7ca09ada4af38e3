//! Teams: who creates them (trusted accounts), their names and info, changes and deletion by
//! their creator or moderators, workers joining and leaving through `PUT /workers/{id}`, and
//! the figures a team counts.

use crate::common::{assert_error, close, Server, ANON};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const MODEL: &str = "test/Tiny-1B";

async fn create(server: &Server, key: &str, body: Value) -> Value {
    let (status, team) = server.post("/teams", Some(key), body).await;
    assert_eq!(status, StatusCode::OK, "{team}");
    team
}

async fn worker_id(server: &Server, key: &str, name: &str) -> String {
    let (status, worker) = server
        .get(&format!("/workers/name/{name}"), Some(key))
        .await;
    assert_eq!(status, StatusCode::OK, "{worker}");
    worker["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn trusted_accounts_create_teams_with_unique_names() {
    let server = Server::start(&[]);
    let (creator_id, creator) = server.admin_user("creator", &["--trusted"]);
    let (_, untrusted) = server.register("untrusted").await;

    let team = create(
        &server,
        &creator,
        json!({"name": "  Direct Action ", "info": "Anarchy is emergent order."}),
    )
    .await;
    let id = team["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "{team}");
    assert_eq!(team["name"], "Direct Action");
    assert_eq!(team["info"], "Anarchy is emergent order.");
    let bare = create(&server, &creator, json!({"name": "No Info"})).await;
    assert!(bare.get("info").is_none(), "{bare}");

    let refused = server
        .post("/teams", Some(&untrusted), json!({"name": "Mine"}))
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "UntrustedTeamCreation");
    for key in [Some(ANON), None] {
        let refused = server
            .post("/teams", key, json!({"name": "Nobody's"}))
            .await;
        assert_error(&refused, StatusCode::FORBIDDEN, "AnonForbidden");
    }
    let wrong_key = server
        .post(
            "/teams",
            Some("AAAAAAAAAAAAAAAAAAAAAA"),
            json!({"name": "x"}),
        )
        .await;
    assert_error(&wrong_key, StatusCode::UNAUTHORIZED, "InvalidAPIKey");
    for name in ["direct action", "DIRECT ACTION"] {
        let taken = server
            .post("/teams", Some(&creator), json!({"name": name}))
            .await;
        assert_error(&taken, StatusCode::BAD_REQUEST, "TeamNameAlreadyExists");
    }
    for bad in [
        json!({"name": "ab"}),
        json!({"name": "n".repeat(101)}),
        json!({"name": "fine name", "info": "ab"}),
        json!({"name": "fine name", "info": "i".repeat(1001)}),
        json!({"name": "line\nbreak"}),
        json!({"info": "no name"}),
    ] {
        let refused = server.post("/teams", Some(&creator), bad.clone()).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, "BadRequest");
    }

    let (status, list) = server.get("/teams", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Direct Action", "No Info"]);
    let (status, details) = server.get(&format!("/teams/{id}"), Some(&untrusted)).await;
    assert_eq!(status, StatusCode::OK, "{details}");
    assert_eq!(details["creator"], format!("creator#{creator_id}"));
    assert_eq!(details["info"], "Anarchy is emergent order.");
    assert_eq!(details["worker_count"], 0);
    assert_eq!(details["workers"], json!([]));
    assert_eq!(details["requests_fulfilled"], 0);
    for unknown in ["00000000-0000-0000-0000-000000000000", "not-a-team"] {
        let answer = server.get(&format!("/teams/{unknown}"), None).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "TeamNotFound");
    }
}

#[tokio::test]
async fn creators_and_moderators_change_and_delete_teams() {
    let server = Server::start(&[]);
    let (_, creator) = server.admin_user("creator", &["--trusted"]);
    let (_, stranger) = server.admin_user("stranger", &["--trusted"]);
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let id = create(&server, &creator, json!({"name": "Team One"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    create(&server, &stranger, json!({"name": "Team Two"})).await;
    let path = format!("/teams/{id}");

    let answer = server
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&stranger),
            Some(json!({"info": "mine now"})),
        )
        .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "NotOwner");
    let answer = server
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&stranger),
            Some(json!({"name": "Mine Now"})),
        )
        .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "NotModerator");
    let answer = server
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&creator),
            Some(json!({})),
        )
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "NoTeamModSelected");
    let answer = server
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&creator),
            Some(json!({"name": "team two"})),
        )
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "TeamNameAlreadyExists");
    let (status, changed) = server
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&creator),
            Some(json!({"name": "Team Uno", "info": "We count"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        changed,
        json!({"id": id, "name": "Team Uno", "info": "We count"})
    );
    // Its own name in another case is no clash.
    let (status, _) = server
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&creator),
            Some(json!({"name": "TEAM UNO"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, changed) = server
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&moderator),
            Some(json!({"info": "Moderated"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["name"], "TEAM UNO");
    assert_eq!(changed["info"], "Moderated");
    let unknown = server
        .call(
            reqwest::Method::PATCH,
            "/teams/no-such-team",
            Some(&creator),
            Some(json!({"info": "x y z"})),
        )
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "TeamNotFound");

    // A worker of the stranger's joins; deleting the team makes it leave.
    server.pop_text(&stranger, "joiner", MODEL).await;
    let joiner = format!("/workers/{}", worker_id(&server, &stranger, "joiner").await);
    let (status, joined) = server
        .put(&joiner, Some(&stranger), json!({"team": id}))
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    for key in [Some(stranger.as_str()), Some(ANON), None] {
        let refused = server.delete(&path, key).await;
        assert_error(&refused, StatusCode::FORBIDDEN, "NotModerator");
    }
    let (status, deleted) = server.delete(&path, Some(&creator)).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(
        deleted,
        json!({"deleted_id": id, "deleted_name": "TEAM UNO"})
    );
    let gone = server.get(&path, None).await;
    assert_error(&gone, StatusCode::NOT_FOUND, "TeamNotFound");
    let (_, worker) = server.get(&joiner, None).await;
    assert_eq!(worker["team"], json!({"id": null, "name": null}));
    let (_, list) = server.get("/teams", None).await;
    let other = list[0]["id"].as_str().unwrap().to_string();
    let (status, _) = server
        .delete(&format!("/teams/{other}"), Some(&moderator))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.get("/teams", None).await.1, json!([]));
}

#[tokio::test]
async fn workers_join_teams_and_the_team_counts_their_work() {
    let server = Server::start(&[]);
    let (_, creator) = server.admin_user("creator", &["--trusted"]);
    let (_, owner) = server.admin_user("owner", &["--trusted"]);
    let (_, stranger) = server.register("stranger").await;
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let team = create(&server, &creator, json!({"name": "Counters"})).await;
    let team_id = team["id"].as_str().unwrap().to_string();
    server.pop_text(&owner, "team-worker", MODEL).await;
    server.pop_text(&owner, "lone-worker", MODEL).await;
    let path = format!(
        "/workers/{}",
        worker_id(&server, &owner, "team-worker").await
    );

    for key in [Some(stranger.as_str()), Some(ANON)] {
        let refused = server.put(&path, key, json!({"team": team_id})).await;
        assert_error(&refused, StatusCode::FORBIDDEN, "NotModerator");
    }
    let unknown = server
        .put(
            &path,
            Some(&owner),
            json!({"team": "00000000-0000-0000-0000-000000000000"}),
        )
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "TeamNotFound");
    let (status, joined) = server
        .put(&path, Some(&owner), json!({"team": team_id}))
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined, json!({"team": "Counters"}));
    let (_, worker) = server.get(&path, None).await;
    assert_eq!(worker["team"], json!({"id": team_id, "name": "Counters"}));

    // It works for the team: a job, and a second of uptime.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server
        .submit_text_request(ANON, json!({"prompt": "count me", "models": [MODEL]}))
        .await;
    let (_, job) = server.pop_text(&owner, "team-worker", MODEL).await;
    let (status, submitted) = server
        .post(
            "/generate/text/submit",
            Some(&owner),
            json!({"id": job["id"], "generation": "counted"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    let reward = submitted["reward"].as_f64().unwrap();
    // The lone worker's work is not the team's.
    server
        .submit_text_request(ANON, json!({"prompt": "not the team's", "models": [MODEL]}))
        .await;
    let (_, job) = server.pop_text(&owner, "lone-worker", MODEL).await;
    server
        .post(
            "/generate/text/submit",
            Some(&owner),
            json!({"id": job["id"], "generation": "alone"}),
        )
        .await;

    let (_, details) = server.get(&format!("/teams/{team_id}"), None).await;
    assert_eq!(details["requests_fulfilled"], 1, "{details}");
    assert!(
        close(details["kudos"].as_f64().unwrap(), reward),
        "{details}"
    );
    assert!(
        details["tokens_generated"].as_i64().unwrap() > 0,
        "{details}"
    );
    assert!(details["uptime"].as_i64().unwrap() >= 1, "{details}");
    assert_eq!(details["worker_count"], 1);
    assert_eq!(details["workers"][0]["name"], "team-worker");
    assert_eq!(details["workers"][0]["type"], "text");
    assert_eq!(details["workers"][0]["online"], true);
    assert_eq!(details["models"], json!([{"name": MODEL, "count": 1}]));

    // "" leaves the team; a moderator may move anyone's worker.
    let (status, left) = server.put(&path, Some(&owner), json!({"team": ""})).await;
    assert_eq!(status, StatusCode::OK, "{left}");
    assert_eq!(left, json!({"team": "None"}));
    let (_, details) = server.get(&format!("/teams/{team_id}"), None).await;
    assert_eq!(details["worker_count"], 0);
    assert_eq!(
        details["requests_fulfilled"], 1,
        "what it did in the team stays counted"
    );
    let (status, _) = server
        .put(&path, Some(&moderator), json!({"team": team_id}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let too_long = server
        .put(&path, Some(&owner), json!({"team": "t".repeat(37)}))
        .await;
    assert_error(&too_long, StatusCode::NOT_FOUND, "TeamNotFound");
}

#[tokio::test]
async fn an_erased_creator_takes_their_teams_along() {
    let server = Server::start(&[]);
    let (_, creator) = server.admin_user("creator", &["--trusted"]);
    let (_, owner) = server.register("owner").await;
    let team = create(&server, &creator, json!({"name": "Short Lived"})).await;
    server.pop_text(&owner, "member", MODEL).await;
    let path = format!("/workers/{}", worker_id(&server, &owner, "member").await);
    server
        .put(&path, Some(&owner), json!({"team": team["id"]}))
        .await;
    let (status, erased) = server.delete("/users/me", Some(&creator)).await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(server.get("/teams", None).await.1, json!([]));
    let (_, worker) = server.get(&path, None).await;
    assert_eq!(worker["team"]["id"], Value::Null);
}
