//! The soak run (`--soak SECONDS`): the job cycle goes on for as long as asked, and every
//! `SECONDS` a line reports that window's jobs, their p50 and p99 (async → verified result),
//! and the server's resident memory and open file descriptors (its database connections
//! among them). At the end it compares the last windows with the first ones, so that a leak
//! or a slowdown shows as a ratio.

use crate::load::Load;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One window's figures.
pub struct Window {
    pub jobs: usize,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    pub rss_mib: Option<u64>,
    pub fds: Option<usize>,
}

/// Samples until `stop`, a window every `every`, printing each line as it comes.
pub async fn sample(
    load: Arc<Load>,
    server_pid: Option<u32>,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> Vec<Window> {
    let mut windows = Vec::new();
    println!("window  jobs  p50 ms  p99 ms  server MiB  server fds");
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let deadline = Instant::now() + every;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut times = load.take_job_times();
        times.sort();
        let window = Window {
            jobs: times.len(),
            p50: percentile(&times, 0.50),
            p99: percentile(&times, 0.99),
            rss_mib: server_pid.and_then(resident_mib),
            fds: server_pid.and_then(open_fds),
        };
        println!(
            "{:>5.0}s {:>5} {:>7} {:>7} {:>11} {:>11}",
            started.elapsed().as_secs_f64(),
            window.jobs,
            millis(window.p50),
            millis(window.p99),
            window.rss_mib.map_or("-".into(), |m| m.to_string()),
            window.fds.map_or("-".into(), |f| f.to_string()),
        );
        windows.push(window);
    }
    windows
}

/// Compares the last quarter of the windows with the first quarter (the first window, the
/// server's warm-up, left out).
pub fn print_drift(windows: &[Window]) {
    let steady = windows.get(1..).unwrap_or_default();
    let quarter = (steady.len() / 4).max(1);
    if steady.len() < 2 {
        println!("soak: too few windows to compare");
        return;
    }
    let (first, last) = (&steady[..quarter], &steady[steady.len() - quarter..]);
    let mean = |ws: &[Window], f: &dyn Fn(&Window) -> Option<f64>| {
        let values: Vec<f64> = ws.iter().filter_map(f).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let ratio = |f: &dyn Fn(&Window) -> Option<f64>| match (mean(first, f), mean(last, f)) {
        (Some(a), Some(b)) if a > 0.0 => format!("{a:.1} → {b:.1} ({:.2}×)", b / a),
        _ => "-".into(),
    };
    println!(
        "soak drift, first quarter → last quarter of {} windows:",
        steady.len()
    );
    println!("  jobs per window: {}", ratio(&|w| Some(w.jobs as f64)));
    println!(
        "  p99 ms:          {}",
        ratio(&|w| w.p99.map(|d| d.as_secs_f64() * 1000.0))
    );
    println!(
        "  server MiB:      {}",
        ratio(&|w| w.rss_mib.map(|m| m as f64))
    );
    println!("  server fds:      {}", ratio(&|w| w.fds.map(|f| f as f64)));
    println!("per window, from 0 to the largest value (first window included):");
    println!(
        "  jobs        {}",
        sparkline(windows, &|w| Some(w.jobs as f64))
    );
    println!(
        "  p99 ms      {}",
        sparkline(windows, &|w| w.p99.map(|d| d.as_secs_f64() * 1000.0))
    );
    println!(
        "  server MiB  {}",
        sparkline(windows, &|w| w.rss_mib.map(|m| m as f64))
    );
    println!(
        "  server fds  {}",
        sparkline(windows, &|w| w.fds.map(|f| f as f64))
    );
}

/// A text plot of one figure over the windows, a character each, scaled from 0 to the
/// largest value (`max` printed after it); a window without the figure is a space.
fn sparkline(windows: &[Window], figure: &dyn Fn(&Window) -> Option<f64>) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let values: Vec<Option<f64>> = windows.iter().map(figure).collect();
    let max = values.iter().flatten().copied().fold(0.0, f64::max);
    let line: String = values
        .iter()
        .map(|value| match value {
            Some(v) if max > 0.0 => LEVELS[((v / max) * 7.0).round() as usize],
            Some(_) => LEVELS[0],
            None => ' ',
        })
        .collect();
    format!("{line}  (max {max:.0})")
}

fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get(((last as f64) * q).round() as usize).copied()
}

fn millis(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.0}", d.as_secs_f64() * 1000.0))
}

/// Resident memory of a process, from Linux's /proc.
fn resident_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024)
}

fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_scales_from_zero_to_the_largest_value() {
        let window = |jobs, rss_mib| Window {
            jobs,
            p50: None,
            p99: None,
            rss_mib,
            fds: None,
        };
        let windows = [window(0, Some(10)), window(5, None), window(10, Some(10))];
        assert_eq!(
            sparkline(&windows, &|w| Some(w.jobs as f64)),
            "▁▅█  (max 10)"
        );
        assert_eq!(
            sparkline(&windows, &|w| w.rss_mib.map(|m| m as f64)),
            "█ █  (max 10)"
        );
        assert_eq!(sparkline(&windows, &|w| w.p99.map(|_| 1.0)), "     (max 0)");
    }
}
