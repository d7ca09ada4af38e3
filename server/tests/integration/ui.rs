//! The web UI's server side over real HTTP: no cookie for anonymous visitors, sessions that
//! start at sign-in (HttpOnly, SameSite=Strict, Secure behind TLS), live in the database (a
//! restart or another instance knows them) and never hold the key, refused cross-site posts, and
//! form errors with the API's status and field. The pages themselves are driven in a browser by
//! end2end/.

use crate::common;
use crate::common::{browser, Server, TEXT_FORM};
use reqwest::header::{ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::Value;

const PAGES: &[&str] = &[
    "/",
    "/generate/text",
    "/generate/image",
    "/models",
    "/workers",
    "/status",
    "/privacy",
    "/contribute",
    "/register",
    "/login",
    "/account",
    "/moderation",
];

async fn page(server: &Server, path: &str, cookie: Option<&str>) -> (StatusCode, String, bool) {
    let mut request = browser().get(format!("{}{path}", server.base));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let sets_cookie = response.headers().contains_key(SET_COOKIE);
    (status, response.text().await.unwrap(), sets_cookie)
}

#[tokio::test]
async fn anonymous_visitors_get_every_page_and_no_cookie() {
    let server = Server::start(&[]);
    for path in PAGES {
        let (status, html, sets_cookie) = page(&server, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(html.contains("<main"), "{path} is a page");
        assert!(!sets_cookie, "{path} set a cookie");
    }
    let (status, _, sets_cookie) = page(&server, "/no-such-page", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!sets_cookie);
    // Server functions do not either, even those that change something.
    let queued = server.server_function("queue_text", TEXT_FORM, None).await;
    assert_eq!(queued.status(), StatusCode::OK);
    assert!(!queued.headers().contains_key(SET_COOKIE));
    let (status, details) = server.get("/status/performance", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        details["queued_text_requests"], 1,
        "the page's request is queued"
    );
}

#[tokio::test]
async fn pages_tell_the_browser_to_load_nothing_from_elsewhere() {
    let server = Server::start(&[]);
    let response = browser()
        .get(format!("{}/", server.base))
        .send()
        .await
        .unwrap();
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_string();
    let policy = header("content-security-policy");
    assert!(policy.starts_with("default-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(header("referrer-policy"), "same-origin");
    assert_eq!(header("x-content-type-options"), "nosniff");
    // The inline scripts carry the nonce the policy names.
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy")
        .to_string();
    let html = response.text().await.unwrap();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the page's scripts use the nonce"
    );
}

#[tokio::test]
async fn a_session_starts_at_sign_in_holds_no_key_and_ends_at_sign_out() {
    let server = Server::start(&[]);
    let (id, key) = server.register("ui-alice").await;
    let (set_cookie, cookie) = server.sign_in(&key).await;
    assert!(cookie.starts_with("potluck_session="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "plain HTTP: {set_cookie}");

    let (_, html, _) = page(&server, "/account", Some(&cookie)).await;
    assert!(html.contains(&format!("ui-alice#{id}")), "signed in");
    // The key is in no table: the session keeps its hash.
    assert_eq!(server.stored(&[&key]).await, Vec::<&str>::new());

    let out = server.server_function("log_out", &[], Some(&cookie)).await;
    assert_eq!(out.status(), StatusCode::OK);
    let cleared = out.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (_, html, _) = page(&server, "/account", Some(&cookie)).await;
    assert!(
        html.contains("You are not logged in"),
        "the old cookie is worthless"
    );
}

#[tokio::test]
async fn sessions_live_in_the_database() {
    let mut server = Server::start(&[]);
    let (id, key) = server.register("ui-bob").await;
    let (_, cookie) = server.sign_in(&key).await;
    server.kill_and_restart();
    let (_, html, _) = page(&server, "/account", Some(&cookie)).await;
    assert!(
        html.contains(&format!("ui-bob#{id}")),
        "a restart signs nobody out"
    );
    if common::postgres_or_skip("sessions_live_in_the_database (another instance)") {
        let other = server.start_beside(&[]);
        let (_, html, _) = page(&other, "/account", Some(&cookie)).await;
        assert!(
            html.contains(&format!("ui-bob#{id}")),
            "every instance knows the session"
        );
    }
}

#[tokio::test]
async fn the_cookie_is_secure_behind_tls() {
    let server = Server::start(&["--public-url", "https://potluck.example"]);
    let (_, key) = server.register("ui-carol").await;
    let (set_cookie, _) = server.sign_in(&key).await;
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
}

#[tokio::test]
async fn forms_sent_from_another_site_are_refused() {
    let server = Server::start(&[]);
    let (_, key) = server.register("ui-dave").await;
    let host = server.base.trim_start_matches("http://").to_string();
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let response = browser()
            .post(format!("{}/_leptos/log_in", server.base))
            .header(header, value)
            .form(&[("apikey", key.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{header}: {value}"
        );
        assert!(!response.headers().contains_key(SET_COOKIE));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["rc"], "CrossSiteRequest");
    }
    // The same post from the site itself goes through.
    let response = browser()
        .post(format!("{}/_leptos/log_in", server.base))
        .header("origin", format!("http://{host}"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("apikey", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key(SET_COOKIE));
}

#[tokio::test]
async fn form_errors_carry_the_api_status_and_field() {
    let server = Server::start(&[]);
    let image = |width: &'static str| {
        [
            ("form[prompt]", "A lighthouse"),
            ("form[negative_prompt]", ""),
            ("form[model]", ""),
            ("form[width]", width),
            ("form[height]", "512"),
            ("form[steps]", "30"),
            ("form[cfg_scale]", "7.5"),
            ("form[sampler]", "k_euler_a"),
            ("form[seed]", ""),
            ("form[count]", "1"),
        ]
    };
    let refused = server
        .server_function("queue_image", &image("5000"), None)
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["field"], "params.width");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("multiple of 64"),
        "{error}"
    );
    let incomplete = server
        .server_function("queue_image", &[("form[prompt]", "A lighthouse")], None)
        .await;
    assert_eq!(incomplete.status(), StatusCode::BAD_REQUEST);
    let typo = server
        .server_function("queue_image", &image("wide"), None)
        .await;
    assert_eq!(typo.status(), StatusCode::BAD_REQUEST);
    let error: Value = typo.json().await.unwrap();
    assert_eq!(error["field"], "params.width");

    // Without JavaScript the browser is sent back to the form, the error in the address.
    let plain = browser()
        .post(format!("{}/_leptos/queue_image", server.base))
        .header(ACCEPT, "text/html")
        .header("referer", format!("{}/generate/image", server.base))
        .form(&image("5000"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::FOUND);
    let location = plain.headers()[LOCATION].to_str().unwrap();
    assert!(location.contains("/generate/image?"), "{location}");
    assert!(location.contains("__err="), "{location}");

    // Acting on an account needs one.
    let anonymous = server
        .server_function(
            "transfer_kudos",
            &[("recipient", "x#1"), ("amount", "1")],
            None,
        )
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let (_, key) = server.register("ui-erin").await;
    let (_, cookie) = server.sign_in(&key).await;
    let broke = server
        .server_function(
            "transfer_kudos",
            &[("recipient", "nobody#999"), ("amount", "1")],
            Some(&cookie),
        )
        .await;
    assert_eq!(broke.status(), StatusCode::NOT_FOUND);
    let wrong_key = server
        .server_function("log_in", &[("apikey", "not-a-key")], None)
        .await;
    assert_eq!(wrong_key.status(), StatusCode::UNAUTHORIZED);
    let error: Value = wrong_key.json().await.unwrap();
    assert_eq!(error["field"], "apikey");
}

/// The privacy page states what this server was started with, not what a default would be.
#[tokio::test]
async fn the_privacy_page_states_this_servers_own_settings() {
    let server = Server::start(&[
        "--result-retention-secs",
        "1800",
        "--request-expiry-secs",
        "10800",
        "--history-retention-secs",
        "259200",
        "--address-hash-lifetime-secs",
        "21600",
    ]);
    // The text as read: without the markers Leptos puts around dynamic text.
    let text = |html: String| html.replace("<!>", "");
    let (status, html, _) = page(&server, "/privacy", None).await;
    assert_eq!(status, StatusCode::OK);
    let html = text(html);
    for said in [
        "kept 30 minutes more",
        "expires after 3 hours",
        "is kept for 3 days",
        "replaced every 6 hours",
        "after 6 hours at the latest",
        "id=\"pseudonymous\"",
    ] {
        assert!(
            html.contains(said),
            "the privacy page does not say {said:?}"
        );
    }
    assert!(!html.contains("You can sign in with"));

    let with_provider = Server::start_with_env(
        &["--oidc-provider", "corp=https://id.example.org"],
        &[
            ("POTLUCK_OIDC_CORP_CLIENT_ID", "potluck"),
            ("POTLUCK_OIDC_CORP_LABEL", "Corp ID"),
        ],
    );
    let html = text(page(&with_provider, "/privacy", None).await.1);
    assert!(html.contains("You can sign in with Corp ID"), "{html}");
    assert!(html.contains("at most 10 minutes"));
    let (_, login, _) = page(&with_provider, "/login", None).await;
    assert!(login.contains("href=\"/auth/corp/login\""), "{login}");
}
