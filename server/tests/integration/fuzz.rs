//! Every operation of the OpenAPI document (`/api/v2`, `/v1`) and every server function of the
//! UI, called with inputs made from a fixed seed: bodies shaped by the operation's schema with
//! wrong types, extreme numbers and strings, odd path parameters, malformed JSON. The server
//! must answer each within a bound, never with a 5xx, and refuse in its error shape with a
//! short body; its memory must stay bounded. Time-bounded, so that CI's run stays short.

use crate::common::{Server, ANON};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

const SEED: u64 = 0x5eed_f00d;
/// How long the calls may go on, all of them together.
const BUDGET: Duration = Duration::from_secs(15);
/// How long one answer may take before it counts as a hang.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// The most an error body may hold.
const MAX_ERROR_BYTES: usize = 2_000;

/// Operations left out: they end the caller's own account or sessions (what they do is
/// tested elsewhere), and later calls would only meet 401s.
const LEFT_OUT: &[(&str, &str)] = &[("delete", "/api/v2/users/me"), ("post", "/_leptos/log_out")];

fn strings(rng: &mut StdRng) -> String {
    match rng.random_range(0..12) {
        0 => String::new(),
        1 => " ".into(),
        2 => "x".repeat(rng.random_range(1..20_000)),
        3 => "名前🙂\u{202e}\u{200b}é".into(),
        4 => "name#1".into(),
        5 => "\0nul".into(),
        6 => "-1".into(),
        7 => "1e308".into(),
        8 => "<script>alert(1)</script>".into(),
        9 => "../../etc/passwd".into(),
        10 => "test/Tiny-1B".into(),
        _ => uuid_like(rng),
    }
}

fn uuid_like(rng: &mut StdRng) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        rng.random::<u32>(),
        rng.random::<u16>(),
        rng.random_range(0..0x1000u16),
        rng.random_range(0..0x1000u16),
        rng.random::<u64>() & 0xffff_ffff_ffff
    )
}

fn number(rng: &mut StdRng) -> Value {
    let pool = [
        json!(0),
        json!(1),
        json!(-1),
        json!(2),
        json!(0.5),
        json!(-0.0001),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1e308),
        json!(-1e308),
        json!(4096),
        json!(1_048_577),
    ];
    pool.choose(rng).unwrap().clone()
}

/// Anything at all, at most `depth` deep.
fn junk(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth == 0 { 4 } else { 6 }) {
        0 => Value::Null,
        1 => json!(rng.random_bool(0.5)),
        2 => number(rng),
        3 => json!(strings(rng)),
        4 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| junk(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut object = Map::new();
            for _ in 0..rng.random_range(0..4) {
                object.insert(
                    strings(rng).chars().take(20).collect(),
                    junk(rng, depth - 1),
                );
            }
            Value::Object(object)
        }
    }
}

/// A value for `schema` (resolved in `document`), now and then of the wrong shape.
fn value_for(rng: &mut StdRng, document: &Value, schema: &Value, depth: u32) -> Value {
    if depth == 0 || rng.random_bool(0.15) {
        return junk(rng, depth.min(2));
    }
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        let resolved = &document["components"]["schemas"][name];
        return value_for(rng, document, resolved, depth - 1);
    }
    for choice in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema[choice].as_array().filter(|o| !o.is_empty()) {
            let option = options.choose(rng).unwrap();
            return value_for(rng, document, option, depth - 1);
        }
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.choose(rng).cloned().unwrap_or(Value::Null),
        kind => kind.clone(),
    };
    match kind.as_str().unwrap_or("object") {
        "string" => json!(strings(rng)),
        "integer" | "number" => number(rng),
        "boolean" => json!(rng.random_bool(0.5)),
        "null" => Value::Null,
        "array" => {
            let count = if rng.random_bool(0.05) {
                2_000
            } else {
                rng.random_range(0..4)
            };
            Value::Array(
                (0..count)
                    .map(|_| value_for(rng, document, &schema["items"], depth - 1))
                    .collect(),
            )
        }
        _ => {
            let mut object = Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    if rng.random_bool(0.7) {
                        object.insert(name.clone(), value_for(rng, document, property, depth - 1));
                    }
                }
            }
            Value::Object(object)
        }
    }
}

fn path_parameter(rng: &mut StdRng) -> String {
    let pool = [
        "1",
        "0",
        "-1",
        "99999999999999999999999",
        "abc",
        "%FF",
        "%00",
        "a%2Fb",
        "%E2%82",
        "..",
        "name%231",
        "%F0%9F%99%82",
    ];
    match rng.random_range(0..4) {
        0 => uuid_like(rng),
        1 => "x".repeat(3_000),
        _ => pool.choose(rng).unwrap().to_string(),
    }
}

/// A body: the schema's shape, or bytes that are not JSON at all.
fn body_for(rng: &mut StdRng, document: &Value, operation: &Value) -> Option<Vec<u8>> {
    let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    if schema.is_null() && rng.random_bool(0.8) {
        return None;
    }
    Some(match rng.random_range(0..10) {
        0 => b"{not json".to_vec(),
        1 => Vec::new(),
        2 => vec![0xff, 0xfe, 0x00, 0x7b],
        3 => format!("[{}]", "[".repeat(200)).into_bytes(),
        _ => serde_json::to_vec(&value_for(rng, document, schema, 6)).unwrap(),
    })
}

/// A call, as the fuzzer makes it.
struct Call {
    method: Method,
    path: String,
    key: Option<String>,
    body: Option<Vec<u8>>,
    content_type: &'static str,
}

fn api_call(rng: &mut StdRng, document: &Value, keys: &[String]) -> Option<Call> {
    let paths = document["paths"].as_object().unwrap();
    let (template, operations) = paths.iter().nth(rng.random_range(0..paths.len()))?;
    let operations = operations.as_object()?;
    let (method, operation) = operations
        .iter()
        .nth(rng.random_range(0..operations.len()))?;
    if LEFT_OUT.contains(&(method.as_str(), template.as_str())) {
        return None;
    }
    let mut path = String::new();
    for (i, piece) in template.split('{').enumerate() {
        match (i, piece.split_once('}')) {
            (0, _) | (_, None) => path.push_str(piece),
            (_, Some((_, rest))) => {
                path.push_str(&path_parameter(rng));
                path.push_str(rest);
            }
        }
    }
    let parameters: Vec<&Value> = operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query")
        .collect();
    let chosen: Vec<&Value> = parameters
        .into_iter()
        .filter(|_| rng.random_bool(0.6))
        .collect();
    let queries: Vec<String> = chosen
        .into_iter()
        .map(|p| {
            let value = match value_for(rng, document, &p["schema"], 1) {
                Value::String(s) => s.chars().take(200).collect(),
                other => other.to_string(),
            };
            let value: String = value.bytes().map(|b| format!("%{b:02X}")).collect();
            format!("{}={value}", p["name"].as_str().unwrap_or("x"))
        })
        .collect();
    if !queries.is_empty() {
        path = format!("{path}?{}", queries.join("&"));
    }
    Some(Call {
        method: method.to_uppercase().parse().ok()?,
        path,
        key: keys.choose(rng).cloned(),
        body: body_for(rng, document, operation),
        content_type: "application/json",
    })
}

/// The UI's server functions (`endpoint = "..."` in app/src/api), posted as forms.
fn server_functions() -> Vec<String> {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../app/src/api");
    let pattern = regex::Regex::new(r#"endpoint = "(\w+)""#).unwrap();
    let mut names = Vec::new();
    for file in std::fs::read_dir(folder).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        names.extend(pattern.captures_iter(&text).map(|c| c[1].to_string()));
    }
    assert!(names.len() > 20, "found only {names:?}");
    names
}

fn ui_call(rng: &mut StdRng, functions: &[String]) -> Option<Call> {
    let name = functions.choose(rng)?;
    let path = format!("/_leptos/{name}");
    if LEFT_OUT.contains(&("post", path.as_str())) {
        return None;
    }
    let fields = [
        "prompt",
        "username",
        "apikey",
        "amount",
        "recipient",
        "model",
        "id",
        "worker",
        "user",
        "user_id",
        "change",
        "mode",
        "on",
        "regex",
        "filter_type",
        "hours",
        "ipaddr",
        "name",
        "contact",
        "max_length",
        "width",
        "n",
        "paused",
        "message",
        "expiry",
        "confirm",
    ];
    let body: Vec<String> = (0..rng.random_range(0..6))
        .map(|_| {
            let value: String = strings(rng)
                .bytes()
                .take(5_000)
                .map(|b| format!("%{b:02X}"))
                .collect();
            format!("{}={value}", fields.choose(rng).unwrap())
        })
        .collect();
    Some(Call {
        method: Method::POST,
        path,
        key: None,
        body: Some(body.join("&").into_bytes()),
        content_type: "application/x-www-form-urlencoded",
    })
}

/// The server's resident memory, in MiB.
fn resident_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

#[tokio::test]
async fn every_operation_refuses_bad_input_in_its_error_shape() {
    let server = Server::start(&[]);
    let (_, user) = server.register("fuzzed").await;
    let (_, admin) = server.admin_user("fuzz-admin", &["--admin", "--moderator", "--trusted"]);
    let keys = vec![ANON.to_string(), user, admin, "not-a-key".to_string()];
    let document: Value = server
        .http()
        .get(format!("{}/api/swagger.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let functions = server_functions();
    let mut rng = StdRng::seed_from_u64(SEED);
    let memory_before = resident_mib(server.pid());
    // A fresh connection for each call: the server closes one whose body it did not read
    // (after a 413, say), and a reused one would then fail on the client's side.
    let http = reqwest::Client::builder()
        .timeout(ANSWER_WITHIN)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    let started = Instant::now();
    let mut calls = 0;
    let mut refused = 0;
    while started.elapsed() < BUDGET {
        let call = match rng.random_range(0..5) {
            0 => ui_call(&mut rng, &functions),
            _ => api_call(&mut rng, &document, &keys),
        };
        let Some(call) = call else { continue };
        let mut request = http
            .request(call.method.clone(), format!("{}{}", server.base, call.path))
            .header("content-type", call.content_type);
        if let Some(key) = &call.key {
            request = request.header("apikey", key).bearer_auth(key);
        }
        if let Some(body) = call.body.clone() {
            request = request.body(body);
        }
        let what = format!(
            "{} {}",
            call.method,
            call.path.chars().take(200).collect::<String>()
        );
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer within {ANSWER_WITHIN:?}: {e:?}"));
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        calls += 1;
        assert!(
            !status.is_server_error(),
            "{what}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        if !status.is_client_error() || call.path.starts_with("/_leptos") {
            continue;
        }
        refused += 1;
        assert!(
            bytes.len() <= MAX_ERROR_BYTES,
            "{what}: a {}-byte error",
            bytes.len()
        );
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{what}: {status} not JSON: {:?}",
                String::from_utf8_lossy(&bytes)
            )
        });
        if call.path.starts_with("/v1") {
            assert!(
                body["error"]["message"].is_string(),
                "{what}: {status} {body}"
            );
        } else {
            assert!(
                body["message"].is_string() && body["rc"].is_string(),
                "{what}: {status} {body}"
            );
        }
    }
    let memory_after = resident_mib(server.pid());
    eprintln!(
        "fuzz: {calls} calls ({refused} refused by the API) in {:?}; memory {memory_before} → {memory_after} MiB",
        started.elapsed()
    );
    assert!(calls > 200, "only {calls} calls");
    assert!(
        memory_after < memory_before + 512,
        "memory grew from {memory_before} to {memory_after} MiB"
    );
    // The server still serves.
    let (status, _) = server.get("/status/heartbeat", None).await;
    assert_eq!(status, StatusCode::OK);
}
