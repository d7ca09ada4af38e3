//! Steps that both stores' transactions take the same way, apart from the transaction's type:
//! [`transaction_steps!`] writes them into each store's module for its database. Where they
//! run (and which locks are held first) is up to the transaction that calls them.

/// Defines, for the database type given: `book` (a kudos movement), `requeue_one` (a
/// generation back to the queue), `claim` (a pop's jobs), `insert_request_row`, the check-in's
/// `record_uptime` and `refresh_worker`, and a submit's `fault_job`, `finish_job` and
/// `settle_job`.
macro_rules! transaction_steps {
    ($db:ty) => {
        /// Books one kudos movement: a ledger line and the balance, in the caller's
        /// transaction. The anonymous account keeps no kudos.
        async fn book(
            tx: &mut sqlx::Transaction<'_, $db>,
            user_id: i64,
            amount: Kudos,
            reason: &str,
            job_id: Option<&str>,
            counterparty: Option<i64>,
            now: i64,
        ) -> Result<()> {
            if user_id == 0 || amount == Kudos::ZERO {
                return Ok(());
            }
            sqlx::query(sql::LEDGER_INSERT)
                .bind(user_id)
                .bind(amount.hundredths())
                .bind(reason)
                .bind(job_id)
                .bind(counterparty)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            sqlx::query(sql::ADD_KUDOS)
                .bind(amount.hundredths())
                .bind(user_id)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Puts one generation of the request back in the queue, or faults the request once
        /// it restarted too often.
        async fn requeue_one(
            tx: &mut sqlx::Transaction<'_, $db>,
            request_id: &str,
            max_restarts: u32,
            now: i64,
        ) -> Result<()> {
            sqlx::query(sql::REQUEUE_ONE)
                .bind(request_id)
                .bind(i64::from(max_restarts))
                .bind(now)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Takes up to `pop.amount` waiting generations of `request` for the worker.
        async fn claim(
            tx: &mut sqlx::Transaction<'_, $db>,
            request: &RequestRow,
            pop: &PopQuery<'_>,
        ) -> Result<Claimed> {
            let claimed = shared::new_jobs(request, pop);
            sqlx::query(sql::TAKE_GENERATIONS)
                .bind(&request.id)
                .bind(claimed.jobs.len() as i64)
                .bind(pop.now)
                .execute(&mut **tx)
                .await?;
            for job in &claimed.jobs {
                sqlx::query(sql::INSERT_JOB)
                    .bind(&job.id)
                    .bind(&job.request_id)
                    .bind(&job.worker_id)
                    .bind(&job.model)
                    .bind(job.popped_at)
                    .bind(job.lease_expires_at)
                    .bind(job.upload_token.as_deref())
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(claimed)
        }

        /// Writes a new request's row: the one place its columns meet their values.
        async fn insert_request_row(
            tx: &mut sqlx::Transaction<'_, $db>,
            r: &NewRequest,
        ) -> Result<()> {
            sqlx::query(
                "INSERT INTO requests (id, kind, user_id, client_hash, prompt, params, models, \
                 workers, worker_blacklist, trusted_workers, nsfw, r2, shared, max_length, \
                 max_context_length, width, height, steps, img2img, post_processors, loras, n, \
                 n_waiting, priority, kudos_estimate, created_at, last_activity, \
                 workers_keep_nothing) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
                 $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $22, $23, $24, $25, $25, \
                 $26)",
            )
                .bind(&r.id)
                .bind(&r.kind)
                .bind(r.user_id)
                .bind(r.client_hash.as_deref())
                .bind(&r.prompt)
                .bind(Json(&r.params))
                .bind(Json(&r.models))
                .bind(Json(&r.workers))
                .bind(r.worker_blacklist)
                .bind(r.trusted_workers)
                .bind(r.nsfw)
                .bind(r.r2)
                .bind(r.shared)
                .bind(r.max_length)
                .bind(r.max_context_length)
                .bind(r.width)
                .bind(r.height)
                .bind(r.steps)
                .bind(r.img2img)
                .bind(r.post_processors)
                .bind(r.loras)
                .bind(r.n)
                .bind(r.priority)
                .bind(r.kudos_estimate.hundredths())
                .bind(r.now)
                .bind(r.workers_keep_nothing)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }
        /// A known worker's check-in: the time since its last one counts as uptime, and every
        /// full interval of it pays the owner an uptime reward.
        async fn record_uptime(
            tx: &mut sqlx::Transaction<'_, $db>,
            id: &str,
            c: &WorkerCheckIn,
            before: shared::UptimeBefore,
        ) -> Result<()> {
            let uptime = shared::uptime_after_check_in(c, &before);
            book(tx, c.owner_id, uptime.reward, "uptime", None, None, c.now).await?;
            sqlx::query(sql::RECORD_UPTIME)
                .bind(id)
                .bind(uptime.uptime_ms)
                .bind(uptime.last_reward_uptime_ms)
                .bind(uptime.reward.hundredths())
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Stores what the worker said of itself in this check-in.
        async fn refresh_worker(
            tx: &mut sqlx::Transaction<'_, $db>,
            id: &str,
            c: &WorkerCheckIn,
        ) -> Result<()> {
            sqlx::query(sql::REFRESH_WORKER)
                .bind(id)
                .bind(Json(&c.models))
                .bind(c.max_length)
                .bind(c.max_context_length)
                .bind(c.max_pixels)
                .bind(c.nsfw)
                .bind(c.allow_img2img)
                .bind(c.allow_painting)
                .bind(c.allow_post_processing)
                .bind(c.allow_lora)
                .bind(c.allow_controlnet)
                .bind(c.threads)
                .bind(&c.bridge_agent)
                .bind(c.now)
                .bind(c.chat_template.as_deref())
                .bind(c.browser)
                .bind(c.keeps_prompts)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// A worker gave up on its job: the job faults, the worker's record says so, and the
        /// generation goes back to the queue.
        async fn fault_job(
            tx: &mut sqlx::Transaction<'_, $db>,
            c: &Completion,
            request_id: &str,
        ) -> Result<()> {
            sqlx::query(sql::FAULT_JOB)
                .bind(&c.job_id)
                .bind(c.now)
                .execute(&mut **tx)
                .await?;
            sqlx::query(sql::COUNT_UNCOMPLETED)
                .bind(&c.worker_id)
                .execute(&mut **tx)
                .await?;
            requeue_one(tx, request_id, c.max_restarts, c.now).await
        }

        /// Stores a job's result (its content only with `keep`) and credits its worker.
        async fn finish_job(
            tx: &mut sqlx::Transaction<'_, $db>,
            c: &Completion,
            keep: bool,
            delivered: &shared::Delivered,
        ) -> Result<()> {
            sqlx::query(sql::FINISH_JOB)
                .bind(&c.job_id)
                .bind(c.state.as_str())
                .bind(c.generation.as_deref().filter(|_| keep))
                .bind(c.image.as_deref().filter(|_| keep))
                .bind(&c.seed)
                .bind(keep.then_some(Json(&c.gen_metadata)))
                .bind(c.reward.hundredths())
                .bind(c.things)
                .bind(c.now)
                .bind(c.prompt_tokens)
                .bind(c.completion_tokens)
                .bind(c.finish_reason.as_deref())
                .execute(&mut **tx)
                .await?;
            sqlx::query(sql::CREDIT_WORKER)
                .bind(&c.worker_id)
                .bind(c.reward.hundredths())
                .bind(delivered.tokens)
                .bind(delivered.mps)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Pays the worker's owner, charges the requester, and counts the generation done.
        async fn settle_job(
            tx: &mut sqlx::Transaction<'_, $db>,
            c: &Completion,
            parties: &shared::JobParties,
            delivered: &shared::Delivered,
        ) -> Result<()> {
            let job_id = Some(c.job_id.as_str());
            if let Some(owner) = parties.owner {
                book(tx, owner, c.reward, "generated", job_id, None, c.now).await?;
                sqlx::query(delivered.credit_owner_sql)
                    .bind(owner)
                    .bind(delivered.tokens)
                    .bind(delivered.mps)
                    .execute(&mut **tx)
                    .await?;
            }
            book(tx, parties.requester, -c.cost, "spent", job_id, None, c.now).await?;
            sqlx::query(sql::CHARGE_USAGE)
                .bind(parties.requester)
                .bind(delivered.tokens)
                .bind(delivered.mps)
                .execute(&mut **tx)
                .await?;
            sqlx::query(sql::COUNT_DONE)
                .bind(&parties.request_id)
                .bind(c.now)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }
    };
}

pub(super) use transaction_steps;
