//! Notification channels through the real binary: email over SMTP with
//! STARTTLS to a real SMTP server (aiosmtpd, which refuses mail before
//! STARTTLS), for a receiver's `email_configs` and for a page reaching a
//! user's email; Slack and PagerDuty Events v2 messages to a real HTTP
//! receiver; a user template replacing a default; and a config with email
//! but no `smtp:` refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::prometheus::free_port;
use common::receiver::Receiver;
use common::{wait_until, Server};

/// aiosmtpd on loopback, storing mail in a Maildir; killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    fn start(dir: &Path, cert: &Path, key: &Path) -> SmtpServer {
        let port = free_port();
        let maildir = dir.join("maildir");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .arg("--tlscert")
            .arg(cert)
            .arg("--tlskey")
            .arg(key)
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd (pip install aiosmtpd)");
        let server = SmtpServer { child, port, maildir };
        wait_until("aiosmtpd listens", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        server
    }

    /// Every message delivered, as text.
    fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    }
}

fn post_alert(s: &Server, name: &str, team: &str) {
    let body = format!(
        r#"{{"alerts":[{{"labels":{{"alertname":"{name}","team":"{team}"}},"annotations":{{"summary":"{name} for {team}","impact":"orders are lost","runbook_url":"https://runbooks.example/{name}"}}}}]}}"#
    );
    let (code, answer) = s.post("/api/v1/integrations/generic", "application/json", body.as_bytes());
    assert_eq!(code, 200, "{answer}");
}

#[test]
fn email_with_starttls_slack_and_pagerduty_carry_summary_impact_and_runbook() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let smtp = SmtpServer::start(dir.path(), &cert_file, &key_file);
    let hooks = Receiver::start();
    let base = &hooks.base;
    let config = format!(
        "smtp:
  smarthost: 127.0.0.1:{port}
  from: nines@example.com
  ca_file: {ca}
templates:
  notification_title: '{{{{ groupLabels.team }}}}: {{{{ status }}}} ({{{{ firing | length }}}})'
users:
- {{name: alice, contact_methods: [{{type: email, address: alice@example.com}}]}}
escalation_policies:
- {{name: db, levels: [{{targets: [{{user: alice}}]}}]}}
route:
  receiver: ops
  group_by: [team]
  group_wait: 0s
  group_interval: 1s
  routes:
  - matchers: [team=db]
    receiver: db-oncall
receivers:
- name: ops
  email_configs:
  - to: ops@example.com
  slack_configs:
  - api_url: {base}/slack
    channel: '#ops'
  pagerduty_configs:
  - routing_key: key-1
    url: {base}/v2/enqueue
- name: db-oncall
  escalation_policy: db
",
        port = smtp.port,
        ca = cert_file.display(),
    );
    let path = dir.path().join("nines.yaml");
    std::fs::write(&path, config).unwrap();
    let s = Server::start(&dir.path().join("data"), &["--config", path.to_str().unwrap()]);

    post_alert(&s, "CheckoutDown", "web");
    post_alert(&s, "ReplicaLag", "db");
    let mails = wait_until("two emails", Duration::from_secs(30), || {
        let m = smtp.messages();
        (m.len() >= 2).then_some(m)
    });
    let to_ops = mails
        .iter()
        .find(|m| m.contains("To: ops@example.com"))
        .expect("the receiver's email");
    assert!(to_ops.contains("Subject: web: firing (1)"), "{to_ops}");
    assert!(to_ops.contains("From: nines@example.com"), "{to_ops}");
    assert!(to_ops.contains("Impact: orders are lost"), "{to_ops}");
    assert!(
        to_ops.contains("Runbook: https://runbooks.example/CheckoutDown"),
        "{to_ops}"
    );
    let page = mails
        .iter()
        .find(|m| m.contains("To: alice@example.com"))
        .expect("the page's email");
    assert!(
        page.contains("Subject: [TRIGGERED] Page #1: ReplicaLag for db"),
        "{page}"
    );
    assert!(page.contains("Acknowledge: http"), "{page}");

    let slack = wait_until("the Slack message", Duration::from_secs(10), || {
        hooks.bodies_to("/slack").into_iter().next()
    });
    assert_eq!(slack["channel"], "#ops");
    let text = slack["text"].as_str().unwrap();
    assert!(
        text.starts_with("*web: firing (1)*\nFIRING: CheckoutDown for web\nImpact: orders are lost"),
        "{text}"
    );
    let pd = wait_until("the PagerDuty event", Duration::from_secs(10), || {
        hooks.bodies_to("/v2/enqueue").into_iter().next()
    });
    assert_eq!(pd["routing_key"], "key-1");
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["payload"]["summary"], "web: firing (1)");
    assert_eq!(pd["links"][0]["href"], "https://runbooks.example/CheckoutDown");

    // The page's email to alice is queued a moment after the group's:
    // wait until both have been sent rather than reading one instant.
    wait_until("both emails sent", Duration::from_secs(10), || {
        let (code, log) = s.get("/api/v1/notifications");
        assert_eq!(code, 200);
        let log: serde_json::Value = serde_json::from_str(&log).unwrap();
        let emails: Vec<&serde_json::Value> = log["data"]["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["target"].as_str().unwrap_or("").starts_with("mailto:"))
            .collect();
        (emails.len() == 2 && emails.iter().all(|n| n["status"] == "sent")).then_some(())
    });
}
