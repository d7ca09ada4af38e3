//! Suspicion: signs that an account or a worker may be acting in bad faith, each recorded with
//! its reason. The reasons keep the AI Horde's numbers where they mean the same (its reasons that
//! need a client address in clear, or a name cut short rather than refused, do not apply here);
//! Potluck adds its own from 100 on.
//!
//! Suspicion does not refuse anything by itself. A worker whose suspicion reaches
//! [`WORKER_THRESHOLD`] with a sign other than a failed check is paused (failed checks pause a
//! worker by their own rule, the operator's `--pause-after-failed-checks`), and an account at
//! [`USER_THRESHOLD`] can neither give nor receive kudos; accounts of trusted users are never
//! held suspicious. Moderators see the
//! reasons and can reset them.

use rustrict::{CensorStr, Type};

/// Reasons an account or a worker was found suspicious.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuspicionReason {
    /// A worker's name is profane.
    WorkerProfanity,
    /// An account's name is profane.
    UsernameProfanity,
    /// An image prompt the filters refused.
    CorruptPrompt,
    /// A worker gave up on, or let expire, [`ABORTED_JOBS_PER_HOUR`] jobs within an hour.
    TooManyJobsAborted,
    /// A worker's result failed a verification check (`horde/trust.rs`).
    FailedCheck,
}

/// Suspicion at which a worker is paused.
pub const WORKER_THRESHOLD: i64 = 5;
/// Suspicion at which an account can neither give nor receive kudos.
pub const USER_THRESHOLD: i64 = 5;
/// Jobs a worker may abandon within an hour before that counts as a sign.
pub const ABORTED_JOBS_PER_HOUR: i64 = 20;

impl SuspicionReason {
    pub const ALL: [SuspicionReason; 5] = [
        Self::WorkerProfanity,
        Self::UsernameProfanity,
        Self::CorruptPrompt,
        Self::TooManyJobsAborted,
        Self::FailedCheck,
    ];

    /// The number stored, and shown to moderators.
    pub fn code(self) -> i64 {
        match self {
            Self::WorkerProfanity => 2,
            Self::UsernameProfanity => 7,
            Self::CorruptPrompt => 8,
            Self::TooManyJobsAborted => 9,
            Self::FailedCheck => 100,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Whether each occurrence counts again; the others count once per account (and worker).
    pub fn repeatable(self) -> bool {
        matches!(
            self,
            Self::CorruptPrompt | Self::TooManyJobsAborted | Self::FailedCheck
        )
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::WorkerProfanity => "Profanity in the worker's name",
            Self::UsernameProfanity => "Profanity in the username",
            Self::CorruptPrompt => "A prompt refused by the filters",
            Self::TooManyJobsAborted => "Too many jobs aborted within an hour",
            Self::FailedCheck => "A result failed a verification check",
        }
    }
}

/// Whether a chosen name reads as profane. Words with digits in them are left out: names the
/// software makes up end in random hexadecimal (`browser-b00b5e`), which a reader of
/// look-alike digits would take for words nobody chose.
pub fn is_profane(name: &str) -> bool {
    let words: Vec<&str> = name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !w.chars().any(|c| c.is_ascii_digit()))
        .collect();
    !words.is_empty() && words.join(" ").is(Type::INAPPROPRIATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back() {
        for reason in SuspicionReason::ALL {
            assert_eq!(SuspicionReason::from_code(reason.code()), Some(reason));
        }
        assert_eq!(SuspicionReason::from_code(3), None);
    }

    #[test]
    fn profane_names_are_found_and_generated_suffixes_are_not() {
        assert!(is_profane("fuck-worker"));
        assert!(is_profane("Shit Happens"));
        assert!(is_profane("my.asshole.box"));
        assert!(!is_profane("Dreamy Llama"));
        assert!(!is_profane("browser-b00b5e71"));
        assert!(!is_profane("browser-a55a55a5"));
        assert!(!is_profane("worker-3000"));
        assert!(!is_profane("Scunthorpe"));
    }
}
