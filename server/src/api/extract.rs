//! Request extractors: the caller's account, JSON bodies and queries whose
//! errors come back in the AI Horde shape, and the server's own base URL.

use super::error::ApiError;
use super::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use potluck_core::{canonical_address, Account};
use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;

/// The account behind the `apikey` header (anonymous when there is none).
pub struct Caller(pub Account);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = api_key(&parts.headers)?;
        Ok(Caller(state.horde.authenticate(key).await?))
    }
}

/// The account behind the `apikey` header, which may also be a shared key: for what a shared
/// key may do (queue requests, look its owner up). Every other endpoint takes a [`Caller`].
pub struct Requester(pub Account);

impl FromRequestParts<AppState> for Requester {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = api_key(&parts.headers)?;
        Ok(Requester(state.horde.authenticate_requester(key).await?))
    }
}

/// The account behind the `apikey` header when one is sent, else none (for what anyone may
/// read, and some may read more of).
pub struct OptionalCaller(pub Option<Account>);

impl FromRequestParts<AppState> for OptionalCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match api_key(&parts.headers)? {
            None => Ok(OptionalCaller(None)),
            Some(key) => Ok(OptionalCaller(Some(
                state.horde.authenticate(Some(key)).await?,
            ))),
        }
    }
}

/// The `apikey` header as it was sent, for the one endpoint that answers its absence
/// differently (`/find_user`).
pub struct ApiKey(pub Option<String>);

impl FromRequestParts<AppState> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ApiKey(api_key(&parts.headers)?.map(str::to_string)))
    }
}

/// The `apikey` header: none when it is not sent. One sent empty, blank, or not readable as a
/// key is nobody's key (401, as the AI Horde answers), never taken for the anonymous one.
fn api_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get("apikey") else {
        return Ok(None);
    };
    match value.to_str().ok().map(str::trim).filter(|k| !k.is_empty()) {
        Some(key) => Ok(Some(key)),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAPIKey",
            "The apikey header is empty or holds characters no key has",
        )),
    }
}

/// A JSON object body whose errors are answered in the AI Horde shape. A NUL
/// character anywhere in it is refused: PostgreSQL can store none in text.
pub struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::not_json());
        }
        let bytes = Bytes::from_request(req, state).await?;
        if escapes_nul(&bytes) {
            return Err(nul_refusal("The body"));
        }
        let axum::Json(JsonObject(value)) = axum::Json::<JsonObject<T>>::from_bytes(&bytes)?;
        Ok(JsonBody(value))
    }
}

/// `application/json`, or any `application/*+json`, as axum's `Json` accepts.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = header(headers, "content-type") else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether a JSON text escapes a NUL character (`\u0000`) in one of its
/// strings. Raw control characters are invalid JSON, so that is the only way
/// one gets in; an escaped backslash followed by `u0000` is harmless text.
fn escapes_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while let Some(offset) = json[i..].iter().position(|&b| b == b'\\') {
        let at = i + offset;
        if json.get(at + 1..at + 6) == Some(&b"u0000"[..]) {
            return true;
        }
        // Skip the backslash and the character it escapes.
        i = at + 2;
        if i >= json.len() {
            break;
        }
    }
    false
}

/// A path parameter whose errors (such as invalid UTF-8) are answered in the
/// AI Horde shape.
pub struct PathParam<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send + 'static> FromRequestParts<AppState> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(PathParam(value))
    }
}

/// `T` read from a JSON object only. Derived structs would also accept an
/// array and take its items as the fields in order (`["bob#2", 10]` as a
/// kudos transfer), which no AI Horde client sends and none should rely on.
struct JsonObject<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(JsonObject)
    }
}

/// Query parameters whose parse errors are answered in the AI Horde shape.
pub struct QueryParams<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> FromRequestParts<AppState> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // No database stores a NUL in text: refused here, not failed there. (A NUL in a path
        // names nothing, and each handler says so in its own words.)
        if parts.uri.query().is_some_and(|query| query.contains("%00")) {
            return Err(nul_refusal("The query"));
        }
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(QueryParams(value))
    }
}

/// A NUL character in `what` (a body or a query), which no text column can hold.
fn nul_refusal(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "NulByteInPayload",
        format!("{what} contains a NUL character"),
    )
}

/// The URL this server is reached at: configured, or from the Host header.
pub struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(BaseUrl(public_base(
            state.settings.public_url.as_deref(),
            &parts.headers,
        )))
    }
}

/// The configured public URL, or one made of the request's Host (and the proxy's
/// `X-Forwarded-Proto`), without a trailing slash.
pub fn public_base(public_url: Option<&str>, headers: &HeaderMap) -> String {
    if let Some(url) = public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = header(headers, "host").unwrap_or("localhost");
    let scheme = header(headers, "x-forwarded-proto").unwrap_or("http");
    format!("{scheme}://{host}")
}

/// A keyed hash of the client's address, to limit concurrent anonymous requests per client
/// without storing addresses (see `Horde::hash_address`: the key is a secret shared by the
/// instances on one database and replaced every day).
pub struct ClientHash(pub Option<String>);

impl FromRequestParts<AppState> for ClientHash {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientHash(client_hash(state, parts)))
    }
}

/// The keyed hash of the address a request came from ([`client_address`]), or None when it is
/// not known.
pub fn client_hash(state: &AppState, parts: &Parts) -> Option<String> {
    state.horde.hash_address(&client_address(state, parts)?)
}

/// The address a request came from (the trusted header's first address when one is configured,
/// else the peer's) as hashes see it (`canonical_address`: an IPv6 client is its /64), or None
/// when neither is known. Only ever kept hashed.
pub fn client_address(state: &AppState, parts: &Parts) -> Option<String> {
    let from_header = state
        .settings
        .client_ip_header
        .as_deref()
        .and_then(|name| header(&parts.headers, name))
        .and_then(|value| value.split(',').next())
        .map(|ip| ip.trim().to_string());
    let address = from_header.or_else(|| {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string())
    })?;
    canonical_address(&address)
}

/// The address a worker pops from ([`client_address`]), for a moderator's block of it.
pub struct ClientAddress(pub Option<String>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(client_address(state, parts)))
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::escapes_nul;

    #[test]
    fn finds_escaped_nuls_only() {
        assert!(escapes_nul(br#"{"prompt": "a\u0000b"}"#));
        assert!(escapes_nul(br#"{"a\u0000": 1}"#));
        assert!(escapes_nul(br#"["\\\u0000"]"#));
        assert!(!escapes_nul(br#"{"prompt": "a\\u0000b"}"#));
        assert!(escapes_nul(br#"{"prompt": "\u00001"}"#));
        assert!(!escapes_nul(br#"{"prompt": "\u0001 \n \\"}"#));
        assert!(!escapes_nul(br#"{"prompt": "u0000"}"#));
        assert!(!escapes_nul(b"\\"));
        assert!(!escapes_nul(b"\\u000"));
        assert!(!escapes_nul(b""));
    }
}
