//! `/metrics` (with `--metrics`): scraped during a job cycle, its counters move with the cycle,
//! and it holds none of the private values the cycle used. Without the setting there is none.

use crate::common::{backend, Backend, Server};
use reqwest::StatusCode;
use serde_json::json;

const MODEL: &str = "test/Tiny-1B";
const PROMPT: &str = "Recite the tide tables of Ulmquist";

async fn scrape(server: &Server) -> String {
    let response = server
        .http()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    response.text().await.unwrap()
}

/// The value of the sample `name{labels}` (labels as Prometheus writes them), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn metrics_follow_a_job_cycle_and_hold_nothing_private() {
    let server = Server::start(&["--metrics"]);
    let (_, owner) = server.register("metrics-owner").await;
    let (_, requester) = server.register("metrics-requester").await;
    let before = scrape(&server).await;
    assert_eq!(
        sample(&before, "potluck_jobs_popped_total{kind=\"text\"}"),
        0.0
    );

    server.pop_text(&owner, "metrics-box", MODEL).await;
    let id = server
        .submit_text_request(&requester, json!({"prompt": PROMPT, "models": [MODEL]}))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let during = scrape(&server).await;
    let queued = format!("potluck_queue_jobs{{kind=\"text\",model=\"{MODEL}\"}}");
    assert_eq!(sample(&during, &queued), 1.0, "{during}");
    let oldest = format!("potluck_queue_oldest_seconds{{kind=\"text\",model=\"{MODEL}\"}}");
    assert!(sample(&during, &oldest) >= 0.02, "{during}");
    let most_connections: f64 = during
        .lines()
        .filter(|line| line.starts_with("potluck_database_connections{"))
        .filter(|line| line.contains("state=\"max\""))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!(most_connections >= 1.0, "{during}");
    assert_eq!(
        sample(&during, "potluck_workers_online{kind=\"text\"}"),
        1.0
    );
    let (_, job) = server.pop_text(&owner, "metrics-box", MODEL).await;
    let (status, _) = server
        .post(
            "/generate/text/submit",
            Some(&owner),
            json!({"id": job["id"], "generation": "Low at noon, high at midnight"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    server
        .get(&format!("/generate/text/status/{id}"), Some(&requester))
        .await;

    let mut after = scrape(&server).await;
    if backend() == Backend::Postgres {
        // The end of the job went through LISTEN/NOTIFY, and came back to this instance.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while sample(&after, "potluck_relay_lag_seconds_count") < 1.0 {
            assert!(std::time::Instant::now() < deadline, "{after}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            after = scrape(&server).await;
        }
    }
    assert_eq!(
        sample(&after, "potluck_jobs_popped_total{kind=\"text\"}"),
        1.0
    );
    assert_eq!(
        sample(&after, "potluck_jobs_submitted_total{outcome=\"done\"}"),
        1.0
    );
    assert!(sample(&after, "potluck_kudos_rewarded_hundredths_total") > 0.0);
    assert_eq!(sample(&after, &oldest), 0.0, "nothing waits");
    // The new worker's result waits for a check, which no worker online may make.
    assert_eq!(sample(&after, "potluck_checks_waiting"), 1.0, "{after}");
    assert_eq!(
        sample(
            &after,
            "potluck_http_requests_total{class=\"generate\",status=\"202\"}"
        ),
        1.0,
        "{after}"
    );
    assert!(
        sample(
            &after,
            "potluck_http_request_duration_seconds_count{class=\"pop\"}"
        ) >= 2.0
    );
    for private in [
        PROMPT,
        "Low at noon",
        owner.as_str(),
        requester.as_str(),
        "metrics-owner",
        "metrics-requester",
        "127.0.0.1",
    ] {
        assert!(!after.contains(private), "{private:?} in /metrics");
    }
}

#[tokio::test]
async fn there_are_no_metrics_unless_the_operator_asks() {
    let server = Server::start(&[]);
    let response = server
        .http()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
