//! Timeouts of client addresses by moderators (`/api/v2/operations/ipaddr`, and a worker's
//! address through `/operations/block_worker_ipaddr`), on the keyed hashes of addresses: no
//! address is stored, here either.
//!
//! A hash is only good for one period of the secret (`address_hash.rs`), and only the secrets of
//! this period and the next exist, so a block holds the address's hashes for those two. When a
//! blocked client comes back, its address is at hand again, and the block gets its hash for the
//! period after: a block follows an address for as long as it lasts provided the client comes
//! back at least once a period (a day by default). One that stays away a whole period is
//! forgotten, as its address is; so are the hashes of periods gone by. An IPv6 client is its
//! /64 network ([`canonical_address`]), which one subscriber usually has whole.
//!
//! Every instance keeps the hashes of the period in memory, refreshed by each sweep, so that the
//! check costs no query; a timeout set on one instance holds on the others from their next
//! sweep.

use super::{Account, Horde};
use crate::error::{Rejection, Result};
use crate::now_ms;
use crate::store::{AddressBlockRow, AddressHashes};
use protocol::IpTimeout;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// The longest timeout, as the AI Horde's: 30 days.
const MAX_HOURS: i64 = 24 * 30;
const MAX_WORKER_DAYS: i64 = 30;

/// The blocked hashes of one period.
#[derive(Debug, Default)]
pub(super) struct BlockedAddresses {
    period: i64,
    by_hash: HashMap<String, Blocked>,
}

#[derive(Debug, Clone)]
struct Blocked {
    block_id: String,
    until_ms: i64,
    /// The block has the address's hash for the next period already.
    carried: bool,
}

/// An address as hashes see it: an IPv4 address, or an IPv6 address's /64 network; an
/// IPv4 address written as IPv6 (`::ffff:1.2.3.4`) is the IPv4 one. None if it is no address.
pub fn canonical_address(address: &str) -> Option<String> {
    let ip: IpAddr = address.trim().parse().ok()?;
    Some(match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    })
}

impl Horde {
    /// How much longer the client at `address` ([`canonical_address`]) is in timeout, if it is.
    /// Carries its block into the next period when it has not been yet.
    pub async fn address_timeout(&self, address: &str) -> Option<Duration> {
        let blocked = {
            let blocks = self.address_blocks.read().ok()?;
            // Most of the time nobody is blocked: then no hash is computed.
            if blocks.by_hash.is_empty() {
                return None;
            }
            let (period, hash) = self.current_address_hash(address)?;
            // Between loading a new period's secrets and its blocks (one sweep) nothing matches.
            if blocks.period != period {
                return None;
            }
            blocks.by_hash.get(&hash).cloned()
        }?;
        let left = blocked.until_ms - now_ms();
        if left <= 0 {
            return None;
        }
        if !blocked.carried {
            if let Some(hashes) = self.address_hashes(address) {
                self.carry_block(&blocked.block_id, &hashes).await;
            }
        }
        Some(Duration::from_millis(left as u64))
    }

    /// Gives a block the address's hash for the period after this one.
    async fn carry_block(&self, block_id: &str, hashes: &AddressHashes) {
        let carried = self
            .store
            .add_block_hash(block_id, hashes.period + 1, &hashes.next)
            .await;
        match carried {
            Ok(()) => {
                if let Ok(mut blocks) = self.address_blocks.write() {
                    for blocked in blocks.by_hash.values_mut() {
                        if blocked.block_id == block_id {
                            blocked.carried = true;
                        }
                    }
                }
            }
            // The client is refused all the same; the next visit tries again.
            Err(error) => tracing::warn!(%error, "an address block could not be carried over"),
        }
    }

    /// Loads the blocked hashes of this period, and drops what is over. Every sweep calls it.
    pub async fn refresh_address_blocks(&self) -> Result<()> {
        let Some(period) = self.loaded_address_period() else {
            return Ok(());
        };
        let now = now_ms();
        self.store.sweep_address_blocks(period, now).await?;
        let by_hash = self
            .store
            .blocked_hashes(period, now)
            .await?
            .into_iter()
            .map(|row| {
                let blocked = Blocked {
                    block_id: row.block_id,
                    until_ms: row.until_ms,
                    carried: row.carried,
                };
                (row.hash, blocked)
            })
            .collect();
        if let Ok(mut blocks) = self.address_blocks.write() {
            *blocks = BlockedAddresses { period, by_hash };
        }
        Ok(())
    }

    /// `POST /operations/ipaddr`: puts an address in timeout for `hours`.
    pub async fn block_address(&self, moderator: &Account, ipaddr: &str, hours: i64) -> Result<()> {
        moderator.require_moderator()?;
        let address = single_address(ipaddr)?;
        crate::horde::validate::in_range("hours", hours, 1, MAX_HOURS)?;
        let hashes = self.hashes_now(&address)?;
        let block = self.new_block(moderator, hours * 3_600_000, None);
        let rows = [
            (hashes.period, hashes.current),
            (hashes.period + 1, hashes.next),
        ];
        self.store.insert_address_block(&block, &rows).await?;
        tracing::info!(moderator = moderator.user.id, block = %block.id, hours, "address timeout");
        let target = format!("block {}: {hours} hours", block.id);
        self.record_moderation(moderator, "address timeout", target)
            .await?;
        self.refresh_address_blocks().await
    }

    /// `DELETE /operations/ipaddr`: lifts every timeout of an address.
    pub async fn unblock_address(&self, moderator: &Account, ipaddr: &str) -> Result<()> {
        moderator.require_moderator()?;
        let hashes = self.hashes_now(&single_address(ipaddr)?)?;
        let lifted = self
            .store
            .delete_address_blocks_with(hashes.period, &hashes.current)
            .await?;
        tracing::info!(
            moderator = moderator.user.id,
            lifted,
            "address timeout lifted"
        );
        let target = format!("{lifted} blocks");
        self.record_moderation(moderator, "address timeout lifted", target)
            .await?;
        self.refresh_address_blocks().await
    }

    /// `GET /operations/ipaddr`: every timeout, its address shown as the block's id (the
    /// address itself is not kept).
    pub async fn address_timeouts(&self, moderator: &Account) -> Result<Vec<IpTimeout>> {
        moderator.require_moderator()?;
        let now = now_ms();
        Ok(self
            .store
            .address_blocks(now)
            .await?
            .into_iter()
            .map(|block| IpTimeout {
                ipaddr: match &block.worker_id {
                    Some(worker) => format!("block {} (worker {worker})", block.id),
                    None => format!("block {}", block.id),
                },
                seconds: (block.until_ms - now) / 1000,
            })
            .collect())
    }

    /// `GET /operations/ipaddr/{ipaddr}`: this address's timeout, if it has one.
    pub async fn timeouts_of_address(
        &self,
        moderator: &Account,
        ipaddr: &str,
    ) -> Result<Vec<IpTimeout>> {
        moderator.require_moderator()?;
        let address = single_address(ipaddr)?;
        self.hashes_now(&address)?;
        let left = self.address_timeout(&address).await;
        Ok(left
            .map(|left| IpTimeout {
                ipaddr: ipaddr.trim().to_string(),
                seconds: left.as_secs() as i64,
            })
            .into_iter()
            .collect())
    }

    /// `PUT /operations/block_worker_ipaddr/{worker_id}`: puts the address the worker last
    /// popped from in timeout for `days`.
    pub async fn block_worker_address(
        &self,
        moderator: &Account,
        worker_id: &str,
        days: i64,
    ) -> Result<()> {
        moderator.require_moderator()?;
        crate::horde::validate::in_range("days", days, 1, MAX_WORKER_DAYS)?;
        let worker = self.existing_worker(worker_id).await?;
        let known = self.store.worker_address(&worker.id).await?;
        let period = self.loaded_address_period().unwrap_or_default();
        let rows: Vec<(i64, String)> = match known {
            Some(a) => [
                (a.address_period, a.address_hash),
                (a.address_period.map(|p| p + 1), a.address_hash_next),
            ]
            .into_iter()
            .filter_map(|(p, hash)| Some((p?, hash?)))
            .filter(|(p, _)| *p >= period)
            .collect(),
            None => Vec::new(),
        };
        if rows.is_empty() {
            return Err(Rejection::bad_request(
                "BadRequest",
                "This worker's address is no longer known: it has not asked for work lately",
            )
            .into());
        }
        let block = self.new_block(moderator, days * 86_400_000, Some(worker.id.clone()));
        self.store.insert_address_block(&block, &rows).await?;
        tracing::info!(moderator = moderator.user.id, worker = %worker.id, days, "worker address timeout");
        let target = format!("block {}: worker {}, {days} days", block.id, worker.id);
        self.record_moderation(moderator, "address timeout", target)
            .await?;
        self.refresh_address_blocks().await
    }

    /// `DELETE /operations/block_worker_ipaddr/{worker_id}`: lifts the timeouts made through
    /// this worker.
    pub async fn unblock_worker_address(&self, moderator: &Account, worker_id: &str) -> Result<()> {
        moderator.require_moderator()?;
        let worker = self.existing_worker(worker_id).await?;
        let lifted = self.store.delete_worker_address_blocks(&worker.id).await?;
        tracing::info!(moderator = moderator.user.id, worker = %worker.id, lifted, "worker address timeout lifted");
        let target = format!("{lifted} blocks of worker {}", worker.id);
        self.record_moderation(moderator, "address timeout lifted", target)
            .await?;
        self.refresh_address_blocks().await
    }

    fn new_block(
        &self,
        moderator: &Account,
        ms: i64,
        worker_id: Option<String>,
    ) -> AddressBlockRow {
        let now = now_ms();
        AddressBlockRow {
            id: uuid::Uuid::new_v4().to_string(),
            until_ms: now + ms,
            created_by: moderator.user.id,
            created_at: now,
            worker_id,
        }
    }

    fn hashes_now(&self, address: &str) -> Result<AddressHashes> {
        self.address_hashes(address).ok_or_else(|| {
            Rejection::bad_request("BadRequest", "The server is starting; try again shortly").into()
        })
    }
}

/// One address from a moderator's input. Ranges cannot be matched against hashes: only an
/// IPv6 /64, which is how IPv6 clients are counted anyway.
fn single_address(ipaddr: &str) -> Result<String> {
    let ipaddr = ipaddr.trim();
    let plain = ipaddr.strip_suffix("/64").filter(|a| a.contains(':'));
    canonical_address(plain.unwrap_or(ipaddr)).ok_or_else(|| {
        let message = if ipaddr.contains('/') {
            "Only single addresses can be put in timeout (and IPv6 /64 networks): addresses are \
             kept only as hashes, which ranges cannot be matched against"
        } else {
            "Invalid IP address"
        };
        Rejection::invalid_field("ipaddr", "BadRequest", message).into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_canonical() {
        assert_eq!(canonical_address(" 10.0.0.1 ").unwrap(), "10.0.0.1");
        assert_eq!(canonical_address("::ffff:10.0.0.1").unwrap(), "10.0.0.1");
        assert_eq!(
            canonical_address("2001:db8:1:2:3:4:5:6").unwrap(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            canonical_address("2001:db8:1:2::9").unwrap(),
            canonical_address("2001:db8:1:2:ffff::1").unwrap()
        );
        assert_eq!(canonical_address("10.0.0.0/8"), None);
        assert_eq!(canonical_address("bob"), None);
    }

    #[test]
    fn moderators_name_single_addresses_or_ipv6_networks() {
        assert_eq!(
            single_address("2001:db8::/64").unwrap(),
            "2001:db8:0:0::/64"
        );
        assert!(single_address("10.0.0.0/24").is_err());
        assert!(single_address("2001:db8::/48").is_err());
        assert!(single_address("").is_err());
    }
}
