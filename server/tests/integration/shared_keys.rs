//! Shared keys (`/api/v2/sharedkeys`): made, read, changed and deleted by their owner, used by
//! anyone holding them to queue requests on the owner's kudos, within their limits, and for
//! nothing else.

use crate::common::{assert_error, Server, ANON};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MODEL: &str = "test/Tiny-1B";

async fn create(server: &Server, owner: &str, body: Value) -> Value {
    let (status, key) = server.put("/sharedkeys", Some(owner), body).await;
    assert_eq!(status, StatusCode::OK, "{key}");
    key
}

/// An account with `kudos` to spend, and its key.
async fn funded(server: &Server, name: &str, kudos: f64) -> (i64, String) {
    let (id, key) = server.register(name).await;
    server.grant(id, kudos).await;
    (id, key)
}

#[tokio::test]
async fn owners_make_read_change_and_delete_their_keys() {
    let server = Server::start(&[]);
    let (owner_id, owner) = server.register("lender").await;
    let (_, stranger) = server.register("stranger").await;

    assert_error(
        &server.put("/sharedkeys", Some(ANON), json!({})).await,
        StatusCode::FORBIDDEN,
        "AnonForbidden",
    );
    let key = create(&server, &owner, json!({"name": "for friends"})).await;
    let id = key["id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{key}");
    assert_eq!(key["username"], format!("lender#{owner_id}"));
    assert_eq!(key["kudos"], 5000);
    assert_eq!(key["utilized"], 0);
    assert_eq!(key["max_text_tokens"], -1);
    assert!(key.get("expiry").is_none(), "{key}");
    // Only its hash is stored.
    assert!(server.stored(&[&id]).await.is_empty());

    // An account has three at most.
    create(&server, &owner, json!({})).await;
    create(&server, &owner, json!({})).await;
    assert_error(
        &server.put("/sharedkeys", Some(&owner), json!({})).await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    );
    for bad in [
        json!({"kudos": -2}),
        json!({"kudos": 50_000_001}),
        json!({"name": "ab"}),
        json!({"max_text_tokens": 501}),
        json!({"expiry": -3}),
    ] {
        let refused = server.put("/sharedkeys", Some(&stranger), bad).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, "BadRequest");
    }

    let (status, read) = server.get(&format!("/sharedkeys/{id}"), None).await;
    assert_eq!((status, &read), (StatusCode::OK, &key));
    for unknown in ["00000000-0000-4000-8000-000000000000", "not-a-key"] {
        assert_error(
            &server.get(&format!("/sharedkeys/{unknown}"), None).await,
            StatusCode::UNAUTHORIZED,
            "InvalidAPIKey",
        );
    }

    let path = format!("/sharedkeys/{id}");
    assert_error(
        &server
            .call(
                reqwest::Method::PATCH,
                &path,
                Some(&stranger),
                Some(json!({"kudos": 1})),
            )
            .await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    );
    assert_error(
        &server
            .call(reqwest::Method::PATCH, &path, Some(&owner), Some(json!({})))
            .await,
        StatusCode::BAD_REQUEST,
        "NoSharedKeyModSelected",
    );
    let (status, changed) = server
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&owner),
            Some(json!({"kudos": -1, "expiry": 30, "name": "renamed", "max_image_steps": 40})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["kudos"], -1);
    assert_eq!(changed["name"], "renamed");
    assert_eq!(changed["max_image_steps"], 40);
    assert!(
        changed["expiry"]
            .as_str()
            .is_some_and(|e| e.ends_with("GMT")),
        "{changed}"
    );

    assert_error(
        &server.delete(&path, Some(&stranger)).await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    );
    let (status, deleted) = server.delete(&path, Some(&owner)).await;
    assert_eq!(
        (status, deleted),
        (StatusCode::OK, json!({"message": "OK"}))
    );
    assert_error(
        &server.get(&path, None).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAPIKey",
    );
}

#[tokio::test]
async fn a_shared_key_queues_requests_on_its_owners_kudos_and_does_nothing_else() {
    let server = Server::start(&[]);
    let (_, worker) = server.admin_user("worker-owner", &["--trusted"]);
    server.pop_text(&worker, "writer", MODEL).await;
    let (owner_id, owner) = funded(&server, "lender", 1000.0).await;
    let key = create(&server, &owner, json!({"name": "friends", "kudos": 100})).await;
    let shared = key["id"].as_str().unwrap().to_string();

    // It finds its owner, seen from outside, as the key.
    let (status, found) = server.get("/find_user", Some(&shared)).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["id"], owner_id);
    assert_eq!(
        found["username"],
        format!("lender#{owner_id} (Shared Key: friends)")
    );
    assert!(found.get("evaluating_kudos").is_none(), "{found}");

    // A request made with it queues as its owner's, and what it costs comes off the key.
    let id = server
        .submit_text_request(
            &shared,
            json!({"prompt": "Hello", "params": {"max_length": 20}, "models": [MODEL]}),
        )
        .await;
    let (_, job) = server.pop_text(&worker, "writer", MODEL).await;
    let (status, _) = server
        .post(
            "/generate/text/submit",
            Some(&worker),
            json!({"id": job["id"], "generation": "Hello to you too, friend."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, done) = server
        .get(&format!("/generate/text/status/{id}"), None)
        .await;
    // The job's reward and 1, and 1 to queue the request.
    let cost = done["kudos"].as_f64().unwrap() + 2.0;
    let (_, after) = server.get(&format!("/sharedkeys/{shared}"), None).await;
    assert_eq!(after["utilized"], cost.floor() as i64, "{after}");
    assert_eq!(after["kudos"], (100.0 - cost).floor() as i64, "{after}");
    let balance = server.kudos(&owner).await;
    assert!((balance - (1000.0 - cost)).abs() < 0.01, "{balance} {cost}");

    // Nothing else may be done with it.
    assert_error(
        &server
            .post(
                "/kudos/transfer",
                Some(&shared),
                json!({"username": "x#1", "amount": 1}),
            )
            .await,
        StatusCode::UNAUTHORIZED,
        "InvalidAPIKey",
    );
    assert_error(
        &server.put("/sharedkeys", Some(&shared), json!({})).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAPIKey",
    );
    assert_error(
        &server.pop_text(&shared, "borrowed", MODEL).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAPIKey",
    );
}

#[tokio::test]
async fn a_shared_key_keeps_to_its_limits() {
    let server = Server::start(&[]);
    let (_, owner) = funded(&server, "lender", 1000.0).await;
    let key = create(
        &server,
        &owner,
        json!({"kudos": 1, "max_text_tokens": 100, "max_image_pixels": 262144, "max_image_steps": 20}),
    )
    .await;
    let shared = key["id"].as_str().unwrap().to_string();
    let path = format!("/sharedkeys/{shared}");

    let long = server
        .post(
            "/generate/text/async",
            Some(&shared),
            json!({"prompt": "x", "params": {"max_length": 200}}),
        )
        .await;
    assert_error(&long, StatusCode::BAD_REQUEST, "BadRequest");
    for params in [
        json!({"width": 1024, "height": 1024, "steps": 10}),
        json!({"width": 512, "height": 512, "steps": 30}),
    ] {
        let big = server
            .post(
                "/generate/async",
                Some(&shared),
                json!({"prompt": "x", "params": params}),
            )
            .await;
        assert_error(&big, StatusCode::BAD_REQUEST, "BadRequest");
    }
    // One kudos left pays for nothing; with allow_downgrade the request queues, last.
    let dear = json!({"prompt": "x", "params": {"max_length": 50}});
    let short = server
        .post("/generate/text/async", Some(&shared), dear.clone())
        .await;
    assert_error(&short, StatusCode::FORBIDDEN, "SharedKeyInsufficientKudos");
    let mut downgraded = dear.clone();
    downgraded["allow_downgrade"] = json!(true);
    let (status, _) = server
        .post("/generate/text/async", Some(&shared), downgraded.clone())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // Spent, it refuses (or, with allow_downgrade, the request is made anonymously).
    server
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&owner),
            Some(json!({"kudos": 0})),
        )
        .await;
    let empty = server
        .post("/generate/text/async", Some(&shared), dear.clone())
        .await;
    assert_error(&empty, StatusCode::FORBIDDEN, "SharedKeyEmpty");
    let (status, _) = server
        .post("/generate/text/async", Some(&shared), downgraded)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // Expired, it refuses.
    server
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&owner),
            Some(json!({"kudos": 100, "expiry": 0})),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let expired = server
        .post("/generate/text/async", Some(&shared), dear)
        .await;
    assert_error(&expired, StatusCode::FORBIDDEN, "SharedKeyExpired");
}

#[tokio::test]
async fn deleting_a_key_cancels_what_it_queued() {
    let server = Server::start(&[]);
    let (_, owner) = funded(&server, "lender", 1000.0).await;
    let key = create(&server, &owner, json!({})).await;
    let shared = key["id"].as_str().unwrap().to_string();
    let id = server
        .submit_text_request(
            &shared,
            json!({"prompt": "x", "params": {"max_length": 16}}),
        )
        .await;
    let own = server
        .submit_text_request(&owner, json!({"prompt": "x", "params": {"max_length": 16}}))
        .await;
    let (status, _) = server
        .delete(&format!("/sharedkeys/{shared}"), Some(&owner))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, cancelled) = server
        .get(&format!("/generate/text/status/{id}"), None)
        .await;
    assert_eq!(cancelled["done"], true, "{cancelled}");
    let (_, kept) = server
        .get(&format!("/generate/text/status/{own}"), None)
        .await;
    assert_eq!(kept["done"], false, "{kept}");
    assert_error(
        &server
            .post(
                "/generate/text/async",
                Some(&shared),
                json!({"prompt": "x"}),
            )
            .await,
        StatusCode::UNAUTHORIZED,
        "InvalidAPIKey",
    );
}
