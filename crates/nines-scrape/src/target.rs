//! From discovered target groups to scrape targets: the `__address__`,
//! `__scheme__`, `__metrics_path__`, `__param_*` conventions, target
//! relabeling, the `instance` default, and the scrape URL.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use crate::relabel::{self, LabelSet};
use crate::spec::{ScrapeSpec, TargetGroup};

/// A target that survived relabeling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Labels before relabeling (shown by the targets API).
    pub discovered: LabelSet,
    /// Labels every scraped series gets (no `__` labels), sorted.
    pub labels: LabelSet,
    /// The URL scraped.
    pub url: String,
    /// Time between scrapes.
    pub interval: Duration,
    /// Scrape timeout.
    pub timeout: Duration,
}

impl Target {
    /// A stable identity: labels and URL.
    pub fn key(&self) -> u64 {
        let mut h = rustc_hash::FxHasher::default();
        self.labels.hash(&mut h);
        self.url.hash(&mut h);
        h.finish()
    }

    /// Where in each interval this target is scraped, so a job's targets
    /// spread over the interval instead of all firing at once.
    pub fn offset(&self) -> Duration {
        let interval = self.interval.as_millis().max(1) as u64;
        // Mix the key so neighbouring keys land far apart.
        let mixed = self.key().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
        Duration::from_millis(mixed % interval)
    }
}

/// A group member that relabeling dropped or that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedTarget {
    /// Labels before relabeling.
    pub discovered: LabelSet,
    /// Why it was dropped, if not by a rule.
    pub reason: Option<String>,
}

fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Turns target groups into targets for one job.
pub fn build_targets(spec: &ScrapeSpec, groups: &[TargetGroup]) -> (Vec<Target>, Vec<DroppedTarget>) {
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    for group in groups {
        for address in &group.targets {
            let mut labels: LabelSet = Vec::new();
            for (n, v) in &group.labels {
                relabel::set(&mut labels, n, v.clone());
            }
            relabel::set(&mut labels, "__address__", address.clone());
            // Job-level defaults fill only what the group did not set, as
            // in Prometheus (a group may carry its own __metrics_path__).
            let mut default = |name: &str, value: String| {
                if !labels.iter().any(|(n, _)| n == name) {
                    relabel::set(&mut labels, name, value);
                }
            };
            default("job", spec.job_name.clone());
            default("__scheme__", spec.scheme.clone());
            default("__metrics_path__", spec.metrics_path.clone());
            default("__scrape_interval__", format_duration(spec.interval));
            default("__scrape_timeout__", format_duration(spec.timeout));
            for (name, values) in &spec.params {
                if let Some(first) = values.first() {
                    default(&format!("__param_{name}"), first.clone());
                }
            }
            let discovered = labels.clone();
            if !relabel::apply(&spec.relabel, &mut labels) {
                dropped.push(DroppedTarget {
                    discovered,
                    reason: None,
                });
                continue;
            }
            match finish(spec, labels) {
                Ok(mut t) => {
                    t.discovered = discovered;
                    active.push(t);
                }
                Err(reason) => dropped.push(DroppedTarget {
                    discovered,
                    reason: Some(reason),
                }),
            }
        }
    }
    // The same target listed twice is scraped once.
    active.sort_by(|a, b| (&a.labels, &a.url).cmp(&(&b.labels, &b.url)));
    active.dedup_by(|a, b| a.labels == b.labels && a.url == b.url);
    (active, dropped)
}

fn label<'a>(labels: &'a LabelSet, name: &str) -> Option<&'a str> {
    labels.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn finish(spec: &ScrapeSpec, mut labels: LabelSet) -> Result<Target, String> {
    let address = label(&labels, "__address__")
        .filter(|a| !a.is_empty())
        .ok_or("no __address__ after relabeling")?
        .to_string();
    if address.contains('/') {
        return Err(format!("__address__ {address:?} must be host:port, not a URL"));
    }
    let scheme = label(&labels, "__scheme__").unwrap_or("http").to_string();
    if scheme != "http" && scheme != "https" {
        return Err(format!("unsupported scheme {scheme:?}"));
    }
    let mut path = label(&labels, "__metrics_path__").unwrap_or("/metrics").to_string();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let interval = match label(&labels, "__scrape_interval__") {
        Some(s) => parse_short_duration(s).ok_or_else(|| format!("invalid __scrape_interval__ {s:?}"))?,
        None => spec.interval,
    };
    let timeout = match label(&labels, "__scrape_timeout__") {
        Some(s) => parse_short_duration(s).ok_or_else(|| format!("invalid __scrape_timeout__ {s:?}"))?,
        None => spec.timeout,
    };
    if interval.is_zero() || timeout.is_zero() || timeout > interval {
        return Err("scrape timeout must be above zero and at most the interval".into());
    }
    let mut query: Vec<(String, String)> = Vec::new();
    for (name, values) in &spec.params {
        let override_value = label(&labels, &format!("__param_{name}"));
        match override_value {
            Some(v) => query.push((name.clone(), v.to_string())),
            None => query.extend(values.iter().map(|v| (name.clone(), v.clone()))),
        }
    }
    for (n, v) in &labels {
        if let Some(name) = n.strip_prefix("__param_") {
            if !spec.params.contains_key(name) {
                query.push((name.to_string(), v.clone()));
            }
        }
    }
    let mut url = format!("{scheme}://{address}{path}");
    if !query.is_empty() {
        url.push('?');
        let encoded: Vec<String> = query
            .iter()
            .map(|(n, v)| format!("{}={}", encode_component(n), encode_component(v)))
            .collect();
        url.push_str(&encoded.join("&"));
    }
    if label(&labels, "instance").is_none() {
        relabel::set(&mut labels, "instance", address);
    }
    labels.retain(|(n, _)| !n.starts_with("__"));
    Ok(Target {
        discovered: Vec::new(),
        labels,
        url,
        interval,
        timeout,
    })
}

fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses the `15s`/`1m`/`500ms` forms used in `__scrape_interval__`.
fn parse_short_duration(s: &str) -> Option<Duration> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = s[..digits].parse().ok()?;
    let ms = match &s[digits..] {
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::relabel::{compile_all, RelabelConfig};

    pub(crate) fn spec(job: &str) -> ScrapeSpec {
        ScrapeSpec {
            job_name: job.into(),
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            metrics_path: "/metrics".into(),
            scheme: "http".into(),
            params: Default::default(),
            auth: None,
            tls: Default::default(),
            static_groups: vec![],
            file_sd: vec![],
            honor_labels: false,
            honor_timestamps: true,
            relabel: vec![],
            metric_relabel: vec![],
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            body_size_limit: 0,
        }
    }

    fn group(targets: &[&str], labels: &[(&str, &str)]) -> TargetGroup {
        TargetGroup {
            targets: targets.iter().map(|s| s.to_string()).collect(),
            labels: labels.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn defaults_give_job_instance_and_url() {
        let (t, d) = build_targets(&spec("node"), &[group(&["a:9100"], &[("env", "prod")])]);
        assert!(d.is_empty());
        assert_eq!(t[0].url, "http://a:9100/metrics");
        assert_eq!(
            t[0].labels,
            vec![
                ("env".to_string(), "prod".to_string()),
                ("instance".into(), "a:9100".into()),
                ("job".into(), "node".into())
            ]
        );
        assert!(t[0].discovered.iter().any(|(n, _)| n == "__metrics_path__"));
    }

    #[test]
    fn relabeling_rewrites_address_path_and_params_and_can_drop() {
        let mut s = spec("blackbox");
        s.params.insert("module".into(), vec!["http_2xx".into()]);
        let rules: Vec<RelabelConfig> = serde_norway::from_str(
            "- source_labels: [__address__]\n  target_label: __param_target\n\
             - source_labels: [__param_target]\n  target_label: instance\n\
             - target_label: __address__\n  replacement: 'prober:9115'\n\
             - target_label: __metrics_path__\n  replacement: probe\n\
             - source_labels: [instance]\n  regex: '.*skip.*'\n  action: drop\n",
        )
        .unwrap();
        s.relabel = compile_all(&rules).unwrap();
        let (t, d) = build_targets(&s, &[group(&["https://example.com", "skip.me"], &[])]);
        assert_eq!(d.len(), 1);
        assert_eq!(t.len(), 1);
        assert_eq!(
            t[0].url,
            "http://prober:9115/probe?module=http_2xx&target=https%3A%2F%2Fexample.com"
        );
        assert_eq!(
            t[0].labels.iter().find(|(n, _)| n == "instance").unwrap().1,
            "https://example.com"
        );
    }

    #[test]
    fn group_labels_override_job_defaults() {
        let (t, _) = build_targets(
            &spec("j"),
            &[group(&["a:1"], &[("__metrics_path__", "/m/7"), ("shard", "7")])],
        );
        assert_eq!(t[0].url, "http://a:1/m/7");
        assert!(t[0].labels.contains(&("shard".to_string(), "7".to_string())));
    }

    #[test]
    fn offsets_spread_over_the_interval() {
        let addrs: Vec<String> = (0..200).map(|i| format!("h{i}:80")).collect();
        let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
        let (t, _) = build_targets(&spec("j"), &[group(&refs, &[])]);
        let mut buckets = [0usize; 10];
        for target in &t {
            buckets[(target.offset().as_millis() * 10 / 15_000) as usize] += 1;
        }
        assert!(buckets.iter().all(|b| *b >= 5), "{buckets:?}");
    }

    #[test]
    fn bad_addresses_are_dropped_with_a_reason() {
        let (t, d) = build_targets(&spec("j"), &[group(&["http://x:1/metrics"], &[])]);
        assert!(t.is_empty());
        assert!(d[0].reason.as_deref().unwrap().contains("host:port"));
    }
}
