//! Styles: a prompt template with generation parameters and models, made by a trusted account,
//! that any request can name (`style` in `/generate/text/async` and `/generate/async`); their
//! example images; and collections, which group styles of one kind under a name (a request
//! naming one gets one of its styles at random).
//!
//! A request with a style takes the style's models, parameters (keeping its own `n`, and for
//! images its own size when the style sets none) and NSFW flag, and its prompt goes into the
//! style's template at `{p}` (its negative prompt, after `###`, at `{np}`). A requester who is
//! not the style's creator pays the creator a small fee for it, if they have the kudos: a
//! transfer, so that no use mints kudos. A style may carry a shared key of its creator's: its
//! requests then spend that key (within its kudos, whatever its per-job limits) instead of the
//! requester's kudos.

use super::image_input;
use super::requests::check_text_params;
use super::shared_keys::{looks_like_shared_key, unusable};
use super::{validate, Account, Horde};
use crate::error::{CoreError, Rejection, Result};
use crate::keys;
use crate::kudos::Kudos;
use crate::model_reference::ModelReference;
use crate::now_ms;
use crate::store::{
    CollectionChange, CollectionRow, NewCollection, NewStyle, StyleChange, StyleExampleRow,
    StyleFilter, StyleOrder, StyleRow, StyleUse,
};
use protocol::{
    CollectionDetails, CollectionInput, GenerationInputKobold, GenerationInputStable, ImageParams,
    SimpleResponse, StyleDetails, StyleExample, StyleExampleInput, StyleInput, StyleModify,
    StyleShort, TextParams,
};
use rand::seq::IndexedRandom;
use serde_json::{Map, Value};

/// What a style is for: text requests or image requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StyleKind {
    Text,
    Image,
}

impl StyleKind {
    /// As stored, and as the AI Horde names it.
    pub fn as_str(self) -> &'static str {
        match self {
            StyleKind::Text => "text",
            StyleKind::Image => "image",
        }
    }
}

/// What a requester who is not a style's creator pays the creator for a request with it.
pub const STYLE_FEE: Kudos = Kudos(200);
/// Styles and collections listed per page.
const PER_PAGE: i64 = 25;
/// Potluck's bounds: the AI Horde leaves these to its rate limits.
const MAX_STYLES_PER_ACCOUNT: usize = 100;
const MAX_COLLECTIONS_PER_ACCOUNT: usize = 100;
const MAX_STYLES_PER_COLLECTION: usize = 100;
const MAX_PROMPT_CHARS: usize = 10_000;
const MAX_PARAMS_BYTES: usize = 16_384;
const MAX_URL_CHARS: usize = 2048;
/// The AI Horde's.
const MAX_MODELS: usize = 5;
const MAX_TAGS: usize = 10;
const MAX_EXAMPLES: usize = 4;

/// A style applied to a request.
pub(super) struct AppliedStyle {
    style: StyleRow,
    collection_id: Option<String>,
    /// The account of the style's shared key, with the key, when it has one that can pay.
    payer: Option<Account>,
}

impl AppliedStyle {
    /// Who the request is made as: the style's shared key's account, or the requester.
    pub(super) fn payer<'a>(&'a self, requester: &'a Account) -> &'a Account {
        self.payer.as_ref().unwrap_or(requester)
    }

    /// Whether the style's own shared key pays for the request.
    pub(super) fn brings_payer(&self) -> bool {
        self.payer.is_some()
    }
}

fn style_not_found(id: &str) -> CoreError {
    Rejection::not_found("StyleNotFound", format!("Style with ID '{id}' not found.")).into()
}

fn collection_not_found(id: &str) -> CoreError {
    Rejection::not_found(
        "CollectionNotFound",
        format!("Collection with ID '{id}' not found."),
    )
    .into()
}

fn not_owner(what: &str, account: &Account) -> CoreError {
    Rejection::forbidden(
        "Forbidden",
        format!("This {what} is not owned by user {}", account.user.alias()),
    )
    .into()
}

fn is_uuid(id: &str) -> bool {
    uuid::Uuid::try_parse(id).is_ok()
}

/// `popular` or `age`, as listings are sorted.
fn order(sort: &str) -> Result<StyleOrder> {
    match sort {
        "popular" => Ok(StyleOrder::Popular),
        "age" => Ok(StyleOrder::Age),
        _ => Err(Rejection::bad_request(
            "BadRequest",
            "'sort' needs to be one of ['popular', 'age']",
        )
        .into()),
    }
}

fn page_offset(page: i64) -> i64 {
    // Saturating: a huge page number is an empty page, not an overflow.
    (page.max(1) - 1).saturating_mul(PER_PAGE)
}

/// What a name asks for: a style, a collection or either; whose (`name#id`); and the name.
#[derive(Debug, PartialEq, Eq)]
struct NameQuery<'a> {
    collection: Option<bool>,
    user_id: Option<i64>,
    name: &'a str,
}

/// Reads the names the AI Horde accepts: `name`, `style::name`, `collection::name`,
/// `alias#id::name`, `style::alias#id::name`, and the unique name it lists,
/// `alias#id::style::name`.
fn parse_name(full: &str) -> NameQuery<'_> {
    let kind = |part: &str| match part {
        "style" => Some(false),
        "collection" => Some(true),
        _ => None,
    };
    let user = |part: &str| part.rsplit_once('#').and_then(|(_, id)| id.parse().ok());
    let parts: Vec<&str> = full.splitn(3, "::").collect();
    match parts.as_slice() {
        [kind_part, name] if kind(kind_part).is_some() => NameQuery {
            collection: kind(kind_part),
            user_id: None,
            name,
        },
        [user_part, name] => NameQuery {
            collection: None,
            user_id: user(user_part),
            name,
        },
        [first, second, name] if kind(first).is_some() => NameQuery {
            collection: kind(first),
            user_id: user(second),
            name,
        },
        [first, second, name] => NameQuery {
            collection: kind(second),
            user_id: user(first),
            name,
        },
        _ => NameQuery {
            collection: None,
            user_id: None,
            name: full,
        },
    }
}

/// The template with the requester's text put in: each `{name}` of `values` is replaced, in
/// one pass (a prompt holding `{np}` stays as written); any other brace stays as it is.
fn fill_template(template: &str, values: &[(&str, &str)]) -> String {
    let mut filled = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        filled.push_str(&rest[..at]);
        rest = &rest[at..];
        match values.iter().find(|(name, _)| rest.starts_with(name)) {
            Some((name, value)) => {
                filled.push_str(value);
                rest = &rest[name.len()..];
            }
            None => {
                filled.push('{');
                rest = &rest[1..];
            }
        }
    }
    filled.push_str(rest);
    filled
}

/// A style's fields as sent, checked; `None` where nothing was sent.
#[derive(Default)]
struct CheckedStyle {
    name: Option<String>,
    info: Option<String>,
    prompt: Option<String>,
    params: Option<Value>,
    models: Option<Vec<String>>,
    tags: Option<Vec<String>>,
}

/// A style or collection name: 1 to 100 characters, without the `::` that names are read by.
fn style_name(field: &'static str, name: Option<&str>) -> Result<String> {
    let name = validate::name(field, "BadRequest", name, 1, 100)?;
    if name.contains("::") {
        return Err(
            Rejection::invalid_field(field, "BadRequest", "A name cannot hold '::'").into(),
        );
    }
    Ok(name)
}

/// Checks what is sent of a style of `kind`; `creating` applies the stricter bounds of a new
/// style (a name and models are required, info is at least 10 characters).
fn check_style(kind: StyleKind, input: &StyleInput, creating: bool) -> Result<CheckedStyle> {
    let name = match (&input.name, creating) {
        (None, false) => None,
        (name, _) => Some(style_name("name", name.as_deref())?),
    };
    let info = input
        .info
        .as_deref()
        .map(|info| {
            validate::name(
                "info",
                "BadRequest",
                Some(info),
                if creating { 10 } else { 1 },
                1000,
            )
        })
        .transpose()?;
    let default_prompt = match kind {
        StyleKind::Text => "{p}",
        StyleKind::Image => "{p}{np}",
    };
    let prompt = match (&input.prompt, creating) {
        (None, false) => None,
        (prompt, _) => Some(prompt.clone().unwrap_or_else(|| default_prompt.to_string())),
    };
    if let Some(prompt) = &prompt {
        check_template(kind, prompt)?;
    }
    let params = input
        .params
        .as_ref()
        .map(|params| check_params(kind, params))
        .transpose()?;
    let models = match (&input.models, creating) {
        (None, false) => None,
        (models, _) => Some(check_models(models.as_deref().unwrap_or_default())?),
    };
    let tags = input.tags.as_deref().map(check_tags).transpose()?;
    Ok(CheckedStyle {
        name,
        info,
        prompt,
        params,
        models,
        tags,
    })
}

fn check_template(kind: StyleKind, prompt: &str) -> Result<()> {
    let min = match kind {
        StyleKind::Text => 3,
        StyleKind::Image => 7,
    };
    let length = prompt.chars().count();
    if length < min || length > MAX_PROMPT_CHARS {
        return Err(Rejection::invalid_field(
            "prompt",
            "BadRequest",
            format!("A style's prompt must have {min} to {MAX_PROMPT_CHARS} characters"),
        )
        .into());
    }
    validate::no_nul("prompt", prompt)?;
    let needed: &[(&str, &str)] = match kind {
        StyleKind::Text => &[("{p}", "positive prompt")],
        StyleKind::Image => &[("{p}", "positive prompt"), ("{np}", "negative prompt")],
    };
    if let Some((mark, what)) = needed.iter().find(|(mark, _)| !prompt.contains(mark)) {
        return Err(Rejection::bad_request(
            "StylePromptMissingVars",
            format!(
                "A style prompt must include a dedicated spot where the user's {what} will be \
                 added, signified with '{mark}'"
            ),
        )
        .into());
    }
    Ok(())
}

/// A style's parameters: what a request of its kind may ask for.
fn check_params(kind: StyleKind, params: &Map<String, Value>) -> Result<Value> {
    let value = Value::Object(params.clone());
    if value.to_string().len() > MAX_PARAMS_BYTES {
        return Err(Rejection::invalid_field(
            "params",
            "BadRequest",
            format!("A style's params may take at most {MAX_PARAMS_BYTES} bytes"),
        )
        .into());
    }
    let unreadable = |e: serde_json::Error| {
        CoreError::from(Rejection::invalid_field(
            "params",
            "BadRequest",
            format!("Invalid params: {e}"),
        ))
    };
    match kind {
        StyleKind::Text => {
            let params: TextParams = serde_json::from_value(value.clone()).map_err(unreadable)?;
            check_text_params(&params)?;
        }
        StyleKind::Image => {
            let params: ImageParams = serde_json::from_value(value.clone()).map_err(unreadable)?;
            // A style names its models apart from its params; what needs a model is checked
            // when a request uses the style.
            let input = protocol::GenerationInputStable {
                params,
                ..Default::default()
            };
            image_input::check(&input, &[], true, &ModelReference::default())?;
        }
    }
    Ok(value)
}

fn check_models(models: &[String]) -> Result<Vec<String>> {
    let models = validate::models("models", models)?;
    if models.is_empty() {
        return Err(Rejection::invalid_field(
            "models",
            "BadRequest",
            "A style has to specify at least one model.",
        )
        .into());
    }
    if models.len() > MAX_MODELS {
        return Err(Rejection::invalid_field(
            "models",
            "BadRequest",
            "A style can only use a maximum of 5 models.",
        )
        .into());
    }
    Ok(models)
}

fn check_tags(tags: &[String]) -> Result<Vec<String>> {
    if tags.len() > MAX_TAGS {
        return Err(Rejection::invalid_field(
            "tags",
            "BadRequest",
            "A style can be tagged a maximum of 10 times.",
        )
        .into());
    }
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = validate::name("tags", "BadRequest", Some(tag), 1, 25)?;
        if !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    Ok(clean)
}

fn check_url(url: &str) -> Result<String> {
    let url = url.trim();
    if !url.starts_with("https://")
        || url.chars().count() > MAX_URL_CHARS
        || url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(Rejection::invalid_field(
            "url",
            "BadRequest",
            format!(
                "The url has to start with 'https://' and hold at most {MAX_URL_CHARS} characters"
            ),
        )
        .into());
    }
    Ok(url.to_string())
}

impl Horde {
    /// A page of the public styles of a kind, most used (`popular`) or oldest (`age`) first,
    /// with a tag or using a model when asked.
    pub async fn list_styles(
        &self,
        kind: StyleKind,
        sort: &str,
        page: i64,
        tag: Option<&str>,
        model: Option<&str>,
    ) -> Result<Vec<StyleDetails>> {
        let filter = StyleFilter {
            kind: kind.as_str(),
            order: order(sort)?,
            tag,
            model,
            offset: page_offset(page),
            limit: PER_PAGE,
        };
        let mut styles = Vec::new();
        for row in self.store.styles_listed(&filter).await? {
            styles.push(self.style_view(&row).await?);
        }
        Ok(styles)
    }

    /// A style of `kind` by id; private styles too (who knows the id may see it).
    pub async fn style_details(&self, kind: StyleKind, id: &str) -> Result<StyleDetails> {
        let row = self.style_of_kind(kind, id).await?;
        self.style_view(&row).await
    }

    /// A style of `kind` by name (see `parse_name` for the forms a name takes).
    pub async fn style_details_by_name(&self, kind: StyleKind, name: &str) -> Result<StyleDetails> {
        // A NUL names nothing, and PostgreSQL cannot even look it up.
        if name.contains('\0') {
            return Err(style_not_found(name));
        }
        let query = parse_name(name);
        let row = match query.collection {
            Some(true) => None,
            _ => self.store.style_by_name(query.name, query.user_id).await?,
        };
        let row = row.ok_or_else(|| style_not_found(name))?;
        self.require_kind(kind, &row)?;
        self.style_view(&row).await
    }

    async fn style_of_kind(&self, kind: StyleKind, id: &str) -> Result<StyleRow> {
        let row = self.existing_style(id).await?;
        self.require_kind(kind, &row)?;
        Ok(row)
    }

    async fn existing_style(&self, id: &str) -> Result<StyleRow> {
        if !is_uuid(id) {
            return Err(style_not_found(id));
        }
        self.store
            .style(id)
            .await?
            .ok_or_else(|| style_not_found(id))
    }

    fn require_kind(&self, kind: StyleKind, row: &StyleRow) -> Result<()> {
        if row.kind != kind.as_str() {
            return Err(Rejection::bad_request(
                "StyleGetMistmatch",
                format!(
                    "Style was found but was of the wrong type: {} != {}",
                    row.kind,
                    kind.as_str()
                ),
            )
            .into());
        }
        Ok(())
    }

    async fn style_view(&self, row: &StyleRow) -> Result<StyleDetails> {
        let examples = match row.kind.as_str() {
            "image" => Some(
                self.store
                    .style_examples(&row.id)
                    .await?
                    .into_iter()
                    .map(|e| StyleExample {
                        id: e.id,
                        url: e.url,
                        primary: e.is_primary,
                    })
                    .collect(),
            ),
            _ => None,
        };
        Ok(StyleDetails {
            id: row.id.clone(),
            name: row.name.clone(),
            info: row.info.clone(),
            prompt: row.prompt.clone(),
            params: row.params.0.as_object().cloned().unwrap_or_default(),
            public: row.public,
            nsfw: row.nsfw,
            tags: self.store.style_tags(&row.id).await?,
            models: self.store.style_models(&row.id).await?,
            creator: row.creator(),
            use_count: row.use_count,
            examples,
        })
    }

    /// A new style. Only trusted accounts (and moderators) make styles: the AI Horde's
    /// "customizers" are its trusted users.
    pub async fn create_style(
        &self,
        account: &Account,
        kind: StyleKind,
        input: StyleInput,
    ) -> Result<StyleModify> {
        if !account.user.trusted && !account.user.moderator {
            return Err(Rejection::forbidden(
                "StylesRequiresCustomizer",
                "Only trusted users can create new styles.",
            )
            .into());
        }
        account.require_unfrozen()?;
        if self.store.styles_of(account.user.id).await?.len() >= MAX_STYLES_PER_ACCOUNT {
            return Err(Rejection::forbidden(
                "Forbidden",
                format!("An account can have at most {MAX_STYLES_PER_ACCOUNT} styles"),
            )
            .into());
        }
        let checked = check_style(kind, &input, true)?;
        let shared_key_id = self
            .style_shared_key(account, input.sharedkey.as_deref())
            .await?;
        let id = uuid::Uuid::new_v4().to_string();
        self.store
            .insert_style(&NewStyle {
                id: id.clone(),
                kind: kind.as_str().into(),
                user_id: account.user.id,
                name: checked.name.unwrap_or_default(),
                info: checked.info,
                prompt: checked.prompt.unwrap_or_default(),
                params: checked.params.unwrap_or_else(|| Value::Object(Map::new())),
                public: input.public.unwrap_or(true),
                nsfw: input.nsfw.unwrap_or(false),
                shared_key_id,
                models: checked.models.unwrap_or_default(),
                tags: checked.tags.unwrap_or_default(),
                now: now_ms(),
            })
            .await?;
        tracing::info!(user = account.user.id, style = %id, "style created");
        Ok(StyleModify {
            id,
            message: "OK".into(),
            warnings: Vec::new(),
        })
    }

    /// The row id of the shared key a style is to spend: the creator's own, and usable now.
    async fn style_shared_key(&self, account: &Account, key: Option<&str>) -> Result<Option<i64>> {
        let Some(key) = key else {
            return Ok(None);
        };
        let invalid =
            || Rejection::bad_request("SharedKeyInvalid", "This shared key does not exist");
        if !looks_like_shared_key(key) {
            return Err(invalid().into());
        }
        let row = self.store.shared_key_by_hash(&keys::hash_key(key)).await?;
        let row = row
            .filter(|row| row.user_id == account.user.id)
            .ok_or_else(invalid)?;
        if let Some((rc, message)) = unusable(&row, now_ms()) {
            return Err(Rejection::bad_request(rc, message).into());
        }
        Ok(Some(row.id))
    }

    /// Its creator's change to a style.
    pub async fn modify_style(
        &self,
        account: &Account,
        kind: StyleKind,
        id: &str,
        input: StyleInput,
    ) -> Result<StyleModify> {
        let row = self.style_of_kind(kind, id).await?;
        if row.user_id != account.user.id {
            return Err(not_owner("style", account));
        }
        let checked = check_style(kind, &input, false)?;
        let shared_key_id = self
            .style_shared_key(account, input.sharedkey.as_deref())
            .await?;
        let change = StyleChange {
            name: checked.name,
            info: checked.info,
            prompt: checked.prompt,
            params: checked.params,
            public: input.public,
            nsfw: input.nsfw,
            shared_key_id,
            models: checked.models,
            tags: checked.tags,
            now: now_ms(),
        };
        self.store.update_style(&row.id, &change).await?;
        Ok(StyleModify {
            id: row.id,
            message: "OK".into(),
            warnings: Vec::new(),
        })
    }

    /// Deletes a style: its creator, or a moderator.
    pub async fn delete_style(
        &self,
        account: &Account,
        kind: StyleKind,
        id: &str,
    ) -> Result<SimpleResponse> {
        account.require_registered("StylesAnonForbidden", "delete styles")?;
        let row = self.style_of_kind(kind, id).await?;
        if row.user_id != account.user.id && !account.user.moderator {
            return Err(not_owner("style", account));
        }
        if row.user_id != account.user.id {
            tracing::info!(moderator = account.user.id, style = %row.id, "style deleted by a moderator");
        }
        self.store.delete_style(&row.id).await?;
        Ok(SimpleResponse {
            message: "OK".into(),
        })
    }

    /// An image style the caller may change the examples of: its creator's, or any for a
    /// moderator.
    async fn example_style(&self, account: &Account, style_id: &str) -> Result<StyleRow> {
        let row = self.existing_style(style_id).await?;
        if row.user_id != account.user.id && !account.user.moderator {
            return Err(not_owner("style", account));
        }
        if row.kind != "image" {
            return Err(Rejection::bad_request(
                "BadRequest",
                "Cannot add image examples to text styles.",
            )
            .into());
        }
        Ok(row)
    }

    /// Adds an example image to an image style; its first example is its primary one.
    pub async fn add_style_example(
        &self,
        account: &Account,
        style_id: &str,
        input: StyleExampleInput,
    ) -> Result<StyleModify> {
        let url = check_url(input.url.as_deref().unwrap_or_default())?;
        let style = self.example_style(account, style_id).await?;
        let examples = self.store.style_examples(&style.id).await?;
        if examples.len() >= MAX_EXAMPLES {
            return Err(Rejection::forbidden(
                "TooManyStyleExamples",
                "You cannot have more than 4 examples for each style",
            )
            .into());
        }
        if examples.iter().any(|e| e.url == url) {
            return Err(Rejection::bad_request(
                "ExampleURLAlreadyInUse",
                format!("The url '{url}' is already used for this style."),
            )
            .into());
        }
        let example = StyleExampleRow {
            id: uuid::Uuid::new_v4().to_string(),
            style_id: style.id,
            url,
            is_primary: input.primary.unwrap_or(false) || !examples.iter().any(|e| e.is_primary),
            created_at: now_ms(),
        };
        self.store.add_style_example(&example).await?;
        Ok(StyleModify {
            id: example.id,
            message: "OK".into(),
            warnings: Vec::new(),
        })
    }

    /// Changes an example's url or whether it is the primary one; a style keeps a primary one.
    pub async fn modify_style_example(
        &self,
        account: &Account,
        style_id: &str,
        example_id: &str,
        input: StyleExampleInput,
    ) -> Result<StyleModify> {
        let url = input.url.as_deref().map(check_url).transpose()?;
        let style = self.example_style(account, style_id).await?;
        let examples = self.store.style_examples(&style.id).await?;
        let example = examples
            .iter()
            .find(|e| e.id == example_id)
            .ok_or_else(|| {
                Rejection::not_found(
                    "StyleExampleNotFound",
                    format!("Style Example with ID '{example_id}' not found."),
                )
            })?;
        let others = || examples.iter().filter(|e| e.id != example.id);
        if let Some(url) = &url {
            if others().any(|e| &e.url == url) {
                return Err(Rejection::bad_request(
                    "ExampleURLAlreadyInUse",
                    format!("The url '{url}' is already used for this style."),
                )
                .into());
            }
        }
        let primary = input.primary.unwrap_or(example.is_primary);
        if !primary && !others().any(|e| e.is_primary) {
            return Err(Rejection::bad_request(
                "BadRequest",
                "You cannot remove the last primary example of this style",
            )
            .into());
        }
        self.store
            .update_style_example(&style.id, &example.id, url.as_deref(), primary)
            .await?;
        Ok(StyleModify {
            id: example.id.clone(),
            message: "OK".into(),
            warnings: Vec::new(),
        })
    }

    pub async fn delete_style_example(
        &self,
        account: &Account,
        style_id: &str,
        example_id: &str,
    ) -> Result<SimpleResponse> {
        let style = self.example_style(account, style_id).await?;
        let examples = self.store.style_examples(&style.id).await?;
        if !examples.iter().any(|e| e.id == example_id) {
            return Err(Rejection::not_found(
                "StyleExampleNotFound",
                format!("Style Example with ID '{example_id}' not found."),
            )
            .into());
        }
        self.store
            .delete_style_example(&style.id, example_id)
            .await?;
        Ok(SimpleResponse {
            message: "OK".into(),
        })
    }

    /// A page of the public collections, of one kind (`text`, `image`) or `all`.
    pub async fn list_collections(
        &self,
        sort: &str,
        page: i64,
        kind: &str,
    ) -> Result<Vec<CollectionDetails>> {
        let kind = match kind {
            "all" => None,
            "text" | "image" => Some(kind),
            _ => {
                return Err(Rejection::bad_request(
                    "BadRequest",
                    "'type' needs to be one of ['all', 'image', 'text']",
                )
                .into())
            }
        };
        let rows = self
            .store
            .collections_listed(kind, order(sort)?, page_offset(page), PER_PAGE)
            .await?;
        let mut collections = Vec::with_capacity(rows.len());
        for row in &rows {
            collections.push(self.collection_view(row).await?);
        }
        Ok(collections)
    }

    pub async fn collection_details(&self, id: &str) -> Result<CollectionDetails> {
        let row = self.existing_collection(id).await?;
        self.collection_view(&row).await
    }

    pub async fn collection_details_by_name(&self, name: &str) -> Result<CollectionDetails> {
        if name.contains('\0') {
            return Err(collection_not_found(name));
        }
        let query = parse_name(name);
        let row = match query.collection {
            Some(false) => None,
            _ => {
                self.store
                    .collection_by_name(query.name, query.user_id)
                    .await?
            }
        };
        let row = row.ok_or_else(|| collection_not_found(name))?;
        self.collection_view(&row).await
    }

    async fn existing_collection(&self, id: &str) -> Result<CollectionRow> {
        if !is_uuid(id) {
            return Err(collection_not_found(id));
        }
        self.store
            .collection(id)
            .await?
            .ok_or_else(|| collection_not_found(id))
    }

    async fn collection_view(&self, row: &CollectionRow) -> Result<CollectionDetails> {
        let styles = self
            .store
            .collection_styles(&row.id)
            .await?
            .iter()
            .map(|style| StyleShort {
                name: style.unique_name(),
                id: style.id.clone(),
            })
            .collect();
        Ok(CollectionDetails {
            id: row.id.clone(),
            name: row.name.clone(),
            kind: row.kind.clone(),
            info: row.info.clone(),
            public: row.public,
            styles,
            use_count: row.use_count,
        })
    }

    /// The styles a collection is to hold, by id or name, and their one kind.
    async fn collection_members(&self, names: &[String]) -> Result<(String, Vec<String>)> {
        if names.is_empty() {
            return Err(Rejection::invalid_field(
                "styles",
                "BadRequest",
                "A collection has to include at least 1 style",
            )
            .into());
        }
        if names.len() > MAX_STYLES_PER_COLLECTION {
            return Err(Rejection::invalid_field(
                "styles",
                "BadRequest",
                format!("A collection can hold at most {MAX_STYLES_PER_COLLECTION} styles"),
            )
            .into());
        }
        let mut kind: Option<String> = None;
        let mut ids: Vec<String> = Vec::with_capacity(names.len());
        for name in names {
            let found = match is_uuid(name) {
                true => self.store.style(name).await?,
                false => {
                    let query = parse_name(name);
                    match query.collection {
                        Some(true) => None,
                        _ => self.store.style_by_name(query.name, query.user_id).await?,
                    }
                }
            };
            let style = found.ok_or_else(|| {
                Rejection::bad_request(
                    "BadRequest",
                    format!("A style with name '{name}' cannot be found"),
                )
            })?;
            if kind.as_ref().is_some_and(|kind| *kind != style.kind) {
                return Err(Rejection::bad_request(
                    "StyleMismatch",
                    "Cannot mix image and text styles in the same collection",
                )
                .into());
            }
            kind = Some(style.kind.clone());
            if !ids.contains(&style.id) {
                ids.push(style.id);
            }
        }
        Ok((kind.unwrap_or_default(), ids))
    }

    /// A new collection: any registered account may group styles, its own or others'.
    pub async fn create_collection(
        &self,
        account: &Account,
        input: CollectionInput,
    ) -> Result<StyleModify> {
        account.require_registered("StylesAnonForbidden", "create collections")?;
        account.require_unfrozen()?;
        if self.store.collections_of(account.user.id).await?.len() >= MAX_COLLECTIONS_PER_ACCOUNT {
            return Err(Rejection::forbidden(
                "Forbidden",
                format!("An account can have at most {MAX_COLLECTIONS_PER_ACCOUNT} collections"),
            )
            .into());
        }
        let name = style_name("name", input.name.as_deref())?;
        let info = input
            .info
            .as_deref()
            .map(|info| validate::name("info", "BadRequest", Some(info), 1, 1000))
            .transpose()?;
        let (kind, styles) = self
            .collection_members(input.styles.as_deref().unwrap_or_default())
            .await?;
        let id = uuid::Uuid::new_v4().to_string();
        self.store
            .insert_collection(&NewCollection {
                id: id.clone(),
                kind,
                user_id: account.user.id,
                name,
                info,
                public: input.public.unwrap_or(true),
                styles,
                now: now_ms(),
            })
            .await?;
        Ok(StyleModify {
            id,
            message: "OK".into(),
            warnings: Vec::new(),
        })
    }

    /// Its creator's change to a collection; its styles stay of one kind.
    pub async fn modify_collection(
        &self,
        account: &Account,
        id: &str,
        input: CollectionInput,
    ) -> Result<StyleModify> {
        let row = self.existing_collection(id).await?;
        if row.user_id != account.user.id {
            return Err(not_owner("collection", account));
        }
        let name = input
            .name
            .as_deref()
            .map(|name| style_name("name", Some(name)))
            .transpose()?;
        let info = input
            .info
            .as_deref()
            .map(|info| validate::name("info", "BadRequest", Some(info), 1, 1000))
            .transpose()?;
        let styles = match input.styles.as_deref() {
            None => None,
            Some(names) => {
                let (kind, styles) = self.collection_members(names).await?;
                if kind != row.kind {
                    return Err(Rejection::bad_request(
                        "StyleMismatch",
                        "Cannot mix image and text styles in the same collection",
                    )
                    .into());
                }
                Some(styles)
            }
        };
        let change = CollectionChange {
            name,
            info,
            public: input.public,
            styles,
        };
        self.store.update_collection(&row.id, &change).await?;
        Ok(StyleModify {
            id: row.id,
            message: "OK".into(),
            warnings: Vec::new(),
        })
    }

    /// Deletes a collection (not its styles): its creator, or a moderator.
    pub async fn delete_collection(&self, account: &Account, id: &str) -> Result<SimpleResponse> {
        let row = self.existing_collection(id).await?;
        if row.user_id != account.user.id && !account.user.moderator {
            return Err(not_owner("collection", account));
        }
        self.store.delete_collection(&row.id).await?;
        Ok(SimpleResponse {
            message: "OK".into(),
        })
    }

    /// The style (or a style of the collection) a request names, by id or name, of `kind`.
    async fn style_to_apply(&self, name: &str, kind: StyleKind) -> Result<AppliedStyle> {
        let (style, collection) = match is_uuid(name) {
            true => match self.store.style(name).await? {
                Some(style) => (Some(style), None),
                None => (None, self.store.collection(name).await?),
            },
            false => {
                let query = parse_name(name);
                let style = match query.collection {
                    Some(true) => None,
                    _ => self.store.style_by_name(query.name, query.user_id).await?,
                };
                let collection = match (&style, query.collection) {
                    (None, Some(true) | None) => {
                        self.store
                            .collection_by_name(query.name, query.user_id)
                            .await?
                    }
                    _ => None,
                };
                (style, collection)
            }
        };
        let (style, collection_id) = match (style, collection) {
            (Some(style), _) => (style, None),
            (None, Some(collection)) => {
                let members = self.store.collection_styles(&collection.id).await?;
                let picked = members
                    .choose(&mut rand::rng())
                    .cloned()
                    .ok_or_else(|| style_not_found(name))?;
                (picked, Some(collection.id))
            }
            (None, None) => return Err(style_not_found(name)),
        };
        if style.kind != kind.as_str() {
            let message = match kind {
                StyleKind::Text => "Image styles cannot be used on text requests",
                StyleKind::Image => "Text styles cannot be used on image requests",
            };
            return Err(Rejection::bad_request("StyleMismatch", message).into());
        }
        let payer = self.style_payer(&style).await?;
        Ok(AppliedStyle {
            style,
            collection_id,
            payer,
        })
    }

    /// The account of a style's shared key, if it has one that can pay now.
    async fn style_payer(&self, style: &StyleRow) -> Result<Option<Account>> {
        let Some(id) = style.shared_key_id else {
            return Ok(None);
        };
        let Some(key) = self.store.shared_key(id).await? else {
            return Ok(None);
        };
        if unusable(&key, now_ms()).is_some() {
            return Ok(None);
        }
        let user = self.existing_user(key.user_id).await?;
        Ok(Some(Account {
            user,
            shared_key: Some(key),
        }))
    }

    fn stored_params<T: serde::de::DeserializeOwned>(style: &StyleRow) -> Result<T> {
        serde_json::from_value(style.params.0.clone())
            .map_err(|e| CoreError::Corrupt(format!("style {}: params: {e}", style.id)))
    }

    /// Makes a text request its style's: models, parameters (but its own `n`), and its prompt
    /// in the style's template.
    pub(super) async fn apply_text_style(
        &self,
        input: &mut GenerationInputKobold,
    ) -> Result<Option<AppliedStyle>> {
        let Some(name) = input.style.clone() else {
            return Ok(None);
        };
        let prompt = validate::prompt(input.prompt.as_deref())?.to_string();
        let applied = self.style_to_apply(&name, StyleKind::Text).await?;
        let style = &applied.style;
        let n = input.params.n;
        input.params = Self::stored_params(style)?;
        input.params.n = n;
        input.models = self.store.style_models(&style.id).await?;
        input.prompt = Some(fill_template(&style.prompt, &[("{p}", &prompt)]));
        Ok(Some(applied))
    }

    /// Makes an image request its style's: models, parameters (but its own `n`, and its own
    /// size where the style sets none), NSFW flag, and its prompt and negative prompt in the
    /// style's template.
    pub(super) async fn apply_image_style(
        &self,
        input: &mut GenerationInputStable,
    ) -> Result<Option<AppliedStyle>> {
        let Some(name) = input.style.clone() else {
            return Ok(None);
        };
        let prompt = validate::prompt(input.prompt.as_deref())?.to_string();
        let applied = self.style_to_apply(&name, StyleKind::Image).await?;
        let style = &applied.style;
        let (positive, mut negative) = match prompt.split_once("###") {
            Some((positive, negative)) => (positive.to_string(), negative.to_string()),
            None => (prompt, String::new()),
        };
        // The template's `###` separates the negative prompt; without one the requester's
        // negative prompt brings its own.
        if !style.prompt.contains("###") && !negative.is_empty() {
            negative = format!("###{negative}");
        }
        let requested = input.params.clone();
        let sets = |field: &str| style.params.0.get(field).is_some();
        input.params = Self::stored_params(style)?;
        input.params.n = requested.n;
        if !sets("width") {
            input.params.width = requested.width;
        }
        if !sets("height") {
            input.params.height = requested.height;
        }
        input.nsfw = style.nsfw;
        input.models = self.store.style_models(&style.id).await?;
        input.prompt = Some(fill_template(
            &style.prompt,
            &[("{p}", &positive), ("{np}", &negative)],
        ));
        Ok(Some(applied))
    }

    /// Counts a queued request's use of its style and moves the style's fee (see
    /// `Store::record_style_use`).
    pub(super) async fn record_style_use(
        &self,
        requester: &Account,
        applied: &AppliedStyle,
    ) -> Result<()> {
        let paid = self
            .store
            .record_style_use(&StyleUse {
                style_id: applied.style.id.clone(),
                collection_id: applied.collection_id.clone(),
                requester: requester.user.id,
                creator: applied.style.user_id,
                fee: STYLE_FEE,
                now: now_ms(),
            })
            .await?;
        tracing::debug!(style = %applied.style.id, paid, "style used");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_take_the_forms_the_ai_horde_reads() {
        let q = |collection, user_id, name| NameQuery {
            collection,
            user_id,
            name,
        };
        assert_eq!(parse_name("noir"), q(None, None, "noir"));
        assert_eq!(parse_name("style::noir"), q(Some(false), None, "noir"));
        assert_eq!(parse_name("collection::noir"), q(Some(true), None, "noir"));
        assert_eq!(parse_name("ann#4::noir"), q(None, Some(4), "noir"));
        assert_eq!(
            parse_name("style::ann#4::noir"),
            q(Some(false), Some(4), "noir")
        );
        assert_eq!(
            parse_name("ann#4::style::noir"),
            q(Some(false), Some(4), "noir")
        );
        assert_eq!(parse_name("nobody::noir"), q(None, None, "noir"));
    }

    #[test]
    fn templates_take_the_prompt_in_one_pass() {
        let values = [("{p}", "a {np} cat"), ("{np}", "blurry")];
        assert_eq!(
            fill_template("{p}, oil painting###{np}, ugly", &values),
            "a {np} cat, oil painting###blurry, ugly"
        );
        assert_eq!(
            fill_template("{ json } {p}", &values),
            "{ json } a {np} cat"
        );
        assert_eq!(fill_template("{", &values), "{");
    }
}
