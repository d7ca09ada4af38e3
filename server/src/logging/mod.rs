//! The server's log: `tracing` events to stderr, filtered by `POTLUCK_LOG`, and always passed
//! through the redaction in `redact`, so that no log level or careless call site can write a
//! prompt, a generation, a key or a client's address.

mod redact;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("POTLUCK_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .fmt_fields(redact::RedactedFields)
        // Logs go to stderr; stdout carries only the listening line that scripts read.
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
