//! Workers as their owners, moderators and the public see them: listing, details, whether one
//! takes jobs now, and the changes the AI Horde lets their owners and moderators make
//! (maintenance, info, name, team; pause for moderators) and deletion. A worker is created and
//! refreshed by its pops (`jobs.rs`).

use super::worker_messages::message_of;
use super::{validate, Account, Horde};
use crate::error::{Rejection, Result};
use crate::kudos::Kudos;
use crate::names;
use crate::now_ms;
use crate::store::{WorkerChange, WorkerMessageRow, WorkerRow};
use protocol::{
    DeletedWorker, ModifyWorker, ModifyWorkerInput, TeamDetailsLite, WorkerDetails,
    WorkerKudosDetails, WorkerType,
};

/// Workers an untrusted owner may have, and a trusted one, unless a moderator invited more.
const MAX_WORKERS_UNTRUSTED: i64 = 3;
const MAX_WORKERS_TRUSTED: i64 = 20;

/// The longest `info` and `maintenance_msg`, as in the AI Horde.
const MAX_INFO_CHARS: usize = 1000;
const MAX_MAINTENANCE_MSG_CHARS: usize = 300;

impl Horde {
    /// Refuses a new worker to an owner who has as many as it may: 3 for an untrusted owner
    /// and 20 for a trusted one, as the AI Horde, or more if a moderator invited more
    /// (`worker_invited`). Cheap names would otherwise let one account fill the worker list
    /// and spread its record over throwaway workers.
    pub(super) async fn refuse_one_worker_too_many(&self, account: &Account) -> Result<()> {
        let user = &account.user;
        let (allowed, rc) = match user.trusted {
            true => (
                MAX_WORKERS_TRUSTED.max(user.worker_invited),
                "TooManyWorkersTrusted",
            ),
            false => (
                MAX_WORKERS_UNTRUSTED.max(user.worker_invited),
                "TooManyWorkers",
            ),
        };
        let workers = self.store.worker_ids_of(user.id).await?.len() as i64;
        if workers >= allowed {
            return Err(Rejection::forbidden(
                rc,
                format!(
                    "To avoid abuse, this account can have at most {allowed} workers (it has \
                     {workers}); delete one, or ask a moderator for more"
                ),
            )
            .into());
        }
        Ok(())
    }

    /// Gives the workers and teams named before names had a likeness theirs: once, at start.
    pub async fn fill_name_likeness(&self) -> Result<()> {
        let filled = self.store.fill_name_likeness().await?;
        if filled > 0 {
            tracing::info!(names = filled, "name likeness filled in");
        }
        Ok(())
    }

    /// Refuses a worker name that looks like the name of another account's worker (`adm1n`
    /// beside `admin`); `this_worker` is the one being renamed. An owner may name its own
    /// workers alike.
    pub(super) async fn refuse_look_alike_worker(
        &self,
        name: &str,
        owner_id: i64,
        this_worker: Option<&str>,
    ) -> Result<()> {
        let alike = self.store.workers_like(&names::likeness(name)).await?;
        if let Some(other) = alike
            .iter()
            .find(|w| w.owner_id != owner_id && Some(w.id.as_str()) != this_worker)
        {
            return Err(Rejection::bad_request(
                "WorkerNameAlreadyExists",
                format!(
                    "The name {name:?} looks too much like that of worker {:?} of another account",
                    other.name
                ),
            )
            .into());
        }
        Ok(())
    }

    /// Every worker the caller owns, online or not.
    pub async fn workers_of(&self, owner: &Account) -> Result<Vec<WorkerDetails>> {
        let mut workers = Vec::new();
        for id in self.store.worker_ids_of(owner.user.id).await? {
            if let Some(worker) = self.store.worker(&id).await? {
                workers.push(self.worker_details_for(&worker, owner).await?);
            }
        }
        Ok(workers)
    }

    /// Workers online now; `kind` keeps those of one type (`text`, `image`; any other type has
    /// none, as in the AI Horde, and an empty one is all), `name` the one of this name, whatever
    /// the case.
    pub async fn workers(
        &self,
        viewer: &Account,
        kind: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<WorkerDetails>> {
        let kind = match kind.filter(|k| !k.is_empty()) {
            None => None,
            Some(kind) => match WorkerType::parse(kind) {
                Some(kind) => Some(kind),
                None => return Ok(Vec::new()),
            },
        };
        let online_since = self.online_since();
        let workers: Vec<WorkerRow> = self
            .store
            .workers(kind.map(WorkerType::as_str))
            .await?
            .into_iter()
            .filter(|w| w.last_check_in >= online_since)
            .filter(|w| name.is_none_or(|name| w.name.to_lowercase() == name.to_lowercase()))
            .collect();
        // One read of the messages for every worker the viewer may see them of.
        let messages = if workers.iter().any(|w| viewer.privileged_over(w.owner_id)) {
            self.store.active_worker_messages(now_ms()).await?
        } else {
            Vec::new()
        };
        Ok(workers
            .iter()
            .map(|w| self.worker_details(w, viewer, &messages))
            .collect())
    }

    pub async fn worker(&self, viewer: &Account, id: &str) -> Result<WorkerDetails> {
        let worker = self.existing_worker(id).await?;
        self.worker_details_for(&worker, viewer).await
    }

    /// `GET /workers/name/{name}`: a worker by its name (whatever the case), online or not.
    pub async fn worker_named(&self, viewer: &Account, name: &str) -> Result<WorkerDetails> {
        let not_found =
            || Rejection::not_found("WorkerNotFound", format!("Worker {name} not found"));
        if name.contains('\0') {
            return Err(not_found().into());
        }
        let worker = self
            .store
            .worker_by_name(name)
            .await?
            .ok_or_else(not_found)?;
        self.worker_details_for(&worker, viewer).await
    }

    pub(super) async fn existing_worker(&self, id: &str) -> Result<WorkerRow> {
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

    /// One worker's details as `viewer` may see them, with its messages when they may.
    async fn worker_details_for(&self, w: &WorkerRow, viewer: &Account) -> Result<WorkerDetails> {
        let messages = if viewer.privileged_over(w.owner_id) {
            self.store
                .messages_for_worker(&w.id, w.owner_id, now_ms())
                .await?
        } else {
            Vec::new()
        };
        Ok(self.worker_details(w, viewer, &messages))
    }

    /// A worker's details. Everyone sees what it does and its record; its owner's name only its
    /// owner and moderators, unless the owner made their workers public; its pause, suspicion,
    /// messages (from `messages`, those for it) and its owner's contact only its owner and
    /// moderators. Its address, which the AI Horde shows them too, is never stored.
    fn worker_details(
        &self,
        w: &WorkerRow,
        viewer: &Account,
        messages: &[WorkerMessageRow],
    ) -> WorkerDetails {
        let privileged = viewer.privileged_over(w.owner_id);
        let kind = WorkerType::parse(&w.kind).unwrap_or(WorkerType::Image);
        let (text, alchemist) = (kind == WorkerType::Text, kind == WorkerType::Interrogation);
        let painter = kind == WorkerType::Image;
        let image = |v: bool| painter.then_some(v);
        let (fulfilled, busy_secs) = (w.requests_fulfilled, (w.uptime_ms / 1000).max(1));
        let now = now_ms();
        WorkerDetails {
            id: w.id.clone(),
            name: w.name.clone(),
            kind,
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
            } else if alchemist {
                format!(
                    "{:.1} forms per hour online",
                    fulfilled as f64 * 3600.0 / busy_secs as f64
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
            paused: privileged.then_some(w.paused),
            info: w.info.clone(),
            nsfw: w.nsfw,
            owner: (privileged || w.owner_public_workers)
                .then(|| format!("{}#{}", w.owner_name, w.owner_id)),
            contact: w.owner_contact.clone().filter(|_| privileged),
            team: TeamDetailsLite {
                name: w.team_name.clone(),
                id: w.team_id.clone(),
            },
            trusted: w.trusted(),
            browser: w.browser,
            keeps_prompts: w.keeps_prompts,
            flagged: w.owner_flagged,
            suspicious: privileged.then_some(w.suspicion),
            uncompleted_jobs: w.uncompleted_jobs,
            checks_passed: w.checks_passed,
            checks_failed: w.checks_failed,
            // An alchemist's models are its forms.
            models: if alchemist {
                Vec::new()
            } else {
                w.models.0.clone()
            },
            forms: alchemist.then(|| w.models.0.clone()),
            bridge_agent: w.bridge_agent.clone(),
            max_length: text.then_some(w.max_length),
            max_context_length: text.then_some(w.max_context_length),
            tokens_generated: text.then_some(w.tokens_generated as f64),
            max_pixels: painter.then_some(w.max_pixels),
            megapixelsteps_generated: painter.then_some(w.mps_generated),
            img2img: image(w.allow_img2img),
            painting: image(w.allow_painting),
            post_processing: image(w.allow_post_processing),
            lora: image(w.allow_lora),
            controlnet: image(w.allow_controlnet),
            messages: privileged.then(|| {
                messages
                    .iter()
                    .filter(|m| m.is_for(&w.id, w.owner_id))
                    .map(|m| message_of(m, now))
                    .collect()
            }),
        }
    }

    /// `PUT /workers/{id}`: maintenance, info, name and team by its owner or a moderator, the
    /// pause by moderators, as the AI Horde rules (and with its rc for each refusal, in its
    /// order of fields). Everything is checked before anything changes.
    pub async fn modify_worker(
        &self,
        actor: &Account,
        id: &str,
        input: ModifyWorkerInput,
    ) -> Result<ModifyWorker> {
        let worker = self.existing_worker(id).await?;
        let ModifyWorkerInput {
            maintenance,
            maintenance_msg,
            paused,
            info,
            name,
            team,
        } = input;
        let owner = actor.user.id == worker.owner_id && !actor.is_anonymous();
        let may = owner || actor.user.moderator;
        let refuse = |rc: &'static str| -> Result<()> {
            Err(
                Rejection::forbidden(rc, "Only the worker's owner or a moderator can change this")
                    .into(),
            )
        };
        if (maintenance.is_some() || info.is_some()) && !may {
            refuse("NotOwner")?;
        }
        if paused.is_some() {
            actor.require_moderator()?;
        }
        if (name.is_some() || team.is_some()) && !may {
            refuse("NotModerator")?;
        }
        if maintenance.is_none()
            && paused.is_none()
            && info.is_none()
            && name.is_none()
            && team.is_none()
        {
            return Err(Rejection::bad_request(
                "NoWorkerModSelected",
                "No worker modification selected!",
            )
            .into());
        }
        if let Some(info) = &info {
            // The AI Horde's rc for a long info, though it names the worker's name.
            bounded("info", info, MAX_INFO_CHARS, "TooLongWorkerName")?;
        }
        // The message goes with maintenance, and only into it; leaving it clears it.
        let maintenance_msg = match (maintenance, maintenance_msg) {
            (Some(true), Some(msg)) if !msg.trim().is_empty() => {
                bounded(
                    "maintenance_msg",
                    &msg,
                    MAX_MAINTENANCE_MSG_CHARS,
                    "BadRequest",
                )?;
                Some(Some(msg.trim().to_string()))
            }
            (Some(_), _) => Some(None),
            (None, _) => None,
        };
        let name = name
            .map(|name| names::chosen("name", "TooLongWorkerName", Some(&name), 5, 100))
            .transpose()?;
        if let Some(name) = &name {
            let taken = self.store.worker_by_name(name).await?;
            if taken.is_some_and(|other| other.id != worker.id) {
                return Err(Rejection::bad_request(
                    "WorkerNameAlreadyExists",
                    format!("A worker named {name:?} already exists"),
                )
                .into());
            }
            self.refuse_look_alike_worker(name, worker.owner_id, Some(&worker.id))
                .await?;
        }
        // "" leaves the team; an id joins that team.
        let team = match team.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(team_id) => Some(Some(self.existing_team(team_id).await?)),
        };
        let change = WorkerChange {
            maintenance,
            maintenance_msg,
            paused,
            info: info.clone(),
            name: name.clone(),
            team: team
                .as_ref()
                .map(|team| team.as_ref().map(|t| t.id.clone())),
        };
        self.store.modify_worker(&worker.id, &change).await?;
        tracing::info!(actor = actor.user.id, worker = %worker.id, "worker changed");
        if let Some(name) = &name {
            self.suspect_worker_name(worker.owner_id, &worker.id, name)
                .await?;
        }
        if actor.user.id != worker.owner_id {
            let fields = [
                ("maintenance", change.maintenance.is_some()),
                ("paused", change.paused.is_some()),
                ("info", change.info.is_some()),
                ("name", change.name.is_some()),
                ("team", change.team.is_some()),
            ];
            let changed: Vec<&str> = fields.iter().filter(|f| f.1).map(|f| f.0).collect();
            let target = format!("worker {}: {}", worker.id, changed.join(", "));
            self.record_moderation(actor, "worker changed", target)
                .await?;
        }
        Ok(ModifyWorker {
            maintenance,
            paused,
            info,
            name,
            team: team.map(|team| team.map_or_else(|| "None".to_string(), |t| t.name)),
        })
    }

    /// `DELETE /workers/{id}`: its owner or a moderator.
    pub async fn delete_worker(&self, actor: &Account, id: &str) -> Result<DeletedWorker> {
        let worker = self.existing_worker(id).await?;
        let owner = actor.user.id == worker.owner_id && !actor.is_anonymous();
        if !owner && !actor.user.moderator {
            return Err(Rejection::forbidden(
                "NotModerator",
                "Only the worker's owner or a moderator can delete it",
            )
            .into());
        }
        self.store.delete_worker(id).await?;
        tracing::info!(actor = actor.user.id, worker = %worker.id, "worker deleted");
        if !owner {
            self.record_moderation(actor, "worker deleted", format!("worker {}", worker.id))
                .await?;
        }
        Ok(DeletedWorker {
            deleted_id: worker.id,
            deleted_name: worker.name,
        })
    }
}

/// A text of at most `max` characters without NUL; `rc` when it is longer.
fn bounded(field: &'static str, text: &str, max: usize, rc: &'static str) -> Result<()> {
    validate::no_nul(field, text)?;
    if text.chars().count() > max {
        return Err(Rejection::invalid_field(
            field,
            rc,
            format!("{field} must have at most {max} characters"),
        )
        .into());
    }
    Ok(())
}
