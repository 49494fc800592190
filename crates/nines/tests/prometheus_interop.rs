//! Interoperability with real remote_write senders: Debian's Prometheus and
//! vmagent scrape themselves and remote-write to a real `nines serve`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn prometheus_remote_write_lands_in_nines() {
    // CI installs Debian's prometheus package; the test fails without it
    // rather than passing vacuously.
    let bin = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "/usr/bin/prometheus".into());
    assert!(
        std::path::Path::new(&bin).exists(),
        "{bin} not found: apt-get install prometheus"
    );

    let dir = tempfile::tempdir().unwrap();
    let nines = Server::start(&dir.path().join("nines"), &[]);
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prom\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\nremote_write:\n  - url: {}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n",
        nines.url
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let mut prom = Command::new(&bin)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("prom").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");

    let found = wait_for_samples(&nines, r#"up{job="prom"}"#);
    let build_info = nines.export("prometheus_build_info");
    let _ = prom.kill();
    let _ = prom.wait();
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
