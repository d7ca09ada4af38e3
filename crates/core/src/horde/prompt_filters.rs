//! Moderators' prompt filters (`/api/v2/filters`), and what they do to image requests
//! (`crate::prompt_filter` has the matching). Every instance compiles the filters once and
//! reuses them for a few seconds, so a change holds everywhere within that time.

use super::{Account, Horde};
use crate::error::{Rejection, Result};
use crate::now_ms;
use crate::prompt_filter::{self, Filter, PromptChecker, TYPES};
use crate::store::{FilterRow, FilterValues};
use crate::suspicion::SuspicionReason;
use protocol::{
    FilterDetails, FilterPromptInput, FilterPromptSuspicion, FilterRegex, PatchExistingFilter,
    PutNewFilter,
};

/// The longest pattern, description and replacement a filter may have.
const MAX_REGEX_CHARS: usize = 5_000;
const MAX_TEXT_CHARS: usize = 1_000;
/// Longer prompts are not rewritten (as the AI Horde: its replacement filter's limit).
const MAX_REPLACED_PROMPT_CHARS: usize = 7_000;

impl Horde {
    /// The filters compiled, as the instance last read them.
    async fn prompt_checker(&self) -> Result<std::sync::Arc<PromptChecker>> {
        let store = self.store.clone();
        self.prompt_checker
            .get(|| async move {
                let rows = store.filters().await?;
                Ok(PromptChecker::new(&filters_of(&rows)))
            })
            .await
    }

    /// An image request's prompt as the filters let it through: refused (400 `CorruptPrompt`)
    /// when it matches both groups and the request does not allow replacements, else with the
    /// replacements applied; an NSFW request's (or a flagged account's) always with them and
    /// the built-in ones.
    pub(super) async fn filtered_image_prompt(
        &self,
        account: &Account,
        prompt: String,
        replacement_filter: bool,
        nsfw: bool,
    ) -> Result<String> {
        let checker = self.prompt_checker().await?;
        let corrupt = |message: &str| Rejection::bad_request("CorruptPrompt", message).into();
        let mut prompt = prompt;
        let mut replaced = false;
        if checker.suspicion(&prompt).level >= 2 {
            let short = prompt
                .split("###")
                .next()
                .unwrap_or_default()
                .chars()
                .count()
                <= MAX_REPLACED_PROMPT_CHARS;
            match checker.replaced(&prompt) {
                Some(clean) if replacement_filter && short => {
                    prompt = clean;
                    replaced = true;
                }
                _ => {
                    tracing::warn!(
                        user = account.user.id,
                        "a prompt was refused by the filters"
                    );
                    self.report_suspicion(account.user.id, None, SuspicionReason::CorruptPrompt)
                        .await?;
                    return Err(corrupt(
                        "This prompt appears to violate our terms of service and cannot be \
                         generated. Please contact the operators if you think this is an error.",
                    ));
                }
            }
        }
        if (nsfw || account.user.flagged) && !replaced {
            prompt = checker.replaced_for_nsfw(&prompt).ok_or_else(|| {
                corrupt(
                    "To prevent generation of unethical images, we cannot allow this prompt \
                     with NSFW images. Please change it and try again.",
                )
            })?;
        }
        Ok(prompt)
    }

    /// `GET /filters`: every filter, or those of a type, or those whose pattern or
    /// description contains a text.
    pub async fn filters(
        &self,
        moderator: &Account,
        filter_type: Option<i64>,
        contains: Option<&str>,
    ) -> Result<Vec<FilterDetails>> {
        moderator.require_moderator()?;
        let rows = self.store.filters().await?;
        Ok(rows
            .iter()
            .filter(|f| filter_type.is_none_or(|t| f.filter_type == t))
            .filter(|f| {
                contains.is_none_or(|text| {
                    f.regex.contains(text)
                        || f.description.as_deref().is_some_and(|d| d.contains(text))
                })
            })
            .map(details)
            .collect())
    }

    /// `PUT /filters`: a new filter, or the one with the same pattern and type.
    pub async fn add_filter(
        &self,
        moderator: &Account,
        input: PutNewFilter,
    ) -> Result<FilterDetails> {
        moderator.require_moderator()?;
        let values = checked(FilterValues {
            regex: input.regex,
            filter_type: input.filter_type,
            description: input.description,
            replacement: input.replacement.unwrap_or_default(),
        })?;
        let rows = self.store.filters().await?;
        let same = rows
            .iter()
            .find(|f| f.regex == values.regex && f.filter_type == values.filter_type);
        if let Some(same) = same {
            return Ok(details(same));
        }
        let id = self
            .store
            .insert_filter(&values, moderator.user.id, now_ms())
            .await?;
        self.prompt_checker.clear();
        let target = format!("filter {id}: type {}", values.filter_type);
        self.record_moderation(moderator, "filter added", target)
            .await?;
        self.filter(moderator, id).await
    }

    /// `GET /filters/{id}`.
    pub async fn filter(&self, moderator: &Account, id: i64) -> Result<FilterDetails> {
        moderator.require_moderator()?;
        Ok(details(&self.existing_filter(id).await?))
    }

    /// `PATCH /filters/{id}`: changes what is given.
    pub async fn modify_filter(
        &self,
        moderator: &Account,
        id: i64,
        input: PatchExistingFilter,
    ) -> Result<FilterDetails> {
        moderator.require_moderator()?;
        let current = self.existing_filter(id).await?;
        if input == PatchExistingFilter::default() {
            return Err(Rejection::bad_request("NoValidActions", "No filter change given").into());
        }
        let values = checked(FilterValues {
            regex: input.regex.unwrap_or(current.regex),
            filter_type: input.filter_type.unwrap_or(current.filter_type),
            description: input.description.or(current.description),
            replacement: input.replacement.unwrap_or(current.replacement),
        })?;
        self.store.update_filter(id, &values).await?;
        self.prompt_checker.clear();
        self.record_moderation(moderator, "filter changed", format!("filter {id}"))
            .await?;
        self.filter(moderator, id).await
    }

    /// `DELETE /filters/{id}`.
    pub async fn delete_filter(&self, moderator: &Account, id: i64) -> Result<()> {
        moderator.require_moderator()?;
        if !self.store.delete_filter(id).await? {
            return Err(not_found(id).into());
        }
        self.prompt_checker.clear();
        self.record_moderation(moderator, "filter deleted", format!("filter {id}"))
            .await
    }

    /// `POST /filters`: how a prompt stands, against one type's filters or all of them.
    pub async fn check_prompt(
        &self,
        moderator: &Account,
        input: FilterPromptInput,
    ) -> Result<FilterPromptSuspicion> {
        moderator.require_moderator()?;
        let rows = self.store.filters().await?;
        let filters: Vec<Filter> = filters_of(&rows)
            .into_iter()
            .filter(|f| input.filter_type.is_none_or(|t| f.filter_type == t))
            .collect();
        let suspicion = PromptChecker::new(&filters).suspicion(&input.prompt);
        Ok(FilterPromptSuspicion {
            suspicion: i64::from(suspicion.level),
            matches: suspicion.matches,
        })
    }

    /// `GET /filters/regex`: each type's filters as the one expression they are matched as.
    pub async fn filter_regexes(
        &self,
        moderator: &Account,
        filter_type: Option<i64>,
    ) -> Result<Vec<FilterRegex>> {
        moderator.require_moderator()?;
        let rows = self.store.filters().await?;
        Ok(TYPES
            .into_iter()
            .filter(|t| filter_type.is_none_or(|wanted| wanted == *t))
            .filter_map(|t| {
                let patterns: Vec<String> = rows
                    .iter()
                    .filter(|f| f.filter_type == t)
                    .map(|f| format!("(?:{})", f.regex))
                    .collect();
                (!patterns.is_empty()).then(|| FilterRegex {
                    filter_type: t,
                    regex: patterns.join("|"),
                })
            })
            .collect())
    }

    async fn existing_filter(&self, id: i64) -> Result<FilterRow> {
        Ok(self.store.filter(id).await?.ok_or_else(|| not_found(id))?)
    }
}

fn not_found(id: i64) -> Rejection {
    Rejection::not_found("FilterNotFound", format!("Filter {id} not found"))
}

fn filters_of(rows: &[FilterRow]) -> Vec<Filter> {
    rows.iter()
        .map(|f| Filter {
            regex: f.regex.clone(),
            filter_type: f.filter_type,
            replacement: f.replacement.clone(),
        })
        .collect()
}

fn details(row: &FilterRow) -> FilterDetails {
    FilterDetails {
        id: row.id.to_string(),
        regex: row.regex.clone(),
        filter_type: row.filter_type,
        description: row.description.clone(),
        replacement: row.replacement.clone(),
        user: format!(
            "{}#{}",
            row.username.clone().unwrap_or_default(),
            row.user_id
        ),
    }
}

/// A filter's values, refused when its type is unknown, its pattern does not compile, or a
/// text is too long.
fn checked(values: FilterValues) -> Result<FilterValues> {
    let field = |name: &'static str, message: String| -> crate::error::CoreError {
        Rejection::invalid_field(name, "BadRequest", message).into()
    };
    if !TYPES.contains(&values.filter_type) {
        return Err(field(
            "filter_type",
            format!("filter_type is one of {TYPES:?}"),
        ));
    }
    if values.regex.trim().is_empty() || values.regex.chars().count() > MAX_REGEX_CHARS {
        return Err(field(
            "regex",
            format!("regex must have 1 to {MAX_REGEX_CHARS} characters"),
        ));
    }
    if let Err(why) = prompt_filter::compile(&values.regex) {
        let why: String = why.chars().take(200).collect();
        return Err(field("regex", format!("regex does not compile: {why}")));
    }
    let long = |text: &Option<String>| {
        text.as_deref()
            .is_some_and(|t| t.chars().count() > MAX_TEXT_CHARS)
    };
    if long(&values.description) || values.replacement.chars().count() > MAX_TEXT_CHARS {
        return Err(field(
            "description",
            format!("description and replacement have at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    if values.regex.contains('\0') || values.replacement.contains('\0') {
        return Err(field("regex", "no NUL characters".into()));
    }
    Ok(values)
}
