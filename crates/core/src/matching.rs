//! Which worker may take which request: one predicate used both to pick jobs
//! on pop and to tell a requester whether any worker could serve them.

use crate::store::{check_kind, RequestRow, WorkerRow};
use protocol::NoValidRequestFound;

/// Why a worker cannot take a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Models,
    WorkerId,
    Untrusted,
    KeepsPrompts,
    MaxLength,
    MaxContextLength,
    MaxPixels,
    Nsfw,
    Img2img,
    PostProcessing,
    Lora,
    StepCount,
    Blacklist,
}

impl Skip {
    pub fn count(self, skipped: &mut NoValidRequestFound) {
        let counter = match self {
            Skip::Models => &mut skipped.models,
            Skip::WorkerId => &mut skipped.worker_id,
            Skip::Untrusted => &mut skipped.untrusted,
            Skip::KeepsPrompts => &mut skipped.keeps_prompts,
            Skip::MaxLength => &mut skipped.max_length,
            Skip::MaxContextLength => &mut skipped.max_context_length,
            Skip::MaxPixels => &mut skipped.max_pixels,
            Skip::Nsfw => &mut skipped.nsfw,
            Skip::Img2img => &mut skipped.img2img,
            Skip::PostProcessing => &mut skipped.post_processing,
            Skip::Lora => &mut skipped.lora,
            Skip::StepCount => &mut skipped.step_count,
            Skip::Blacklist => &mut skipped.blacklist,
        };
        *counter += 1;
    }
}

/// Steps above which a worker that limits its steps skips a request.
const LIMITED_MAX_STEPS: i64 = 100;

/// What a worker can do, as it told us on its latest pop.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    pub worker_id: String,
    pub worker_name: String,
    pub owner_id: i64,
    pub trusted: bool,
    /// It may check others' work (`WorkerRow::may_check`).
    pub may_check: bool,
    /// It can score text (check jobs of kind `score`).
    pub can_score: bool,
    pub keeps_prompts: bool,
    pub models: Vec<String>,
    pub max_length: i64,
    pub max_context_length: i64,
    pub max_pixels: i64,
    pub nsfw: bool,
    pub allow_img2img: bool,
    pub allow_post_processing: bool,
    pub allow_lora: bool,
    pub limit_max_steps: bool,
    pub blacklist: Vec<String>,
}

impl Capabilities {
    pub fn of(worker: &WorkerRow) -> Self {
        Capabilities {
            worker_id: worker.id.clone(),
            worker_name: worker.name.clone(),
            owner_id: worker.owner_id,
            trusted: worker.trusted(),
            may_check: worker.may_check(),
            can_score: worker.can_score,
            keeps_prompts: worker.keeps_prompts,
            models: worker.models.0.clone(),
            max_length: worker.max_length,
            max_context_length: worker.max_context_length,
            max_pixels: worker.max_pixels,
            nsfw: worker.nsfw,
            allow_img2img: worker.allow_img2img,
            allow_post_processing: worker.allow_post_processing,
            allow_lora: worker.allow_lora,
            limit_max_steps: false,
            blacklist: Vec::new(),
        }
    }

    /// The model this worker would run for the request, or `None` if it serves none of them.
    pub fn model_for(&self, request: &RequestRow) -> Option<String> {
        if request.models.0.is_empty() {
            return self.models.first().cloned().or_else(|| Some(String::new()));
        }
        self.models
            .iter()
            .find(|m| request.models.0.contains(m))
            .cloned()
    }

    /// Ok when this worker may take the request, else the first reason it may not.
    pub fn check(&self, request: &RequestRow) -> Result<(), Skip> {
        if self.model_for(request).is_none() {
            return Err(Skip::Models);
        }
        let workers = &request.workers.0;
        if !workers.is_empty() {
            let listed = workers
                .iter()
                .any(|w| w == &self.worker_id || w == &self.worker_name);
            if listed == request.worker_blacklist {
                return Err(Skip::WorkerId);
            }
        }
        if let Some(kind) = request.check_kind.as_deref() {
            // A check goes to a worker a moderator vouched for, never the checked one's owner's.
            if request.exclude_owner == Some(self.owner_id) {
                return Err(Skip::WorkerId);
            }
            if !self.may_check || (kind == check_kind::SCORE && !self.can_score) {
                return Err(Skip::Untrusted);
            }
        }
        if request.trusted_workers && !self.trusted {
            return Err(Skip::Untrusted);
        }
        if request.workers_keep_nothing && self.keeps_prompts {
            return Err(Skip::KeepsPrompts);
        }
        if request.kind == "text" {
            if request.max_length > self.max_length {
                return Err(Skip::MaxLength);
            }
            if request.max_context_length > self.max_context_length {
                return Err(Skip::MaxContextLength);
            }
            return Ok(());
        }
        if request.width * request.height > self.max_pixels {
            return Err(Skip::MaxPixels);
        }
        if request.nsfw && !self.nsfw {
            return Err(Skip::Nsfw);
        }
        if request.img2img && !self.allow_img2img {
            return Err(Skip::Img2img);
        }
        if request.post_processors > 0 && !self.allow_post_processing {
            return Err(Skip::PostProcessing);
        }
        if request.loras > 0 && !self.allow_lora {
            return Err(Skip::Lora);
        }
        if self.limit_max_steps && request.steps > LIMITED_MAX_STEPS {
            return Err(Skip::StepCount);
        }
        if let Some(prompt) = &request.prompt {
            let prompt = prompt.to_lowercase();
            if self
                .blacklist
                .iter()
                .any(|word| !word.is_empty() && prompt.contains(&word.to_lowercase()))
            {
                return Err(Skip::Blacklist);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::types::Json;

    fn request(kind: &str) -> RequestRow {
        RequestRow {
            id: "r".into(),
            kind: kind.into(),
            user_id: 1,
            prompt: Some("a cat".into()),
            params: None,
            models: Json(vec![]),
            workers: Json(vec![]),
            worker_blacklist: false,
            trusted_workers: false,
            workers_keep_nothing: false,
            nsfw: false,
            r2: true,
            shared: false,
            max_length: 80,
            max_context_length: 1024,
            width: 512,
            height: 512,
            steps: 30,
            img2img: false,
            post_processors: 0,
            loras: 0,
            n: 1,
            n_waiting: 1,
            n_done: 0,
            restarts: 0,
            priority: 0,
            kudos_estimate: 0,
            state: "active".into(),
            created_at: 0,
            last_activity: 0,
            delivered_at: None,
            purged: false,
            check_kind: None,
            exclude_owner: None,
        }
    }

    fn worker() -> Capabilities {
        Capabilities {
            worker_id: "w1".into(),
            worker_name: "Worker One".into(),
            models: vec!["m1".into()],
            max_length: 512,
            max_context_length: 2048,
            max_pixels: 512 * 512,
            ..Capabilities::default()
        }
    }

    #[test]
    fn matches_by_model_and_limits() {
        let w = worker();
        let mut r = request("text");
        assert_eq!(w.check(&r), Ok(()));
        r.models = Json(vec!["other".into()]);
        assert_eq!(w.check(&r), Err(Skip::Models));
        r.models = Json(vec!["other".into(), "m1".into()]);
        assert_eq!(w.model_for(&r).as_deref(), Some("m1"));
        r.max_length = 1000;
        assert_eq!(w.check(&r), Err(Skip::MaxLength));
        r.max_length = 80;
        r.max_context_length = 4096;
        assert_eq!(w.check(&r), Err(Skip::MaxContextLength));
    }

    #[test]
    fn worker_lists_and_trust() {
        let w = worker();
        let mut r = request("text");
        r.workers = Json(vec!["someone-else".into()]);
        assert_eq!(w.check(&r), Err(Skip::WorkerId));
        r.worker_blacklist = true;
        assert_eq!(w.check(&r), Ok(()));
        r.workers = Json(vec!["w1".into()]);
        assert_eq!(w.check(&r), Err(Skip::WorkerId));
        r.workers = Json(vec![]);
        r.trusted_workers = true;
        assert_eq!(w.check(&r), Err(Skip::Untrusted));
    }

    #[test]
    fn workers_that_keep_prompts() {
        let mut w = worker();
        let mut r = request("text");
        w.keeps_prompts = true;
        assert_eq!(w.check(&r), Ok(()));
        r.workers_keep_nothing = true;
        assert_eq!(w.check(&r), Err(Skip::KeepsPrompts));
        w.keeps_prompts = false;
        assert_eq!(w.check(&r), Ok(()));
    }

    #[test]
    fn image_limits() {
        let mut w = worker();
        let mut r = request("image");
        assert_eq!(w.check(&r), Ok(()));
        r.width = 1024;
        assert_eq!(w.check(&r), Err(Skip::MaxPixels));
        r.width = 512;
        r.nsfw = true;
        assert_eq!(w.check(&r), Err(Skip::Nsfw));
        r.nsfw = false;
        w.blacklist = vec!["CAT".into()];
        assert_eq!(w.check(&r), Err(Skip::Blacklist));
    }
}
