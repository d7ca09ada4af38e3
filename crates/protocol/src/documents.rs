//! What the server says about itself: news (`/api/v2/status/news`), documents
//! (`/api/v2/documents/*`) and `/.well-known/serviceinfo`.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A piece of the operator's news (`Newspiece`); the news file holds a list of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Newspiece {
    /// `YYYY-MM-DD`.
    pub date_published: String,
    /// The news itself (Markdown).
    pub newspiece: String,
    /// How critical it is, e.g. `Information`, `Workers`, `Crisis`.
    #[serde(default)]
    pub importance: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub more_info_urls: Vec<String>,
}

/// A document in the format asked for (`HordeDocument`): one of the two fields is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HordeDocument {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
}

/// `/.well-known/serviceinfo`: what software this is and where its API is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServiceInfo {
    pub version: String,
    pub software: ServiceSoftware,
    pub api: ServiceApis,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServiceSoftware {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub homepage: String,
    pub logo: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServiceApis {
    pub aihorde: ServiceApi,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServiceApi {
    pub name: String,
    pub version: String,
    pub base_url: String,
    pub rel_url: String,
    pub documentation: String,
}
