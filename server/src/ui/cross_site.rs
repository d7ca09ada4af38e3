//! Protection of the UI's forms against cross-site requests.
//!
//! Every state-changing request to the UI is a POST to a server function. A browser says where
//! such a request comes from: `Sec-Fetch-Site` (every current browser), else `Origin`. One that
//! another site started is refused, so a page elsewhere cannot make a signed-in browser act. No
//! token is needed for this, and therefore no cookie for anonymous visitors; the session
//! cookie's `SameSite=Strict` is a second, independent guard.
//!
//! Requests without either header do not come from a browser's cross-site form or script (those
//! always send `Origin` on a POST), and they carry no session cookie unless their sender has it.

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && started_elsewhere(request.headers()) {
        let body = protocol::RequestError {
            message: "This form was sent from another site; send it from Potluck's own page"
                .to_string(),
            rc: "CrossSiteRequest".to_string(),
            errors: None,
        };
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    next.run(request).await
}

/// Whether the browser says the request was started by a page of another origin.
fn started_elsewhere(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        // "none": the user typed the address or used a bookmark.
        return !matches!(site, "same-origin" | "none");
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some(origin), Some(host)) => origin_host(origin) != Some(host),
        // An opaque origin ("null") or an Origin without a Host to compare with.
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// `host[:port]` of an origin such as `https://example.org:8443`.
fn origin_host(origin: &str) -> Option<&str> {
    let (_, rest) = origin.split_once("://")?;
    Some(rest.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        assert!(!started_elsewhere(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(!started_elsewhere(&headers(&[("sec-fetch-site", "none")])));
        assert!(started_elsewhere(&headers(&[(
            "sec-fetch-site",
            "cross-site"
        )])));
        // A sibling subdomain is another origin too.
        assert!(started_elsewhere(&headers(&[(
            "sec-fetch-site",
            "same-site"
        )])));
        assert!(started_elsewhere(&headers(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://potluck.test"),
            ("host", "potluck.test"),
        ])));
    }

    #[test]
    fn origin_is_compared_with_host_otherwise() {
        let same = [
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ];
        assert!(!started_elsewhere(&headers(&same)));
        let other = [
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080"),
        ];
        assert!(started_elsewhere(&headers(&other)));
        let opaque = [("origin", "null"), ("host", "127.0.0.1:8080")];
        assert!(started_elsewhere(&headers(&opaque)));
        // Not a browser's cross-site request: curl, the tests' own HTTP client.
        assert!(!started_elsewhere(&headers(&[("host", "127.0.0.1:8080")])));
    }
}
