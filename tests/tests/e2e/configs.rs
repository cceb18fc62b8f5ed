//! Both example configs document every key their config structs accept,
//! and parse as they stand. The accepted keys come from serde's own
//! refusal of an unknown key ("expected one of `a`, `b`, ..."), so the
//! list cannot drift from the structs.

use std::path::Path;

/// The keys a section accepts, from the parser's refusal of an unknown one.
fn accepted(parse: &dyn Fn(&str) -> Result<(), String>, section: &str) -> Vec<String> {
    let text = match section {
        "" => "zzz_unknown = 1\n".to_string(),
        "projects" => "[[projects]]\nid = \"x\"\nzzz_unknown = 1\n".to_string(),
        s => format!("[{s}]\nzzz_unknown = 1\n"),
    };
    let err = parse(&text).unwrap_err();
    let expected = err
        .split("expected")
        .nth(1)
        .unwrap_or_else(|| panic!("{err}"));
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// `(section, key)` for every key the file sets or shows commented out;
/// a section header documents the top-level key it is.
fn documented(text: &str) -> Vec<(String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim_start_matches('#').trim();
        if let Some(s) = l.strip_prefix('[') {
            section = s.trim_matches(|c| c == '[' || c == ']').to_string();
            out.push((String::new(), section.clone()));
        } else if let Some((key, _)) = l.split_once(" = ")
            && !key.contains(' ')
        {
            out.push((section.clone(), key.to_string()));
        }
    }
    out
}

fn check(file: &str, parse: &dyn Fn(&str) -> Result<(), String>, sections: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    parse(&text).unwrap_or_else(|e| panic!("{file} does not parse: {e}"));
    let documented = documented(&text);
    for section in sections {
        let keys = accepted(parse, section);
        assert!(keys.len() >= 2, "{section}: {keys:?}");
        for key in keys {
            assert!(
                documented.iter().any(|(s, k)| s == section && *k == key),
                "{file} does not document `{key}` in [{section}]"
            );
        }
    }
}

#[test]
fn the_example_configs_name_every_key_and_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../municipality-agent");
    let agent = |text: &str| {
        municipality_agent::config::AgentConfig::parse(text, &dir.join("agent.toml"))
            .map(drop)
            .map_err(|e| e.to_string())
    };
    check(
        "municipality-agent/agent.example.toml",
        &agent,
        &[
            "",
            "gateway",
            "projects",
            "policy",
            "run",
            "secure_aggregation",
        ],
    );
    let gateway = |text: &str| {
        prikk_gateway::Config::parse(text, Path::new("gateway.toml"))
            .map(drop)
            .map_err(|e| e.to_string())
    };
    check("gateway/gateway.example.toml", &gateway, &["", "helper"]);
}
