//! OpenSSH `known_hosts` matching, so SSH git remotes are verified against a file the user
//! chose, never accepted blindly.
//!
//! Supported: plain and `[host]:port` patterns, comma-separated lists, `*`/`?` wildcards,
//! `!negation`, hashed entries (`|1|salt|hash`, as `ssh-keyscan -H` writes them) and `@revoked`.
//! `@cert-authority` lines are ignored: certificates are not checked.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The verdict for a host key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// A line for this host lists exactly this key.
    Trusted,
    /// Lines for this host exist, but none with this key: possibly an attack.
    Mismatch,
    /// The key is marked `@revoked`.
    Revoked,
    /// No line names this host.
    Unknown,
}

/// How the host appears in `known_hosts`: `host` for port 22, `[host]:port` otherwise.
pub fn host_pattern_name(host: &str, port: u16) -> String {
    if port == 22 { host.to_owned() } else { format!("[{host}]:{port}") }
}

/// Checks `key` (the SSH wire-format public key blob, as the server sent it) for `host`:`port`
/// against the text of a `known_hosts` file.
pub fn check(known_hosts: &str, host: &str, port: u16, key: &[u8]) -> HostKeyStatus {
    let name = host_pattern_name(host, port);
    let mut seen_host = false;
    let mut trusted = false;
    for line in known_hosts.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or_default();
        let marker = first.strip_prefix('@');
        if marker.is_some() {
            first = fields.next().unwrap_or_default();
        }
        let (Some(_key_type), Some(blob)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !hosts_match(first, &name) {
            continue;
        }
        let same_key = STANDARD.decode(blob).is_ok_and(|b| b == key);
        match marker {
            Some("revoked") if same_key => return HostKeyStatus::Revoked,
            Some(_) => continue,
            None => {
                seen_host = true;
                trusted |= same_key;
            }
        }
    }
    match (trusted, seen_host) {
        (true, _) => HostKeyStatus::Trusted,
        (false, true) => HostKeyStatus::Mismatch,
        (false, false) => HostKeyStatus::Unknown,
    }
}

fn hosts_match(patterns: &str, name: &str) -> bool {
    if let Some(hashed) = patterns.strip_prefix("|1|") {
        return hashed_match(hashed, name);
    }
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated, name) {
                return false;
            }
        } else if glob(pattern, name) {
            matched = true;
        }
    }
    matched
}

fn hashed_match(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    ring::hmac::verify(&key, name.as_bytes(), &hash).is_ok()
}

/// OpenSSH's pattern language: `*` any run, `?` one character, case-insensitive.
fn glob(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi].eq_ignore_ascii_case(&n[ni])) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &[u8] = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const KEY_B: &[u8] = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

    fn line(hosts: &str, key: &[u8]) -> String {
        format!("{hosts} ssh-ed25519 {}\n", STANDARD.encode(key))
    }

    fn hashed(name: &str, salt: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
        let tag = ring::hmac::sign(&key, name.as_bytes());
        format!("|1|{}|{}", STANDARD.encode(salt), STANDARD.encode(tag.as_ref()))
    }

    #[test]
    fn check_table() {
        use HostKeyStatus::*;
        // (name, known_hosts text, host, port, offered key, verdict)
        type Case<'a> = (&'a str, String, &'a str, u16, &'a [u8], HostKeyStatus);
        let cases: Vec<Case> = vec![
            ("plain host, port 22", line("git.example.com", KEY_A), "git.example.com", 22, KEY_A, Trusted),
            ("bracketed port", line("[127.0.0.1]:2222", KEY_A), "127.0.0.1", 2222, KEY_A, Trusted),
            ("port must match", line("[127.0.0.1]:2222", KEY_A), "127.0.0.1", 22, KEY_A, Unknown),
            ("plain entry is port 22 only", line("127.0.0.1", KEY_A), "127.0.0.1", 2222, KEY_A, Unknown),
            ("other key is a mismatch", line("git.example.com", KEY_B), "git.example.com", 22, KEY_A, Mismatch),
            ("list of hosts", line("a.example,git.example.com,10.0.0.1", KEY_A), "git.example.com", 22, KEY_A, Trusted),
            ("wildcard", line("*.example.com", KEY_A), "git.example.com", 22, KEY_A, Trusted),
            ("question mark", line("gi?.example.com", KEY_A), "git.example.com", 22, KEY_A, Trusted),
            ("negation wins", line("*.example.com,!git.example.com", KEY_A), "git.example.com", 22, KEY_A, Unknown),
            ("case-insensitive", line("GIT.Example.com", KEY_A), "git.example.com", 22, KEY_A, Trusted),
            (
                "hashed",
                line(&hashed("[127.0.0.1]:2222", b"0123456789abcdefghij"), KEY_A),
                "127.0.0.1",
                2222,
                KEY_A,
                Trusted,
            ),
            (
                "hashed other host",
                line(&hashed("other", b"0123456789abcdefghij"), KEY_A),
                "127.0.0.1",
                2222,
                KEY_A,
                Unknown,
            ),
            ("revoked", format!("@revoked {}", line("git.example.com", KEY_A)), "git.example.com", 22, KEY_A, Revoked),
            (
                "cert-authority ignored",
                format!("@cert-authority {}", line("*", KEY_A)),
                "git.example.com",
                22,
                KEY_A,
                Unknown,
            ),
            (
                "any matching line trusts",
                line("git.example.com", KEY_B) + &line("git.example.com", KEY_A),
                "git.example.com",
                22,
                KEY_A,
                Trusted,
            ),
            (
                "comments and junk skipped",
                "# c\n\nbroken-line\n".to_owned() + &line("h", KEY_A),
                "h",
                22,
                KEY_A,
                Trusted,
            ),
        ];
        for (name, file, host, port, key, want) in cases {
            assert_eq!(check(&file, host, port, key), want, "{name}");
        }
    }
}
