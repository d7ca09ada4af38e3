//! Styles (`/api/v2/styles/text`, `/api/v2/styles/image`), their example images, and
//! collections of styles (`/api/v2/collections`): the original's `ModelStyleInput*`,
//! `ModelStylePatch*`, `Style*`, `StyleExample`, `InputStyleExamplePost`, `StyleModify`,
//! `InputModelCollection` and `ResponseModelCollection`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A new style. `prompt` must hold `{p}` (and, for an image style, `{np}`), where the
/// requester's prompt (and negative prompt) go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct StyleInput {
    pub name: Option<String>,
    pub info: Option<String>,
    /// Default `{p}` for a text style, `{p}{np}` for an image style.
    pub prompt: Option<String>,
    /// The generation parameters requests made with it get, as in a request's `params`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub params: Option<Map<String, Value>>,
    /// Listed among all styles; otherwise found only by its id or name. Default true.
    pub public: Option<bool>,
    pub nsfw: Option<bool>,
    pub tags: Option<Vec<String>>,
    pub models: Option<Vec<String>>,
    /// A shared key of the creator's that pays for requests made with this style.
    pub sharedkey: Option<String>,
}

/// A style as its creator or anyone else sees it: `StyleKobold` and `StyleStable`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StyleDetails {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    pub prompt: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub params: Map<String, Value>,
    pub public: bool,
    pub nsfw: bool,
    pub tags: Vec<String>,
    pub models: Vec<String>,
    /// The creator, as `name#id`.
    pub creator: String,
    pub use_count: i64,
    /// Example images (image styles only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub examples: Option<Vec<StyleExample>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StyleExample {
    pub id: String,
    pub url: String,
    pub primary: bool,
}

/// An example image for an image style (`InputStyleExamplePost`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct StyleExampleInput {
    /// Where the image is; it must be an `https://` address.
    pub url: Option<String>,
    /// The style's main example.
    pub primary: Option<bool>,
}

/// The answer to a change of a style, an example or a collection (`StyleModify`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StyleModify {
    pub id: String,
    pub message: String,
    pub warnings: Vec<crate::RequestSingleWarning>,
}

/// A new collection, or a change to one (`InputModelCollection`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct CollectionInput {
    pub name: Option<String>,
    pub info: Option<String>,
    pub public: Option<bool>,
    /// The styles, by id or by name, all of one kind.
    pub styles: Option<Vec<String>>,
}

/// A style as a collection lists it (`ResponseModelStylesShort`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StyleShort {
    /// The style's unique name, `creator#id::style::name`.
    pub name: String,
    pub id: String,
}

/// A collection (`ResponseModelCollection`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CollectionDetails {
    pub id: String,
    pub name: String,
    /// The kind of its styles: `text` or `image`.
    #[serde(rename = "type")]
    pub kind: String,
    pub info: Option<String>,
    pub public: bool,
    pub styles: Vec<StyleShort>,
    pub use_count: i64,
}
