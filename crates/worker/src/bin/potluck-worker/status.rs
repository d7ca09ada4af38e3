//! The live status line (a spinner with the worker's figures) and a log writer that prints
//! above it instead of through it. Where stderr is not a terminal there is no status line,
//! only the log.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::fmt::MakeWriter;
use worker::{SlotState, Snapshot, Stats};

#[derive(Clone)]
pub struct StatusLine {
    bar: ProgressBar,
}

impl StatusLine {
    pub fn new(enabled: bool) -> Self {
        let bar = if enabled {
            ProgressBar::new_spinner()
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
        StatusLine { bar }
    }

    /// Keeps the line up to date with `stats` until `finish`.
    pub fn follow(&self, stats: Arc<Stats>) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar.enable_steady_tick(Duration::from_millis(120));
        let bar = self.bar.clone();
        std::thread::spawn(move || {
            while !bar.is_finished() {
                bar.set_message(describe(&stats.snapshot()));
                std::thread::sleep(Duration::from_millis(250));
            }
        });
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// `3 jobs · 412 tokens · 12.3 tokens/s · +5.20 kudos · generating 37/128`
pub fn describe(s: &Snapshot) -> String {
    let mut line = format!(
        "{} jobs · {} tokens · {:.1} tokens/s · +{:.2} kudos",
        s.jobs_done,
        s.tokens,
        s.tokens_per_second(),
        s.kudos
    );
    if s.jobs_faulted + s.jobs_lost > 0 {
        line += &format!(" · {} faulted, {} lost", s.jobs_faulted, s.jobs_lost);
    }
    let slots: Vec<String> = s.slots.iter().map(slot).collect();
    line += " · ";
    line += &slots.join(" | ");
    line
}

fn slot(state: &SlotState) -> String {
    match state {
        SlotState::Starting => "starting".into(),
        SlotState::Idle => "waiting for jobs".into(),
        SlotState::Generating {
            tokens, max_tokens, ..
        } => format!("generating {tokens}/{max_tokens}"),
        SlotState::Checking { .. } => "checking another worker's text".into(),
        SlotState::Submitting { .. } => "submitting".into(),
        SlotState::Reconnecting { .. } => "server unreachable, retrying".into(),
        SlotState::Maintenance => "in maintenance mode".into(),
        SlotState::Stopped => "stopped".into(),
    }
}

impl<'a> MakeWriter<'a> for StatusLine {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            bar: self.bar.clone(),
            buffer: Vec::new(),
        }
    }
}

/// One log event, printed whole above the status line when dropped.
pub struct LogLine {
    bar: ProgressBar,
    buffer: Vec<u8>,
}

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        self.bar.suspend(|| {
            let _ = std::io::stderr().write_all(&buffer);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_figures_and_what_each_slot_does() {
        let snapshot = Snapshot {
            jobs_done: 3,
            tokens: 412,
            kudos: 5.2,
            generating: Duration::from_secs(40),
            slots: vec![
                SlotState::Generating {
                    job: "j".into(),
                    tokens: 37,
                    max_tokens: 128,
                },
                SlotState::Idle,
            ],
            ..Snapshot::default()
        };
        assert_eq!(
            describe(&snapshot),
            "3 jobs · 412 tokens · 10.3 tokens/s · +5.20 kudos · generating 37/128 | waiting for jobs"
        );
    }
}
