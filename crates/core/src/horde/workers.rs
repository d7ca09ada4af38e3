//! Workers as their owners, moderators and the public see them: listing, details, whether one
//! takes jobs now, and the owner's or a moderator's changes (maintenance, pause, info, name,
//! deletion). A worker is created and refreshed by its pops (`jobs.rs`).

use super::{validate, Account, Horde};
use crate::error::{Rejection, Result};
use crate::kudos::Kudos;
use crate::now_ms;
use crate::store::{WorkerChange, WorkerRow};
use protocol::{
    DeletedWorker, ModifyWorker, ModifyWorkerInput, WorkerDetails, WorkerKudosDetails, WorkerType,
};

impl Horde {
    /// Every worker the caller owns, online or not.
    pub async fn workers_of(&self, owner: &Account) -> Result<Vec<WorkerDetails>> {
        let mut workers = Vec::new();
        for id in self.store.worker_ids_of(owner.user.id).await? {
            if let Some(worker) = self.store.worker(&id).await? {
                workers.push(self.worker_details(&worker, owner));
            }
        }
        Ok(workers)
    }

    /// Workers online now, optionally of one kind.
    pub async fn workers(
        &self,
        viewer: &Account,
        kind: Option<WorkerType>,
    ) -> Result<Vec<WorkerDetails>> {
        let online_since = self.online_since();
        Ok(self
            .store
            .workers(kind.map(WorkerType::as_str))
            .await?
            .iter()
            .filter(|w| w.last_check_in >= online_since)
            .map(|w| self.worker_details(w, viewer))
            .collect())
    }

    pub async fn worker(&self, viewer: &Account, id: &str) -> Result<WorkerDetails> {
        let worker = self.existing_worker(id).await?;
        Ok(self.worker_details(&worker, viewer))
    }

    async fn existing_worker(&self, id: &str) -> Result<WorkerRow> {
        let not_found = || Rejection::not_found("WorkerNotFound", format!("Worker {id} not found"));
        // No id holds a NUL, and PostgreSQL cannot even look one up.
        if id.contains('\0') {
            return Err(not_found().into());
        }
        Ok(self.store.worker(id).await?.ok_or_else(not_found)?)
    }

    pub(super) fn online_since(&self) -> i64 {
        now_ms() - self.policy.worker_stale.as_millis() as i64
    }

    /// Whether a worker takes jobs now: it checked in lately, and is neither in maintenance
    /// nor paused.
    pub(super) fn takes_jobs(&self, worker: &WorkerRow) -> bool {
        worker.last_check_in >= self.online_since() && !worker.maintenance && !worker.paused
    }

    fn worker_details(&self, w: &WorkerRow, viewer: &Account) -> WorkerDetails {
        let privileged = viewer.user.id == w.owner_id || viewer.user.moderator;
        let text = w.kind == "text";
        let image = |v: bool| (!text).then_some(v);
        let (fulfilled, busy_secs) = (w.requests_fulfilled, (w.uptime_ms / 1000).max(1));
        WorkerDetails {
            id: w.id.clone(),
            name: w.name.clone(),
            kind: if text {
                WorkerType::Text
            } else {
                WorkerType::Image
            },
            online: w.last_check_in >= self.online_since(),
            requests_fulfilled: fulfilled,
            kudos_rewards: Kudos(w.kudos_generated + w.kudos_uptime).as_f64(),
            kudos_details: WorkerKudosDetails {
                generated: Kudos(w.kudos_generated).as_f64(),
                uptime: Kudos(w.kudos_uptime).as_f64().round() as i64,
            },
            performance: if text {
                format!(
                    "{:.1} tokens per second",
                    w.tokens_generated as f64 / busy_secs as f64
                )
            } else {
                format!(
                    "{:.1} megapixelsteps per second",
                    w.mps_generated / busy_secs as f64
                )
            },
            threads: w.threads,
            uptime: w.uptime_ms / 1000,
            maintenance_mode: w.maintenance,
            paused: w.paused,
            info: w.info.clone(),
            nsfw: w.nsfw,
            owner: privileged.then(|| format!("{}#{}", w.owner_name, w.owner_id)),
            trusted: w.trusted(),
            browser: w.browser,
            keeps_prompts: w.keeps_prompts,
            flagged: w.owner_flagged,
            suspicious: w.checks_failed,
            uncompleted_jobs: w.uncompleted_jobs,
            checks_passed: w.checks_passed,
            checks_failed: w.checks_failed,
            models: w.models.0.clone(),
            bridge_agent: w.bridge_agent.clone(),
            max_length: text.then_some(w.max_length),
            max_context_length: text.then_some(w.max_context_length),
            tokens_generated: text.then_some(w.tokens_generated as f64),
            max_pixels: (!text).then_some(w.max_pixels),
            megapixelsteps_generated: (!text).then_some(w.mps_generated),
            img2img: image(w.allow_img2img),
            painting: image(w.allow_painting),
            post_processing: image(w.allow_post_processing),
            lora: image(w.allow_lora),
            controlnet: image(w.allow_controlnet),
        }
    }

    /// Owners may set maintenance, info and name; only moderators may pause.
    pub async fn modify_worker(
        &self,
        actor: &Account,
        id: &str,
        input: ModifyWorkerInput,
    ) -> Result<ModifyWorker> {
        let worker = self.existing_worker(id).await?;
        let owner = actor.user.id == worker.owner_id && !actor.is_anonymous();
        if !owner && !actor.user.moderator {
            return Err(Rejection::forbidden(
                "NotOwner",
                "Only the worker's owner or a moderator can change it",
            )
            .into());
        }
        if input.paused.is_some() {
            actor.require_moderator()?;
        }
        let name = match input.name.as_deref() {
            Some(name) => Some(validate::name(
                "name",
                "TooLongWorkerName",
                Some(name),
                5,
                100,
            )?),
            None => None,
        };
        for (field, text) in [
            ("info", &input.info),
            ("maintenance_msg", &input.maintenance_msg),
        ] {
            if let Some(text) = text {
                if text.chars().count() > 1000 {
                    return Err(Rejection::invalid_field(
                        field,
                        "BadRequest",
                        format!("{field} must have at most 1000 characters"),
                    )
                    .into());
                }
                validate::no_nul(field, text)?;
            }
        }
        let change = WorkerChange {
            maintenance: input.maintenance,
            maintenance_msg: input.maintenance_msg.clone(),
            paused: input.paused,
            info: input.info.clone(),
            name: name.clone(),
        };
        self.store.modify_worker(id, &change).await?;
        Ok(ModifyWorker {
            maintenance: input.maintenance,
            paused: input.paused,
            info: input.info,
            name,
        })
    }

    pub async fn delete_worker(&self, actor: &Account, id: &str) -> Result<DeletedWorker> {
        let worker = self.existing_worker(id).await?;
        let owner = actor.user.id == worker.owner_id && !actor.is_anonymous();
        if !owner && !actor.user.moderator {
            return Err(Rejection::forbidden(
                "NotOwner",
                "Only the worker's owner or a moderator can delete it",
            )
            .into());
        }
        self.store.delete_worker(id).await?;
        Ok(DeletedWorker {
            deleted_id: worker.id,
            deleted_name: worker.name,
        })
    }
}
