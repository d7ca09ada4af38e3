//! Messages to workers, as the AI Horde has them: a moderator writes to one worker, to every
//! worker of an account, or to every worker; an owner to their own workers. Each pop of a worker
//! carries its messages until they expire; its owner and moderators see them in its details and
//! list them. Only their writer or a moderator deletes them.

use super::{validate, Account, Horde};
use crate::error::{Rejection, Result};
use crate::now_ms;
use crate::store::{MessageFilter, MessageValidity, WorkerMessageRow, WorkerRow};
use protocol::clock::UtcTime;
use protocol::{PopMessage, SimpleResponse, WorkerMessage, WorkerMessageInput};

/// Messages per page of `GET /workers/messages`.
const MESSAGES_PER_PAGE: i64 = 50;
/// Pages past this are refused: nobody reads five million messages a page at a time.
const LAST_MESSAGES_PAGE: i64 = 100_000;
const MAX_MESSAGE_CHARS: usize = 10_240;
const MAX_ORIGIN_CHARS: usize = 255;
const DEFAULT_EXPIRY_HOURS: i64 = 12;
/// 30 days, as in the AI Horde.
const MAX_EXPIRY_HOURS: i64 = 30 * 24;
const HOUR_MS: i64 = 3_600_000;
/// Unexpired messages anyone but a moderator may have written at once (to their own workers).
const MAX_ACTIVE_MESSAGES: i64 = 100;
/// Who a moderator's message is from, unless they say.
const MODERATORS: &str = "Moderators";

/// `GET /workers/messages`: which messages, as the query gives them.
#[derive(Debug, Clone, Default)]
pub struct MessagesQuery<'a> {
    pub user_id: Option<&'a str>,
    pub worker_id: Option<&'a str>,
    pub validity: Option<&'a str>,
    pub page: Option<i64>,
}

impl Horde {
    /// `POST /workers/messages`.
    pub async fn send_worker_message(
        &self,
        actor: &Account,
        input: WorkerMessageInput,
    ) -> Result<WorkerMessage> {
        actor.require_registered("AnonForbidden", "send messages to workers")?;
        let moderator = actor.user.moderator;
        let message = bounded_text("message", &input.message, MAX_MESSAGE_CHARS)?;
        let expiry = input.expiry.unwrap_or(DEFAULT_EXPIRY_HOURS);
        validate::in_range("expiry", expiry, 1, MAX_EXPIRY_HOURS)?;
        let origin = match (moderator, input.origin.as_deref()) {
            (true, Some(origin)) => bounded_text("origin", origin, MAX_ORIGIN_CHARS)?,
            (true, None) => MODERATORS.to_string(),
            // Anyone else's message says whose it is, as in the AI Horde.
            (false, _) => actor.user.id.to_string(),
        };
        let named_user = input.user_id.as_deref().map(user_id).transpose()?;
        let (worker_id, user_id) = match input.worker_id.as_deref() {
            Some(id) => {
                let worker = self.existing_worker(id).await?;
                if named_user.is_some_and(|user| user != worker.owner_id) {
                    return Err(Rejection::invalid_field(
                        "user_id",
                        "BadRequest",
                        "This worker is not this account's",
                    )
                    .into());
                }
                (Some(worker.id), Some(worker.owner_id))
            }
            None if moderator => match named_user {
                Some(user) => (None, Some(self.existing_user(user).await?.id)),
                None => (None, None),
            },
            // An owner's message without a worker is for all their own workers.
            None => (None, Some(named_user.unwrap_or(actor.user.id))),
        };
        if !moderator {
            if user_id != Some(actor.user.id) {
                return Err(Rejection::forbidden(
                    "MessagesOnlyOwnWorkers",
                    "You can only send messages to your own workers.",
                )
                .into());
            }
            let now = now_ms();
            if self
                .store
                .active_messages_sent_by(actor.user.id, now)
                .await?
                >= MAX_ACTIVE_MESSAGES
            {
                return Err(Rejection::forbidden(
                    "Forbidden",
                    format!(
                        "You have {MAX_ACTIVE_MESSAGES} messages that have not expired; \
                         delete some first"
                    ),
                )
                .into());
            }
        }
        let now = now_ms();
        let row = WorkerMessageRow {
            id: uuid::Uuid::new_v4().to_string(),
            worker_id,
            user_id,
            sender_id: actor.user.id,
            message,
            origin,
            created_at: now,
            expires_at: now + expiry * HOUR_MS,
        };
        self.store.insert_worker_message(&row).await?;
        tracing::info!(sender = actor.user.id, message = %row.id, "worker message sent");
        if user_id != Some(actor.user.id) {
            let to = match (&row.worker_id, row.user_id) {
                (Some(worker), _) => format!("worker {worker}"),
                (None, Some(user)) => format!("the workers of user #{user}"),
                (None, None) => "every worker".to_string(),
            };
            let target = format!("message {} to {to}", row.id);
            self.record_moderation(actor, "worker message sent", target)
                .await?;
        }
        Ok(message_of(&row, now))
    }

    /// `GET /workers/messages`: a page of messages, newest first. A moderator lists any; anyone
    /// else those for their own workers and those for every worker.
    pub async fn worker_messages(
        &self,
        viewer: &Account,
        query: MessagesQuery<'_>,
    ) -> Result<Vec<WorkerMessage>> {
        let named_user = query.user_id.map(user_id).transpose()?;
        let user_id = if viewer.user.moderator {
            named_user
        } else {
            if named_user.is_some_and(|user| user != viewer.user.id) {
                return Err(Rejection::forbidden(
                    "Forbidden",
                    "You can only view your own messages.",
                )
                .into());
            }
            Some(viewer.user.id)
        };
        let validity = match query.validity.unwrap_or("active") {
            "active" => MessageValidity::Active,
            "expired" => MessageValidity::Expired,
            "all" => MessageValidity::All,
            _ => {
                return Err(Rejection::invalid_field(
                    "validity",
                    "BadRequest",
                    "validity can only be one of 'active', 'expired', or 'all'",
                )
                .into())
            }
        };
        if let Some(worker_id) = query.worker_id {
            validate::no_nul("worker_id", worker_id)?;
        }
        let page = query.page.unwrap_or(1);
        validate::in_range("page", page, 1, LAST_MESSAGES_PAGE)?;
        let now = now_ms();
        let filter = MessageFilter {
            user_id,
            worker_id: query.worker_id.map(str::to_string),
            validity,
            now,
            offset: (page - 1) * MESSAGES_PER_PAGE,
            limit: MESSAGES_PER_PAGE,
        };
        let rows = self.store.worker_messages(&filter).await?;
        Ok(rows.iter().map(|row| message_of(row, now)).collect())
    }

    /// `GET /workers/messages/{id}`: anyone who has its id, as in the AI Horde (ids are random).
    pub async fn worker_message(&self, id: &str) -> Result<WorkerMessage> {
        let row = self.existing_message(id).await?;
        Ok(message_of(&row, now_ms()))
    }

    /// `DELETE /workers/messages/{id}`: its writer or a moderator.
    pub async fn delete_worker_message(&self, actor: &Account, id: &str) -> Result<SimpleResponse> {
        let row = self.existing_message(id).await?;
        let writer = row.sender_id == actor.user.id && !actor.is_anonymous();
        if !writer && !actor.user.moderator {
            return Err(Rejection::forbidden(
                "Forbidden",
                "You can only delete your own messages.",
            )
            .into());
        }
        self.store.delete_worker_message(&row.id).await?;
        if !writer {
            let target = format!("message {}", row.id);
            self.record_moderation(actor, "worker message deleted", target)
                .await?;
        }
        Ok(SimpleResponse {
            message: "OK".into(),
        })
    }

    async fn existing_message(&self, id: &str) -> Result<WorkerMessageRow> {
        // The AI Horde's rc for a missing message (its `ThingNotFound`), as it spells it.
        let not_found = || {
            Rejection::not_found(
                "WorkermessageNotFound",
                format!("WorkerMessage {id} not found"),
            )
        };
        if id.contains('\0') {
            return Err(not_found().into());
        }
        Ok(self.store.worker_message(id).await?.ok_or_else(not_found)?)
    }

    /// The unexpired messages for a worker, as its pops carry them.
    pub(super) async fn pop_messages(&self, worker: &WorkerRow) -> Result<Vec<PopMessage>> {
        let rows = self
            .store
            .messages_for_worker(&worker.id, worker.owner_id, now_ms())
            .await?;
        Ok(rows
            .iter()
            .map(|row| PopMessage {
                id: row.id.clone(),
                message: row.message.clone(),
                origin: row.origin.clone(),
                expiry: rfc822(row.expires_at),
            })
            .collect())
    }
}

/// A message as the API shows it, at `now`.
pub(super) fn message_of(row: &WorkerMessageRow, now: i64) -> WorkerMessage {
    WorkerMessage {
        id: row.id.clone(),
        worker_id: row.worker_id.clone(),
        user_id: row.user_id.map(|id| id.to_string()),
        message: row.message.clone(),
        origin: row.origin.clone(),
        // Rounded up: a message that expires in ten minutes has an hour left, not none.
        expiry: ((row.expires_at - now).max(0) + HOUR_MS - 1) / HOUR_MS,
        created: rfc822(row.created_at),
    }
}

fn rfc822(ms: i64) -> String {
    UtcTime::from_unix(u64::try_from(ms / 1000).unwrap_or_default()).rfc822()
}

/// An account's id as the messages endpoints take it: the number after '#'.
fn user_id(id: &str) -> Result<i64> {
    id.trim().parse().map_err(|_| {
        Rejection::invalid_field(
            "user_id",
            "BadRequest",
            "user_id must be the number of an account (the one after '#')",
        )
        .into()
    })
}

/// A text of 1 to `max` characters.
fn bounded_text(field: &'static str, text: &str, max: usize) -> Result<String> {
    validate::no_nul(field, text)?;
    let length = text.chars().count();
    if text.trim().is_empty() || length > max {
        return Err(Rejection::invalid_field(
            field,
            "BadRequest",
            format!("{field} must have 1 to {max} characters"),
        )
        .into());
    }
    Ok(text.to_string())
}
