//! The operator's rate limits: a quota per endpoint class, written `CLASS=COUNT/UNIT[:BURST]`
//! (`generate=90/m:10`: 90 a minute, at most 10 at once), `CLASS=off`, or `off` for none at all.

use super::classes::EndpointClass;
use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

/// How many requests of a class one client may make: `count` per `period`, with at most
/// `burst` at once (the rest spread evenly over the period).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub count: NonZeroU32,
    pub period: Duration,
    pub burst: NonZeroU32,
}

impl Limit {
    const fn new(count: u32, period_secs: u64, burst: u32) -> Limit {
        match (NonZeroU32::new(count), NonZeroU32::new(burst)) {
            (Some(count), Some(burst)) => Limit {
                count,
                period: Duration::from_secs(period_secs),
                burst,
            },
            _ => panic!("a limit of zero"),
        }
    }

    fn default_for(class: EndpointClass) -> Limit {
        const MINUTE: u64 = 60;
        match class {
            EndpointClass::Register => Limit::new(5, MINUTE, 5),
            EndpointClass::Generate => Limit::new(90, MINUTE, 10),
            EndpointClass::Status => Limit::new(600, MINUTE, 60),
            EndpointClass::Pop | EndpointClass::Submit => Limit::new(3600, MINUTE, 120),
            EndpointClass::Transfer => Limit::new(60, MINUTE, 5),
            EndpointClass::Ui => Limit::new(600, MINUTE, 60),
            EndpointClass::Api => Limit::new(600, MINUTE, 120),
            EndpointClass::Pages => Limit::new(1200, MINUTE, 200),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "second".to_string(),
            60 => "minute".to_string(),
            3600 => "hour".to_string(),
            secs => format!("{secs} s"),
        };
        write!(f, "{} per {unit}", self.count)
    }
}

impl FromStr for Limit {
    type Err = String;

    fn from_str(text: &str) -> Result<Limit, String> {
        let bad = || format!("{text:?} is not COUNT/UNIT[:BURST] (units: s, m, h)");
        let (rate, burst) = match text.split_once(':') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (text, None),
        };
        let (count, unit) = rate.split_once('/').ok_or_else(bad)?;
        let count: NonZeroU32 = count.trim().parse().map_err(|_| bad())?;
        let period = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let burst = match burst {
            Some(burst) => burst.trim().parse().map_err(|_| bad())?,
            None => count,
        };
        Ok(Limit {
            count,
            period,
            burst,
        })
    }
}

/// The limit of each class; a class without one is not limited.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimits(HashMap<EndpointClass, Limit>);

impl RateLimits {
    pub fn of(&self, class: EndpointClass) -> Option<Limit> {
        self.0.get(&class).copied()
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits(
            EndpointClass::ALL
                .into_iter()
                .map(|class| (class, Limit::default_for(class)))
                .collect(),
        )
    }
}

impl FromStr for RateLimits {
    type Err = String;

    /// The defaults, changed by the comma-separated entries of `text`.
    fn from_str(text: &str) -> Result<RateLimits, String> {
        let mut limits = RateLimits::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "off" {
                limits.0.clear();
                continue;
            }
            let (name, value) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?} is not CLASS=LIMIT or off"))?;
            let class = EndpointClass::named(name.trim()).ok_or_else(|| {
                let names: Vec<_> = EndpointClass::ALL.iter().map(|c| c.name()).collect();
                format!(
                    "no endpoint class {name:?} (the classes: {})",
                    names.join(", ")
                )
            })?;
            match value.trim() {
                "off" => limits.0.remove(&class),
                limit => limits.0.insert(class, limit.parse()?),
            };
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_change_the_defaults() {
        let limits: RateLimits = "generate=3/s:1, pop=off".parse().unwrap();
        assert_eq!(
            limits.of(EndpointClass::Generate),
            Some(Limit::new(3, 1, 1))
        );
        assert_eq!(limits.of(EndpointClass::Pop), None);
        assert_eq!(
            limits.of(EndpointClass::Register),
            Some(Limit::new(5, 60, 5))
        );
        let only: RateLimits = "off,register=2/h".parse().unwrap();
        assert_eq!(
            only.of(EndpointClass::Register),
            Some(Limit::new(2, 3600, 2))
        );
        assert_eq!(only.of(EndpointClass::Api), None);
        assert_eq!(Limit::new(90, 60, 10).to_string(), "90 per minute");
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in [
            "generate",
            "nothing=1/s",
            "generate=0/s",
            "generate=1/d",
            "api=5/m:x",
        ] {
            assert!(bad.parse::<RateLimits>().is_err(), "{bad}");
        }
    }
}
