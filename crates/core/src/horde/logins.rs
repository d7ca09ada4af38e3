//! Accounts linked to an OpenID Connect provider: the sign-in (whose first success creates the
//! account) and what only linked accounts may do, change their name and get a new key. A
//! pseudonymous account is its key, so it keeps both, as in the AI Horde.
//!
//! The provider's side (discovery, the code exchange, checking the ID token) is the server's;
//! this module keeps only what the sign-in needs between the two legs, and the link itself:
//! the provider's id and the subject, nothing of the profile.

use super::{Account, Horde};
use crate::error::{Rejection, Result};
use crate::keys;
use crate::names;
use crate::now_ms;
use crate::store::{Login, PendingLogin, UserRow};
use std::time::Duration;

/// A browser signed in through a provider.
#[derive(Debug)]
pub struct LinkedSignIn {
    pub account: Account,
    /// Whether this sign-in created the account.
    pub created: bool,
    /// What the web session keeps (a new key ends it).
    pub key_hash: String,
}

/// How long a browser has to come back from the provider.
pub const PENDING_LOGIN_LIFETIME: Duration = Duration::from_secs(10 * 60);

impl Horde {
    /// Records a sign-in on its way to the provider. `state` is the browser's secret (in its
    /// cookie and in the provider's redirect); only its hash is stored.
    pub async fn begin_login(
        &self,
        provider: &str,
        state: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<()> {
        let pending = PendingLogin {
            state_hash: keys::hash_key(state),
            provider: provider.to_string(),
            nonce: nonce.to_string(),
            pkce_verifier: pkce_verifier.to_string(),
            created_at: now_ms(),
        };
        self.store.insert_pending_login(&pending).await
    }

    /// Takes the sign-in that `state` began: once, and only while it is fresh.
    pub async fn resume_login(&self, state: &str) -> Result<Option<PendingLogin>> {
        let pending = self
            .store
            .take_pending_login(&keys::hash_key(state))
            .await?;
        let oldest = now_ms() - PENDING_LOGIN_LIFETIME.as_millis() as i64;
        Ok(pending.filter(|p| p.created_at >= oldest))
    }

    /// The account linked to `login`, created under `name` the first time. Its key is random
    /// and shown to nobody: the browser signs in through the provider, and the owner gets a key
    /// to use elsewhere with [`Horde::reset_key`]. A private server creates such accounts too:
    /// its operator chose the provider, and with it who may enter.
    pub async fn sign_in_linked(&self, login: Login, name: &str) -> Result<LinkedSignIn> {
        let (user, created) = self.linked_user(login, name).await?;
        let key_hash = self.store.key_hash(user.id).await?.ok_or_else(|| {
            Rejection::not_found("UserNotFound", "The account was erased while signing in")
        })?;
        Ok(LinkedSignIn {
            account: Account {
                user,
                shared_key: None,
            },
            created,
            key_hash,
        })
    }

    async fn linked_user(&self, login: Login, name: &str) -> Result<(UserRow, bool)> {
        if let Some(user) = self.store.user_by_login(&login).await? {
            return Ok((user, false));
        }
        let key_hash = keys::hash_key(&keys::generate_key());
        let created = self
            .store
            .create_user(
                name,
                &key_hash,
                self.policy.default_concurrency,
                Some(&login),
                now_ms(),
            )
            .await;
        match created {
            Ok(user) => {
                tracing::info!(user = user.id, provider = %login.provider, "linked account created");
                self.suspect_username(user.id, name).await?;
                Ok((user, true))
            }
            // The same person signing in twice at once: the other sign-in created it.
            Err(error) => match self.store.user_by_login(&login).await? {
                Some(user) => Ok((user, false)),
                None => Err(error),
            },
        }
    }

    /// Renames a linked account; returns its new `name#id`.
    pub async fn rename(&self, account: &Account, username: &str) -> Result<String> {
        require_linked(account)?;
        let username = names::chosen("username", "TooLongUserName", Some(username), 3, 100)?;
        self.store.rename_user(account.user.id, &username).await?;
        self.suspect_username(account.user.id, &username).await?;
        Ok(format!("{username}#{}", account.user.id))
    }

    /// Gives a linked account a new key, shown this once; the old one stops working at once,
    /// and with it every web session that used it.
    pub async fn reset_key(&self, account: &Account) -> Result<String> {
        require_linked(account)?;
        self.issue_key(account.user.id).await
    }
}

pub(super) fn require_linked(account: &Account) -> Result<()> {
    account.require_registered("AnonForbidden", "change an account")?;
    if !account.user.is_linked() {
        return Err(Rejection::forbidden(
            "PseudonymousAccount",
            "A pseudonymous account keeps the name and key it was created with; only accounts \
             that sign in through a login provider can change them",
        )
        .into());
    }
    Ok(())
}
