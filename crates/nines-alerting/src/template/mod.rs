//! The template language of Prometheus rule labels and annotations: the
//! part of Go's `text/template` people use in them. `{{ $labels.name }}`,
//! `{{ $value }}`, `.Labels`/`.Value`, `$externalLabels`, pipelines
//! (`{{ $value | humanizePercentage }}`), `printf`, the `humanize*`
//! family, `if`/`else if`/`else`/`end` with `eq`/`ne`/`lt`/`le`/`gt`/`ge`/
//! `and`/`or`/`not`, variables (`{{ $v := ... }}`), `{{-`/`-}}` trimming,
//! comments, string functions (`toUpper`, `toLower`, `title`,
//! `reReplaceAll`, `match`, `stripPort`, `stripDomain`, `safeHtml`),
//! `index` and `len`. `range`, `with` and `query` are refused when the
//! template is parsed, so `nines check` reports them.
//!
//! Parsing and rendering never panic: errors are values, and a rule whose
//! template fails at run time gets Prometheus's
//! `<error expanding template: ...>` text instead.

mod funcs;
pub mod gofmt;
mod parse;

use std::collections::BTreeMap;

pub use parse::Template;

/// A value inside a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's nil (a missing variable or map key renders as "").
    Nil,
    /// A boolean.
    Bool(bool),
    /// A float64 (templates see every number as one).
    Number(f64),
    /// A string.
    Str(String),
    /// A `map[string]string` (`$labels`).
    Map(BTreeMap<String, String>),
}

impl Value {
    /// Go's truth: false, 0, nil and empty strings and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(m) => !m.is_empty(),
        }
    }

    /// How `{{ . }}` prints it.
    pub fn render(&self) -> String {
        match self {
            Value::Nil => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => gofmt::format_g(*n, None),
            Value::Str(s) => s.clone(),
            Value::Map(m) => {
                let pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", pairs.join(" "))
            }
        }
    }
}

/// What a rule's templates see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Data {
    /// The alert's labels (`$labels`, `.Labels`).
    pub labels: BTreeMap<String, String>,
    /// The sample value (`$value`, `.Value`).
    pub value: f64,
    /// `$externalLabels`, `.ExternalLabels`.
    pub external_labels: BTreeMap<String, String>,
    /// `$externalURL`, `.ExternalURL`.
    pub external_url: String,
}

/// A template that could not be parsed or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// Parses and renders `text`; on error, Prometheus's error text in place
/// of the result, as rule evaluation shows it.
pub fn expand(name: &str, text: &str, data: &Data) -> String {
    match Template::parse(text).and_then(|t| t.render(data)) {
        Ok(s) => s,
        Err(e) => format!("<error expanding template: {name}: {e}>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(value: f64) -> Data {
        Data {
            labels: BTreeMap::from([
                ("instance".to_string(), "db-1:9100".to_string()),
                ("job".to_string(), "node".to_string()),
            ]),
            value,
            external_labels: BTreeMap::from([("cluster".to_string(), "eu".to_string())]),
            external_url: "http://nines:9999".into(),
        }
    }

    fn render(text: &str, value: f64) -> String {
        Template::parse(text)
            .and_then(|t| t.render(&data(value)))
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn the_forms_people_write_in_annotations() {
        assert_eq!(render("{{ $labels.instance }} is down", 0.0), "db-1:9100 is down");
        assert_eq!(render("{{.Labels.job}}/{{ .Value }}", 2.5), "node/2.5");
        assert_eq!(render("{{ $value | humanizePercentage }}", 0.1234), "12.34%");
        assert_eq!(render("{{ humanize $value }}", 1234567.0), "1.235M");
        assert_eq!(render("{{ $value | humanize1024 }}", 2048.0), "2ki");
        assert_eq!(render("{{ $value | humanizeDuration }}", 93784.0), "1d 2h 3m 4s");
        assert_eq!(render("{{ $value | humanizeDuration }}", 0.25), "250ms");
        assert_eq!(render("{{ printf \"%.2f\" $value }}", 4.56789), "4.57");
        assert_eq!(render("{{ printf \"%s has %d%%\" $labels.job 5 }}", 0.0), "node has 5%");
        assert_eq!(render("{{ $labels.missing }}", 0.0), "");
        assert_eq!(
            render("{{ $externalLabels.cluster }} {{ $externalURL }}", 0.0),
            "eu http://nines:9999"
        );
        assert_eq!(
            render("{{ $labels.instance | reReplaceAll \":.*\" \"\" }}", 0.0),
            "db-1"
        );
        assert_eq!(render("{{ index $labels \"job\" | toUpper }}", 0.0), "NODE");
        assert_eq!(render("{{ $value }}", 1e6), "1e+06");
        assert_eq!(
            render("{{ humanizeTimestamp 1700000000 }}", 0.0),
            "2023-11-14 22:13:20 +0000 UTC"
        );
    }

    #[test]
    fn conditions_variables_trimming_and_comments() {
        let t = "{{ if gt $value 0.5 }}high{{ else if gt $value 0.1 }}mid{{ else }}low{{ end }}";
        assert_eq!(render(t, 0.7), "high");
        assert_eq!(render(t, 0.2), "mid");
        assert_eq!(render(t, 0.0), "low");
        assert_eq!(render("a  {{- /* note */ -}}  b", 0.0), "ab");
        assert_eq!(render("{{ $v := $labels.job }}{{ $v }}!", 0.0), "node!");
        assert_eq!(
            render("{{ if and (eq $labels.job \"node\") (not false) }}y{{ end }}", 0.0),
            "y"
        );
        assert_eq!(render("{{ `raw \\n` }}", 0.0), "raw \\n");
    }

    #[test]
    fn unsupported_or_broken_templates_are_errors_not_panics() {
        for bad in [
            "{{ range $labels }}x{{ end }}",
            "{{ query \"up\" }}",
            "{{ if true }}unclosed",
            "{{ end }}",
            "{{ $labels.job",
            "{{ nosuchfunc 1 }}",
            "{{ printf }}",
            "{{ \"unterminated }}",
            "{{ ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))) }}",
        ] {
            assert!(render(bad, 0.0).starts_with("ERR "), "{bad:?} -> {}", render(bad, 0.0));
        }
        assert!(expand("summary", "{{ nosuchfunc }}", &data(0.0)).starts_with("<error expanding template: summary: "));
    }
}
