//! Shared keys: an account lends a key to others, who send it as their `apikey` to queue
//! requests; those spend the account's kudos (and queue by them), up to the key's kudos limit
//! and within its per-job limits, until it expires or is deleted. A shared key does nothing
//! else: every other endpoint refuses it ([`Horde::authenticate`] does not know it).
//!
//! A key is a random UUID, as AI Horde clients expect, shown to its owner once; only its hash
//! is stored, as for API keys. So the key is its own id on the API (`/sharedkeys/{key}`), and
//! the account page lists and deletes keys by their row id.

use super::{validate, Account, Horde};
use crate::error::{Rejection, Result};
use crate::keys;
use crate::kudos::Kudos;
use crate::now_ms;
use crate::store::{NewRequest, NewSharedKey, SharedKeyChange, SharedKeyRow};
use protocol::{SharedKeyDetails, SharedKeyInput, SimpleResponse};
use std::time::{Duration, UNIX_EPOCH};

/// The most keys an account may have: a trusted one more.
const MAX_KEYS: usize = 3;
const MAX_KEYS_TRUSTED: usize = 10;
/// The bounds the AI Horde documents for a key's settings.
const MAX_KUDOS: i64 = 50_000_000;
const MAX_IMAGE_PIXELS: i64 = 4_194_304;
const MAX_IMAGE_STEPS: i64 = 500;
const MAX_TEXT_TOKENS: i64 = 500;
/// The furthest a key may expire, in days: bounds the arithmetic, not anyone's plans.
const MAX_EXPIRY_DAYS: i64 = 36_500;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Whether `key` has a shared key's form, a UUID, rather than an API key's.
pub fn looks_like_shared_key(key: &str) -> bool {
    uuid::Uuid::try_parse(key).is_ok_and(|_| key.len() == 36)
}

/// A key that is not there, in the AI Horde's words.
fn unknown_key() -> Rejection {
    Rejection::unauthorized("InvalidAPIKey", "No user matching sent Shared Key.")
}

/// A key's settings, as checked: each `Some` was sent.
#[derive(Default)]
struct Settings {
    kudos: Option<Option<i64>>,
    expires_at: Option<Option<i64>>,
    name: Option<String>,
    max_image_pixels: Option<i64>,
    max_image_steps: Option<i64>,
    max_text_tokens: Option<i64>,
}

impl Settings {
    fn nothing(&self) -> bool {
        self.kudos.is_none()
            && self.expires_at.is_none()
            && self.name.is_none()
            && self.max_image_pixels.is_none()
            && self.max_image_steps.is_none()
            && self.max_text_tokens.is_none()
    }
}

fn checked(input: &SharedKeyInput, now: i64) -> Result<Settings> {
    let limit = |field: &'static str, value: Option<i64>, max: i64| -> Result<Option<i64>> {
        if let Some(value) = value {
            validate::in_range(field, value, -1, max)?;
        }
        Ok(value)
    };
    let kudos = limit("kudos", input.kudos, MAX_KUDOS)?
        .map(|kudos| (kudos >= 0).then(|| Kudos::from_f64(kudos as f64).hundredths()));
    let expires_at = limit("expiry", input.expiry, MAX_EXPIRY_DAYS)?
        .map(|days| (days >= 0).then_some(now + days * DAY_MS));
    let name = input
        .name
        .as_deref()
        .map(|name| validate::name("name", "BadRequest", Some(name), 3, 255))
        .transpose()?;
    Ok(Settings {
        kudos,
        expires_at,
        name,
        max_image_pixels: limit("max_image_pixels", input.max_image_pixels, MAX_IMAGE_PIXELS)?,
        max_image_steps: limit("max_image_steps", input.max_image_steps, MAX_IMAGE_STEPS)?,
        max_text_tokens: limit("max_text_tokens", input.max_text_tokens, MAX_TEXT_TOKENS)?,
    })
}

/// How a key's expiry reads on the wire: RFC 822, as the AI Horde writes dates.
fn expiry(expires_at: Option<i64>) -> Option<String> {
    expires_at.map(|ms| {
        let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or_default());
        httpdate::fmt_http_date(at)
    })
}

/// A key's details, under the key itself (the caller sent it, or is being given it).
fn details(key: &str, row: &SharedKeyRow) -> SharedKeyDetails {
    SharedKeyDetails {
        id: key.to_string(),
        username: row.owner_alias(),
        name: row.name.clone(),
        kudos: row.kudos.map_or(-1, |left| left.div_euclid(100)),
        expiry: expiry(row.expires_at),
        utilized: row.utilized.div_euclid(100),
        max_image_pixels: row.max_image_pixels,
        max_image_steps: row.max_image_steps,
        max_text_tokens: row.max_text_tokens,
    }
}

/// Why a key cannot be spent now, if it cannot: (rc, message).
pub(super) fn unusable(key: &SharedKeyRow, now: i64) -> Option<(&'static str, &'static str)> {
    if key.kudos == Some(0) {
        return Some(("SharedKeyEmpty", "This shared key has run out of kudos."));
    }
    if key.expires_at.is_some_and(|at| at < now) {
        return Some(("SharedKeyExpired", "This shared key has expired"));
    }
    None
}

impl Horde {
    /// A new shared key of the caller's; its key (`id`) is shown this once.
    pub async fn create_shared_key(
        &self,
        account: &Account,
        input: SharedKeyInput,
    ) -> Result<SharedKeyDetails> {
        if account.is_anonymous() {
            return Err(Rejection::forbidden(
                "AnonForbidden",
                "Anonymous user is forbidden from performing this operation",
            )
            .into());
        }
        account.require_unfrozen()?;
        let most = match account.user.trusted {
            true => MAX_KEYS_TRUSTED,
            false => MAX_KEYS,
        };
        if self.store.shared_keys_of(account.user.id).await?.len() >= most {
            return Err(Rejection::forbidden(
                "Forbidden",
                format!("You cannot have more than {most} shared keys."),
            )
            .into());
        }
        let now = now_ms();
        let settings = checked(&input, now)?;
        let key = uuid::Uuid::new_v4().to_string();
        let row = self
            .store
            .insert_shared_key(&NewSharedKey {
                key_hash: keys::hash_key(&key),
                user_id: account.user.id,
                name: settings.name,
                kudos: settings
                    .kudos
                    .unwrap_or(Some(Kudos::from_f64(5000.0).hundredths())),
                expires_at: settings.expires_at.flatten(),
                max_image_pixels: settings.max_image_pixels.unwrap_or(-1),
                max_image_steps: settings.max_image_steps.unwrap_or(-1),
                max_text_tokens: settings.max_text_tokens.unwrap_or(-1),
                now,
            })
            .await?;
        tracing::info!(
            user = account.user.id,
            shared_key = row.id,
            "shared key created"
        );
        Ok(details(&key, &row))
    }

    /// The key's row, found by the key itself.
    async fn shared_key_row(&self, key: &str) -> Result<SharedKeyRow> {
        if !looks_like_shared_key(key) {
            return Err(unknown_key().into());
        }
        let row = self.store.shared_key_by_hash(&keys::hash_key(key)).await?;
        Ok(row.ok_or_else(unknown_key)?)
    }

    /// The key's row, if it is the caller's.
    async fn own_shared_key(&self, account: &Account, key: &str) -> Result<SharedKeyRow> {
        let row = self.shared_key_row(key).await?;
        if row.user_id != account.user.id {
            return Err(Rejection::forbidden(
                "Forbidden",
                format!(
                    "This shared key belongs to {} and not to {}.",
                    row.owner_alias(),
                    account.user.alias()
                ),
            )
            .into());
        }
        Ok(row)
    }

    /// A key's details, for whoever holds it.
    pub async fn shared_key_details(&self, key: &str) -> Result<SharedKeyDetails> {
        let row = self.shared_key_row(key).await?;
        Ok(details(key, &row))
    }

    /// Its owner's change to a key.
    pub async fn modify_shared_key(
        &self,
        account: &Account,
        key: &str,
        input: SharedKeyInput,
    ) -> Result<SharedKeyDetails> {
        let row = self.own_shared_key(account, key).await?;
        let settings = checked(&input, now_ms())?;
        if settings.nothing() {
            return Err(Rejection::bad_request(
                "NoSharedKeyModSelected",
                "No shared key modification selected!",
            )
            .into());
        }
        let change = SharedKeyChange {
            name: settings.name,
            kudos: settings.kudos,
            expires_at: settings.expires_at,
            max_image_pixels: settings.max_image_pixels,
            max_image_steps: settings.max_image_steps,
            max_text_tokens: settings.max_text_tokens,
        };
        self.store.update_shared_key(row.id, &change).await?;
        self.shared_key_details(key).await
    }

    /// Deletes one of the caller's keys, given the key; its waiting requests are cancelled.
    pub async fn delete_shared_key(&self, account: &Account, key: &str) -> Result<SimpleResponse> {
        let row = self.own_shared_key(account, key).await?;
        self.drop_shared_key(&row).await
    }

    /// The caller's keys (the web UI lists them; the keys themselves are not stored).
    pub async fn shared_keys_of(&self, account: &Account) -> Result<Vec<SharedKeyRow>> {
        account.require_registered("AnonForbidden", "have shared keys")?;
        self.store.shared_keys_of(account.user.id).await
    }

    /// Deletes one of the caller's keys, given its row id (the web UI's way).
    pub async fn delete_shared_key_by_id(
        &self,
        account: &Account,
        id: i64,
    ) -> Result<SimpleResponse> {
        let row = self.store.shared_key(id).await?;
        match row.filter(|row| row.user_id == account.user.id) {
            Some(row) => self.drop_shared_key(&row).await,
            None => Err(Rejection::not_found("SharedKeyNotFound", "No such shared key").into()),
        }
    }

    async fn drop_shared_key(&self, row: &SharedKeyRow) -> Result<SimpleResponse> {
        let cancelled = self.store.delete_shared_key(row.id, now_ms()).await?;
        tracing::info!(
            user = row.user_id,
            shared_key = row.id,
            cancelled,
            "shared key deleted"
        );
        Ok(SimpleResponse {
            message: "OK".into(),
        })
    }

    /// The account a request is made as, when it came with a shared key: refused if the key
    /// is spent or expired (with `allow_downgrade`, a spent key's request is made anonymously
    /// instead), or given to styles, which alone may spend it.
    pub(super) async fn requester(
        &self,
        account: &Account,
        allow_downgrade: bool,
    ) -> Result<Account> {
        let Some(key) = &account.shared_key else {
            return Ok(account.clone());
        };
        if let Some((rc, message)) = unusable(key, now_ms()) {
            if rc == "SharedKeyEmpty" && allow_downgrade {
                return self.authenticate(None).await;
            }
            return Err(Rejection::forbidden(rc, message).into());
        }
        if key.styles > 0 {
            return Err(Rejection::forbidden(
                "SharedKeyAssignedStyles",
                "This shared key cannot be used as it has been assigned to specific styles only",
            )
            .into());
        }
        Ok(account.clone())
    }
}

/// Refuses a request above a shared key's per-job limits.
pub(super) fn within_limits(key: &SharedKeyRow, request: &NewRequest) -> Result<()> {
    let over = |limit: i64, asked: i64, what: &str| {
        (limit > -1 && asked > limit).then(|| {
            Rejection::bad_request(
                "BadRequest",
                format!(
                    "This shared key is limited to {limit} {what} per job. You requested {asked} {what}."
                ),
            )
        })
    };
    let refusal = if request.kind == "text" {
        over(key.max_text_tokens, request.max_length, "tokens")
    } else {
        over(
            key.max_image_pixels,
            request.width * request.height,
            "pixels",
        )
        .or_else(|| over(key.max_image_steps, request.steps, "steps"))
    };
    match refusal {
        Some(refusal) => Err(refusal.into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_keys_are_uuids_and_api_keys_are_not() {
        assert!(looks_like_shared_key(
            "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
        ));
        assert!(!looks_like_shared_key(&keys::generate_key()));
        assert!(!looks_like_shared_key("0000000000"));
        // Forms uuid accepts but clients never send.
        assert!(!looks_like_shared_key("3f2504e04f8941d39a0c0305e82c3301"));
    }

    #[test]
    fn expiries_read_as_rfc_822_dates() {
        assert_eq!(
            expiry(Some(784_111_777_000)).as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
        assert_eq!(expiry(None), None);
    }
}
