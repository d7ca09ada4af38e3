//! Refuses the clients whose address a moderator put in timeout (403 `TimeoutIP`, as the AI
//! Horde answers) on every API call and every server function of the UI. Pages still load, so
//! the UI can say why; `/api/v2/operations` stays open, so a moderator can always lift one.

use crate::api::{client_address, AppState};
use crate::refusal;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use potluck_core::Rejection;
use std::time::Duration;

/// Longer timeouts are not told in seconds, as the AI Horde does.
const TOLD_UP_TO: Duration = Duration::from_secs(4 * 24 * 3600);

pub async fn refuse_timed_out(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let guarded = ["/api/", "/v1/", "/_leptos/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        && !path.starts_with("/api/v2/operations");
    if !guarded {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let left = match client_address(&state, &parts) {
        Some(address) => state.horde.address_timeout(&address).await,
        None => None,
    };
    let Some(left) = left else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let message = if left <= TOLD_UP_TO {
        format!(
            "Due to abuse prevention, your IP address has been put into timeout for {} more \
             seconds. Please try again later, or contact the operators if you think this was \
             an error.",
            left.as_secs()
        )
    } else {
        "Due to abuse prevention, your IP address has been put into timeout. Please try again \
         later, or contact the operators if you think this was an error."
            .to_string()
    };
    refusal::respond(parts.uri.path(), Rejection::forbidden("TimeoutIP", message))
}
