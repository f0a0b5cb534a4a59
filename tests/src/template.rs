//! template.yaml read as text, for the tests that check what it declares.

/// The text of one top-level resource of template.yaml, up to the next one.
pub fn resource(template: &str, name: &str) -> String {
    let header = format!("  {name}:");
    let mut lines = template.lines().skip_while(|line| *line != header);
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("template.yaml has no resource {name}"));
    let body = lines.take_while(|line| {
        line.is_empty() || line.starts_with("   ") || line.trim_start().starts_with('#')
    });
    std::iter::once(first)
        .chain(body)
        .collect::<Vec<_>>()
        .join("\n")
}
