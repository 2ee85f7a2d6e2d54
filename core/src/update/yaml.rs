//! Reading untrusted YAML into value trees with a bound on what aliases may expand to, counted
//! in bytes: a few hundred kilobytes of aliases to one large scalar would otherwise become
//! gigabytes once copied into a tree (the node-count budgets of the parser do not see sizes).

use granit_parser::{Event, Parser};

/// The most bytes a stream's documents may expand to through anchors and aliases (16 MiB;
/// overlays and configuration are kilobytes).
pub const MAX_EXPANDED_BYTES: usize = 16 << 20;

/// Bytes charged per node besides its text, so aliases to empty nodes still count.
const NODE_OVERHEAD: usize = 8;

/// Checks that the documents of `text`, with every alias expanded, hold at most `limit` bytes of
/// scalar text (plus a small charge per node). The error names the limit.
pub fn check_expansion(text: &str, limit: usize) -> Result<(), String> {
    let too_big = || {
        format!(
            "anchors and aliases would expand the documents past {limit} bytes; refused \
             (the limit on alias expansion, counted in bytes)"
        )
    };
    // Expanded size of every anchored node, by anchor id.
    let mut anchored: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    // Open collections: (anchor id, bytes so far).
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let mut total: usize = 0;
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let Ok((event, _)) = next else {
            // Syntax errors are the reader's to report, with its position.
            return Ok(());
        };
        let (anchor, size) = match event {
            Event::Scalar(value, _, anchor, _) => (anchor, value.len() + NODE_OVERHEAD),
            Event::Alias(id) => (0, anchored.get(&id).copied().unwrap_or(NODE_OVERHEAD)),
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                stack.push((anchor, NODE_OVERHEAD));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(frame) => frame,
                None => continue,
            },
            _ => continue,
        };
        if anchor != 0 {
            anchored.insert(anchor, size);
        }
        match stack.last_mut() {
            Some((_, bytes)) => {
                *bytes = bytes.saturating_add(size);
                if *bytes > limit {
                    return Err(too_big());
                }
            }
            None => {
                total = total.saturating_add(size);
                if total > limit {
                    return Err(too_big());
                }
            }
        }
    }
    Ok(())
}

/// Parses every document of `text` into JSON-like values, after [`check_expansion`] with
/// [`MAX_EXPANDED_BYTES`].
pub fn parse_documents(text: &str) -> Result<Vec<serde_json::Value>, String> {
    check_expansion(text, MAX_EXPANDED_BYTES)?;
    serde_saphyr::from_multiple::<serde_json::Value>(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bomb(scalar_bytes: usize, aliases: usize) -> String {
        let mut text = format!("a: &x {}\nb:\n", "y".repeat(scalar_bytes));
        for _ in 0..aliases {
            text.push_str("- *x\n");
        }
        text
    }

    #[test]
    fn alias_expansion_is_bounded_by_bytes() {
        // 650 KB of aliases to a 10 KB scalar: about 1.6 GB once expanded.
        let text = bomb(10_000, 160_000);
        let err = check_expansion(&text, MAX_EXPANDED_BYTES).unwrap_err();
        assert!(err.contains(&MAX_EXPANDED_BYTES.to_string()), "the error names the limit: {err}");
        assert!(parse_documents(&text).is_err());
        // The same shape, small, is fine.
        assert!(check_expansion(&bomb(10, 100), MAX_EXPANDED_BYTES).is_ok());
        assert_eq!(parse_documents(&bomb(3, 2)).unwrap().len(), 1);
    }

    #[test]
    fn nested_laughs_are_refused_early() {
        let mut text = String::from("l0: &l0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!("l{i}: &l{i} [*l{p},*l{p},*l{p},*l{p},*l{p},*l{p},*l{p},*l{p}]\n"));
        }
        assert!(check_expansion(&text, MAX_EXPANDED_BYTES).is_err());
    }

    #[test]
    fn plain_documents_pass_and_count_their_bytes() {
        let text = "a: 1\n---\nb: [x, y]\n";
        assert!(check_expansion(text, 1024).is_ok());
        assert!(check_expansion(text, 10).is_err(), "the bound applies without aliases too");
        assert_eq!(parse_documents(text).unwrap().len(), 2);
    }
}
