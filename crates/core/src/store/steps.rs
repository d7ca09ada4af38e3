//! Steps that both stores' transactions take the same way, apart from the transaction's type:
//! [`transaction_steps!`] writes them into each store's module for its database. Where they
//! run (and which locks are held first) is up to the transaction that calls them.

/// Defines, for the database type given: `book` and `book_held` (kudos movements,
/// `available_kudos` what may be spent up front), `may_take` (whether a pop's worker may take a
/// request),
/// `requeue_one` (a generation back to the queue), `claim` (a pop's jobs), `insert_request_row`
/// (and `insert_interrogation_rows`, and `charge_tax` after it),
/// the check-in's `record_uptime` and `refresh_worker`, a submit's `fault_job` (with
/// `count_uncompleted`, which the sweeps' expired leases use too), `finish_job`
/// and `settle_job` (with `hold_reward` and `queue_check`; it counts the job on its worker's team
/// too), a check's `apply_settlement` (with `release_held` and `forfeit_held`), and a style's
/// `use_style`; `report_suspicion` records a sign of suspicion.
macro_rules! transaction_steps {
    ($db:ty) => {
        /// Books one movement of spendable kudos: a ledger line and the balance, in the
        /// caller's transaction, topped up to the account's floor if it falls below (a `floor`
        /// line). The anonymous account keeps no kudos.
        async fn book(
            tx: &mut sqlx::Transaction<'_, $db>,
            user_id: i64,
            amount: Kudos,
            reason: &str,
            job_id: Option<&str>,
            counterparty: Option<i64>,
            now: i64,
        ) -> Result<()> {
            let line = shared::LedgerLine {
                user_id,
                amount,
                reason,
                job_id,
                counterparty,
                held: false,
                floored: true,
                now,
            };
            book_line(tx, &line).await
        }

        /// Books one movement of held kudos (rewards that wait for verification).
        async fn book_held(
            tx: &mut sqlx::Transaction<'_, $db>,
            user_id: i64,
            amount: Kudos,
            reason: &str,
            job_id: Option<&str>,
            now: i64,
        ) -> Result<()> {
            let line = shared::LedgerLine {
                user_id,
                amount,
                reason,
                job_id,
                counterparty: None,
                held: true,
                floored: false,
                now,
            };
            book_line(tx, &line).await
        }

        async fn book_line(
            tx: &mut sqlx::Transaction<'_, $db>,
            line: &shared::LedgerLine<'_>,
        ) -> Result<()> {
            if line.user_id == 0 || line.amount == Kudos::ZERO {
                return Ok(());
            }
            sqlx::query(sql::LEDGER_INSERT)
                .bind(line.user_id)
                .bind(line.amount.hundredths())
                .bind(line.reason)
                .bind(line.job_id)
                .bind(line.counterparty)
                .bind(line.now)
                .bind(line.held)
                .execute(&mut **tx)
                .await?;
            if line.held {
                sqlx::query(sql::ADD_HELD_KUDOS)
                    .bind(line.amount.hundredths())
                    .bind(line.user_id)
                    .execute(&mut **tx)
                    .await?;
                return Ok(());
            }
            let (balance, login_provider, erased_at): (i64, Option<String>, Option<i64>) =
                sqlx::query_as(sql::ADD_KUDOS)
                    .bind(line.amount.hundredths())
                    .bind(line.user_id)
                    .fetch_one(&mut **tx)
                    .await?;
            let floor = crate::kudos::floor(login_provider.is_some());
            if line.floored && erased_at.is_none() && balance < floor.hundredths() {
                // The AI Horde's floor: the shortfall is created, and written down as such.
                sqlx::query(sql::LEDGER_INSERT)
                    .bind(line.user_id)
                    .bind(floor.hundredths() - balance)
                    .bind("floor")
                    .bind(line.job_id)
                    .bind(None::<i64>)
                    .bind(line.now)
                    .bind(false)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query("UPDATE users SET kudos = $1 WHERE id = $2")
                    .bind(floor.hundredths())
                    .bind(line.user_id)
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        }

        /// What an account may spend up front, give away or reserve (`kudos::available`).
        async fn available_kudos(
            tx: &mut sqlx::Transaction<'_, $db>,
            user_id: i64,
        ) -> Result<Kudos> {
            let (balance, login_provider, reserved): (i64, Option<String>, i64) =
                sqlx::query_as(sql::AVAILABLE_KUDOS)
                    .bind(user_id)
                    .fetch_one(&mut **tx)
                    .await?;
            Ok(crate::kudos::available(
                Kudos(balance),
                login_provider.is_some(),
                Kudos(reserved),
            ))
        }

        /// Books an erased account's balances away, spendable and held (its held rewards go
        /// with it), so that its ledger still sums to them; returns what it forfeited.
        async fn book_away_balances(
            tx: &mut sqlx::Transaction<'_, $db>,
            user_id: i64,
            now: i64,
        ) -> Result<Kudos> {
            let (kudos, held): (i64, i64) =
                sqlx::query_as("SELECT kudos, held_kudos FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_one(&mut **tx)
                    .await?;
            let away = shared::LedgerLine {
                user_id,
                amount: Kudos(-kudos),
                reason: "erased",
                job_id: None,
                counterparty: None,
                held: false,
                floored: false,
                now,
            };
            book_line(tx, &away).await?;
            book_held(tx, user_id, Kudos(-held), "erased", None, now).await?;
            sqlx::query("DELETE FROM held_rewards WHERE owner_id = $1")
                .bind(user_id)
                .execute(&mut **tx)
                .await?;
            Ok(Kudos(kudos + held))
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

        /// Whether the popping worker may take this request, else why not: its capabilities
        /// (`matching.rs`), and, for a worker that takes only requests paid up front, the
        /// requester's kudos: trusted, or holding a generation's estimated reward above its
        /// floor (the AI Horde's rule, which counts a balance at or below zero as it is).
        async fn may_take(
            tx: &mut sqlx::Transaction<'_, $db>,
            pop: &PopQuery<'_>,
            request: &RequestRow,
        ) -> Result<std::result::Result<(), $crate::matching::Skip>> {
            let capable = pop.worker.check(request);
            if capable.is_err() || !pop.worker.require_upfront_kudos {
                return Ok(capable);
            }
            let requester: Option<(i64, bool, Option<String>)> = sqlx::query_as(
                "SELECT kudos, trusted, login_provider FROM users WHERE id = $1",
            )
            .bind(request.user_id)
            .fetch_optional(&mut **tx)
            .await?;
            let paid = requester.is_some_and(|(balance, trusted, login_provider)| {
                let floor = crate::kudos::floor(login_provider.is_some()).hundredths();
                let spendable = if balance > 0 { balance - floor } else { balance };
                trusted || spendable >= request.kudos_estimate
            });
            Ok(if paid { Ok(()) } else { Err($crate::matching::Skip::Kudos) })
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
                 workers_keep_nothing, check_kind, exclude_owner, pricing, upfront_kudos, \
                 slow_workers, extra_slow_workers, validated_backends, disable_batching, \
                 shared_key_id, webhook, group_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 $17, $18, $19, $20, $21, $22, $22, $23, $24, $25, $25, $26, $27, $28, $29, $30, \
                 $31, $32, $33, $34, $35, $36, $37)",
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
                .bind(r.check_kind.as_deref())
                .bind(r.exclude_owner)
                .bind(r.pricing.as_ref().map(Json))
                .bind(r.upfront_kudos.hundredths())
                .bind(r.slow_workers)
                .bind(r.extra_slow_workers)
                .bind(r.validated_backends)
                .bind(r.disable_batching)
                .bind(r.shared_key_id)
                .bind(r.webhook.as_deref())
                .bind(r.group_id.as_deref())
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Writes an interrogation: its image, and a request per form.
        async fn insert_interrogation_rows(
            tx: &mut sqlx::Transaction<'_, $db>,
            interrogation: &NewInterrogation,
        ) -> Result<()> {
            sqlx::query(alchemy::INSERT_IMAGE)
                .bind(&interrogation.id)
                .bind(&interrogation.image)
                .execute(&mut **tx)
                .await?;
            for form in &interrogation.forms {
                insert_request_row(tx, form).await?;
            }
            Ok(())
        }

        /// Charges a new request's tax (what it costs to queue) to its requester, and to the
        /// shared key it came with, if any, so that the key's limit counts it too.
        async fn charge_tax(tx: &mut sqlx::Transaction<'_, $db>, r: &NewRequest) -> Result<()> {
            book(tx, r.user_id, -r.tax, "spent", None, None, r.now).await?;
            if r.tax > Kudos::ZERO && r.shared_key_id.is_some() {
                sqlx::query($crate::store::shared_keys::SPEND_SHARED_KEY)
                    .bind(&r.id)
                    .bind(r.tax.hundredths())
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        }
        /// A known worker's check-in: the time since its last one counts as uptime, and every
        /// full interval of it pays the owner an uptime reward (held, for a worker whose work
        /// is verified).
        async fn record_uptime(
            tx: &mut sqlx::Transaction<'_, $db>,
            id: &str,
            c: &WorkerCheckIn,
            before: shared::UptimeBefore,
        ) -> Result<()> {
            let uptime = shared::uptime_after_check_in(c, &before);
            if c.hold_rewards {
                hold_reward(tx, c.owner_id, id, None, uptime.reward, false, c.now).await?;
            } else {
                book(tx, c.owner_id, uptime.reward, "uptime", None, None, c.now).await?;
            }
            sqlx::query(sql::RECORD_UPTIME)
                .bind(id)
                .bind(uptime.uptime_ms)
                .bind(uptime.last_reward_uptime_ms)
                .bind(uptime.reward.hundredths())
                .execute(&mut **tx)
                .await?;
            // The team last (the lock order): it counts the time its worker served in it.
            let online_ms = uptime.uptime_ms - before.uptime_ms;
            if online_ms > 0 && !before.maintenance {
                sqlx::query(sql::RECORD_TEAM_UPTIME)
                    .bind(id)
                    .bind(online_ms)
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        }

        /// Books a reward into the owner's held balance, and remembers it until a verdict (or a
        /// later one) settles it. `job_id`: none for an uptime reward.
        async fn hold_reward(
            tx: &mut sqlx::Transaction<'_, $db>,
            owner_id: i64,
            worker_id: &str,
            job_id: Option<&str>,
            amount: Kudos,
            awaiting_check: bool,
            now: i64,
        ) -> Result<()> {
            if amount == Kudos::ZERO {
                return Ok(());
            }
            let reason = if job_id.is_some() { "generated" } else { "uptime" };
            book_held(tx, owner_id, amount, reason, job_id, now).await?;
            sqlx::query(sql::INSERT_HELD_REWARD)
                .bind(owner_id)
                .bind(worker_id)
                .bind(job_id)
                .bind(amount.hundredths())
                .bind(awaiting_check)
                .bind(now)
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
                .bind(c.can_score)
                .bind(c.allow_sdxl_controlnet)
                .bind(c.limit_max_steps)
                .bind(c.extra_slow_worker)
                .bind(c.require_upfront_kudos)
                .bind(c.address.as_ref().map(|a| a.period))
                .bind(c.address.as_ref().map(|a| a.current.as_str()))
                .bind(c.address.as_ref().map(|a| a.next.as_str()))
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
            count_uncompleted(tx, &c.worker_id, c.now).await?;
            requeue_one(tx, request_id, c.max_restarts, c.now).await
        }

        /// Counts a job `worker_id` gave up on or let expire; the
        /// [`ABORTED_JOBS_PER_HOUR`](crate::suspicion::ABORTED_JOBS_PER_HOUR)-th within an
        /// hour is a sign of suspicion, and the count starts again.
        async fn count_uncompleted(
            tx: &mut sqlx::Transaction<'_, $db>,
            worker_id: &str,
            now: i64,
        ) -> Result<()> {
            const HOUR_MS: i64 = 3_600_000;
            let counted: Option<(i64, i64)> = sqlx::query_as(sql::COUNT_UNCOMPLETED)
                .bind(worker_id)
                .bind(now)
                .bind(now - HOUR_MS)
                .fetch_optional(&mut **tx)
                .await?;
            if let Some((recent, owner_id)) = counted {
                if recent >= crate::suspicion::ABORTED_JOBS_PER_HOUR {
                    let reason = crate::suspicion::SuspicionReason::TooManyJobsAborted;
                    report_suspicion(tx, owner_id, Some(worker_id), reason, now).await?;
                    sqlx::query(sql::FORGET_ABORTED)
                        .bind(worker_id)
                        .execute(&mut **tx)
                        .await?;
                }
            }
            Ok(())
        }

        /// Records a sign of suspicion on account `user_id` (and on `worker_id`'s worker,
        /// which it pauses at its threshold), once per reason unless the reason repeats. The
        /// anonymous account is never suspicious. Returns whether it was recorded.
        async fn report_suspicion(
            tx: &mut sqlx::Transaction<'_, $db>,
            user_id: i64,
            worker_id: Option<&str>,
            reason: crate::suspicion::SuspicionReason,
            now: i64,
        ) -> Result<bool> {
            if user_id == 0 {
                return Ok(false);
            }
            if !reason.repeatable() {
                let seen: bool = sqlx::query_scalar(sql::HAS_SUSPICION)
                    .bind(user_id)
                    .bind(worker_id)
                    .bind(reason.code())
                    .fetch_one(&mut **tx)
                    .await?;
                if seen {
                    return Ok(false);
                }
            }
            // Workers before accounts: the lock order.
            if let Some(worker_id) = worker_id {
                // Failed checks pause a worker by their own rule (`--pause-after-failed-checks`).
                let pause_at = match reason {
                    crate::suspicion::SuspicionReason::FailedCheck => i64::MAX,
                    _ => crate::suspicion::WORKER_THRESHOLD,
                };
                sqlx::query(sql::RAISE_WORKER_SUSPICION)
                    .bind(worker_id)
                    .bind(pause_at)
                    .execute(&mut **tx)
                    .await?;
            }
            sqlx::query(sql::INSERT_SUSPICION)
                .bind(user_id)
                .bind(worker_id)
                .bind(reason.code())
                .bind(now)
                .execute(&mut **tx)
                .await?;
            sqlx::query(sql::RAISE_USER_SUSPICION)
                .bind(user_id)
                .execute(&mut **tx)
                .await?;
            Ok(true)
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
                .bind(c.token_ids.as_ref().filter(|_| keep).map(Json))
                .bind(c.check.as_ref().map(|_| verification::PENDING))
                .execute(&mut **tx)
                .await?;
            credit_work(tx, sql::CREDIT_WORKER, c, delivered).await
        }

        /// Counts a finished generation on the record `statement` credits (the worker's, or its
        /// team's): (worker, kudos, tokens, megapixelsteps).
        async fn credit_work(
            tx: &mut sqlx::Transaction<'_, $db>,
            statement: &str,
            c: &Completion,
            delivered: &shared::Delivered,
        ) -> Result<()> {
            sqlx::query(statement)
                .bind(&c.worker_id)
                .bind(c.reward.hundredths())
                .bind(delivered.tokens)
                .bind(delivered.mps)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Pays the worker's owner (into the held balance, for a worker whose work is
        /// verified), charges the requester (and the shared key the request spends from),
        /// counts the generation done (in the request and in the public counters), and queues
        /// the job's check if it was chosen for one.
        async fn settle_job(
            tx: &mut sqlx::Transaction<'_, $db>,
            c: &Completion,
            parties: &shared::JobParties,
            delivered: &shared::Delivered,
        ) -> Result<()> {
            let job_id = Some(c.job_id.as_str());
            if let Some(owner) = parties.owner {
                if c.hold {
                    let awaiting = c.check.is_some();
                    hold_reward(tx, owner, &c.worker_id, job_id, c.reward, awaiting, c.now)
                        .await?;
                } else {
                    book(tx, owner, c.reward, "generated", job_id, None, c.now).await?;
                }
                sqlx::query(delivered.credit_owner_sql)
                    .bind(owner)
                    .bind(delivered.tokens)
                    .bind(delivered.mps)
                    .execute(&mut **tx)
                    .await?;
            }
            book(tx, parties.requester, -c.cost, "spent", job_id, None, c.now).await?;
            if c.cost > Kudos::ZERO {
                // What the request reserved up front is spent as it is charged.
                sqlx::query(sql::SPEND_RESERVED)
                    .bind(&parties.request_id)
                    .bind(c.cost.hundredths())
                    .execute(&mut **tx)
                    .await?;
            }
            sqlx::query($crate::store::shared_keys::SPEND_SHARED_KEY)
                .bind(&parties.request_id)
                .bind(c.cost.hundredths())
                .execute(&mut **tx)
                .await?;
            sqlx::query($crate::store::generation_stats::COUNT_GENERATION)
                .bind(&c.job_id)
                .bind(c.now - c.now.rem_euclid($crate::store::MINUTE_MS))
                .bind(delivered.tokens)
                .execute(&mut **tx)
                .await?;
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
            if let (Some(check), Some(owner)) = (&c.check, parties.owner) {
                queue_check(tx, c, check, owner, parties.requester).await?;
            }
            // The team last (the lock order: many workers share its row, so it is held for the
            // shortest time).
            credit_work(tx, sql::CREDIT_TEAM, c, delivered).await
        }

        /// Queues a check of the finished job `c`: a request of its own, and what its verdict
        /// compares with and moves.
        async fn queue_check(
            tx: &mut sqlx::Transaction<'_, $db>,
            c: &Completion,
            check: &NewCheck,
            owner: i64,
            requester: i64,
        ) -> Result<()> {
            insert_request_row(tx, &check.request).await?;
            sqlx::query(sql::INSERT_CHECK)
                .bind(&check.request.id)
                .bind(&c.job_id)
                .bind(&c.worker_id)
                .bind(owner)
                .bind(requester)
                .bind(c.cost.hundredths())
                .bind(c.reward.hundredths())
                .bind(c.hold)
                .bind(Json(&check.expected))
                .bind(c.now)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Applies a check's verdict (the check job `s` finished, of the check `check`, whose
        /// checked job belongs to `checked_request`, if that still exists): the checker's pay,
        /// and for the checked worker the release or forfeit of held kudos, the refund, the
        /// record, the pause, the trust. The caller holds the locks.
        async fn apply_settlement(
            tx: &mut sqlx::Transaction<'_, $db>,
            s: &Settlement,
            check: &CheckRow,
            checker_owner: Option<i64>,
            checked_request: Option<&str>,
        ) -> Result<SettleOutcome> {
            // The checker's side: a finished job of a request nobody fetches, paid from nothing.
            sqlx::query(
                "UPDATE jobs SET state = 'ok', kudos = $2, things = $3, finished_at = $4 \
                 WHERE id = $1",
            )
            .bind(&s.check_job_id)
            .bind(s.checker_reward.hundredths())
            .bind(s.things)
            .bind(s.now)
            .execute(&mut **tx)
            .await?;
            sqlx::query(sql::CREDIT_WORKER)
                .bind(&s.checker_worker_id)
                .bind(s.checker_reward.hundredths())
                .bind(0_i64)
                .bind(0.0_f64)
                .execute(&mut **tx)
                .await?;
            if let Some(owner) = checker_owner {
                let job_id = Some(s.check_job_id.as_str());
                book(tx, owner, s.checker_reward, "checked", job_id, None, s.now).await?;
            }
            sqlx::query(sql::CHECK_DONE)
                .bind(&check.request_id)
                .bind(s.now)
                .execute(&mut **tx)
                .await?;
            sqlx::query(sql::SET_VERIFICATION)
                .bind(&check.job_id)
                .bind(s.outcome)
                .execute(&mut **tx)
                .await?;
            let mut outcome = shared::Settled::default();
            match s.outcome {
                verification::PASSED => {
                    let streak: i64 = sqlx::query_scalar(sql::RECORD_PASSED_CHECK)
                        .bind(&check.worker_id)
                        .fetch_optional(&mut **tx)
                        .await?
                        .unwrap_or_default();
                    if streak >= s.release_streak {
                        outcome.released = release_held(tx, check, true, s.now).await?;
                    } else {
                        // Too short a clean record yet: a cheat passes now and then by luck.
                        // It waits, with what came before, for the streak to be long enough.
                        unawait_held(tx, check).await?;
                    }
                    let trusted: Option<String> = sqlx::query_scalar(sql::AUTO_TRUST)
                        .bind(&check.worker_id)
                        .bind(s.auto_trust_checks)
                        .bind(s.auto_trust_created_before)
                        .fetch_optional(&mut **tx)
                        .await?;
                    if trusted.is_some() {
                        // Trusted now: what it earned while it was evaluated is its own.
                        outcome.auto_trusted = true;
                        outcome.released += release_held(tx, check, false, s.now).await?;
                    }
                }
                verification::FAILED => {
                    outcome.forfeited = forfeit_held(tx, check, s.now).await?;
                    let job_id = Some(check.job_id.as_str());
                    if !check.held {
                        // It was paid at once (trusted for its record): the reward goes back.
                        let reward = Kudos(check.reward);
                        book(tx, check.owner_id, -reward, "forfeited", job_id, None, s.now)
                            .await?;
                        outcome.forfeited += reward;
                    }
                    let cost = Kudos(check.cost);
                    book(tx, check.requester_id, cost, "refunded", job_id, None, s.now).await?;
                    outcome.refunded = cost;
                    if let Some(request_id) = checked_request {
                        outcome.requeued = sqlx::query(sql::WITHDRAW_UNDELIVERED)
                            .bind(request_id)
                            .bind(&check.job_id)
                            .bind(s.now)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected()
                            > 0;
                        if outcome.requeued {
                            sqlx::query(sql::REJECT_JOB)
                                .bind(&check.job_id)
                                .execute(&mut **tx)
                                .await?;
                        }
                    }
                    let paused: Option<bool> = sqlx::query_scalar(sql::RECORD_FAILED_CHECK)
                        .bind(&check.worker_id)
                        .bind(s.pause_after_failed_checks)
                        .fetch_optional(&mut **tx)
                        .await?;
                    outcome.paused = paused.unwrap_or(false);
                    let reason = crate::suspicion::SuspicionReason::FailedCheck;
                    report_suspicion(tx, check.owner_id, Some(&check.worker_id), reason, s.now)
                        .await?;
                }
                _ => {
                    // Undecided: the job's reward may yet be released by a later passed check.
                    unawait_held(tx, check).await?;
                }
            }
            Ok(outcome.into())
        }

        /// The held reward of `check.job_id` waits for no check any more: a later passed check
        /// (with a long enough clean record) releases it with the others.
        async fn unawait_held(
            tx: &mut sqlx::Transaction<'_, $db>,
            check: &CheckRow,
        ) -> Result<()> {
            sqlx::query("UPDATE held_rewards SET awaiting_check = FALSE WHERE job_id = $1")
                .bind(&check.job_id)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Releases the held rewards a passed check of `check.job_id` settles: its own, and the
        /// worker's others that wait for no check of their own and were earned before the
        /// checked job (or, `only_up_to_the_check` false, at any time). Returns the amount.
        async fn release_held(
            tx: &mut sqlx::Transaction<'_, $db>,
            check: &CheckRow,
            only_up_to_the_check: bool,
            now: i64,
        ) -> Result<Kudos> {
            // Everything of the worker (its trust was just earned), or what precedes the check.
            let up_to = if only_up_to_the_check { check.created_at } else { i64::MAX };
            let amount = take_held(tx, check, up_to).await?;
            let job_id = Some(check.job_id.as_str());
            book_held(tx, check.owner_id, -amount, "released", job_id, now).await?;
            book(tx, check.owner_id, amount, "released", job_id, None, now).await?;
            Ok(amount)
        }

        /// Forfeits the held rewards of the failed job and every other of the worker that no
        /// check of its own waits for: a worker caught once is not paid for what went unseen.
        async fn forfeit_held(
            tx: &mut sqlx::Transaction<'_, $db>,
            check: &CheckRow,
            now: i64,
        ) -> Result<Kudos> {
            let amount = take_held(tx, check, i64::MAX).await?;
            let job_id = Some(check.job_id.as_str());
            book_held(tx, check.owner_id, -amount, "forfeited", job_id, now).await?;
            Ok(amount)
        }

        /// Removes the held rewards a verdict on `check.job_id` settles (see
        /// `settled_held_rewards!`) and returns their sum.
        async fn take_held(
            tx: &mut sqlx::Transaction<'_, $db>,
            check: &CheckRow,
            up_to: i64,
        ) -> Result<Kudos> {
            let amount: i64 = sqlx::query_scalar(sql::SUM_SETTLED_HELD)
                .bind(&check.worker_id)
                .bind(&check.job_id)
                .bind(up_to)
                .fetch_one(&mut **tx)
                .await?;
            sqlx::query(sql::DELETE_SETTLED_HELD)
                .bind(&check.worker_id)
                .bind(&check.job_id)
                .bind(up_to)
                .execute(&mut **tx)
                .await?;
            Ok(Kudos(amount))
        }

        /// Counts a request's use of a style (and of its collection) and pays the style's fee
        /// to its creator, the requester's row being locked: only a registered requester other
        /// than the creator who has the fee to spend above their floor pays it, so that no use
        /// mints kudos (a floor top-up would). Returns whether the fee was paid.
        async fn use_style(tx: &mut sqlx::Transaction<'_, $db>, u: &StyleUse) -> Result<bool> {
            sqlx::query($crate::store::styles::COUNT_STYLE_USE)
                .bind(&u.style_id)
                .execute(&mut **tx)
                .await?;
            if let Some(collection) = &u.collection_id {
                sqlx::query($crate::store::styles::COUNT_COLLECTION_USE)
                    .bind(collection)
                    .execute(&mut **tx)
                    .await?;
            }
            let pays = u.fee > Kudos::ZERO
                && u.requester != 0
                && u.requester != u.creator
                && available_kudos(tx, u.requester).await? >= u.fee;
            if pays {
                book(tx, u.requester, -u.fee, "spent", None, Some(u.creator), u.now).await?;
                book(tx, u.creator, u.fee, "styled", None, Some(u.requester), u.now).await?;
            }
            Ok(pays)
        }
    };
}

pub(super) use transaction_steps;
