//! Compiled regexes, shared across one build: kustomize matches patch targets and image names
//! with regexes, and a large tree repeats the same few patterns in every overlay (compiling one
//! costs far more than the matching it does).

use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;

/// Patterns kept per thread at most; a tree with more distinct ones compiles the rest anew.
const MAX_CACHED: usize = 4096;

thread_local! {
    /// Each build runs on its own thread (see `build::build`), so this lives as long as a build.
    static CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

/// `Regex::new(pattern)`, compiled once per build thread. `Regex` clones share the compiled
/// program.
pub fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    if let Some(re) = CACHE.with_borrow(|c| c.get(pattern).cloned()) {
        return Ok(re);
    }
    let re = Regex::new(pattern)?;
    CACHE.with_borrow_mut(|c| {
        if c.len() < MAX_CACHED {
            c.insert(pattern.to_string(), re.clone());
        }
    });
    Ok(re)
}

#[cfg(test)]
mod tests {
    use super::compile;

    #[test]
    fn cached_regexes_match_like_fresh_ones() {
        for _ in 0..2 {
            let re = compile("^(?:a.c)$").unwrap();
            assert!(re.is_match("abc"));
            assert!(!re.is_match("abcd"));
        }
        assert!(compile("(").is_err(), "an invalid pattern stays an error, cached or not");
        assert!(compile("(").is_err());
    }
}
