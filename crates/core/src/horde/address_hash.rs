//! Keyed hashes of client addresses, the only form in which an address is ever kept (with an
//! anonymous request, to limit how many one client may have at once).
//!
//! The key changes every `policy.address_hash_lifetime` (a day by default): each period has its
//! own random secret in the shared settings, so every instance hashes alike, and a period's
//! secret is deleted once it is over. The sweep also drops every hash older than one period,
//! so no hash outlives its secret and none can be tied to an address after a day, even by
//! someone who reads both the database and the traffic.

use super::Horde;
use crate::error::Result;
use crate::keys;
use crate::now_ms;
use crate::store::AddressHashes;
use sha2::{Digest, Sha256};

/// The settings' key prefix; the period number follows, zero-padded so that keys sort like
/// periods and older ones can be deleted as one range.
const SECRET_PREFIX: &str = "secret:client_hash:";

/// The secrets of the period the server is in and of the next one, which is fetched ahead so
/// that instances switch at the boundary itself, not at their next sweep.
#[derive(Debug, Clone)]
pub(super) struct AddressSecrets {
    period: u64,
    current: String,
    next: String,
}

impl Horde {
    /// The keyed hash of a client's address (hex, 128 bits), or None before the secrets were
    /// first loaded ([`Horde::refresh_address_secrets`]).
    pub fn hash_address(&self, address: &str) -> Option<String> {
        let period = self.address_period(now_ms());
        let secrets = self.address_secrets.read().ok()?.clone()?;
        // A sweep that fell behind leaves an older pair: its newest secret is still secret.
        let secret = match period == secrets.period {
            true => &secrets.current,
            false => &secrets.next,
        };
        Some(keyed_hash(secret, address))
    }

    /// The address's hashes with the secrets loaded: of their period and of the next.
    pub(crate) fn address_hashes(&self, address: &str) -> Option<AddressHashes> {
        let secrets = self.address_secrets.read().ok()?.clone()?;
        Some(AddressHashes {
            period: secrets.period as i64,
            current: keyed_hash(&secrets.current, address),
            next: keyed_hash(&secrets.next, address),
        })
    }

    /// The address's hash with the current secret loaded, and that secret's period.
    pub(super) fn current_address_hash(&self, address: &str) -> Option<(i64, String)> {
        let secrets = self.address_secrets.read().ok()?;
        let secrets = secrets.as_ref()?;
        Some((secrets.period as i64, keyed_hash(&secrets.current, address)))
    }

    /// The period of the secrets loaded, if any are.
    pub(super) fn loaded_address_period(&self) -> Option<i64> {
        let secrets = self.address_secrets.read().ok()?;
        secrets.as_ref().map(|s| s.period as i64)
    }

    /// Makes sure the secrets of this period and the next exist and are loaded, and deletes
    /// those of the periods gone by. Cheap when nothing changed: the sweep calls it every time.
    pub async fn refresh_address_secrets(&self) -> Result<()> {
        let period = self.address_period(now_ms());
        let loaded = self
            .address_secrets
            .read()
            .map(|s| s.as_ref().map(|s| s.period))
            .unwrap_or(None);
        if loaded == Some(period) {
            return Ok(());
        }
        let current = self.period_secret(period).await?;
        let next = self.period_secret(period + 1).await?;
        let gone = self
            .store
            .delete_settings_in(SECRET_PREFIX, &secret_key(period))
            .await?;
        if gone > 0 {
            tracing::info!(
                secrets = gone,
                "client address secrets of past periods deleted"
            );
        }
        if let Ok(mut secrets) = self.address_secrets.write() {
            *secrets = Some(AddressSecrets {
                period,
                current,
                next,
            });
        }
        Ok(())
    }

    async fn period_secret(&self, period: u64) -> Result<String> {
        self.store
            .setting_or_insert(&secret_key(period), &keys::generate_key())
            .await
    }

    fn address_period(&self, now_ms: i64) -> u64 {
        let lifetime = self.policy.address_hash_lifetime.as_millis().max(1);
        (u128::try_from(now_ms).unwrap_or_default() / lifetime) as u64
    }
}

/// 128 bits of SHA-256 over the secret and the address, in hex.
fn keyed_hash(secret: &str, address: &str) -> String {
    let digest = Sha256::new()
        .chain_update(secret.as_bytes())
        .chain_update(address.as_bytes())
        .finalize();
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn secret_key(period: u64) -> String {
    format!("{SECRET_PREFIX}{period:020}")
}

#[cfg(test)]
mod tests {
    use super::secret_key;

    #[test]
    fn secret_keys_sort_like_their_periods() {
        assert!(secret_key(9) < secret_key(10));
        assert!(secret_key(10) < secret_key(u64::MAX));
        assert!(super::SECRET_PREFIX < secret_key(0).as_str());
    }
}
