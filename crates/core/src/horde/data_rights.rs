//! What an account's owner may do with what the server stores about them: export it, correct
//! their contact address or withdraw it, freeze the account (no processing until unfrozen), and
//! erase it. The API and the web UI both call these.

use super::{validate, Account, Horde};
use crate::error::{Rejection, Result};
use crate::kudos::Kudos;
use crate::now_ms;
use crate::store::{JobRow, LedgerRow, RequestRow, UserRow};
use protocol::{
    AccountErased, AccountRestrictions, ExportedAccount, ExportedGeneration, ExportedLedgerLine,
    ExportedLogin, ExportedRecords, ExportedRequest, UserDataExport, EXPORT_FORMAT,
};

impl Account {
    /// Refuses what a frozen account may not do: anything that processes its data.
    pub(super) fn require_unfrozen(&self) -> Result<()> {
        if self.user.frozen {
            return Err(Rejection::forbidden(
                "AccountFrozen",
                "Your account is frozen: nothing is processed for it until you unfreeze it",
            )
            .into());
        }
        Ok(())
    }
}

impl Horde {
    /// Everything stored about the caller's account, as one document.
    pub async fn export_data(&self, account: &Account) -> Result<UserDataExport> {
        account.require_registered("AnonForbidden", "export data")?;
        let user = &account.user;
        let kudos_ledger = self
            .store
            .kudos_history(user.id, i64::MAX)
            .await?
            .into_iter()
            .map(ledger_line)
            .collect();
        let mut requests = Vec::new();
        for request in self.store.requests_of(user.id).await? {
            let jobs = self.store.jobs_of(&request.id).await?;
            requests.push(exported_request(request, jobs));
        }
        Ok(UserDataExport {
            format: EXPORT_FORMAT.into(),
            exported_at: seconds(now_ms()),
            account: exported_account(user),
            kudos_ledger,
            workers: self.workers_of(account).await?,
            teams: self.teams_of(account).await?,
            requests,
            web_sessions: self.store.web_sessions_of(user.id).await?,
        })
    }

    /// Sets the caller's contact address, or withdraws it (`None`).
    pub async fn set_contact(
        &self,
        account: &Account,
        contact: Option<&str>,
    ) -> Result<AccountRestrictions> {
        account.require_registered("AnonForbidden", "keep a contact address")?;
        let contact = contact.map(validate::contact).transpose()?;
        self.store
            .set_contact(account.user.id, contact.as_deref())
            .await?;
        Ok(AccountRestrictions {
            contact,
            frozen: account.user.frozen,
            requests_cancelled: 0,
        })
    }

    /// Freezes the caller's account, cancelling its active requests, or unfreezes it.
    pub async fn set_frozen(&self, account: &Account, frozen: bool) -> Result<AccountRestrictions> {
        account.require_registered("AnonForbidden", "freeze an account")?;
        let requests_cancelled = self
            .store
            .set_frozen(account.user.id, frozen, now_ms())
            .await?;
        tracing::info!(
            user = account.user.id,
            frozen,
            "account restriction changed"
        );
        Ok(AccountRestrictions {
            contact: account.user.contact.clone(),
            frozen,
            requests_cancelled,
        })
    }

    /// Erases the caller's account: its key stops working at once, its name and contact go,
    /// its requests are cancelled and their prompts and results purged, its workers and web
    /// sessions deleted. Its ledger lines stay on the pseudonymised row, since the balances of
    /// the accounts it traded with are the sums of theirs.
    pub async fn erase_account(&self, account: &Account) -> Result<AccountErased> {
        account.require_registered("AnonForbidden", "erase an account")?;
        let erasure = self.store.erase_user(account.user.id, now_ms()).await?;
        tracing::info!(user = account.user.id, "account erased");
        Ok(AccountErased {
            id: account.user.id,
            requests_cancelled: erasure.requests_cancelled,
            workers_deleted: erasure.workers_deleted,
            web_sessions_ended: erasure.sessions_ended,
            kudos_forfeited: erasure.kudos_forfeited.as_f64(),
        })
    }
}

fn seconds(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

fn exported_account(user: &UserRow) -> ExportedAccount {
    ExportedAccount {
        id: user.id,
        username: user.username.clone(),
        alias: user.alias(),
        created: seconds(user.created_at),
        kudos: Kudos(user.kudos).as_f64(),
        concurrency: user.concurrency,
        moderator: user.moderator,
        admin: user.admin,
        trusted: user.trusted,
        flagged: user.flagged,
        frozen: user.frozen,
        public_workers: user.public_workers,
        worker_invited: user.worker_invited,
        contact: user.contact.clone(),
        login: match (&user.login_provider, &user.login_subject) {
            (Some(provider), Some(subject)) => Some(ExportedLogin {
                provider: provider.clone(),
                subject: subject.clone(),
            }),
            _ => None,
        },
        records: ExportedRecords {
            requests_text: user.requests_text,
            requests_image: user.requests_image,
            fulfillments_text: user.fulfillments_text,
            fulfillments_image: user.fulfillments_image,
            requests_interrogation: user.requests_interrogation,
            fulfillments_interrogation: user.fulfillments_interrogation,
            usage_tokens: user.usage_tokens,
            usage_megapixelsteps: user.usage_mps,
            contributed_tokens: user.contributed_tokens,
            contributed_megapixelsteps: user.contributed_mps,
        },
    }
}

fn ledger_line(line: LedgerRow) -> ExportedLedgerLine {
    ExportedLedgerLine {
        id: line.id,
        at: seconds(line.created_at),
        amount: Kudos(line.amount).as_f64(),
        reason: line.reason,
        job_id: line.job_id,
        counterparty: line.counterparty,
        held: line.held,
    }
}

fn exported_request(request: RequestRow, jobs: Vec<JobRow>) -> ExportedRequest {
    ExportedRequest {
        id: request.id,
        kind: request.kind,
        interrogation: request.group_id,
        state: request.state,
        created: seconds(request.created_at),
        models: request.models.0,
        n: request.n,
        n_done: request.n_done,
        prompt: request.prompt,
        params: request.params.map(|params| params.0),
        webhook: request.webhook,
        generations: jobs
            .into_iter()
            .map(|job| ExportedGeneration {
                job_id: job.id,
                state: job.state,
                model: job.model,
                worker_name: job.worker_name,
                text: job.generation,
                has_image: job.has_image,
            })
            .collect(),
    }
}
