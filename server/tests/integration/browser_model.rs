//! The model file the Contribute page offers to browsers (`--browser-model`), over real HTTP:
//! byte-exact, with its SHA-256 as a strong entity tag to revalidate with, in ranges, and 404s in
//! the API's shape; and the server function that tells the page about it.

use crate::common::{assert_error, Server};
use reqwest::header::{
    HeaderName, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, IF_RANGE, RANGE,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crates/infer/fixtures/tiny-llama.q8_0.gguf"
);
const PATH: &str = "/models/tiny-llama.q8_0.gguf";

/// The fixture's bytes and the entity tag it must be served with.
fn fixture() -> (Vec<u8>, String) {
    let bytes = std::fs::read(FIXTURE).unwrap();
    let etag = format!("\"sha256-{:x}\"", Sha256::digest(&bytes));
    (bytes, etag)
}

fn serving_the_fixture(extra: &[&str]) -> Server {
    let mut args = vec!["--browser-model", FIXTURE];
    args.extend_from_slice(extra);
    Server::start(&args)
}

async fn fetch(
    server: &Server,
    method: Method,
    path: &str,
    headers: &[(HeaderName, &str)],
) -> reqwest::Response {
    let mut request = server
        .http()
        .request(method, format!("{}{path}", server.base));
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &HeaderName) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", response.headers()))
        .to_str()
        .unwrap()
}

/// A GET of the model with these headers: the status, the Content-Range (if any) and the body.
async fn get_model(
    server: &Server,
    headers: &[(HeaderName, &str)],
) -> (StatusCode, String, Vec<u8>) {
    let response = fetch(server, Method::GET, PATH, headers).await;
    let status = response.status();
    let range = response
        .headers()
        .get(CONTENT_RANGE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, range, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn the_file_is_served_as_it_is_with_its_hash_as_entity_tag() {
    let server = serving_the_fixture(&[]);
    let (bytes, etag) = fixture();
    for method in [Method::GET, Method::HEAD] {
        let response = fetch(&server, method.clone(), PATH, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        assert_eq!(header(&response, &ETAG), etag);
        assert_eq!(header(&response, &CONTENT_LENGTH), bytes.len().to_string());
        assert_eq!(header(&response, &ACCEPT_RANGES), "bytes");
        assert_eq!(header(&response, &CACHE_CONTROL), "no-cache");
        assert_eq!(header(&response, &CONTENT_TYPE), "application/octet-stream");
        let body = response.bytes().await.unwrap();
        match method {
            Method::HEAD => assert!(body.is_empty()),
            _ => assert!(body == bytes, "the body differs from the file"),
        }
    }
}

#[tokio::test]
async fn a_browser_revalidates_its_copy_by_the_entity_tag() {
    let server = serving_the_fixture(&[]);
    let (bytes, etag) = fixture();
    let weak = format!("W/{etag}");
    let listed = format!("\"sha256-other\", {etag}");
    for same in [etag.as_str(), &weak, &listed, "*"] {
        let response = fetch(&server, Method::GET, PATH, &[(IF_NONE_MATCH, same)]).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{same}");
        assert_eq!(header(&response, &ETAG), etag);
        assert_eq!(header(&response, &CACHE_CONTROL), "no-cache");
        assert!(response.bytes().await.unwrap().is_empty(), "{same}");
    }
    let other = get_model(&server, &[(IF_NONE_MATCH, "\"sha256-other\"")]).await;
    assert_eq!(other.0, StatusCode::OK);
    assert!(other.2 == bytes, "the body differs from the file");
}

#[tokio::test]
async fn ranges_are_served_and_resumed_only_on_the_same_file() {
    let server = serving_the_fixture(&[]);
    let (bytes, etag) = fixture();
    let len = bytes.len();
    let (status, range, body) = get_model(&server, &[(RANGE, "bytes=10-99")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(range, format!("bytes 10-99/{len}"));
    assert!(body == bytes[10..100], "not bytes 10 to 99");
    let response = fetch(&server, Method::GET, PATH, &[(RANGE, "bytes=100-")]).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&response, &ETAG), etag);
    assert_eq!(header(&response, &CONTENT_LENGTH), (len - 100).to_string());
    assert_eq!(
        header(&response, &CONTENT_RANGE),
        format!("bytes 100-{}/{len}", len - 1)
    );
    assert!(response.bytes().await.unwrap() == bytes[100..]);

    // A download resumed with the entity tag it began with gets the rest; one begun on another
    // file gets this one whole.
    let same = get_model(&server, &[(RANGE, "bytes=100-"), (IF_RANGE, &etag)]).await;
    assert_eq!(
        (same.0, same.2.len()),
        (StatusCode::PARTIAL_CONTENT, len - 100)
    );
    let other = [(RANGE, "bytes=100-"), (IF_RANGE, "\"sha256-other\"")];
    let (status, range, body) = get_model(&server, &other).await;
    assert_eq!((status, range.as_str()), (StatusCode::OK, ""));
    assert!(body == bytes, "the body differs from the file");
}

#[tokio::test]
async fn other_paths_under_models_are_api_errors() {
    let server = serving_the_fixture(&[]);
    let bare = Server::start(&[]);
    for (server, path) in [
        (&server, "/models/"),
        (&server, "/models/other.gguf"),
        (&server, "/models/tiny-llama.q8_0.gguf/more"),
        (&server, "/models/tiny-llama.q8_0"),
        (&bare, PATH),
    ] {
        let response = fetch(server, Method::GET, path, &[]).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_error(&(status, body), StatusCode::NOT_FOUND, "NotFound");
    }
    let posted = fetch(&server, Method::POST, PATH, &[]).await;
    let status = posted.status();
    let body: Value = posted.json().await.unwrap();
    assert_error(
        &(status, body),
        StatusCode::METHOD_NOT_ALLOWED,
        "BadRequest",
    );
    // The models page of the UI is still there.
    let page = fetch(&server, Method::GET, "/models", &[]).await;
    assert_eq!(page.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_file_gone_after_the_start_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("tiny-llama.q8_0.gguf");
    std::fs::copy(FIXTURE, &copy).unwrap();
    let server = Server::start(&["--browser-model", copy.to_str().unwrap()]);
    std::fs::remove_file(&copy).unwrap();
    let response = fetch(&server, Method::GET, PATH, &[]).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_error(&(status, body), StatusCode::NOT_FOUND, "NotFound");
}

/// The answer of the `browser_model` server function, as the hydrated page asks for it.
async fn offered(server: &Server) -> Value {
    let response = server.server_function("browser_model", &[], None).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_contribute_page_learns_the_model_from_its_server_function() {
    let (bytes, etag) = fixture();
    let expected =
        |name: &str| json!({"name": name, "url": PATH, "bytes": bytes.len(), "etag": etag});
    let server = serving_the_fixture(&[]);
    assert_eq!(offered(&server).await, expected("tiny-llama.q8_0"));
    let named = serving_the_fixture(&["--browser-model-name", "test/Tiny-Llama"]);
    assert_eq!(offered(&named).await, expected("test/Tiny-Llama"));
    assert_eq!(offered(&Server::start(&[])).await, Value::Null);
}

#[test]
fn a_model_that_cannot_be_read_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.gguf");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_potluck"))
        .args(["--listen", "127.0.0.1:0", "--database-url"])
        .arg(Server::database_url(&dir))
        .arg("--browser-model")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "it listened");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read the browser model") && stderr.contains("missing.gguf"),
        "{stderr}"
    );
}
