//! Moderators' timeouts of client addresses (`/api/v2/operations/ipaddr`, and a worker's address
//! through `/operations/block_worker_ipaddr`), which work on keyed hashes of the addresses: the
//! refusals, their shape, IPv6 networks, lifting, and a timeout carried from one period of the
//! hashing secret into the next.

use crate::common::{postgres_or_skip, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MODEL: &str = "test/Tiny-1B";

/// Sends `method path` (under the server's root) from `address`, with `key` and `body`.
async fn from(
    server: &Server,
    address: &str,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = server
        .http()
        .request(method, format!("{}{path}", server.base))
        .header("X-Forwarded-For", address);
    if let Some(key) = key {
        request = request.header("apikey", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn find_user(server: &Server, address: &str, key: &str) -> (StatusCode, Value) {
    from(
        server,
        address,
        Method::GET,
        "/api/v2/find_user",
        Some(key),
        None,
    )
    .await
}

fn start(extra: &[&str]) -> Server {
    let mut args = vec!["--client-ip-header", "X-Forwarded-For"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

#[tokio::test]
async fn a_moderator_puts_an_address_in_timeout_and_lifts_it() {
    let server = start(&[]);
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let (_, user) = server.register("someone").await;
    let timeout = |ipaddr: &str, hours: i64| json!({ "ipaddr": ipaddr, "hours": hours });

    let (status, body) = server
        .post("/operations/ipaddr", Some(&user), timeout("203.0.113.7", 2))
        .await;
    assert_eq!(
        (status, body["rc"].as_str()),
        (StatusCode::FORBIDDEN, Some("NotModerator"))
    );
    for bad in [
        timeout("10.0.0.0/24", 2),
        timeout("not an address", 2),
        timeout("203.0.113.7", 0),
        timeout("203.0.113.7", 721),
    ] {
        let (status, body) = server
            .post("/operations/ipaddr", Some(&moderator), bad)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, body) = server
        .post(
            "/operations/ipaddr",
            Some(&moderator),
            timeout("203.0.113.7", 2),
        )
        .await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({"message": "OK"})));

    // Everything from that address is refused, in the API's shape; other addresses are not.
    let (status, body) = find_user(&server, "203.0.113.7", &user).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["rc"], "TimeoutIP");
    assert!(
        body["message"].as_str().unwrap().contains("more seconds"),
        "{body}"
    );
    let register = json!({"username": "evader"});
    let (status, _) = from(
        &server,
        "203.0.113.7",
        Method::POST,
        "/api/v2/register",
        None,
        Some(register),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = from(
        &server,
        "203.0.113.7",
        Method::GET,
        "/v1/models",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "TimeoutIP", "{body}");
    assert_eq!(
        find_user(&server, "203.0.113.8", &user).await.0,
        StatusCode::OK
    );

    // Moderators see it by its block, and can ask about an address.
    let (status, list) = server.get("/operations/ipaddr", Some(&moderator)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert!(
        list[0]["ipaddr"].as_str().unwrap().starts_with("block "),
        "{list:?}"
    );
    assert!(
        (7100..=7200).contains(&list[0]["seconds"].as_i64().unwrap()),
        "{list:?}"
    );
    let (_, one) = server
        .get("/operations/ipaddr/203.0.113.7", Some(&moderator))
        .await;
    assert_eq!(one[0]["ipaddr"], "203.0.113.7", "{one}");
    let (_, none) = server
        .get("/operations/ipaddr/203.0.113.8", Some(&moderator))
        .await;
    assert_eq!(none, json!([]));

    // A moderator behind a blocked address can still lift it.
    let lift = json!({"ipaddr": "203.0.113.7"});
    let (status, _) = from(
        &server,
        "203.0.113.7",
        Method::DELETE,
        "/api/v2/operations/ipaddr",
        Some(&moderator),
        Some(lift),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        find_user(&server, "203.0.113.7", &user).await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.get("/operations/ipaddr", Some(&moderator)).await.1,
        json!([])
    );
}

#[tokio::test]
async fn an_ipv6_client_is_its_64_network() {
    let server = start(&[]);
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let (_, user) = server.register("someone").await;
    let timeout = json!({"ipaddr": "2001:db8:1:2::1", "hours": 1});
    assert_eq!(
        server
            .post("/operations/ipaddr", Some(&moderator), timeout)
            .await
            .0,
        StatusCode::OK
    );
    let (status, _) = find_user(&server, "2001:db8:1:2:ffff:ffff:ffff:9", &user).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        find_user(&server, "2001:db8:1:3::1", &user).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_workers_address_is_put_in_timeout_through_the_worker() {
    let server = start(&[]);
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let (_, owner) = server.register("owner").await;
    let pop = json!({"name": "vandal-box", "models": [MODEL], "max_length": 512, "max_context_length": 4096});
    let pop_from = |address: &'static str| {
        from(
            &server,
            address,
            Method::POST,
            "/api/v2/generate/text/pop",
            Some(&owner),
            Some(pop.clone()),
        )
    };
    assert_eq!(pop_from("198.51.100.5").await.0, StatusCode::OK);
    let (_, worker) = server.get("/workers/name/vandal-box", Some(&owner)).await;
    let id = worker["id"].as_str().unwrap().to_string();
    let path = format!("/operations/block_worker_ipaddr/{id}");

    let days = |days: i64| json!({ "days": days });
    assert_eq!(
        server.put(&path, Some(&owner), days(1)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        server.put(&path, Some(&moderator), days(31)).await.0,
        StatusCode::BAD_REQUEST
    );
    let unknown = server
        .put(
            "/operations/block_worker_ipaddr/no-such-worker",
            Some(&moderator),
            days(1),
        )
        .await;
    assert_eq!(unknown.0, StatusCode::NOT_FOUND);
    assert_eq!(
        server.put(&path, Some(&moderator), days(1)).await.0,
        StatusCode::OK
    );

    let (status, body) = pop_from("198.51.100.5").await;
    assert_eq!(
        (status, body["rc"].as_str()),
        (StatusCode::FORBIDDEN, Some("TimeoutIP"))
    );
    // The owner's key from elsewhere still works: the block is of the address.
    assert_eq!(pop_from("198.51.100.6").await.0, StatusCode::OK);
    let (_, list) = server.get("/operations/ipaddr", Some(&moderator)).await;
    assert!(list[0]["ipaddr"].as_str().unwrap().contains(&id), "{list}");

    assert_eq!(
        server.delete(&path, Some(&moderator)).await.0,
        StatusCode::OK
    );
    assert_eq!(pop_from("198.51.100.5").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_timeout_holds_on_every_instance() {
    if !postgres_or_skip("a_timeout_holds_on_every_instance") {
        return;
    }
    let args = [
        "--client-ip-header",
        "X-Forwarded-For",
        "--sweep-interval-ms",
        "200",
    ];
    let first = Server::start(&args);
    let second = first.start_beside(&args);
    let (_, moderator) = first.admin_user("moderator", &["--moderator"]);
    let (_, user) = first.register("someone").await;
    let timeout = json!({"ipaddr": "192.0.2.44", "hours": 1});
    assert_eq!(
        first
            .post("/operations/ipaddr", Some(&moderator), timeout)
            .await
            .0,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        find_user(&second, "192.0.2.44", &user).await.0,
        StatusCode::FORBIDDEN
    );
    let lift = json!({"ipaddr": "192.0.2.44"});
    let (status, _) = second
        .call(
            Method::DELETE,
            "/operations/ipaddr",
            Some(&moderator),
            Some(lift),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        find_user(&first, "192.0.2.44", &user).await.0,
        StatusCode::OK
    );
}

/// Sleeps until `offset` into the next period of `period_secs`.
async fn sleep_into_next_period(period_secs: u64, offset: Duration) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into = Duration::from_millis((now.as_millis() % (u128::from(period_secs) * 1000)) as u64);
    tokio::time::sleep(Duration::from_secs(period_secs) - into + offset).await;
}

#[tokio::test]
async fn a_timeout_follows_a_client_that_comes_back_into_later_periods() {
    // The shortest period the server takes: the test spans two of its boundaries.
    let server = start(&[
        "--address-hash-lifetime-secs",
        "60",
        "--sweep-interval-ms",
        "200",
    ]);
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let (_, user) = server.register("someone").await;
    let timeout = json!({"ipaddr": "192.0.2.99", "hours": 1});
    assert_eq!(
        server
            .post("/operations/ipaddr", Some(&moderator), timeout)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        find_user(&server, "192.0.2.99", &user).await.0,
        StatusCode::FORBIDDEN
    );
    for _ in 0..2 {
        sleep_into_next_period(60, Duration::from_secs(2)).await;
        // The secret, and every hash, changed; the block knows the address's new hash.
        assert_eq!(
            find_user(&server, "192.0.2.99", &user).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            find_user(&server, "192.0.2.98", &user).await.0,
            StatusCode::OK
        );
    }
}
