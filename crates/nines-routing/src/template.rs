//! User-editable message templates (minijinja, Jinja2's syntax), with
//! defaults that always say what is wrong, its business impact and where
//! the playbook is. A notification's template sees Alertmanager's webhook
//! data (`status`, `receiver`, `groupLabels`, `commonLabels`,
//! `commonAnnotations`, `externalURL`, `alerts`) plus `firing` and
//! `resolved` (the alerts in each state); a page's template sees `event`,
//! `page`, `recipient`, `ack_url` and `alerts`.
//!
//! A template that fails when rendered (a filter given the wrong type,
//! say) does not lose the message: the default is rendered instead, and
//! the failure is said at the top of the text.

use minijinja::{Environment, UndefinedBehavior};
use serde::Deserialize;
use serde_json::Value;

use nines_alerting::rulefile::{PathPart, Problem};

/// The title of a notification about an alert group.
pub const DEFAULT_NOTIFICATION_TITLE: &str = "[{{ status | upper }}{% if firing %}:{{ firing | length }}{% endif %}] \
{% for name, value in groupLabels | items %}{{ value }}{% if not loop.last %} {% endif %}{% endfor %}";

/// The body of a notification about an alert group.
pub const DEFAULT_NOTIFICATION_TEXT: &str = "{% for a in alerts %}\
{{ a.status | upper }}: {{ a.annotations.summary or a.labels.alertname }}
{% if a.annotations.impact %}Impact: {{ a.annotations.impact }}
{% endif %}{% if a.annotations.runbook_url %}Runbook: {{ a.annotations.runbook_url }}
{% endif %}{% if a.annotations.playbook %}Playbook:
{{ a.annotations.playbook }}
{% endif %}Labels: {% for k, v in a.labels | items %}{{ k }}={{ v }}{% if not loop.last %}, {% endif %}{% endfor %}
Since: {{ a.startsAt }}
{% if not loop.last %}
{% endif %}{% endfor %}";

/// The title of a page's message.
pub const DEFAULT_PAGE_TITLE: &str = "[{{ event | upper }}] Page #{{ page.id }}: {{ page.summary }}";

/// The body of a page's message.
pub const DEFAULT_PAGE_TEXT: &str = "For {{ recipient.fullName or recipient.name }}\
{% if recipient.onCallFor %}, on call for {{ recipient.onCallFor }}{% endif %} \
(level {{ page.level }} of policy {{ page.policy }})
{% if page.impact %}Impact: {{ page.impact }}
{% endif %}{% if page.runbookUrl %}Runbook: {{ page.runbookUrl }}
{% endif %}{% if page.playbook %}Playbook:
{{ page.playbook }}
{% endif %}Acknowledge: {{ ackUrl }}
Page: {{ page.url }}";

/// `templates:` as written: any of them replaces the default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesSpec {
    /// Title (Slack) and subject (email) of group notifications.
    #[serde(default)]
    pub notification_title: Option<String>,
    /// Body of group notifications.
    #[serde(default)]
    pub notification_text: Option<String>,
    /// Title and subject of page messages.
    #[serde(default)]
    pub page_title: Option<String>,
    /// Body of page messages.
    #[serde(default)]
    pub page_text: Option<String>,
}

/// Which template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// [`DEFAULT_NOTIFICATION_TITLE`].
    NotificationTitle,
    /// [`DEFAULT_NOTIFICATION_TEXT`].
    NotificationText,
    /// [`DEFAULT_PAGE_TITLE`].
    PageTitle,
    /// [`DEFAULT_PAGE_TEXT`].
    PageText,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::NotificationTitle => "notification_title",
            Kind::NotificationText => "notification_text",
            Kind::PageTitle => "page_title",
            Kind::PageText => "page_text",
        }
    }

    fn default_source(self) -> &'static str {
        match self {
            Kind::NotificationTitle => DEFAULT_NOTIFICATION_TITLE,
            Kind::NotificationText => DEFAULT_NOTIFICATION_TEXT,
            Kind::PageTitle => DEFAULT_PAGE_TITLE,
            Kind::PageText => DEFAULT_PAGE_TEXT,
        }
    }
}

/// The templates in force.
#[derive(Debug, Clone)]
pub struct Templates {
    env: Environment<'static>,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Messages are plain text; a missing annotation renders as nothing.
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_keep_trailing_newline(false);
    env
}

/// Whether `source` compiles; the error says where it does not.
pub fn check(source: &str) -> Result<(), String> {
    environment()
        .template_from_str(source)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl Default for Templates {
    fn default() -> Self {
        // The defaults are tested to compile.
        Self::new(&TemplatesSpec::default()).unwrap_or_else(|_| Self { env: environment() })
    }
}

impl Templates {
    /// The defaults with the spec's replacements; every template that does
    /// not compile is a problem at its key.
    pub fn new(spec: &TemplatesSpec) -> Result<Self, Vec<Problem>> {
        let mut env = environment();
        let mut problems = Vec::new();
        for (kind, given) in [
            (Kind::NotificationTitle, &spec.notification_title),
            (Kind::NotificationText, &spec.notification_text),
            (Kind::PageTitle, &spec.page_title),
            (Kind::PageText, &spec.page_text),
        ] {
            let source = given.clone().unwrap_or_else(|| kind.default_source().to_string());
            if let Err(e) = env.add_template_owned(kind.name(), source) {
                problems.push((vec![PathPart::Field(kind.name())], e.to_string()));
            }
            let default = format!("default_{}", kind.name());
            if let Err(e) = env.add_template_owned(default, kind.default_source()) {
                problems.push((vec![PathPart::Field(kind.name())], format!("the default: {e}")));
            }
        }
        if problems.is_empty() {
            Ok(Self { env })
        } else {
            Err(problems)
        }
    }

    fn fallback(&self, kind: Kind, ctx: &Value, why: String) -> String {
        let default = self
            .env
            .get_template(&format!("default_{}", kind.name()))
            .and_then(|t| t.render(ctx))
            .unwrap_or_default();
        format!("(template {} failed: {why})\n{default}", kind.name())
    }

    /// Renders one of the templates for `ctx`.
    pub fn render(&self, kind: Kind, ctx: &Value) -> String {
        match self.env.get_template(kind.name()).and_then(|t| t.render(ctx)) {
            Ok(text) => text,
            Err(e) => self.fallback(kind, ctx, e.to_string()),
        }
    }

    /// Renders `source` (an integration's own template, already checked)
    /// for `ctx`, or `kind`'s template when there is none.
    pub fn render_own(&self, source: Option<&str>, kind: Kind, ctx: &Value) -> String {
        match source {
            None => self.render(kind, ctx),
            Some(src) => match self.env.render_str(src, ctx) {
                Ok(text) => text,
                Err(e) => self.fallback(kind, ctx, e.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn group() -> Value {
        json!({
            "status": "firing",
            "receiver": "ops",
            "groupLabels": {"alertname": "CheckoutErrors", "service": "checkout"},
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "CheckoutErrors", "service": "checkout"},
                "annotations": {"summary": "checkout fails", "impact": "customers cannot pay",
                                "runbook_url": "https://runbooks.example/checkout"},
                "startsAt": "2026-11-24T10:00:00Z",
            }],
            "firing": [{}],
            "resolved": [],
        })
    }

    #[test]
    fn the_defaults_say_what_is_wrong_the_impact_and_the_playbook() {
        let t = Templates::default();
        assert_eq!(
            t.render(Kind::NotificationTitle, &group()),
            "[FIRING:1] CheckoutErrors checkout"
        );
        let text = t.render(Kind::NotificationText, &group());
        assert!(
            text.starts_with(
                "FIRING: checkout fails\nImpact: customers cannot pay\nRunbook: https://runbooks.example/checkout\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("Labels: alertname=CheckoutErrors, service=checkout"),
            "{text}"
        );
        let page = json!({
            "event": "triggered",
            "page": {"id": 3, "summary": "checkout fails", "impact": "customers cannot pay",
                     "playbook": "1. roll back", "level": 1, "policy": "pay", "url": "http://n/api/v1/pages/3"},
            "recipient": {"name": "alice", "onCallFor": "primary"},
            "ackUrl": "http://n/p/3/ack?x",
        });
        assert_eq!(t.render(Kind::PageTitle, &page), "[TRIGGERED] Page #3: checkout fails");
        let body = t.render(Kind::PageText, &page);
        assert!(body.starts_with("For alice, on call for primary (level 1 of policy pay)\nImpact: customers cannot pay\nPlaybook:\n1. roll back\nAcknowledge: http://n/p/3/ack?x"), "{body}");
    }

    #[test]
    fn user_templates_replace_the_defaults_and_broken_ones_are_refused_or_fall_back() {
        let spec = TemplatesSpec {
            notification_title: Some("{{ groupLabels.service }} is {{ status }}".into()),
            ..Default::default()
        };
        let t = Templates::new(&spec).unwrap();
        assert_eq!(t.render(Kind::NotificationTitle, &group()), "checkout is firing");
        let bad = TemplatesSpec {
            page_text: Some("{% for x in %}".into()),
            ..Default::default()
        };
        let problems = Templates::new(&bad).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(matches!(problems[0].0[0], PathPart::Field("page_text")));
        assert!(check("{{ unclosed").is_err());
        // Compiles, fails on this data: the default is used, and says so.
        let out = t.render_own(Some("{{ status | int + 1 }}"), Kind::NotificationTitle, &group());
        assert!(out.starts_with("(template notification_title failed:"), "{out}");
        assert!(out.ends_with("[FIRING:1] CheckoutErrors checkout"), "{out}");
    }
}
