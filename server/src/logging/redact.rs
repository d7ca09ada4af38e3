//! The redaction every log line goes through: the fields of events and spans, the message
//! included, whatever the level and whoever logs (our code, sqlx, hyper, ...).
//!
//! Two rules:
//! - A field whose name has a word of `SENSITIVE_WORDS` in it is written as `name=[redacted]`;
//!   its value is never formatted.
//! - Every IP address left in the text (IPv4, IPv6, bracketed; a port after it stays) becomes
//!   `[ip]`, except loopback and unspecified addresses: they identify nobody (a loopback peer is
//!   this machine or a proxy on it) and keep `listen: 127.0.0.1:8080` readable.
//!
//! Keys inside free text are not guessed: a key is 22 URL-safe base64 characters, a shape that
//! plenty of harmless identifiers share. Code must not put one in a message, and the name rule
//! catches it in any field named after it.

use regex::{Captures, Regex, Replacer};
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::LazyLock;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, FormatFields, Writer};

/// Words that make a field sensitive wherever they stand in its snake_case name, split at `_`,
/// `.` and `-`: `negative_prompt`, `api_key`, `client_ip` and `x-forwarded-for` are all caught.
const SENSITIVE_WORDS: &[&str] = &[
    // What requesters ask and workers answer.
    "prompt",
    "prompts",
    "generation",
    "generations",
    "text",
    "content",
    "messages",
    "payload",
    "body",
    // Credentials.
    "apikey",
    "key",
    "authorization",
    "password",
    "secret",
    "token",
    "cookie",
    "session",
    // Where a client is.
    "ip",
    "addr",
    "address",
    "client",
    "peer",
    "remote",
    "forwarded",
];

const REDACTED: &str = "[redacted]";
const ADDRESS: &str = "[ip]";

/// The fields formatter of the server's `fmt` subscriber: tracing's default rendering, redacted.
pub struct RedactedFields;

impl<'writer> FormatFields<'writer> for RedactedFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        // Rendered whole first, so that one pass scrubs the addresses from the message and every
        // value alike, however a value was recorded (Display, Debug, an error and its sources).
        let mut rendered = String::new();
        let mut visitor = Redacting(DefaultVisitor::new(Writer::new(&mut rendered), true));
        fields.record(&mut visitor);
        visitor.0.finish()?;
        writer.write_str(&scrub_addresses(&rendered))
    }
}

/// The default visitor, kept away from the values of sensitive fields.
struct Redacting<'a>(DefaultVisitor<'a>);

impl Redacting<'_> {
    fn redact(&mut self, field: &Field) {
        self.0.record_debug(field, &format_args!("{REDACTED}"));
    }
}

// Numbers and booleans reach `record_debug` through `Visit`'s defaults. Strings and errors are
// forwarded as such: the default visitor quotes strings and lists an error's sources.
impl Visit for Redacting<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match sensitive(field.name()) {
            true => self.redact(field),
            false => self.0.record_debug(field, value),
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match sensitive(field.name()) {
            true => self.redact(field),
            false => self.0.record_str(field, value),
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        match sensitive(field.name()) {
            true => self.redact(field),
            false => self.0.record_error(field, value),
        }
    }
}

fn sensitive(name: &str) -> bool {
    let name = name.strip_prefix("r#").unwrap_or(name);
    name.split(['_', '.', '-']).any(|word| {
        SENSITIVE_WORDS
            .iter()
            .any(|sensitive| word.eq_ignore_ascii_case(sensitive))
    })
}

/// Candidates for IPv6 addresses: bracketed, or a run of hex digits with at least two colons (and
/// maybe a dotted tail, as in `::ffff:192.0.2.1`). Many are none (`12:30:45`): parsing decides.
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f]*:[0-9A-Fa-f]*:[0-9A-Fa-f:.]*").expect("a regex")
});
/// Candidates for IPv4 addresses; parsing rejects `999.1.1.1`.
static IPV4: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:\d{1,3}\.){3}\d{1,3}").expect("a regex"));

/// `text` with every address that could identify someone replaced by `[ip]`.
fn scrub_addresses(text: &str) -> Cow<'_, str> {
    // IPv6 first, so that a mapped IPv4 address goes in one piece; then IPv4, which also finds
    // one glued to a run that was no IPv6 address (`ab:cd:192.0.2.1`).
    match IPV6.replace_all(text, Scrub) {
        Cow::Borrowed(text) => IPV4.replace_all(text, Scrub),
        Cow::Owned(text) => Cow::Owned(IPV4.replace_all(&text, Scrub).into_owned()),
    }
}

/// Writes a candidate back, but the address it begins with as `[ip]`.
struct Scrub;

impl Replacer for Scrub {
    fn replace_append(&mut self, caps: &Captures<'_>, dst: &mut String) {
        let candidate = &caps[0];
        match leading_address(candidate) {
            Some((ip, end)) if !identifies_nobody(ip) => {
                dst.push_str(ADDRESS);
                dst.push_str(&candidate[end..]);
            }
            _ => dst.push_str(candidate),
        }
    }
}

/// The address `candidate` is, or is before trailing dots and colons (`2001:db8::1: refused`),
/// and the length of its text.
fn leading_address(candidate: &str) -> Option<(IpAddr, usize)> {
    let trimmed = candidate.trim_end_matches(['.', ':']);
    [candidate, trimmed].into_iter().find_map(|text| {
        let bare = text
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(text);
        bare.parse().ok().map(|ip| (ip, text.len()))
    })
}

fn identifies_nobody(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    ip.is_loopback() || ip.is_unspecified()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::format::DefaultFields;

    /// What `emit` logs through a `fmt` subscriber with these fields formatter.
    fn logged<N>(fields: N, emit: impl FnOnce()) -> String
    where
        N: for<'writer> FormatFields<'writer> + Send + Sync + 'static,
    {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(fields)
            .with_writer(move || Sink(sink.clone()))
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buffer.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn sensitive_fields_are_redacted_however_recorded() {
        let error = io::Error::other("the key was wrong");
        let log = logged(RedactedFields, || {
            tracing::info!(
                prompt = %"tell me a secret",
                negative_prompt = "no dragons",
                api_key = ?"abcdefghijklmnopqrstuv",
                generation = 7,
                client_ip = "localhost",
                key = &error as &(dyn std::error::Error + 'static),
                user = 3,
                "queued"
            );
        });
        for secret in [
            "tell me a secret",
            "no dragons",
            "abcdefghijklmnopqrstuv",
            "localhost",
            "wrong",
        ] {
            assert!(!log.contains(secret), "{secret} in {log}");
        }
        for field in [
            "prompt",
            "negative_prompt",
            "api_key",
            "generation",
            "client_ip",
            "key",
        ] {
            assert!(log.contains(&format!(" {field}=[redacted]")), "{log}");
        }
        assert!(log.contains("queued") && log.contains("user=3"), "{log}");
    }

    #[test]
    fn span_fields_are_redacted_too_even_when_recorded_late() {
        let log = logged(RedactedFields, || {
            let span =
                tracing::info_span!("request", peer = "somewhere", text = tracing::field::Empty);
            let _entered = span.enter();
            span.record("text", "a late secret");
            tracing::info!("inside");
        });
        assert!(
            log.contains("request{peer=[redacted] text=[redacted]}: "),
            "{log}"
        );
        assert!(!log.contains("somewhere") && !log.contains("a late secret"));
    }

    #[test]
    fn addresses_are_scrubbed_from_messages_and_values() {
        let log = logged(RedactedFields, || {
            let error = io::Error::other("reset by 198.51.100.4");
            tracing::warn!(
                error = &error as &(dyn std::error::Error + 'static),
                from = %"203.0.113.9:5555",
                "peer 2001:db8::9 and [2001:db8::10]:443 gone"
            );
        });
        for address in ["198.51.100.4", "203.0.113.9", "2001:db8::9", "2001:db8::10"] {
            assert!(!log.contains(address), "{address} in {log}");
        }
        assert!(
            log.contains("peer [ip] and [ip]:443 gone error=reset by [ip] from=[ip]:5555"),
            "{log}"
        );
    }

    #[test]
    fn ordinary_events_are_written_as_by_default() {
        let emit = || {
            tracing::info!(request = %"0b5c", kind = "text", n = 2, "request queued");
            tracing::info!(database = "sqlite://potluck.db", "opening the database");
            tracing::info!("listening on 127.0.0.1:8080 at 12:30:45");
        };
        let redacted = logged(RedactedFields, emit);
        assert!(redacted.contains("request queued request=0b5c kind=\"text\" n=2"));
        assert_eq!(redacted, logged(DefaultFields::new(), emit));
    }

    #[test]
    fn only_addresses_that_identify_someone_are_scrubbed() {
        for (text, scrubbed) in [
            ("from 203.0.113.9", "from [ip]"),
            ("203.0.113.9:5555,", "[ip]:5555,"),
            ("2001:db8::9 said", "[ip] said"),
            ("[2001:db8::9]:443", "[ip]:443"),
            ("2001:db8::9: refused", "[ip]: refused"),
            ("mapped ::ffff:203.0.113.9", "mapped [ip]"),
            ("glued ab:cd:203.0.113.9.", "glued ab:cd:[ip]."),
            ("fe80::1%eth0", "[ip]%eth0"),
        ] {
            assert_eq!(scrub_addresses(text), scrubbed);
        }
        for kept in [
            "listening on 127.0.0.1:8080, [::1]:8080, ::1 and 0.0.0.0:80",
            "::ffff:127.0.0.1 and [::]:80",
            "at 12:30:45 took 1.5s, version 1.2.3, not 999.1.1.1",
            "mac aa:bb:cc:dd:ee:ff, hash 3fa9c0de, id 67e55044-10b1-426f-9247-bb680e5fe0c8",
            "sqlite://potluck.db and http://localhost:8080/api/v2",
        ] {
            assert_eq!(scrub_addresses(kept), kept);
        }
    }
}
