//! Prometheus relabeling: the `relabel_configs` / `metric_relabel_configs`
//! rules, with Prometheus's defaults and semantics (anchored regexes, `;`
//! separator, `$1` replacement, an empty result deletes the label).

use md5::{Digest, Md5};
use regex::Regex;
use serde::Deserialize;

/// A relabel action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Set `target_label` to the expanded replacement when the regex matches.
    #[default]
    Replace,
    /// Drop the series/target unless the regex matches.
    Keep,
    /// Drop the series/target when the regex matches.
    Drop,
    /// Drop unless the joined source values equal `target_label`'s value.
    KeepEqual,
    /// Drop when the joined source values equal `target_label`'s value.
    DropEqual,
    /// Set `target_label` to the MD5 of the joined values modulo `modulus`.
    HashMod,
    /// Copy every label whose name matches to the expanded replacement name.
    LabelMap,
    /// Remove every label whose name matches.
    LabelDrop,
    /// Remove every label whose name does not match.
    LabelKeep,
    /// Set `target_label` to the lowercased joined values.
    Lowercase,
    /// Set `target_label` to the uppercased joined values.
    Uppercase,
}

/// One rule as written in a config, Prometheus's field names.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    /// Labels whose values are joined.
    #[serde(default)]
    pub source_labels: Vec<String>,
    /// Joins source values; default `;`.
    pub separator: Option<String>,
    /// Label written by replace, hashmod, lowercase, uppercase; compared by
    /// keepequal/dropequal.
    pub target_label: Option<String>,
    /// Regex, anchored at both ends; default `(.*)`.
    pub regex: Option<String>,
    /// For hashmod.
    pub modulus: Option<u64>,
    /// Replacement with `$1`/`${name}` references; default `$1`.
    pub replacement: Option<String>,
    /// What to do; default replace.
    #[serde(default)]
    pub action: Action,
}

/// A rule that could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RelabelError(pub String);

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    source_labels: Vec<String>,
    separator: String,
    target_label: String,
    regex: Regex,
    modulus: u64,
    replacement: String,
    action: Action,
}

impl Rule {
    /// Compiles and checks one rule the way Prometheus validates it.
    pub fn compile(c: &RelabelConfig) -> Result<Self, RelabelError> {
        let pattern = c.regex.as_deref().unwrap_or("(.*)");
        // Checked alone first so an error shows the pattern as written,
        // not our anchored wrapper.
        Regex::new(pattern).map_err(|e| RelabelError(format!("invalid regex {pattern:?}: {e}")))?;
        let regex = Regex::new(&format!("^(?s:{pattern})$"))
            .map_err(|e| RelabelError(format!("invalid regex {pattern:?}: {e}")))?;
        let target = c.target_label.clone().unwrap_or_default();
        let needs_target = matches!(
            c.action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && target.is_empty() {
            return Err(RelabelError(format!(
                "relabel action {:?} requires target_label",
                c.action
            )));
        }
        if matches!(
            c.action,
            Action::Lowercase | Action::Uppercase | Action::HashMod | Action::KeepEqual | Action::DropEqual
        ) && !nines_tsdb::is_valid_label_name(&target)
        {
            return Err(RelabelError(format!("invalid target_label {target:?}")));
        }
        if c.action == Action::HashMod && c.modulus.unwrap_or(0) == 0 {
            return Err(RelabelError("relabel action hashmod requires a modulus above 0".into()));
        }
        if matches!(c.action, Action::KeepEqual | Action::DropEqual) && c.regex.is_some() {
            return Err(RelabelError(format!(
                "relabel action {:?} does not take a regex",
                c.action
            )));
        }
        if matches!(c.action, Action::LabelDrop | Action::LabelKeep)
            && (!c.source_labels.is_empty() || c.target_label.is_some() || c.replacement.is_some())
        {
            return Err(RelabelError(format!(
                "relabel action {:?} takes only a regex (no source_labels, target_label or replacement)",
                c.action
            )));
        }
        Ok(Self {
            source_labels: c.source_labels.clone(),
            separator: c.separator.clone().unwrap_or_else(|| ";".into()),
            target_label: target,
            regex,
            modulus: c.modulus.unwrap_or(0),
            replacement: c.replacement.clone().unwrap_or_else(|| "$1".into()),
            action: c.action,
        })
    }
}

/// Compiles a list of rules, naming the first bad one by position.
pub fn compile_all(configs: &[RelabelConfig]) -> Result<Vec<Rule>, RelabelError> {
    configs
        .iter()
        .enumerate()
        .map(|(i, c)| Rule::compile(c).map_err(|e| RelabelError(format!("rule {}: {}", i + 1, e.0))))
        .collect()
}

/// A mutable label set while rules run: name → value, kept sorted by name.
pub type LabelSet = Vec<(String, String)>;

fn get<'a>(labels: &'a LabelSet, name: &str) -> Option<&'a str> {
    labels
        .binary_search_by(|(n, _)| n.as_str().cmp(name))
        .ok()
        .map(|i| labels[i].1.as_str())
}

/// Sets or (for an empty value) deletes a label, keeping the set sorted.
pub fn set(labels: &mut LabelSet, name: &str, value: String) {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => labels[i].1 = value,
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, (name.to_string(), value)),
    }
}

/// Runs the rules over `labels` (sorted by name). Returns false when a
/// rule drops the whole series or target.
pub fn apply(rules: &[Rule], labels: &mut LabelSet) -> bool {
    let mut joined = String::new();
    for rule in rules {
        joined.clear();
        for (i, name) in rule.source_labels.iter().enumerate() {
            if i > 0 {
                joined.push_str(&rule.separator);
            }
            joined.push_str(get(labels, name).unwrap_or(""));
        }
        match rule.action {
            Action::Replace => {
                let Some(caps) = rule.regex.captures(&joined) else {
                    continue;
                };
                let mut target = String::new();
                caps.expand(&rule.target_label, &mut target);
                if !nines_tsdb::is_valid_label_name(&target) {
                    continue;
                }
                let mut value = String::new();
                caps.expand(&rule.replacement, &mut value);
                set(labels, &target, value);
            }
            Action::Keep => {
                if !rule.regex.is_match(&joined) {
                    return false;
                }
            }
            Action::Drop => {
                if rule.regex.is_match(&joined) {
                    return false;
                }
            }
            Action::KeepEqual => {
                if get(labels, &rule.target_label).unwrap_or("") != joined {
                    return false;
                }
            }
            Action::DropEqual => {
                if get(labels, &rule.target_label).unwrap_or("") == joined {
                    return false;
                }
            }
            Action::HashMod => {
                let digest = Md5::digest(joined.as_bytes());
                let mut tail = [0u8; 8];
                tail.copy_from_slice(&digest[8..16]);
                let value = u64::from_be_bytes(tail) % rule.modulus;
                set(labels, &rule.target_label, value.to_string());
            }
            Action::LabelMap => {
                let mut additions = Vec::new();
                for (name, value) in labels.iter() {
                    if let Some(caps) = rule.regex.captures(name) {
                        let mut new_name = String::new();
                        caps.expand(&rule.replacement, &mut new_name);
                        additions.push((new_name, value.clone()));
                    }
                }
                for (name, value) in additions {
                    set(labels, &name, value);
                }
            }
            Action::LabelDrop => labels.retain(|(n, _)| !rule.regex.is_match(n)),
            Action::LabelKeep => labels.retain(|(n, _)| rule.regex.is_match(n)),
            Action::Lowercase => set(labels, &rule.target_label, joined.to_lowercase()),
            Action::Uppercase => set(labels, &rule.target_label, joined.to_uppercase()),
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        let mut l: LabelSet = pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        l.sort();
        l
    }

    fn rule(yaml: &str) -> Rule {
        let c: RelabelConfig = serde_norway::from_str(yaml).unwrap();
        Rule::compile(&c).unwrap()
    }

    fn run(yaml: &str, input: &[(&str, &str)]) -> Option<LabelSet> {
        let mut l = labels(input);
        apply(&[rule(yaml)], &mut l).then_some(l)
    }

    // The cases follow the examples and rules in Prometheus's
    // configuration documentation for <relabel_config>.

    #[test]
    fn replace_with_defaults_copies_the_joined_value() {
        let out = run("source_labels: [a, b]\ntarget_label: c", &[("a", "x"), ("b", "y")]).unwrap();
        assert_eq!(out, labels(&[("a", "x"), ("b", "y"), ("c", "x;y")]));
    }

    #[test]
    fn replace_uses_groups_and_is_anchored() {
        let yaml = "source_labels: [__address__]\nregex: '([^:]+):\\d+'\ntarget_label: host\nreplacement: 'h-$1'";
        let out = run(yaml, &[("__address__", "db1:9100")]).unwrap();
        assert_eq!(get(&out, "host"), Some("h-db1"));
        // Anchored: a partial match does nothing.
        let out = run(
            "source_labels: [a]\nregex: b\ntarget_label: c\nreplacement: z",
            &[("a", "abc")],
        )
        .unwrap();
        assert_eq!(get(&out, "c"), None);
    }

    #[test]
    fn replace_with_an_empty_result_deletes_the_label() {
        let out = run(
            "source_labels: [missing]\ntarget_label: a\nreplacement: '$1'",
            &[("a", "1")],
        )
        .unwrap();
        assert_eq!(get(&out, "a"), None);
    }

    #[test]
    fn replace_expands_the_target_label_name_and_skips_invalid_names() {
        let yaml = "source_labels: [k]\nregex: '(.*)'\ntarget_label: 'x_$1'\nreplacement: v";
        assert_eq!(get(&run(yaml, &[("k", "env")]).unwrap(), "x_env"), Some("v"));
        let yaml = "source_labels: [k]\nregex: '(.*)'\ntarget_label: '$1'\nreplacement: v";
        let out = run(yaml, &[("k", "1bad")]).unwrap();
        assert_eq!(out, labels(&[("k", "1bad")]));
    }

    #[test]
    fn named_groups_and_braces() {
        let yaml = "source_labels: [a]\nregex: '(?P<first>\\w+)-(\\w+)'\ntarget_label: b\nreplacement: '${first}_${2}'";
        assert_eq!(get(&run(yaml, &[("a", "foo-bar")]).unwrap(), "b"), Some("foo_bar"));
    }

    #[test]
    fn keep_and_drop() {
        let keep = "source_labels: [job]\nregex: 'node|api'\naction: keep";
        assert!(run(keep, &[("job", "api")]).is_some());
        assert!(run(keep, &[("job", "apix")]).is_none());
        assert!(run(keep, &[]).is_none());
        let drop = "source_labels: [__name__]\nregex: 'go_.*'\naction: drop";
        assert!(run(drop, &[("__name__", "go_gc")]).is_none());
        assert!(run(drop, &[("__name__", "up")]).is_some());
    }

    #[test]
    fn keepequal_and_dropequal_compare_with_the_target_label() {
        let ke = "source_labels: [__meta_port]\ntarget_label: port\naction: keepequal";
        assert!(run(ke, &[("__meta_port", "80"), ("port", "80")]).is_some());
        assert!(run(ke, &[("__meta_port", "80"), ("port", "81")]).is_none());
        let de = "source_labels: [a]\ntarget_label: b\naction: dropequal";
        assert!(run(de, &[("a", "1"), ("b", "1")]).is_none());
        assert!(run(de, &[("a", "1")]).is_some());
        let c: RelabelConfig =
            serde_norway::from_str("source_labels: [a]\ntarget_label: b\nregex: x\naction: keepequal").unwrap();
        assert!(Rule::compile(&c).is_err());
    }

    #[test]
    fn hashmod_matches_prometheus() {
        // Prometheus: md5 of the joined value, low 8 bytes big-endian, mod.
        let yaml = "source_labels: [__address__]\nmodulus: 8\ntarget_label: __tmp_hash\naction: hashmod";
        let out = run(yaml, &[("__address__", "localhost:9100")]).unwrap();
        let digest = Md5::digest(b"localhost:9100");
        let expected = u64::from_be_bytes(digest[8..16].try_into().unwrap()) % 8;
        assert_eq!(get(&out, "__tmp_hash"), Some(expected.to_string().as_str()));
        // Computed independently with Python's hashlib for "foo" mod 1000.
        let yaml = "source_labels: [a]\nmodulus: 1000\ntarget_label: b\naction: hashmod";
        assert_eq!(get(&run(yaml, &[("a", "foo")]).unwrap(), "b"), Some("696"));
        let c: RelabelConfig = serde_norway::from_str("source_labels: [a]\ntarget_label: b\naction: hashmod").unwrap();
        assert!(Rule::compile(&c).is_err());
    }

    #[test]
    fn labelmap_copies_matching_names() {
        let yaml = "regex: '__meta_kubernetes_pod_label_(.+)'\naction: labelmap";
        let out = run(yaml, &[("__meta_kubernetes_pod_label_app", "web"), ("x", "1")]).unwrap();
        assert_eq!(get(&out, "app"), Some("web"));
        assert_eq!(get(&out, "__meta_kubernetes_pod_label_app"), Some("web"));
        let yaml = "regex: 'p_(.+)'\nreplacement: 'q_$1'\naction: labelmap";
        assert_eq!(get(&run(yaml, &[("p_a", "1")]).unwrap(), "q_a"), Some("1"));
    }

    #[test]
    fn labeldrop_and_labelkeep_work_on_names() {
        let out = run("regex: 'tmp_.*'\naction: labeldrop", &[("tmp_a", "1"), ("keep", "2")]).unwrap();
        assert_eq!(out, labels(&[("keep", "2")]));
        let out = run(
            "regex: '__name__|job'\naction: labelkeep",
            &[("__name__", "m"), ("job", "j"), ("x", "1")],
        )
        .unwrap();
        assert_eq!(out, labels(&[("__name__", "m"), ("job", "j")]));
        let c: RelabelConfig = serde_norway::from_str("source_labels: [a]\nregex: x\naction: labeldrop").unwrap();
        assert!(Rule::compile(&c).is_err());
    }

    #[test]
    fn lowercase_and_uppercase() {
        let out = run(
            "source_labels: [a]\ntarget_label: b\naction: lowercase",
            &[("a", "AbC")],
        )
        .unwrap();
        assert_eq!(get(&out, "b"), Some("abc"));
        let out = run(
            "source_labels: [a, c]\ntarget_label: b\naction: uppercase",
            &[("a", "x"), ("c", "y")],
        )
        .unwrap();
        assert_eq!(get(&out, "b"), Some("X;Y"));
    }

    #[test]
    fn rules_run_in_order_and_separator_applies() {
        let rules = compile_all(&[
            serde_norway::from_str("source_labels: [a, b]\nseparator: '/'\ntarget_label: c").unwrap(),
            serde_norway::from_str("source_labels: [c]\nregex: '1/2'\naction: keep").unwrap(),
        ])
        .unwrap();
        let mut l = labels(&[("a", "1"), ("b", "2")]);
        assert!(apply(&rules, &mut l));
        assert_eq!(get(&l, "c"), Some("1/2"));
    }

    #[test]
    fn bad_rules_are_refused_with_their_position() {
        let e = compile_all(&[
            RelabelConfig::default(),
            serde_norway::from_str("regex: '('\naction: drop").unwrap(),
        ])
        .unwrap_err();
        // The first lacks target_label for replace.
        assert!(e.0.starts_with("rule 1"), "{e}");
    }
}
