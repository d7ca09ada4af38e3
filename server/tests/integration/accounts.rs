//! Accounts: registration, keys, the user endpoints, moderation, kudos
//! transfers, and the admin CLI's key and audit commands.

use crate::common::{assert_error, backend, close, Backend, Server, ANON};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MODEL: &str = "test/Tiny-1B";

/// An admin grants `amount` kudos to `user`.
pub async fn grant(server: &Server, admin: &str, user: i64, amount: f64) -> Value {
    let (status, body) = server
        .put(
            &format!("/users/{user}"),
            Some(admin),
            json!({ "kudos": amount }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn registration_gives_a_working_22_character_key() {
    let server = Server::start(&[]);
    let (status, body) = server
        .post("/register", None, json!({"username": "  alice  "}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().unwrap();
    assert!(id > 0, "{body}");
    assert_eq!(body["username"], format!("alice#{id}"));
    let key = body["apikey"].as_str().unwrap();
    assert_eq!(key.len(), 22, "{key}");
    assert!(
        key.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{key}"
    );

    let (status, me) = server.get("/find_user", Some(key)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["id"], id);
    assert_eq!(me["username"], format!("alice#{id}"));
    assert_eq!(me["kudos"], 0.0);
    assert_eq!(me["moderator"], false);
    assert_eq!(me["trusted"], false);
    assert_eq!(me["concurrency"], 30);
    assert_eq!(me["worker_count"], 0);
    assert_eq!(me["worker_ids"], json!([]));

    // A second registration is another account with another key.
    let (other_id, other_key) = server.register("alice").await;
    assert_ne!(other_id, id);
    assert_ne!(other_key, key);
    assert_eq!(
        server.user(other_id, None).await["username"],
        format!("alice#{other_id}")
    );
}

#[tokio::test]
async fn registration_checks_the_username() {
    let server = Server::start(&[]);
    let too_short = server
        .post("/register", None, json!({"username": "ab"}))
        .await;
    assert_error(&too_short, StatusCode::BAD_REQUEST, "BadRequest");
    assert!(
        too_short.1["errors"]["username"].is_string(),
        "{}",
        too_short.1
    );
    // Surrounding blanks do not count.
    let blank = server
        .post("/register", None, json!({"username": "  ab   "}))
        .await;
    assert_error(&blank, StatusCode::BAD_REQUEST, "BadRequest");
    let too_long = server
        .post("/register", None, json!({"username": "x".repeat(101)}))
        .await;
    assert_error(&too_long, StatusCode::BAD_REQUEST, "TooLongUserName");
    let control = server
        .post("/register", None, json!({"username": "bad\nname"}))
        .await;
    assert_error(&control, StatusCode::BAD_REQUEST, "BadRequest");
    let missing = server.post("/register", None, json!({})).await;
    assert_error(&missing, StatusCode::BAD_REQUEST, "BadRequest");
    // The longest and shortest allowed names are fine.
    server.register(&"y".repeat(100)).await;
    server.register("abc").await;
    let (_, list) = server.get("/users", None).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
}

#[tokio::test]
async fn find_user_knows_registered_anonymous_and_wrong_keys() {
    let server = Server::start(&[]);
    let (id, key) = server.register("bob").await;
    let (_, me) = server.get("/find_user", Some(&key)).await;
    assert_eq!(me["id"], id);
    let (status, anon) = server.get("/find_user", Some(ANON)).await;
    assert_eq!(status, StatusCode::OK, "{anon}");
    assert_eq!(anon["id"], 0);
    assert_eq!(anon["username"], "Anonymous#0");
    assert_eq!(anon["account_age"], 0);
    // As the AI Horde: no key is 401, a key of no account 404.
    for no_key in [None, Some("   ")] {
        let answer = server.get("/find_user", no_key).await;
        assert_error(&answer, StatusCode::UNAUTHORIZED, "InvalidAPIKey");
    }
    let wrong = server
        .get("/find_user", Some("AAAAAAAAAAAAAAAAAAAAAA"))
        .await;
    assert_error(&wrong, StatusCode::NOT_FOUND, "UserNotFound");
    // A wrong key is refused on every endpoint that reads it, not taken as anonymous.
    let wrong_submit = server
        .post(
            "/generate/text/async",
            Some("not-a-key"),
            json!({"prompt": "hello"}),
        )
        .await;
    assert_error(&wrong_submit, StatusCode::UNAUTHORIZED, "InvalidAPIKey");
    let wrong_pop = server.pop_text("not-a-key", "worker-one", MODEL).await;
    assert_error(&wrong_pop, StatusCode::UNAUTHORIZED, "InvalidAPIKey");
}

#[tokio::test]
async fn users_are_listed_25_a_page_by_kudos_or_age() {
    let server = Server::start(&[]);
    let (_, admin) = server.admin_user("admin", &["--admin"]);
    let mut registered = Vec::new();
    for i in 0..27 {
        registered.push(server.register(&format!("user-{i:02}")).await.0);
    }
    let richest = registered[20];
    let second = registered[5];
    grant(&server, &admin, richest, 100.0).await;
    grant(&server, &admin, second, 50.0).await;
    grant(&server, &admin, registered[0], -5.0).await;

    // By kudos (the default): richest first. A debt is topped up to the account's floor, so
    // the indebted one comes third, with 14 kudos.
    let (status, first_page) = server.get("/users", None).await;
    assert_eq!(status, StatusCode::OK, "{first_page}");
    let first_ids = ids(&first_page);
    assert_eq!(first_ids.len(), 25);
    assert_eq!(first_ids[0], richest);
    assert_eq!(first_ids[1], second);
    assert_eq!(first_ids[2], registered[0]);
    assert_eq!(first_page[0]["kudos"], 100.0);
    assert_eq!(first_page[2]["kudos"], 14.0);
    // Public listings show no worker ids (unless an account made its workers public).
    assert!(first_page
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u.get("worker_ids").is_none()));
    let (_, explicit) = server.get("/users?sort=kudos&page=1", None).await;
    assert_eq!(ids(&explicit), first_ids);
    let (_, second_page) = server.get("/users?page=2", None).await;
    let second_ids = ids(&second_page);
    // 27 registered + the admin = 28; the anonymous account is not listed.
    assert_eq!(second_ids.len(), 3);
    let mut all: Vec<i64> = first_ids.iter().chain(&second_ids).copied().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 28);
    assert!(!all.contains(&0));
    let (_, beyond) = server.get("/users?page=3", None).await;
    assert_eq!(beyond, json!([]));
    // Pages below 1 are page 1.
    let (_, zero) = server.get("/users?page=0", None).await;
    assert_eq!(ids(&zero), first_ids);

    // By age: oldest (lowest id) first.
    let (_, by_age) = server.get("/users?sort=age", None).await;
    let age_ids = ids(&by_age);
    assert_eq!(age_ids.len(), 25);
    let mut sorted = age_ids.clone();
    sorted.sort();
    assert_eq!(age_ids, sorted);
    assert_eq!(age_ids[1..], registered[..24]);
    let (_, by_age_2) = server.get("/users?sort=age&page=2", None).await;
    assert_eq!(ids(&by_age_2), registered[24..]);

    // A sort it does not know is by kudos, as in the AI Horde.
    for unknown in ["name", "", "AGE"] {
        let (status, by_unknown) = server.get(&format!("/users?sort={unknown}"), None).await;
        assert_eq!(status, StatusCode::OK, "{by_unknown}");
        assert_eq!(ids(&by_unknown), first_ids, "sort={unknown}");
    }
    let bad_page = server.get("/users?page=first", None).await;
    assert_error(&bad_page, StatusCode::BAD_REQUEST, "BadRequest");
}

#[tokio::test]
async fn a_huge_page_number_is_an_empty_page() {
    let server = Server::start(&[]);
    server.register("someone").await;
    for page in [i64::MAX, i64::MAX / 25, i64::MAX / 25 + 2] {
        let (status, list) = server.get(&format!("/users?page={page}"), None).await;
        assert_eq!(status, StatusCode::OK, "page {page}: {list}");
        assert_eq!(list, json!([]), "page {page}");
    }
    let (status, negative) = server.get(&format!("/users?page={}", i64::MIN), None).await;
    assert_eq!(status, StatusCode::OK, "{negative}");
    assert_eq!(negative.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn worker_ids_are_shown_only_to_the_owner_and_moderators() {
    let server = Server::start(&[]);
    let (owner_id, owner) = server.register("owner").await;
    let (_, stranger) = server.register("stranger").await;
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let (status, _) = server.pop_text(&owner, "worker-one", MODEL).await;
    assert_eq!(status, StatusCode::OK);
    let (_, workers) = server.get("/workers", None).await;
    let worker_id = workers[0]["id"].as_str().unwrap().to_string();

    for viewer in [Some(owner.as_str()), Some(moderator.as_str())] {
        let details = server.user(owner_id, viewer).await;
        assert_eq!(details["worker_ids"], json!([worker_id]), "{details}");
        assert_eq!(details["worker_count"], 1);
    }
    for viewer in [Some(stranger.as_str()), Some(ANON), None] {
        let details = server.user(owner_id, viewer).await;
        assert!(details.get("worker_ids").is_none(), "{details}");
        assert_eq!(details["worker_count"], 1);
        assert_eq!(details["username"], format!("owner#{owner_id}"));
    }
    let (_, me) = server.get("/find_user", Some(&owner)).await;
    assert_eq!(me["worker_ids"], json!([worker_id]));

    let unknown = server.get("/users/9999", None).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "UserNotFound");
    let negative = server.get("/users/-3", None).await;
    assert_error(&negative, StatusCode::NOT_FOUND, "UserNotFound");
    for bad in ["abc", "1.5", "99999999999999999999999"] {
        let answer = server.get(&format!("/users/{bad}"), None).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "UserNotFound");
    }
    let anonymous = server.user(0, None).await;
    assert_eq!(anonymous["username"], "Anonymous#0");
}

#[tokio::test]
async fn admins_grant_kudos_and_moderators_change_accounts() {
    let server = Server::start(&[]);
    let (user_id, user) = server.register("member").await;
    let (other_id, other) = server.register("other").await;
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let (_, admin) = server.admin_user("admin", &["--admin"]);
    let path = format!("/users/{user_id}");

    // Kudos are the admins' alone, as in the AI Horde: moderators are refused too.
    for key in [
        Some(moderator.as_str()),
        Some(other.as_str()),
        Some(user.as_str()),
        Some(ANON),
        None,
    ] {
        let refused = server.put(&path, key, json!({"kudos": 1000})).await;
        assert_error(&refused, StatusCode::FORBIDDEN, "NotAdmin");
    }
    assert_eq!(server.kudos(&user).await, 0.0);

    let (status, answer) = server
        .put(&path, Some(&admin), json!({"kudos": 50.25}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["new_kudos"], 50.25);
    assert_eq!(server.kudos(&user).await, 50.25);
    let removed = grant(&server, &admin, user_id, -20.0).await;
    assert_eq!(removed["new_kudos"], 30.25);
    let (_, me) = server.get("/find_user", Some(&user)).await;
    assert_eq!(me["kudos"], 30.25);
    assert_eq!(me["kudos_details"]["admin"], 30.25);
    assert_eq!(me["kudos_details"]["accumulated"], 0.0);
    assert_eq!(me["kudos_details"]["received"], 0.0);
    // An admin is not a moderator for that: moderators' fields stay theirs.
    let not_moderator = server
        .put(&path, Some(&admin), json!({"concurrency": 1}))
        .await;
    assert_error(&not_moderator, StatusCode::FORBIDDEN, "NotModerator");

    let (status, answer) = server
        .put(
            &path,
            Some(&moderator),
            json!({"trusted": true, "concurrency": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["trusted"], true);
    assert_eq!(answer["concurrency"], 1);
    assert!(answer.get("new_kudos").is_none(), "{answer}");
    let details = server.user(user_id, None).await;
    assert_eq!(details["trusted"], true);
    assert_eq!(details["concurrency"], 1);
    assert_eq!(details["moderator"], false);
    assert_eq!(details["kudos"], 30.25);
    // The new concurrency holds at once: one active request, then 429.
    server
        .submit_text_request(&user, json!({"prompt": "first"}))
        .await;
    let second = server
        .post(
            "/generate/text/async",
            Some(&user),
            json!({"prompt": "second"}),
        )
        .await;
    assert_error(&second, StatusCode::TOO_MANY_REQUESTS, "TooManyPrompts");

    for concurrency in [501, -1] {
        let answer = server
            .put(&path, Some(&moderator), json!({"concurrency": concurrency}))
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "BadRequest");
        assert!(
            answer.1["errors"]["concurrency"].is_string(),
            "{}",
            answer.1
        );
    }
    for concurrency in [0, 500] {
        let (status, answer) = server
            .put(&path, Some(&moderator), json!({"concurrency": concurrency}))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(server.user(user_id, None).await["concurrency"], concurrency);
    }
    let short_name = server
        .put(&path, Some(&moderator), json!({"username": "x"}))
        .await;
    assert_error(&short_name, StatusCode::BAD_REQUEST, "BadRequest");
    let (status, renamed) = server
        .put(&path, Some(&moderator), json!({"username": "renamed"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["username"], "renamed");
    assert_eq!(
        server.user(user_id, None).await["username"],
        format!("renamed#{user_id}")
    );

    let anonymous = server
        .put("/users/0", Some(&admin), json!({"kudos": 10}))
        .await;
    assert_error(&anonymous, StatusCode::BAD_REQUEST, "AnonForbiddenUserMod");
    assert_eq!(server.kudos(ANON).await, 0.0);
    let unknown = server
        .put("/users/4242", Some(&admin), json!({"kudos": 10}))
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "UserNotFound");
    let not_a_number = server
        .put("/users/abc", Some(&admin), json!({"kudos": 10}))
        .await;
    assert_error(&not_a_number, StatusCode::NOT_FOUND, "UserNotFound");
    let wrong_type = server
        .put(&path, Some(&moderator), json!({"trusted": "yes"}))
        .await;
    assert_error(&wrong_type, StatusCode::BAD_REQUEST, "BadRequest");

    // The moderator role is the admins' to give; a new moderator is trusted, and moderates.
    let by_moderator = server
        .put(
            &format!("/users/{other_id}"),
            Some(&moderator),
            json!({"moderator": true}),
        )
        .await;
    assert_error(&by_moderator, StatusCode::FORBIDDEN, "NotAdmin");
    let (status, promoted) = server
        .put(
            &format!("/users/{other_id}"),
            Some(&admin),
            json!({"moderator": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{promoted}");
    assert_eq!(promoted["moderator"], true);
    assert_eq!(promoted["trusted"], true);
    let (status, _) = server
        .put(&path, Some(&other), json!({"concurrency": 3}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (ok, audit) = server.admin(&["audit-kudos"]);
    assert!(ok, "{audit}");
}

#[tokio::test]
async fn huge_kudos_grants_are_refused_and_never_break_the_account() {
    let server = Server::start(&[]);
    let (user_id, user) = server.register("member").await;
    let (_, admin) = server.admin_user("admin", &["--admin"]);
    let path = format!("/users/{user_id}");
    // Each of these once overflowed the balance: the account then answered 503 forever.
    for kudos in [1e300, -1e300, 1e12 + 1.0, -1e12 - 1.0] {
        for _ in 0..2 {
            let answer = server
                .put(&path, Some(&admin), json!({ "kudos": kudos }))
                .await;
            assert_error(&answer, StatusCode::BAD_REQUEST, "KudosValidationError");
        }
    }
    assert_eq!(server.kudos(&user).await, 0.0);
    let granted = grant(&server, &admin, user_id, 1e12).await;
    assert_eq!(granted["new_kudos"], 1e12);
    let (status, me) = server.get("/find_user", Some(&user)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["kudos"], 1e12);
    assert_eq!(me["kudos_details"]["admin"], 1e12);
    let (status, list) = server.get("/users", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list[0]["id"], user_id);
    let (ok, audit) = server.admin(&["audit-kudos"]);
    assert!(ok, "{audit}");
}

#[tokio::test]
async fn kudos_transfers_move_exact_amounts() {
    let server = Server::start(&[]);
    let (giver_id, giver) = server.register("giver").await;
    let (taker_id, taker) = server.register("taker").await;
    let (_, admin) = server.admin_user("admin", &["--admin"]);
    grant(&server, &admin, giver_id, 100.0).await;

    let (status, answer) = server
        .post(
            "/kudos/transfer",
            Some(&giver),
            json!({"username": format!("taker#{taker_id}"), "amount": 30.5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["transferred"], 30.5);
    assert_eq!(server.kudos(&giver).await, 69.5);
    assert_eq!(server.kudos(&taker).await, 30.5);
    let (_, giver_details) = server.get("/find_user", Some(&giver)).await;
    assert_eq!(giver_details["kudos_details"]["gifted"], 30.5);
    assert_eq!(giver_details["kudos_details"]["admin"], 100.0);
    assert_eq!(giver_details["kudos_details"]["received"], 0.0);
    let (_, taker_details) = server.get("/find_user", Some(&taker)).await;
    assert_eq!(taker_details["kudos_details"]["received"], 30.5);
    assert_eq!(taker_details["kudos_details"]["gifted"], 0.0);

    // Only the id after '#' decides; the name part is informative.
    let (status, _) = server
        .post(
            "/kudos/transfer",
            Some(&giver),
            json!({"username": format!("whoever#{taker_id}"), "amount": 0.5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Everything above the giver's floor (14 kudos) can go, and then nothing more.
    let floor_plus = server
        .post(
            "/kudos/transfer",
            Some(&giver),
            json!({"username": format!("taker#{taker_id}"), "amount": 55.01}),
        )
        .await;
    assert_error(
        &floor_plus,
        StatusCode::BAD_REQUEST,
        "KudosTransferNotEnough",
    );
    let (status, _) = server
        .post(
            "/kudos/transfer",
            Some(&giver),
            json!({"username": format!("taker#{taker_id}"), "amount": 55.0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.kudos(&giver).await, 14.0);
    assert_eq!(server.kudos(&taker).await, 86.0);
    let (_, giver_details) = server.get("/find_user", Some(&giver)).await;
    assert_eq!(giver_details["kudos_details"]["gifted"], 86.0);

    let broke = server
        .post(
            "/kudos/transfer",
            Some(&giver),
            json!({"username": format!("taker#{taker_id}"), "amount": 0.01}),
        )
        .await;
    assert_error(&broke, StatusCode::BAD_REQUEST, "KudosTransferNotEnough");
    let too_much = server
        .post(
            "/kudos/transfer",
            Some(&taker),
            json!({"username": format!("giver#{giver_id}"), "amount": 72.01}),
        )
        .await;
    assert_error(&too_much, StatusCode::BAD_REQUEST, "KudosTransferNotEnough");
    assert_eq!(server.kudos(&giver).await, 14.0);
    assert_eq!(server.kudos(&taker).await, 86.0);
    let (ok, audit) = server.admin(&["audit-kudos"]);
    assert!(ok, "{audit}");
}

#[tokio::test]
async fn kudos_transfers_refuse_what_they_must() {
    let server = Server::start(&[]);
    let (giver_id, giver) = server.register("giver").await;
    let (taker_id, taker) = server.register("taker").await;
    let (_, admin) = server.admin_user("admin", &["--admin"]);
    grant(&server, &admin, giver_id, 10.0).await;
    let send = |key: String, body: Value| {
        let server = &server;
        async move { server.post("/kudos/transfer", Some(&key), body).await }
    };
    let to_taker = format!("taker#{taker_id}");

    let to_self = send(
        giver.clone(),
        json!({"username": format!("giver#{giver_id}"), "amount": 1}),
    )
    .await;
    assert_error(&to_self, StatusCode::BAD_REQUEST, "KudosTransferToSelf");
    let to_anonymous = send(
        giver.clone(),
        json!({"username": "Anonymous#0", "amount": 1}),
    )
    .await;
    assert_error(
        &to_anonymous,
        StatusCode::BAD_REQUEST,
        "KudosTransferToAnon",
    );
    let from_anonymous = send(ANON.into(), json!({"username": to_taker, "amount": 1})).await;
    assert_error(
        &from_anonymous,
        StatusCode::BAD_REQUEST,
        "KudosTransferFromAnon",
    );
    let no_key = server
        .post(
            "/kudos/transfer",
            None,
            json!({"username": to_taker, "amount": 1}),
        )
        .await;
    assert_error(&no_key, StatusCode::BAD_REQUEST, "KudosTransferFromAnon");
    for amount in [json!(0), json!(-5), json!(0.001)] {
        let answer = send(
            giver.clone(),
            json!({"username": to_taker, "amount": amount}),
        )
        .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "NegativeKudosTransfer");
    }
    for name in ["taker", "taker#", "taker#abc", "", "#1.5"] {
        let answer = send(giver.clone(), json!({"username": name, "amount": 1})).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "InvalidAwardUsername");
    }
    let unknown = send(
        giver.clone(),
        json!({"username": "ghost#9999", "amount": 1}),
    )
    .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "UserNotFound");
    let wrong_key = server
        .post(
            "/kudos/transfer",
            Some("AAAAAAAAAAAAAAAAAAAAAA"),
            json!({"username": to_taker, "amount": 1}),
        )
        .await;
    assert_error(&wrong_key, StatusCode::UNAUTHORIZED, "InvalidAPIKey");
    let missing_amount = send(giver.clone(), json!({"username": to_taker})).await;
    assert_error(&missing_amount, StatusCode::BAD_REQUEST, "BadRequest");
    let text_amount = send(
        giver.clone(),
        json!({"username": to_taker, "amount": "ten"}),
    )
    .await;
    assert_error(&text_amount, StatusCode::BAD_REQUEST, "BadRequest");

    // Nothing moved (the 10 kudos granted were topped up to the floor, 14).
    assert_eq!(server.kudos(&giver).await, 14.0);
    assert_eq!(server.kudos(&taker).await, 0.0);
    let (ok, audit) = server.admin(&["audit-kudos"]);
    assert!(ok, "{audit}");
}

#[tokio::test]
async fn issue_key_replaces_the_old_key() {
    let server = Server::start(&[]);
    let (id, old_key) = server.register("forgetful").await;
    let (ok, out) = server.admin(&["issue-key", "--user", &id.to_string()]);
    assert!(ok, "{out}");
    let new_key = out.rsplit(": ").next().unwrap().trim().to_string();
    assert_eq!(new_key.len(), 22, "{out}");
    assert_ne!(new_key, old_key);
    let old = server.get("/find_user", Some(&old_key)).await;
    assert_error(&old, StatusCode::NOT_FOUND, "UserNotFound");
    let old = server.get("/workers", Some(&old_key)).await;
    assert_error(&old, StatusCode::UNAUTHORIZED, "InvalidAPIKey");
    let (status, me) = server.get("/find_user", Some(&new_key)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["id"], id);
    assert_eq!(me["username"], format!("forgetful#{id}"));

    // Unknown users and the anonymous account get no key.
    let (ok, _) = server.admin(&["issue-key", "--user", "9999"]);
    assert!(!ok);
    let (ok, _) = server.admin(&["issue-key", "--user", "0"]);
    assert!(!ok);
    let (_, anon) = server.get("/find_user", Some(ANON)).await;
    assert_eq!(anon["id"], 0);

    let (ok, audit) = server.admin(&["audit-kudos"]);
    assert!(ok, "{audit}");
    assert!(audit.contains("every balance equals its ledger"), "{audit}");
}

#[tokio::test]
async fn audit_holds_after_jobs_grants_and_transfers() {
    let server = Server::start(&[]);
    // Trusted: its reward is paid at once (an untrusted one's is held; see trust.rs).
    let (_, worker) = server.admin_user("worker-owner", &["--trusted"]);
    let (requester_id, requester) = server.register("requester").await;
    let (_, admin) = server.admin_user("admin", &["--admin"]);
    grant(&server, &admin, requester_id, 5.0).await;
    server.pop_text(&worker, "worker-one", MODEL).await;
    server
        .submit_text_request(&requester, json!({"prompt": "hi", "models": [MODEL]}))
        .await;
    let (_, job) = server.pop_text(&worker, "worker-one", MODEL).await;
    let (status, submitted) = server
        .post(
            "/generate/text/submit",
            Some(&worker),
            json!({"id": job["id"], "generation": "hello there"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    let reward = submitted["reward"].as_f64().unwrap();
    let (_, worker_details) = server.get("/find_user", Some(&worker)).await;
    assert!(close(
        worker_details["kudos_details"]["accumulated"]
            .as_f64()
            .unwrap(),
        reward
    ));
    let (ok, audit) = server.admin(&["audit-kudos"]);
    assert!(ok, "{audit}");
}

#[tokio::test]
async fn admin_backup_copies_the_database_while_it_serves() {
    use sqlx::Connection;
    let server = Server::start(&[]);
    let (id, _) = server.register("saved").await;
    let copy = server.dir.path().join("backup.db");
    let copy = copy.to_str().unwrap();
    let (ok, out) = server.admin(&["backup", copy]);
    if backend() == Backend::Postgres {
        assert!(!ok && !std::path::Path::new(copy).exists(), "{out}");
        return;
    }
    assert!(ok, "{out}");
    // A backup never overwrites a file.
    let (ok, _) = server.admin(&["backup", copy]);
    assert!(!ok);
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{copy}"))
        .await
        .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let name: String = sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(name, "saved");
}
