//! What the server says about itself: its documents (`/api/v2/documents/*`: the terms and the
//! sponsors the operator wrote, and the privacy statement the `/privacy` page shows, made from
//! this server's settings) and `/.well-known/serviceinfo`.

use super::error::{ApiError, ApiResult};
use super::extract::{BaseUrl, QueryParams};
use super::AppState;
use app::api::privacy::{privacy_document, RetentionPolicy};
use axum::extract::State;
use axum::Json;
use protocol::{
    HordeDocument, RequestError, ServiceApi, ServiceApis, ServiceInfo, ServiceSoftware,
};
use serde::Deserialize;

/// The AI Horde API version Potluck serves (the original's `HORDE_API_VERSION`).
const AI_HORDE_API_VERSION: &str = "2.5";

/// The operator's documents and what serviceinfo names.
#[derive(Debug, Clone, Default)]
pub struct Documents {
    /// Markdown, from `--terms`.
    pub terms: Option<String>,
    /// Markdown, from `--sponsors`.
    pub sponsors: Option<String>,
    /// Where the server's source is published (`--source-url`).
    pub source_url: String,
    /// The labels of the login providers, which the privacy statement names.
    pub login_labels: Vec<String>,
}

const NO_TERMS: &str = "The operator of this server has published no terms of service.";
const NO_SPONSORS: &str = "The operator of this server lists no sponsors.";

#[derive(Deserialize)]
pub struct DocumentQuery {
    format: Option<String>,
}

enum Format {
    Html,
    Markdown,
}

impl DocumentQuery {
    fn format(&self) -> ApiResult<Format> {
        match self.format.as_deref().unwrap_or("html") {
            "html" => Ok(Format::Html),
            "markdown" => Ok(Format::Markdown),
            _ => Err(ApiError::bad_request(
                "'format' needs to be one of ['html', 'markdown']",
            )),
        }
    }
}

/// An operator's Markdown document in the format asked for.
fn from_markdown(markdown: &str, format: Format) -> HordeDocument {
    match format {
        Format::Markdown => HordeDocument {
            markdown: Some(markdown.to_string()),
            html: None,
        },
        Format::Html => {
            let mut html = String::new();
            pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(markdown));
            HordeDocument {
                html: Some(html),
                markdown: None,
            }
        }
    }
}

/// The terms of service (`format`: `html`, the default, or `markdown`).
#[utoipa::path(get, path = "/api/v2/documents/terms", tag = "status",
    params(("format" = Option<String>, Query, description = "html (default) or markdown")),
    responses((status = 200, body = HordeDocument), (status = 400, body = RequestError)))]
pub async fn terms(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<DocumentQuery>,
) -> ApiResult<Json<HordeDocument>> {
    let terms = state.settings.documents.terms.as_deref();
    Ok(Json(from_markdown(
        terms.unwrap_or(NO_TERMS),
        query.format()?,
    )))
}

/// The sponsors.
#[utoipa::path(get, path = "/api/v2/documents/sponsors", tag = "status",
    params(("format" = Option<String>, Query, description = "html (default) or markdown")),
    responses((status = 200, body = HordeDocument), (status = 400, body = RequestError)))]
pub async fn sponsors(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<DocumentQuery>,
) -> ApiResult<Json<HordeDocument>> {
    let sponsors = state.settings.documents.sponsors.as_deref();
    Ok(Json(from_markdown(
        sponsors.unwrap_or(NO_SPONSORS),
        query.format()?,
    )))
}

/// The privacy statement: the `/privacy` page's, with this server's own settings.
#[utoipa::path(get, path = "/api/v2/documents/privacy", tag = "status",
    params(("format" = Option<String>, Query, description = "html (default) or markdown")),
    responses((status = 200, body = HordeDocument), (status = 400, body = RequestError)))]
pub async fn privacy(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<DocumentQuery>,
) -> ApiResult<Json<HordeDocument>> {
    let facts = RetentionPolicy::of(
        state.horde.policy(),
        state.settings.documents.login_labels.clone(),
    );
    let document = privacy_document(&facts);
    Ok(Json(match query.format()? {
        Format::Html => HordeDocument {
            html: Some(document.to_html()),
            markdown: None,
        },
        Format::Markdown => HordeDocument {
            markdown: Some(document.to_markdown()),
            html: None,
        },
    }))
}

/// What software this is and where its API is.
#[utoipa::path(get, path = "/.well-known/serviceinfo", tag = "status",
    responses((status = 200, body = ServiceInfo)))]
pub async fn service_info(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
) -> Json<ServiceInfo> {
    Json(ServiceInfo {
        version: "0.2".into(),
        software: ServiceSoftware {
            name: "Potluck".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            repository: state.settings.documents.source_url.clone(),
            homepage: base.clone(),
            logo: format!("{base}/favicon.svg"),
        },
        api: ServiceApis {
            aihorde: ServiceApi {
                name: "AI Horde API".into(),
                version: AI_HORDE_API_VERSION.into(),
                base_url: format!("{base}/api/v2"),
                rel_url: "/api/v2".into(),
                documentation: format!("{base}/api/swagger.json"),
            },
        },
    })
}
