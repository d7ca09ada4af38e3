//! Housekeeping run periodically by every server instance. Each step is a
//! set of conditional updates, so instances running it at once do no harm.

use super::Horde;
use crate::error::Result;
use crate::now_ms;
use crate::store::{ExpiryCutoffs, PurgeCutoffs};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Jobs whose lease ran out and went back to the queue.
    pub requeued: u64,
    /// Requests nobody served or looked at in time.
    pub expired: u64,
    /// Requests whose prompts and results were deleted.
    pub purged: u64,
}

impl Horde {
    pub async fn sweep(&self) -> Result<SweepReport> {
        self.refresh_address_secrets().await?;
        self.refresh_address_blocks().await?;
        let now = now_ms();
        let ms = |d: std::time::Duration| d.as_millis() as i64;
        let requeued = self
            .store
            .requeue_expired_leases(now, self.policy.max_restarts)
            .await?;
        let expiry = ExpiryCutoffs {
            idle_before: now - ms(self.policy.request_expiry),
            checks_before: now - ms(self.policy.trust.check_expiry),
            now,
        };
        let expired = self.store.expire_idle_requests(&expiry).await?;
        let cutoffs = PurgeCutoffs {
            delivered_before: now - ms(self.policy.result_retention),
            finished_before: now - ms(self.policy.request_expiry),
            history_before: now - ms(self.policy.history_retention),
            client_hashes_before: now - ms(self.policy.address_hash_lifetime),
            pending_logins_before: now - ms(super::logins::PENDING_LOGIN_LIFETIME),
        };
        let purged = self.store.purge(&cutoffs).await?;
        self.fold_generation_stats().await?;
        let report = SweepReport {
            requeued,
            expired,
            purged,
        };
        metrics::counter!("potluck_jobs_requeued_total").increment(requeued);
        metrics::counter!("potluck_requests_expired_total").increment(expired);
        metrics::counter!("potluck_requests_purged_total").increment(purged);
        if report != SweepReport::default() {
            tracing::info!(requeued, expired, purged, "sweep");
        }
        Ok(report)
    }
}
