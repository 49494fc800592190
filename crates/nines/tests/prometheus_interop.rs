//! Interoperability with real remote_write senders: Debian's Prometheus and
//! vmagent scrape themselves and remote-write to a real `nines serve`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::prometheus::{free_port, Prometheus};
use common::Server;

/// Senders ship within seconds; poll nines until the selector has two
/// samples (an outside process's progress, not a timer of ours) or 90 s pass.
fn wait_for_samples(nines: &Server, selector: &str) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let found = nines.export(selector);
        let enough = found
            .first()
            .is_some_and(|l| l["values"].as_array().is_some_and(|v| v.len() >= 2));
        if enough || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_remote_write_lands_in_nines() {
    let dir = tempfile::tempdir().unwrap();
    let nines = Server::start(&dir.path().join("nines"), &[]);
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prom\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\nremote_write:\n  - url: {}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n",
        nines.url
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    // CI installs Debian's prometheus package; the test fails without it.
    let prom = Prometheus::start(&config_path, &dir.path().join("prom"), port, &[]);

    let found = wait_for_samples(&nines, r#"up{job="prom"}"#);
    let build_info = nines.export("prometheus_build_info");
    drop(prom);
    assert!(
        !found.is_empty(),
        "no up{{job=\"prom\"}} series arrived from Prometheus"
    );
    assert_eq!(found[0]["metric"]["instance"], format!("127.0.0.1:{port}"));
    assert!(found[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v.as_f64() == Some(1.0)));
    assert_eq!(build_info.len(), 1, "prometheus_build_info should arrive too");
    // Many metric families arrive, with their label sets intact.
    let (_, body) = nines.get("/api/v1/label/__name__/values");
    let names: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(names["data"].as_array().unwrap().len() > 50, "{names}");
}

#[test]
fn vmagent_remote_write_lands_in_nines() {
    // From Debian's victoria-metrics package, which CI installs.
    let bin = std::env::var("VMAGENT_BIN").unwrap_or_else(|_| "/usr/bin/vmagent".into());
    assert!(
        std::path::Path::new(&bin).exists(),
        "{bin} not found: apt-get install victoria-metrics"
    );

    let dir = tempfile::tempdir().unwrap();
    let nines = Server::start(&dir.path().join("nines"), &[]);
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: vmagent\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    );
    let config_path = dir.path().join("scrape.yml");
    std::fs::write(&config_path, config).unwrap();
    let mut agent = Command::new(&bin)
        .arg(format!("-promscrape.config={}", config_path.display()))
        .arg(format!("-remoteWrite.url={}/api/v1/write", nines.url))
        .arg(format!(
            "-remoteWrite.tmpDataPath={}",
            dir.path().join("vmagent").display()
        ))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-remoteWrite.flushInterval=1s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vmagent");

    let found = wait_for_samples(&nines, r#"up{job="vmagent"}"#);
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(
        !found.is_empty(),
        "no up{{job=\"vmagent\"}} series arrived from vmagent"
    );
    assert_eq!(found[0]["metric"]["instance"], format!("127.0.0.1:{port}"));
    let (_, body) = nines.get("/api/v1/label/__name__/values");
    let names: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(names["data"].as_array().unwrap().len() > 50, "{names}");
}

/// The label sets of every series a server holds, via the series API
/// (the same endpoint in Prometheus and nines).
fn series_sets(base: &str) -> std::collections::BTreeSet<Vec<(String, String)>> {
    let url = format!("{base}/api/v1/series?match[]=%7B__name__%3D~%22.%2B%22%7D");
    let Ok(resp) = ureq::get(&url).call() else {
        return Default::default();
    };
    let body: serde_json::Value = serde_json::from_str(&resp.into_string().unwrap()).unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut l: Vec<(String, String)> = s
                .as_object()
                .unwrap()
                .iter()
                .map(|(n, v)| (n.clone(), v.as_str().unwrap().to_string()))
                .collect();
            l.sort();
            l
        })
        .collect()
}

#[test]
fn prometheus_and_nines_scrape_the_same_config_into_the_same_series() {
    use common::exporter::{Exporter, Page};
    let exporter = Exporter::start();
    exporter.text(
        "/a",
        "# TYPE http_requests_total counter\n\
         http_requests_total{code=\"200\",method=\"GET\",instance=\"spoof\",job=\"inner\"} 10\n\
         http_requests_total{code=\"500\",method=\"GET\"} 1\n\
         go_goroutines 7\n\
         weird_value{path=\"C:\\\\dir\",msg=\"say \\\"hi\\\"\\nbye\"} 1.5\n",
    );
    exporter.set(
        "/b",
        Page {
            body: b"# TYPE jobs counter\njobs_total{queue=\"a\",instance=\"mine\"} 3 # {trace_id=\"x\"} 1\n\
                    jobs_created{queue=\"a\"} 1700000000\n# TYPE temp gauge\ntemp{room=\"x\"} 21.5\n# EOF\n"
                .to_vec(),
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8".into(),
            gzip: true,
            hang: false,
        },
    );
    // One file, read by both.
    let config = r#"
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
- job_name: a
  metrics_path: /a
  static_configs:
  - targets: ['ADDR']
    labels: {team: Red, __meta_zone: eu-1}
  relabel_configs:
  - {source_labels: [team], target_label: team_lc, action: lowercase}
  - {source_labels: [team], target_label: team_uc, action: uppercase}
  - {regex: '__meta_(.*)', action: labelmap}
  - {source_labels: [__address__], modulus: 4, target_label: shard, action: hashmod}
  - {source_labels: [team], regex: Blue, action: drop}
  - {source_labels: [team_lc], target_label: team_copy}
  - {source_labels: [team_copy], target_label: team_lc, action: keepequal}
  - {source_labels: [__address__], target_label: team, action: dropequal}
  - {source_labels: [zone], regex: '(\w+)-(\d)', target_label: region, replacement: '${1}_r$2'}
  metric_relabel_configs:
  - {source_labels: [__name__], regex: 'go_.*', action: drop}
  - {source_labels: [code], regex: '5..', target_label: error, replacement: 'yes'}
  - {regex: method, action: labeldrop}
- job_name: b
  metrics_path: /b
  honor_labels: true
  static_configs:
  - targets: ['ADDR']
  relabel_configs:
  - {target_label: instance, replacement: fixed}
  - {source_labels: [__address__], target_label: __address__, regex: '(.*)', replacement: '$1'}
"#
    .replace("ADDR", &exporter.addr);
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("scrape.yml");
    std::fs::write(&config_path, &config).unwrap();
    let nines = Server::start(&dir.path().join("nines"), &["--config", config_path.to_str().unwrap()]);
    let port = free_port();
    let prom = Prometheus::start(&config_path, &dir.path().join("prom"), port, &[]);
    let prom_url = prom.url.clone();
    // nines leaves OpenMetrics `_created` samples out (see configuration.md);
    // Prometheus 2 stores them as series. Everything else must match.
    let without_created = |s: std::collections::BTreeSet<Vec<(String, String)>>| {
        s.into_iter()
            .filter(|l| !l.iter().any(|(n, v)| n == "__name__" && v.ends_with("_created")))
            .collect::<std::collections::BTreeSet<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (theirs, ours) = loop {
        let theirs = without_created(series_sets(&prom_url));
        let ours = without_created(series_sets(&nines.url));
        let complete = |s: &std::collections::BTreeSet<Vec<(String, String)>>| {
            s.iter()
                .filter(|l| {
                    l.iter()
                        .any(|(n, v)| n == "__name__" && (v == "temp" || v == "weird_value"))
                })
                .count()
                == 2
                && s.len() >= 14
        };
        if (complete(&theirs) && theirs == ours) || Instant::now() >= deadline {
            break (theirs, ours);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    drop(prom);
    assert!(!theirs.is_empty(), "Prometheus stored nothing");
    let only_theirs: Vec<_> = theirs.difference(&ours).collect();
    let only_ours: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        only_theirs.is_empty() && only_ours.is_empty(),
        "series differ\nonly in Prometheus: {only_theirs:#?}\nonly in nines: {only_ours:#?}"
    );
    // Spot checks that the comparison covered the interesting cases.
    let flat: Vec<String> = ours.iter().map(|l| format!("{l:?}")).collect();
    assert!(
        flat.iter().any(|l| l.contains("\"exported_instance\", \"spoof\"")),
        "{flat:#?}"
    );
    assert!(flat.iter().any(|l| l.contains("\"error\", \"yes\"")), "{flat:#?}");
    assert!(flat.iter().any(|l| l.contains("\"shard\"")), "{flat:#?}");
    assert!(flat.iter().any(|l| l.contains("\"region\", \"eu_r1\"")), "{flat:#?}");
    assert!(flat.iter().any(|l| l.contains("\"instance\", \"mine\"")), "{flat:#?}");
}
