//! What the server keeps of a job: after a full cycle and the retention window, neither its log
//! (at its most verbose) nor its database holds the prompt or the generation, and neither ever
//! holds an API key or the client's address, moderators' timeouts of that address included,
//! nor a prompt the filters refused.

use crate::common::{honest_scores, pop_check, Server, ANON};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

const MODEL: &str = "test/Tiny-1B";
/// The client's address as a proxy forwards it, with the proxy's own after it. Documentation
/// ranges: no other line of the log has them by chance.
const CLIENT: &str = "203.0.113.77";
const PROXY: &str = "2001:db8::77";
const REFUSED_PROMPT: &str = "A naked pangolin of Xanthrobe";

#[tokio::test]
async fn neither_the_log_nor_the_database_keeps_prompts_results_keys_or_addresses() {
    let server = Server::start_logged(&[
        "--result-retention-secs",
        "1",
        "--sweep-interval-ms",
        "100",
        "--client-ip-header",
        "X-Forwarded-For",
    ])
    .forwarded_for(&format!("{CLIENT}, {PROXY}"));
    let (_, worker_key) = server.register("owner").await;
    let (_, requester_key) = server.register("requester").await;
    // Its results are checked: the checks copy the prompts and texts, and must go too.
    let (_, checker_key) = server.admin_user("checker", &["--trusted"]);
    server.pop_text(&worker_key, "worker", MODEL).await;

    // From an account and anonymously: only the anonymous request has its client's address
    // (hashed) stored, to limit its concurrency.
    let jobs = [
        (
            requester_key.as_str(),
            "Describe the ultramarine pangolin of Zzyzx",
            "The ultramarine pangolin hums at dusk in Zzyzx",
        ),
        (
            ANON,
            "Name the seven moons of Quillithor",
            "Quillithor has no moons, only a ring of teacups",
        ),
    ];
    let mut statuses = Vec::new();
    for (key, prompt, generation) in jobs {
        let id = server
            .submit_text_request(key, json!({"prompt": prompt, "models": [MODEL]}))
            .await;
        let (_, job) = server.pop_text(&worker_key, "worker", MODEL).await;
        assert_eq!(job["payload"]["prompt"], prompt, "{job}");
        let (status, submitted) = server
            .post(
                "/generate/text/submit",
                Some(&worker_key),
                json!({"id": job["id"], "generation": generation}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{submitted}");
        let path = format!("/generate/text/status/{id}");
        let (_, delivered) = server.get(&path, Some(key)).await;
        assert_eq!(
            delivered["generations"][0]["text"], generation,
            "{delivered}"
        );
        statuses.push(path);
        let check = pop_check(&server, &checker_key).await;
        assert_eq!(check["payload"]["prompt"], prompt, "{check}");
        assert_eq!(check["score_check"]["text"], generation, "{check}");
        let (status, _) = server
            .post(
                "/generate/text/submit",
                Some(&checker_key),
                json!({"id": check["id"], "scores": honest_scores()}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    // A moderator's timeouts of the client's address, by address and through the worker, work
    // on hashes: neither the address nor anything that gives it away is kept, nor logged.
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let (_, worker) = server.get("/workers/name/worker", Some(&worker_key)).await;
    let through_worker = format!(
        "/operations/block_worker_ipaddr/{}",
        worker["id"].as_str().unwrap()
    );
    for (method, path, body) in [
        (
            Method::POST,
            "/operations/ipaddr",
            Some(json!({"ipaddr": CLIENT, "hours": 1})),
        ),
        (
            Method::DELETE,
            "/operations/ipaddr",
            Some(json!({"ipaddr": CLIENT})),
        ),
        (
            Method::PUT,
            through_worker.as_str(),
            Some(json!({"days": 1})),
        ),
        (Method::DELETE, through_worker.as_str(), None),
    ] {
        let (status, body) = server.call(method, path, Some(&moderator), body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    // An image prompt the filters refuse is a sign of suspicion on its requester: the sign is
    // kept and logged, the prompt neither.
    let painter = json!({"name": "painter", "models": ["stable_diffusion"], "max_pixels": 1048576});
    let (status, body) = server
        .post("/generate/pop", Some(&worker_key), painter)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (regex, filter_type) in [(r"\bpangolin\b", 10), (r"\bnaked\b", 20)] {
        let filter = json!({"regex": regex, "filter_type": filter_type});
        let (status, body) = server.put("/filters", Some(&moderator), filter).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let refused = json!({"prompt": REFUSED_PROMPT, "replacement_filter": false,
                         "params": {"width": 256, "height": 256, "steps": 10}});
    let (status, body) = server
        .post("/generate/async", Some(&requester_key), refused)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, requester) = server.get("/find_user", Some(&requester_key)).await;
    assert_eq!(requester["suspicious"], 1, "{requester}");

    let never = [
        worker_key.as_str(),
        requester_key.as_str(),
        CLIENT,
        PROXY,
        REFUSED_PROMPT,
    ];
    assert_eq!(server.stored(&never).await, Vec::<&str>::new());

    for path in &statuses {
        server
            .wait_for(path, Duration::from_secs(10), |status, _| {
                status == StatusCode::GONE
            })
            .await;
    }
    let contents = jobs
        .iter()
        .flat_map(|&(_, prompt, generation)| [prompt, generation]);
    let secrets: Vec<&str> = contents.chain(never).collect();
    server
        .wait_until_unstored(&secrets, Duration::from_secs(10))
        .await;

    let log = server.log();
    // The log did see the cycle, request handling and the purge included.
    for event in [
        "request queued",
        "generation submitted",
        "check settled",
        "suspicion raised",
    ] {
        assert!(log.contains(event), "no {event:?} in the server's log");
    }
    assert!(
        log.lines()
            .any(|l| l.contains(" sweep ") && !l.contains("purged=0")),
        "no purge in the server's log"
    );
    for secret in secrets {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            lines.is_empty(),
            "{secret:?} in the server's log: {lines:#?}"
        );
    }
}
