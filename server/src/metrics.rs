//! `/metrics` in the Prometheus text format, when the operator turns it on (`--metrics`): HTTP
//! requests and their latency per endpoint class, jobs popped, submitted and re-queued,
//! requests expired, kudos rewarded, sweep durations, the relay's lag, and, read at each
//! scrape, the queue (its depth and its oldest request's age per model), the workers online
//! and the database connections in use. Labels are endpoint classes, statuses, kinds and model
//! names (which `/status/models` shows everyone): never a prompt, a key, an address or an
//! account.
//!
//! The counters themselves are recorded with the `metrics` facade where things happen (in the
//! core too); without `--metrics` no recorder is installed and recording costs nothing.

use crate::rate_limits::EndpointClass;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use potluck_core::Horde;
use std::sync::Arc;
use std::time::Instant;

/// Latency buckets, in seconds: a status poll takes milliseconds, a pop a little more, a
/// `/v1` completion that waits for its worker up to minutes.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];

/// Installs the process's recorder; its handle renders what was recorded.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)?
        .install_recorder()?)
}

/// `GET /metrics`, or nothing when metrics are off.
pub fn routes(horde: Arc<Horde>, handle: Option<PrometheusHandle>) -> Router {
    match handle {
        Some(handle) => Router::new()
            .route("/metrics", get(scrape))
            .with_state((horde, handle)),
        None => Router::new(),
    }
}

async fn scrape(State((horde, handle)): State<(Arc<Horde>, PrometheusHandle)>) -> Response {
    // A figure that cannot be read now is left at its last value, and the scrape still answers.
    match tokio::try_join!(horde.active_models(None), horde.queue_ages()) {
        Ok((models, ages)) => {
            let age_of = |kind: &str, model: &str| {
                ages.get(&(kind.to_string(), model.to_string()))
                    .copied()
                    .unwrap_or(0.0)
            };
            // Only served models are labels: the names requesters make up never are.
            for model in models {
                let kind = model.kind.as_str();
                let age = age_of(kind, &model.name);
                let labels = [("kind", kind.to_string()), ("model", model.name)];
                metrics::gauge!("potluck_queue_jobs", &labels).set(model.jobs);
                metrics::gauge!("potluck_model_workers", &labels).set(f64::from(model.count));
                metrics::gauge!("potluck_queue_oldest_seconds", &labels).set(age);
            }
            for kind in ["text", "image"] {
                metrics::gauge!("potluck_queue_oldest_seconds", "kind" => kind, "model" => "any")
                    .set(age_of(kind, "any"));
            }
        }
        Err(error) => tracing::warn!(%error, "metrics: the queue could not be read"),
    }
    match horde.checks_waiting().await {
        Ok(checks) => metrics::gauge!("potluck_checks_waiting").set(checks as f64),
        Err(error) => tracing::warn!(%error, "metrics: the checks could not be read"),
    }
    for pool in horde.connections() {
        for (state, count) in [("open", pool.open), ("idle", pool.idle), ("max", pool.max)] {
            metrics::gauge!("potluck_database_connections", "pool" => pool.pool, "state" => state)
                .set(f64::from(count));
        }
    }
    match horde.performance().await {
        Ok(figures) => {
            for (kind, workers, queued) in [
                (
                    "text",
                    figures.text_worker_count,
                    figures.queued_text_requests as f64,
                ),
                (
                    "image",
                    figures.worker_count,
                    figures.queued_requests as f64,
                ),
                (
                    "interrogation",
                    figures.interrogator_count,
                    figures.queued_forms,
                ),
            ] {
                metrics::gauge!("potluck_workers_online", "kind" => kind).set(workers as f64);
                metrics::gauge!("potluck_queued_generations", "kind" => kind).set(queued);
            }
        }
        Err(error) => tracing::warn!(%error, "metrics: the figures could not be read"),
    }
    handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// Counts every request by its endpoint class and status, and times it (until its headers).
pub async fn track(request: Request, next: Next) -> Response {
    let class = EndpointClass::of(request.method(), request.uri().path())
        .map_or("health", EndpointClass::name);
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("potluck_http_requests_total", "class" => class, "status" => status)
        .increment(1);
    metrics::histogram!("potluck_http_request_duration_seconds", "class" => class)
        .record(started.elapsed().as_secs_f64());
    response
}
