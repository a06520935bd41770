//! Metrics of the serving process itself, read from Linux's `/proc` (absent elsewhere):
//! resident memory, CPU time, open file descriptors and start time, and the machine's total
//! and available memory (for the memory alert, without a node exporter).

use crate::catalog;
use crate::exposition::Family;

/// Clock ticks per second of `/proc/*/stat` times: 100 on every Linux architecture's user ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// The process families; empty where `/proc` cannot be read.
pub fn families() -> Vec<Family> {
    let mut out = Vec::new();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(kb) = status_kb(&status, "VmRSS:") {
        let mut f = Family::new(catalog::PROCESS_RESIDENT_MEMORY);
        f.push(&[], kb * 1024.0);
        out.push(f);
    }
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    if let Some(fields) = stat_fields(&stat) {
        let field = |n: usize| fields.get(n).and_then(|v| v.parse::<f64>().ok());
        // Fields after the command, numbered as in proc(5) minus 3: utime 14, stime 15,
        // starttime 22.
        if let (Some(utime), Some(stime)) = (field(11), field(12)) {
            let mut f = Family::new(catalog::PROCESS_CPU);
            f.push(&[], (utime + stime) / TICKS_PER_SECOND);
            out.push(f);
        }
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| boot_time(&s));
        if let (Some(start), Some(boot)) = (field(19), boot) {
            let mut f = Family::new(catalog::PROCESS_START_TIME);
            f.push(&[], boot + start / TICKS_PER_SECOND);
            out.push(f);
        }
    }
    if let Some((total, available)) = host_memory() {
        for (metric, bytes) in [
            (catalog::HOST_MEMORY_TOTAL, total),
            (catalog::HOST_MEMORY_AVAILABLE, available),
        ] {
            let mut f = Family::new(metric);
            f.push(&[], bytes);
            out.push(f);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        let mut f = Family::new(catalog::PROCESS_OPEN_FDS);
        f.push(&[], entries.count() as f64);
        out.push(f);
    }
    out
}

/// The machine's memory in bytes, `(total, available)`, from `/proc/meminfo`.
pub fn host_memory() -> Option<(f64, f64)> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total = status_kb(&meminfo, "MemTotal:")?;
    let available = status_kb(&meminfo, "MemAvailable:")?;
    Some((total * 1024.0, available * 1024.0))
}

/// A `kB` value of `/proc/self/status` or `/proc/meminfo`.
fn status_kb(status: &str, key: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The fields of `/proc/self/stat` after `pid (comm)`; the command may contain spaces and
/// parentheses, so split after its last `)`.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().collect())
}

/// `btime` of `/proc/stat`: boot time in Unix seconds.
fn boot_time(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            status_kb("Name:\tx\nVmRSS:\t  2048 kB\n", "VmRSS:"),
            Some(2048.0)
        );
        let fields = stat_fields("42 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 500")
            .unwrap_or_default();
        assert_eq!(fields[0], "S");
        assert_eq!(fields[11], "250");
        assert_eq!(fields[12], "50");
        assert_eq!(fields[19], "500");
        assert_eq!(boot_time("cpu 1 2\nbtime 1700000000\n"), Some(1.7e9));
    }

    #[test]
    fn reads_this_process() {
        let names: Vec<&str> = families().iter().map(|f| f.metric.name).collect();
        assert!(
            names.contains(&"dataflow_process_resident_memory_bytes"),
            "{names:?}"
        );
        assert!(
            names.contains(&"dataflow_process_start_time_seconds"),
            "{names:?}"
        );
        assert!(
            names.contains(&"dataflow_host_memory_available_bytes"),
            "{names:?}"
        );
    }
}
