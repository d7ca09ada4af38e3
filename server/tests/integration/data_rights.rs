//! The data rights of an account's owner over real HTTP (`/api/v2/users/me/...` and the web UI's
//! server functions): the export holds what was stored, the contact address can be set and
//! withdrawn, a frozen account is processed no more until unfrozen, and an erased account leaves
//! no personal field (checked with SQL) while every other balance and the kudos audit hold.

use crate::common::{assert_error, close, Server, ANON};
use reqwest::header::COOKIE;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const MODEL: &str = "example/Tiny-1B";

/// One value of a one-row, one-column query on the server's database, with `bind` as `$1`.
async fn scalar(server: &Server, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(&mut server.sql().await)
        .await
        .unwrap()
}

async fn export(server: &Server, key: &str) -> Value {
    let (status, body) = server.get("/users/me/export", Some(key)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["format"], "potluck-user-export/1");
    body
}

/// A request of `key` for one text generation.
async fn ask(server: &Server, key: &str, prompt: &str) -> String {
    let body = json!({ "prompt": prompt, "params": { "max_length": 32 }, "models": [MODEL] });
    server.submit_text_request(key, body).await
}

/// The worker `worker` of `key` pops a job and returns its id.
async fn pop(server: &Server, key: &str, worker: &str) -> String {
    let (status, body) = server.pop_text(key, worker, MODEL).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["id"].as_str().expect("a job").to_string()
}

async fn submit(server: &Server, key: &str, job: &str, text: &str) -> (StatusCode, Value) {
    let body = json!({ "id": job, "generation": text });
    server.post("/generate/text/submit", Some(key), body).await
}

/// A worker owner whose worker `box` is online, and a requester whose first request that worker
/// finished (so both have ledger lines), then who got 0.5 kudos from the owner; both were
/// granted kudos first.
async fn owner_and_requester(server: &Server, worker: &str) -> ((i64, String), (i64, String)) {
    // Trusted, so that its reward is spendable at once (an untrusted one's is held).
    let owner = server.admin_user("owner-with-worker", &["--trusted"]);
    let requester = server.register("requester-of-jobs").await;
    // Both above their floors, so that every movement shows (and the owner can give).
    server.grant(owner.0, 20.0).await;
    server.grant(requester.0, 100.0).await;
    assert_eq!(
        server.pop_text(&owner.1, worker, MODEL).await.0,
        StatusCode::OK
    );
    ask(server, &requester.1, "a first prompt, done").await;
    let job = pop(server, &owner.1, worker).await;
    let submitted = submit(server, &owner.1, &job, "a first result").await;
    assert_eq!(submitted.0, StatusCode::OK, "{}", submitted.1);
    let to = format!("requester-of-jobs#{}", requester.0);
    let sent = json!({ "username": to, "amount": 0.5 });
    let transfer = server.post("/kudos/transfer", Some(&owner.1), sent).await;
    assert_eq!(transfer.0, StatusCode::OK, "{}", transfer.1);
    (owner, requester)
}

#[tokio::test]
async fn the_export_holds_the_account_its_ledger_workers_and_requests() {
    let server = Server::start(&[]);
    let ((owner_id, owner), (requester_id, requester)) =
        owner_and_requester(&server, "export-box").await;
    let waiting = ask(&server, &requester, "a prompt still waiting").await;

    let mine = export(&server, &requester).await;
    assert_eq!(mine["account"]["id"], requester_id);
    assert_eq!(mine["account"]["username"], "requester-of-jobs");
    assert_eq!(
        mine["account"]["alias"],
        format!("requester-of-jobs#{requester_id}")
    );
    assert_eq!(mine["account"]["frozen"], false);
    assert_eq!(mine["account"]["records"]["requests_text"], 2);
    assert!(close(
        mine["account"]["kudos"].as_f64().unwrap(),
        server.kudos(&requester).await
    ));
    let ledger = mine["kudos_ledger"].as_array().unwrap();
    let reasons: Vec<&str> = ledger
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    // Newest first: queueing the waiting request, the owner's gift, the first job, queueing
    // the first request, the grant.
    assert_eq!(
        reasons,
        ["spent", "received", "spent", "spent", "admin"],
        "newest first: {ledger:?}"
    );
    assert!(ledger[0]["job_id"].is_null());
    assert_eq!(ledger[1]["counterparty"], owner_id);
    assert!(ledger[2]["job_id"].is_string());
    let requests = mine["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0]["state"], "done");
    assert_eq!(requests[0]["generations"][0]["text"], "a first result");
    assert_eq!(requests[0]["generations"][0]["worker_name"], "export-box");
    assert_eq!(requests[1]["id"], waiting);
    assert_eq!(requests[1]["state"], "active");
    assert_eq!(requests[1]["prompt"], "a prompt still waiting");
    assert_eq!(requests[1]["params"]["max_length"], 32);
    assert_eq!(mine["workers"], json!([]));
    assert_eq!(mine["web_sessions"], 0);

    let theirs = export(&server, &owner).await;
    let workers = theirs["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0]["name"], "export-box");
    assert_eq!(workers[0]["requests_fulfilled"], 1);
    let reasons: Vec<&str> = theirs["kudos_ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["gifted", "generated", "admin"]);

    // The anonymous account has no data of its own; a wrong key has no account at all.
    assert_error(
        &server.get("/users/me/export", Some(ANON)).await,
        StatusCode::FORBIDDEN,
        "AnonForbidden",
    );
    assert_error(
        &server
            .get("/users/me/export", Some("not-a-key-at-all"))
            .await,
        StatusCode::UNAUTHORIZED,
        "InvalidAPIKey",
    );
}

#[tokio::test]
async fn a_contact_address_can_be_set_and_withdrawn() {
    let server = Server::start(&[]);
    let (id, key) = server.register("has-a-contact").await;
    let set = server
        .put(
            "/users/me/contact",
            Some(&key),
            json!({ "contact": " ann@example.org " }),
        )
        .await;
    assert_eq!(set.0, StatusCode::OK, "{}", set.1);
    assert_eq!(set.1["contact"], "ann@example.org");
    assert_eq!(
        export(&server, &key).await["account"]["contact"],
        "ann@example.org"
    );
    // The owner sees it with the account; nobody else does.
    assert_eq!(
        server.user(id, Some(&key)).await["contact"],
        "ann@example.org"
    );
    assert!(server.user(id, None).await["contact"].is_null());

    for bad in ["no-at-sign", "two@@example.org", "spaced out@example.org"] {
        assert_error(
            &server
                .put("/users/me/contact", Some(&key), json!({ "contact": bad }))
                .await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        );
    }

    let removed = server
        .put("/users/me/contact", Some(&key), json!({ "contact": null }))
        .await;
    assert_eq!(removed.0, StatusCode::OK, "{}", removed.1);
    assert!(export(&server, &key).await["account"]["contact"].is_null());
    let stored = scalar(
        &server,
        "SELECT COUNT(*) FROM users WHERE contact IS NOT NULL AND id = CAST($1 AS BIGINT)",
        &id.to_string(),
    )
    .await;
    assert_eq!(stored, 0);
    assert_error(
        &server
            .put(
                "/users/me/contact",
                Some(ANON),
                json!({ "contact": "a@b.c" }),
            )
            .await,
        StatusCode::FORBIDDEN,
        "AnonForbidden",
    );
}

#[tokio::test]
async fn a_frozen_account_is_processed_no_more_until_unfrozen() {
    let server = Server::start(&[]);
    let ((_, owner), (requester_id, requester)) = owner_and_requester(&server, "frozen-box").await;
    let waiting = ask(&server, &requester, "waits until the freeze").await;

    let frozen = server
        .post("/users/me/freeze", Some(&requester), json!({}))
        .await;
    assert_eq!(frozen.0, StatusCode::OK, "{}", frozen.1);
    assert_eq!(frozen.1["frozen"], true);
    assert_eq!(frozen.1["requests_cancelled"], 1);
    let status = server
        .get(&format!("/generate/text/status/{waiting}"), None)
        .await;
    assert_eq!(status.1["waiting"], 0, "cancelled: {}", status.1);
    let refused = json!({ "prompt": "refused", "params": { "max_length": 32 }, "models": [MODEL] });
    let answer = server
        .post("/generate/text/async", Some(&requester), refused.clone())
        .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "AccountFrozen");
    let give = json!({ "username": format!("x#{requester_id}"), "amount": 0.1 });
    assert_error(
        &server.post("/kudos/transfer", Some(&owner), give).await,
        StatusCode::FORBIDDEN,
        "AccountFrozen",
    );
    // Its key still reads and exports.
    assert_eq!(export(&server, &requester).await["account"]["frozen"], true);

    // A frozen worker owner: its workers get no jobs.
    assert_eq!(
        server
            .post("/users/me/freeze", Some(&owner), json!({}))
            .await
            .0,
        StatusCode::OK
    );
    assert_error(
        &server.pop_text(&owner, "frozen-box", MODEL).await,
        StatusCode::FORBIDDEN,
        "AccountFrozen",
    );

    for key in [&owner, &requester] {
        let unfrozen = server
            .post("/users/me/unfreeze", Some(key), json!({}))
            .await;
        assert_eq!(unfrozen.0, StatusCode::OK, "{}", unfrozen.1);
        assert_eq!(unfrozen.1["frozen"], false);
    }
    let answer = server
        .post("/generate/text/async", Some(&requester), refused)
        .await;
    assert_eq!(answer.0, StatusCode::ACCEPTED, "{}", answer.1);
    pop(&server, &owner, "frozen-box").await;
}

#[tokio::test]
async fn erasure_refuses_the_key_frees_the_name_and_leaves_no_personal_field() {
    let server = Server::start(&[]);
    let ((_, owner), (requester_id, requester)) = owner_and_requester(&server, "erasure-box").await;
    let contact = "erase-me@example.org";
    let set = server
        .put(
            "/users/me/contact",
            Some(&requester),
            json!({ "contact": contact }),
        )
        .await;
    assert_eq!(set.0, StatusCode::OK);
    let with_worker = ask(&server, &requester, "a prompt a worker is running").await;
    let job = pop(&server, &owner, "erasure-box").await;
    let waiting = ask(&server, &requester, "a prompt nobody took yet").await;
    // A browser signed in as the requester.
    let signed_in = server.sign_in(&requester).await.1;
    assert_eq!(export(&server, &requester).await["web_sessions"], 1);
    // The requester's own worker, which goes with the account.
    assert_eq!(
        server
            .pop_text(&requester, "requester-own-box", "other/Model-1B")
            .await
            .0,
        StatusCode::OK
    );
    let owner_kudos = server.kudos(&owner).await;
    let requester_kudos = server.kudos(&requester).await;
    let key_hash = potluck_core::keys::hash_key(&requester);

    let erased = server.delete("/users/me", Some(&requester)).await;
    assert_eq!(erased.0, StatusCode::OK, "{}", erased.1);
    assert_eq!(erased.1["id"], requester_id);
    assert_eq!(erased.1["requests_cancelled"], 2);
    assert_eq!(erased.1["workers_deleted"], 1);
    assert_eq!(erased.1["web_sessions_ended"], 1);
    assert!(close(
        erased.1["kudos_forfeited"].as_f64().unwrap(),
        requester_kudos
    ));

    // The key is refused at once, everywhere; the browser's session is over.
    assert_error(
        &server.get("/find_user", Some(&requester)).await,
        StatusCode::NOT_FOUND,
        "UserNotFound",
    );
    assert_error(
        &server.get("/users/me/export", Some(&requester)).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAPIKey",
    );
    assert_eq!(ui_signed_in(&server, &signed_in).await, Value::Null);
    assert_error(
        &server.get(&format!("/users/{requester_id}"), None).await,
        StatusCode::NOT_FOUND,
        "UserNotFound",
    );
    // The job its request gave a worker is off: nobody is left to deliver it to.
    assert_error(
        &submit(&server, &owner, &job, "a result for nobody").await,
        StatusCode::BAD_REQUEST,
        "AbortedGen",
    );
    for id in [&with_worker, &waiting] {
        assert_error(
            &server
                .get(&format!("/generate/text/status/{id}"), None)
                .await,
            StatusCode::GONE,
            "RequestExpired",
        );
    }

    // No personal field of the old account is left in the database.
    let id = requester_id.to_string();
    let by_id = |sql: &str| sql.replace("$ID", "CAST($1 AS BIGINT)");
    let personal = scalar(
        &server,
        &by_id(
            "SELECT COUNT(*) FROM users WHERE id = $ID AND (username != 'erased' \
             OR key_hash IS NOT NULL OR contact IS NOT NULL OR erased_at IS NULL)",
        ),
        &id,
    )
    .await;
    assert_eq!(personal, 0);
    for (what, sql, bind) in [
        (
            "the key hash",
            "SELECT COUNT(*) FROM users WHERE key_hash = $1",
            key_hash.as_str(),
        ),
        (
            "the contact",
            "SELECT COUNT(*) FROM users WHERE contact = $1",
            contact,
        ),
        (
            "the name",
            "SELECT COUNT(*) FROM users WHERE username = $1",
            "requester-of-jobs",
        ),
        (
            "a prompt",
            by_id("SELECT COUNT(*) FROM requests WHERE user_id = $ID AND prompt IS NOT NULL")
                .as_str(),
            id.as_str(),
        ),
        (
            "a result",
            by_id(
                "SELECT COUNT(*) FROM jobs j JOIN requests r ON r.id = j.request_id \
                 WHERE r.user_id = $ID AND j.generation IS NOT NULL",
            )
            .as_str(),
            id.as_str(),
        ),
        (
            "a worker",
            by_id("SELECT COUNT(*) FROM workers WHERE owner_id = $ID").as_str(),
            id.as_str(),
        ),
        (
            "a web session",
            "SELECT COUNT(*) FROM web_sessions WHERE $1 = $1",
            "any",
        ),
    ] {
        assert_eq!(
            scalar(&server, sql, bind).await,
            0,
            "{what} is still stored"
        );
    }
    let secrets = [
        "a prompt nobody took yet",
        "a first result",
        contact,
        &key_hash,
    ];
    server
        .wait_until_unstored(&secrets, Duration::from_secs(10))
        .await;

    // Its ledger lines stay, pseudonymised, and every balance still sums its ledger.
    let lines = scalar(
        &server,
        &by_id("SELECT COUNT(*) FROM kudos_ledger WHERE user_id = $ID"),
        &id,
    )
    .await;
    // The grant, the queueing of two requests and one job spent, the owner's gift, the
    // request queued since, and the erasure's.
    assert_eq!(lines, 7, "granted, spent ×4, received, and the erasure's");
    assert!(close(server.kudos(&owner).await, owner_kudos));
    let (ok, report) = server.admin(&["audit-kudos"]);
    assert!(ok, "{report}");

    // The name is free again.
    let (again, _) = server.register("requester-of-jobs").await;
    assert_ne!(again, requester_id);
}

/// The web UI: the export is a download for the signed-in account, and deletion needs the
/// account's name typed, then signs the browser out.
#[tokio::test]
async fn the_account_page_exports_and_erases() {
    let server = Server::start(&[]);
    let (id, key) = server.register("ui-data-owner").await;
    let cookie = server.sign_in(&key).await.1;
    let client = reqwest::Client::new();
    let download = client
        .get(format!("{}/_leptos/export_my_data", server.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    let exported: Value = download.json().await.unwrap();
    assert_eq!(exported["account"]["id"], id);
    assert_eq!(exported["web_sessions"], 1);
    let anonymous = client
        .get(format!("{}/_leptos/export_my_data", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let wrong = server
        .server_function(
            "erase_account",
            &[("confirm", "someone-else")],
            Some(&cookie),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert_eq!(wrong.json::<Value>().await.unwrap()["field"], "confirm");
    assert_eq!(server.kudos(&key).await, 0.0, "not erased");

    let erased = server
        .server_function(
            "erase_account",
            &[("confirm", "ui-data-owner")],
            Some(&cookie),
        )
        .await;
    assert!(erased.status().is_success(), "{}", erased.status());
    assert_eq!(ui_signed_in(&server, &cookie).await, Value::Null);
    assert_error(
        &server.get("/find_user", Some(&key)).await,
        StatusCode::NOT_FOUND,
        "UserNotFound",
    );
}

/// Whom the UI takes the browser with `cookie` for (null: nobody).
async fn ui_signed_in(server: &Server, cookie: &str) -> Value {
    let response = server.server_function("signed_in", &[], Some(cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}
