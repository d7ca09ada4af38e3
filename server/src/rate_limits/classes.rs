//! The endpoint classes that have their own rate limit, and which class a request is in.

use axum::http::Method;
use std::fmt;

/// A group of endpoints that share one quota per client. The quotas are the AI Horde's where it
/// has one (registration 5 a minute, requests 90 a minute, transfers 1 a second), and generous
/// enough elsewhere that a well-behaved client or worker never meets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndpointClass {
    /// New accounts (`POST /register`, the UI's registration).
    Register,
    /// New generation requests (text, image, alchemy, `/v1` completions, the UI's forms).
    Generate,
    /// Status polls and cancels of one's requests.
    Status,
    /// Workers asking for jobs.
    Pop,
    /// Workers sending results and progress.
    Submit,
    /// Kudos transfers and awards.
    Transfer,
    /// The web UI's other server functions.
    Ui,
    /// Every other API call (models, users, workers, styles, stats...).
    Api,
    /// Pages and static files of the web UI.
    Pages,
}

impl EndpointClass {
    pub const ALL: [EndpointClass; 9] = [
        EndpointClass::Register,
        EndpointClass::Generate,
        EndpointClass::Status,
        EndpointClass::Pop,
        EndpointClass::Submit,
        EndpointClass::Transfer,
        EndpointClass::Ui,
        EndpointClass::Api,
        EndpointClass::Pages,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EndpointClass::Register => "register",
            EndpointClass::Generate => "generate",
            EndpointClass::Status => "status",
            EndpointClass::Pop => "pop",
            EndpointClass::Submit => "submit",
            EndpointClass::Transfer => "transfer",
            EndpointClass::Ui => "ui",
            EndpointClass::Api => "api",
            EndpointClass::Pages => "pages",
        }
    }

    pub fn named(name: &str) -> Option<EndpointClass> {
        Self::ALL.into_iter().find(|class| class.name() == name)
    }

    /// The class of a request, or None for what is never limited (the health checks, which
    /// load balancers call often and from one address).
    pub fn of(method: &Method, path: &str) -> Option<EndpointClass> {
        let post = method == Method::POST;
        let class = match path {
            "/health/live" | "/health/ready" => return None,
            "/api/v2/register" | "/_leptos/register" if post => EndpointClass::Register,
            "/api/v2/generate/text/async"
            | "/api/v2/generate/async"
            | "/api/v2/interrogate/async"
            | "/v1/chat/completions"
            | "/v1/completions"
            | "/_leptos/queue_text"
            | "/_leptos/queue_image"
                if post =>
            {
                EndpointClass::Generate
            }
            "/api/v2/generate/text/pop" | "/api/v2/generate/pop" | "/api/v2/interrogate/pop"
                if post =>
            {
                EndpointClass::Pop
            }
            "/api/v2/generate/text/submit"
            | "/api/v2/generate/text/progress"
            | "/api/v2/generate/submit"
            | "/api/v2/interrogate/submit"
                if post =>
            {
                EndpointClass::Submit
            }
            "/api/v2/kudos/transfer" | "/api/v2/kudos/award" | "/_leptos/transfer_kudos"
                if post =>
            {
                EndpointClass::Transfer
            }
            "/_leptos/text_status" | "/_leptos/image_status" | "/_leptos/written_text" => {
                EndpointClass::Status
            }
            _ if is_status_path(path) => EndpointClass::Status,
            _ if method == Method::PUT && path.starts_with("/api/v2/images/") => {
                EndpointClass::Submit
            }
            _ if path.starts_with("/_leptos/") => EndpointClass::Ui,
            _ if path.starts_with("/api/") || path.starts_with("/v1/") => EndpointClass::Api,
            _ => EndpointClass::Pages,
        };
        Some(class)
    }
}

impl fmt::Display for EndpointClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn is_status_path(path: &str) -> bool {
    [
        "/api/v2/generate/text/status/",
        "/api/v2/generate/status/",
        "/api/v2/generate/check/",
        "/api/v2/interrogate/status/",
    ]
    .iter()
    .any(|prefix| path.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_fall_in_their_class() {
        let of = |method: Method, path: &str| EndpointClass::of(&method, path);
        assert_eq!(
            of(Method::POST, "/api/v2/register"),
            Some(EndpointClass::Register)
        );
        assert_eq!(
            of(Method::GET, "/api/v2/register"),
            Some(EndpointClass::Api)
        );
        assert_eq!(
            of(Method::POST, "/v1/chat/completions"),
            Some(EndpointClass::Generate)
        );
        assert_eq!(
            of(Method::GET, "/api/v2/generate/text/status/abc"),
            Some(EndpointClass::Status)
        );
        assert_eq!(
            of(Method::DELETE, "/api/v2/generate/status/abc"),
            Some(EndpointClass::Status)
        );
        assert_eq!(
            of(Method::POST, "/api/v2/generate/text/pop"),
            Some(EndpointClass::Pop)
        );
        assert_eq!(
            of(Method::PUT, "/api/v2/images/abc"),
            Some(EndpointClass::Submit)
        );
        assert_eq!(
            of(Method::POST, "/_leptos/transfer_kudos"),
            Some(EndpointClass::Transfer)
        );
        assert_eq!(of(Method::POST, "/_leptos/log_in"), Some(EndpointClass::Ui));
        assert_eq!(of(Method::GET, "/v1/models"), Some(EndpointClass::Api));
        assert_eq!(of(Method::GET, "/pkg/app.wasm"), Some(EndpointClass::Pages));
        assert_eq!(of(Method::GET, "/health/ready"), None);
        for class in EndpointClass::ALL {
            assert_eq!(EndpointClass::named(class.name()), Some(class));
        }
    }
}
