//! Prometheus metrics, served at `/metrics` in the text exposition format.
//!
//! Six metrics with a `sync` label; written by hand (a few dozen lines) rather than pulling in a
//! metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the reconcile-duration histogram buckets.
const BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Default)]
struct SyncMetrics {
    results: BTreeMap<&'static str, u64>,
    applied: u64,
    pruned: u64,
    drift: u64,
    bucket_counts: [u64; BUCKETS.len()],
    duration_sum: f64,
    duration_count: u64,
    last_success: f64,
}

/// The reconciler's metrics registry.
#[derive(Default)]
pub struct Metrics {
    syncs: Mutex<BTreeMap<String, SyncMetrics>>,
}

/// What one reconcile did, for the metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observation {
    /// `success` or a [`crate::ReconcileError::reason`].
    pub result: &'static str,
    /// Wall time.
    pub duration: Duration,
    /// Objects created or updated.
    pub applied: u64,
    /// Objects deleted.
    pub pruned: u64,
    /// Objects re-applied because the cluster drifted from git.
    pub drift_corrections: u64,
}

impl Metrics {
    /// Records one reconcile of `sync`.
    pub fn observe(&self, sync: &str, o: Observation) {
        let mut syncs = self.syncs.lock().unwrap_or_else(|p| p.into_inner());
        let m = syncs.entry(sync.to_owned()).or_default();
        *m.results.entry(o.result).or_default() += 1;
        m.applied += o.applied;
        m.pruned += o.pruned;
        m.drift += o.drift_corrections;
        let secs = o.duration.as_secs_f64();
        for (count, bound) in m.bucket_counts.iter_mut().zip(BUCKETS) {
            if secs <= bound {
                *count += 1;
            }
        }
        m.duration_sum += secs;
        m.duration_count += 1;
        if o.result == "success" {
            m.last_success = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let syncs = self.syncs.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, lines: &mut dyn FnMut(&mut String)| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            lines(&mut out);
        };
        family("shipline_reconcile_total", "counter", "Reconciles by result.", &mut |out| {
            for (sync, m) in syncs.iter() {
                for (result, n) in &m.results {
                    let _ = writeln!(out, "shipline_reconcile_total{{sync=\"{sync}\",result=\"{result}\"}} {n}");
                }
            }
        });
        family("shipline_reconcile_duration_seconds", "histogram", "Reconcile wall time.", &mut |out| {
            for (sync, m) in syncs.iter() {
                for (count, bound) in m.bucket_counts.iter().zip(BUCKETS) {
                    let _ = writeln!(
                        out,
                        "shipline_reconcile_duration_seconds_bucket{{sync=\"{sync}\",le=\"{bound}\"}} {count}"
                    );
                }
                let n = m.duration_count;
                let _ = writeln!(out, "shipline_reconcile_duration_seconds_bucket{{sync=\"{sync}\",le=\"+Inf\"}} {n}");
                let _ = writeln!(out, "shipline_reconcile_duration_seconds_sum{{sync=\"{sync}\"}} {}", m.duration_sum);
                let _ = writeln!(out, "shipline_reconcile_duration_seconds_count{{sync=\"{sync}\"}} {n}");
            }
        });
        type Counter = (&'static str, &'static str, fn(&SyncMetrics) -> u64);
        let counters: [Counter; 3] = [
            ("shipline_objects_applied_total", "Objects created or updated.", |m| m.applied),
            ("shipline_objects_pruned_total", "Objects deleted because they left the build.", |m| m.pruned),
            ("shipline_drift_corrections_total", "Objects re-applied because the cluster drifted from git.", |m| {
                m.drift
            }),
        ];
        for (name, help, get) in counters {
            family(name, "counter", help, &mut |out| {
                for (sync, m) in syncs.iter() {
                    let _ = writeln!(out, "{name}{{sync=\"{sync}\"}} {}", get(m));
                }
            });
        }
        family(
            "shipline_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful reconcile.",
            &mut |out| {
                for (sync, m) in syncs.iter() {
                    let _ =
                        writeln!(out, "shipline_last_success_timestamp_seconds{{sync=\"{sync}\"}} {}", m.last_success);
                }
            },
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.observe(
            "dev",
            Observation {
                result: "success",
                duration: Duration::from_millis(200),
                applied: 3,
                pruned: 1,
                drift_corrections: 2,
            },
        );
        m.observe("dev", Observation { result: "BuildFailed", duration: Duration::from_secs(2), ..Default::default() });
        let text = m.render();
        for line in [
            "shipline_reconcile_total{sync=\"dev\",result=\"success\"} 1",
            "shipline_reconcile_total{sync=\"dev\",result=\"BuildFailed\"} 1",
            "shipline_reconcile_duration_seconds_bucket{sync=\"dev\",le=\"0.25\"} 1",
            "shipline_reconcile_duration_seconds_bucket{sync=\"dev\",le=\"2.5\"} 2",
            "shipline_reconcile_duration_seconds_count{sync=\"dev\"} 2",
            "shipline_objects_applied_total{sync=\"dev\"} 3",
            "shipline_objects_pruned_total{sync=\"dev\"} 1",
            "shipline_drift_corrections_total{sync=\"dev\"} 2",
            "# TYPE shipline_reconcile_duration_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
