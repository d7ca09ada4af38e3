//! Sign-in through an OpenID Connect provider, end to end: a real provider (the certified
//! `oidc-provider` package from npm, `end2end/oidc/provider.mjs`, on loopback) and the real
//! server, driven over HTTP as a browser would, through the provider's own login and consent
//! pages. What the server stores of the person is checked in its database: the subject, and
//! nothing of the profile the provider sent along in the ID token.
//!
//! Needs Node and `end2end/node_modules` (`npm ci` in `end2end/`; `scripts/test.sh` runs it).

use crate::common;
use crate::common::{assert_error, Server};
use regex::Regex;
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const PROVIDER: &str = "local";
const LABEL: &str = "Local ID";
/// As `end2end/oidc/provider.mjs` registers its client.
const CLIENT_ID: &str = "potluck-test";
const CLIENT_SECRET: &str = "potluck-test-secret";

/// The provider, stopped when dropped.
struct OidcProvider {
    child: Child,
    issuer: String,
    /// Kept open: a write to a closed pipe would end the provider.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl OidcProvider {
    fn start() -> OidcProvider {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let script = workspace.join("end2end/oidc/provider.mjs");
        assert!(
            workspace
                .join("end2end/node_modules/oidc-provider")
                .is_dir(),
            "end2end/node_modules has no oidc-provider: run `npm ci` in end2end/ \
             (scripts/test.sh does)"
        );
        let mut child = Command::new("node")
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node (Node 20 or newer is needed)");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let issuer = line
            .trim()
            .strip_prefix("oidc provider listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the provider: {line:?}"))
            .to_string();
        OidcProvider {
            child,
            issuer,
            _stdout: stdout,
        }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server that offers the provider.
fn server_with(provider: &OidcProvider, extra: &[&str]) -> Server {
    let flag = format!("{PROVIDER}={}", provider.issuer);
    let mut args = vec!["--oidc-provider", flag.as_str()];
    args.extend_from_slice(extra);
    Server::start_with_env(
        &args,
        &[
            ("POTLUCK_OIDC_LOCAL_CLIENT_ID", CLIENT_ID),
            ("POTLUCK_OIDC_LOCAL_CLIENT_SECRET", CLIENT_SECRET),
            ("POTLUCK_OIDC_LOCAL_LABEL", LABEL),
        ],
    )
}

/// A browser: keeps cookies, follows no redirect by itself.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &Response) -> String {
    response.headers()[LOCATION].to_str().unwrap().to_string()
}

/// Follows the provider's redirects, filling in its login page (as `subject`) and its consent
/// page, until it sends the browser back to Potluck: that callback URL.
async fn through_the_provider(
    browser: &reqwest::Client,
    issuer: &str,
    start: &str,
    subject: &str,
) -> String {
    let form_action = Regex::new(r#"<form[^>]*action="([^"]+)""#).unwrap();
    let mut url = start.to_string();
    for _ in 0..12 {
        if url.starts_with("http://127.0.0.1") && url.contains("/callback?") {
            return url;
        }
        let response = browser.get(&url).send().await.unwrap();
        if response.status().is_redirection() {
            url = absolute(issuer, &location(&response));
            continue;
        }
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let page = response.text().await.unwrap();
        let action = &form_action
            .captures(&page)
            .unwrap_or_else(|| panic!("no form on the provider's page: {page}"))[1];
        let form: Vec<(&str, &str)> = match page.contains(r#"name="login""#) {
            true => vec![("prompt", "login"), ("login", subject), ("password", "any")],
            false => vec![("prompt", "consent")],
        };
        let response = browser
            .post(absolute(issuer, action))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_redirection(), "{}", response.status());
        url = absolute(issuer, &location(&response));
    }
    panic!("the provider never sent the browser back");
}

/// A link of the provider's, made absolute.
fn absolute(issuer: &str, link: &str) -> String {
    match link.starts_with('/') {
        true => format!("{issuer}{link}"),
        false => link.to_string(),
    }
}

/// Signs `browser` in through the provider as `subject`: the callback's answer.
async fn sign_in(
    server: &Server,
    provider: &OidcProvider,
    browser: &reqwest::Client,
    subject: &str,
) -> Response {
    sign_in_with(PROVIDER, server, provider, browser, subject).await
}

/// The same through the provider that the server calls `id`.
async fn sign_in_with(
    id: &str,
    server: &Server,
    provider: &OidcProvider,
    browser: &reqwest::Client,
    subject: &str,
) -> Response {
    let begin = browser
        .get(format!("{}/auth/{id}/login", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(begin.status(), StatusCode::SEE_OTHER);
    let cookie = begin.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for part in [
        "potluck_login=",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/auth/",
        "Max-Age=600",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let to_provider = location(&begin);
    assert!(to_provider.starts_with(&provider.issuer), "{to_provider}");
    for part in ["scope=openid", "code_challenge_method=S256", "state="] {
        assert!(to_provider.contains(part), "{to_provider}");
    }
    // OpenID Connect ties the ID token to this sign-in; plain OAuth2 has none.
    assert_eq!(
        to_provider.contains("nonce="),
        id == PROVIDER,
        "{to_provider}"
    );
    assert!(!to_provider.contains("email") && !to_provider.contains("profile"));
    let callback = through_the_provider(browser, &provider.issuer, &to_provider, subject).await;
    browser.get(callback).send().await.unwrap()
}

/// The server functions' view of who the browser is.
async fn signed_in_as(server: &Server, browser: &reqwest::Client) -> Value {
    let response = browser
        .post(format!("{}/_leptos/signed_in", server.base))
        .form(&[("", ""); 0])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn new_key(server: &Server, browser: &reqwest::Client) -> (StatusCode, Value) {
    let response = browser
        .post(format!("{}/_leptos/reset_key", server.base))
        .form(&[("", ""); 0])
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

/// The login columns of every account, and the pending sign-ins left, read with SQL.
async fn stored_logins(server: &Server) -> (Vec<(i64, Option<String>, Option<String>)>, i64) {
    type Row = (i64, Option<String>, Option<String>, i64);
    const USERS: &str = "SELECT id, login_provider, login_subject, \
         (SELECT COUNT(*) FROM pending_logins) FROM users ORDER BY id";
    let rows: Vec<Row> = sqlx::query_as(USERS)
        .fetch_all(&mut server.sql().await)
        .await
        .unwrap();
    let pending = rows.first().map_or(0, |row| row.3);
    let logins = rows.into_iter().map(|(id, p, s, _)| (id, p, s)).collect();
    (logins, pending)
}

#[tokio::test]
async fn a_provider_signs_a_browser_in_and_only_the_subject_is_kept() {
    let provider = OidcProvider::start();
    let server = server_with(&provider, &[]);
    let subject = "ada-3f9c2e";
    let browser = browser();

    // The first sign-in creates the account and signs the browser in.
    let back = sign_in(&server, &provider, &browser, subject).await;
    assert_eq!(back.status(), StatusCode::OK);
    let cookies: Vec<String> = back
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("potluck_session=")),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("potluck_login=;") && c.contains("Max-Age=0")),
        "the sign-in's cookie is removed: {cookies:?}"
    );
    let page = back.text().await.unwrap();
    assert!(page.contains(r#"url=/account?welcome"#), "{page}");
    let me = signed_in_as(&server, &browser).await;
    let alias = me["alias"].as_str().unwrap().to_string();
    assert!(alias.starts_with(&format!("{LABEL} user#")), "{me}");
    let id: i64 = alias.rsplit('#').next().unwrap().parse().unwrap();

    // Stored: the provider and the subject on the account, nothing of the profile, no
    // sign-in left pending.
    let (logins, pending) = stored_logins(&server).await;
    assert!(
        logins.contains(&(id, Some(PROVIDER.into()), Some(subject.into()))),
        "{logins:?}"
    );
    assert_eq!(pending, 0);
    let profile = [
        format!("{subject}@mail.example"),
        format!("Person {subject}"),
    ];
    let profile: Vec<&str> = profile.iter().map(String::as_str).collect();
    assert_eq!(server.stored(&profile).await, Vec::<&str>::new());

    // A key for the API, shown once; this browser stays signed in.
    let (status, key) = new_key(&server, &browser).await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let key = key.as_str().unwrap().to_string();
    assert_eq!(signed_in_as(&server, &browser).await["alias"], alias);
    let (status, export) = server.get("/users/me/export", Some(&key)).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(
        export["account"]["login"],
        json!({"provider": PROVIDER, "subject": subject})
    );

    // Signing in again, in another browser, finds the same account.
    let other = self::browser();
    let again = sign_in(&server, &provider, &other, subject).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(again.text().await.unwrap().contains("url=/account\""));
    assert_eq!(signed_in_as(&server, &other).await["alias"], alias);

    // A linked account renames itself (API), and the new name is what everyone sees.
    let (status, renamed) = server
        .put("/users/me/username", Some(&key), json!({"username": "Ada"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["username"], format!("Ada#{id}"));
    assert_eq!(server.user(id, None).await["username"], format!("Ada#{id}"));
    assert_eq!(
        signed_in_as(&server, &browser).await["alias"],
        format!("Ada#{id}")
    );
    // A new key through the API: the old one stops working, and so do the sessions.
    let (status, fresh) = server.post("/users/me/apikey", Some(&key), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    let fresh = fresh["apikey"].as_str().unwrap();
    assert_error(
        &server.get("/find_user", Some(&key)).await,
        StatusCode::NOT_FOUND,
        "UserNotFound",
    );
    assert_eq!(
        server.get("/find_user", Some(fresh)).await.0,
        StatusCode::OK
    );
    assert_eq!(signed_in_as(&server, &browser).await, Value::Null);

    // Erased, the subject goes with the rest; the next sign-in is a new account.
    assert_eq!(
        server.delete("/users/me", Some(fresh)).await.0,
        StatusCode::OK
    );
    let (logins, _) = stored_logins(&server).await;
    assert!(logins.contains(&(id, None, None)), "{logins:?}");
    assert_eq!(server.stored(&[subject]).await, Vec::<&str>::new());
    let third = self::browser();
    assert_eq!(
        sign_in(&server, &provider, &third, subject).await.status(),
        StatusCode::OK
    );
    let alias = signed_in_as(&server, &third).await["alias"].clone();
    assert_ne!(alias, json!(format!("Ada#{id}")));
    assert!(alias.as_str().unwrap().starts_with(LABEL), "{alias}");
}

#[tokio::test]
async fn a_callback_is_refused_unless_it_belongs_to_this_browser_and_is_fresh() {
    let provider = OidcProvider::start();
    let server = server_with(&provider, &[]);
    let victim = browser();
    let begin = victim
        .get(format!("{}/auth/{PROVIDER}/login", server.base))
        .send()
        .await
        .unwrap();
    let callback =
        through_the_provider(&victim, &provider.issuer, &location(&begin), "mallory").await;

    // Another browser (login CSRF: an attacker's callback in a victim's browser) gets nothing.
    let stranger = common::browser();
    let refused = stranger.get(&callback).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&refused), "/login?login_failed=expired");
    assert!(refused
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .all(|c| !c.to_str().unwrap().starts_with("potluck_session=")));
    // Nor does the right browser with another state.
    let state = Regex::new(r"state=([^&]+)")
        .unwrap()
        .captures(&callback)
        .unwrap()[1]
        .to_string();
    let forged = callback.replace(&state, "forged-state");
    let refused = victim.get(&forged).send().await.unwrap();
    assert_eq!(location(&refused), "/login?login_failed=expired");

    // A provider that says no, an unknown provider.
    let denied = victim
        .get(format!(
            "{}/auth/{PROVIDER}/callback?error=access_denied&state={state}",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&denied), "/login?login_failed=refused");
    let repeated = victim
        .get(format!(
            "{}/auth/{PROVIDER}/callback?code=a&code=b&state={state}",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&repeated), "/login?login_failed=expired");
    let unknown = victim
        .get(format!("{}/auth/nobody/login", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&unknown), "/login?login_failed=unknown-provider");
    assert_eq!(signed_in_as(&server, &victim).await, Value::Null);
}

#[tokio::test]
async fn pseudonymous_accounts_keep_their_name_and_key() {
    let server = Server::start(&[]);
    let (_, key) = server.register("pseudo").await;
    assert_error(
        &server
            .put(
                "/users/me/username",
                Some(&key),
                json!({"username": "other"}),
            )
            .await,
        StatusCode::FORBIDDEN,
        "PseudonymousAccount",
    );
    assert_error(
        &server.post("/users/me/apikey", Some(&key), json!({})).await,
        StatusCode::FORBIDDEN,
        "PseudonymousAccount",
    );
    assert_eq!(server.get("/find_user", Some(&key)).await.0, StatusCode::OK);
    let (_, cookie) = server.sign_in(&key).await;
    let refused = server
        .server_function("reset_key", &[], Some(&cookie))
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // No provider configured: nothing to sign in with.
    let none = common::browser()
        .get(format!("{}/auth/{PROVIDER}/login", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&none), "/login?login_failed=unknown-provider");
}

#[tokio::test]
async fn a_private_server_admits_whom_its_provider_signs_in() {
    let provider = OidcProvider::start();
    let server = server_with(&provider, &["--private"]);
    let browser = browser();
    assert_eq!(
        sign_in(&server, &provider, &browser, "staff-17")
            .await
            .status(),
        StatusCode::OK
    );
    assert!(signed_in_as(&server, &browser).await["alias"]
        .as_str()
        .unwrap()
        .starts_with(LABEL));
    // Registration stays closed.
    assert_error(
        &server
            .post("/register", None, json!({"username": "walk-in"}))
            .await,
        StatusCode::FORBIDDEN,
        "RegistrationClosed",
    );
}

#[tokio::test]
async fn a_plain_oauth2_provider_signs_in_through_its_user_endpoint() {
    // The same provider, used as GitHub or Discord are: no ID token, the id read from the user
    // endpoint (`/me`, whose `sub` is the id) with the access token.
    let provider = OidcProvider::start();
    let endpoint = |path: &str| format!("{}{path}", provider.issuer);
    let (authorize, token, user) = (endpoint("/auth"), endpoint("/token"), endpoint("/me"));
    let server = Server::start_with_env(
        &["--oauth2-provider", "plain"],
        &[
            ("POTLUCK_OAUTH2_PLAIN_CLIENT_ID", CLIENT_ID),
            ("POTLUCK_OAUTH2_PLAIN_CLIENT_SECRET", CLIENT_SECRET),
            ("POTLUCK_OAUTH2_PLAIN_LABEL", "Plain"),
            ("POTLUCK_OAUTH2_PLAIN_AUTHORIZE_URL", &authorize),
            ("POTLUCK_OAUTH2_PLAIN_TOKEN_URL", &token),
            ("POTLUCK_OAUTH2_PLAIN_USER_URL", &user),
            ("POTLUCK_OAUTH2_PLAIN_USER_ID_FIELD", "sub"),
            ("POTLUCK_OAUTH2_PLAIN_SCOPES", "openid"),
        ],
    );
    let browser = browser();
    let subject = "lin-5150";
    let back = sign_in_with("plain", &server, &provider, &browser, subject).await;
    assert_eq!(back.status(), StatusCode::OK);
    let alias = signed_in_as(&server, &browser).await["alias"].clone();
    assert!(
        alias.as_str().unwrap().starts_with("Plain user#"),
        "{alias}"
    );
    let (logins, _) = stored_logins(&server).await;
    assert!(
        logins
            .iter()
            .any(|l| l.1.as_deref() == Some("plain") && l.2.as_deref() == Some(subject)),
        "{logins:?}"
    );
    let profile = [
        format!("{subject}@mail.example"),
        format!("Person {subject}"),
    ];
    let profile: Vec<&str> = profile.iter().map(String::as_str).collect();
    assert_eq!(server.stored(&profile).await, Vec::<&str>::new());
    // Again: the same account.
    let other = self::browser();
    sign_in_with("plain", &server, &provider, &other, subject).await;
    assert_eq!(signed_in_as(&server, &other).await["alias"], alias);
}

#[tokio::test]
async fn github_and_discord_are_known_by_name() {
    let server = Server::start_with_env(
        &["--oauth2-provider", "github discord"],
        &[
            ("POTLUCK_OAUTH2_GITHUB_CLIENT_ID", "gh-client"),
            ("POTLUCK_OAUTH2_DISCORD_CLIENT_ID", "dc-client"),
        ],
    );
    let login_page = common::browser()
        .get(format!("{}/login", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace("<!>", "");
    for label in ["Sign in with GitHub", "Sign in with Discord"] {
        assert!(login_page.contains(label), "{label}");
    }
    // No request to either is needed to send the browser there.
    for (id, to) in [
        ("github", "https://github.com/login/oauth/authorize?"),
        ("discord", "https://discord.com/oauth2/authorize?"),
    ] {
        let to_provider = location_of(&server, id).await;
        assert!(to_provider.starts_with(to), "{to_provider}");
        assert!(to_provider.contains("code_challenge_method=S256"));
        assert!(to_provider.contains(&format!(
            "redirect_uri={}",
            urlencode(&format!("{}/auth/{id}/callback", server.base))
        )));
    }
    assert!(location_of(&server, "discord")
        .await
        .contains("scope=identify"));

    // A provider without its client does not start.
    let refused = Command::new(env!("CARGO_BIN_EXE_potluck"))
        .args(["--listen", "127.0.0.1:0", "--oauth2-provider", "github"])
        .args([
            "--database-url",
            &format!("sqlite://{}", server.dir.path().join("other.db").display()),
        ])
        .env_remove("POTLUCK_OAUTH2_GITHUB_CLIENT_ID")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("POTLUCK_OAUTH2_GITHUB_CLIENT_ID is not set"),
        "{said}"
    );
}

async fn location_of(server: &Server, id: &str) -> String {
    let begin = common::browser()
        .get(format!("{}/auth/{id}/login", server.base))
        .send()
        .await
        .unwrap();
    location(&begin)
}

fn urlencode(text: &str) -> String {
    text.replace(':', "%3A").replace('/', "%2F")
}
