//! Everything the CLI prints goes through here, so that it holds for every command: URLs are
//! shown without credentials, bytes from untrusted input cannot drive a terminal, and a closed
//! or full stdout is an ordinary outcome, never a panic. A closed pipe (`| head -c1`) ends the
//! process quietly with status 0, as ripgrep does: the reader has what it wanted. Any other
//! write error (a full disk) is a one-line error.

use std::io::Write;

use shipline_core::show;

/// Prints `text` as is (add the newline yourself), redacted and escaped.
pub fn text(text: &str) -> Result<(), String> {
    write_stdout(show::for_terminal(text).as_bytes())
}

/// Prints one line.
pub fn line(line: &str) -> Result<(), String> {
    text(&format!("{line}\n"))
}

/// Prints a JSON document on one line.
pub fn json(value: &serde_json::Value) -> Result<(), String> {
    write_stdout(format!("{}\n", json_for_terminal(&value.to_string())).as_bytes())
}

/// Prints a JSON document, indented.
pub fn json_pretty(value: &serde_json::Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| format!("encoding JSON: {e}"))?;
    write_stdout(format!("{}\n", json_for_terminal(&text)).as_bytes())
}

/// JSON text with URL credentials removed and the control characters JSON leaves raw (DEL, C1,
/// bidirectional overrides) written as `\uXXXX` escapes, which keeps it valid JSON.
fn json_for_terminal(json: &str) -> String {
    let redacted = show::redact_urls(json);
    let mut out = String::with_capacity(redacted.len());
    for c in redacted.chars() {
        if c.is_control() && !matches!(c, '\n' | '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn write_stdout(bytes: &[u8]) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(format!("writing to stdout: {e}")),
    }
}

/// Prints an error on stderr as one `error: ...` line per message line, redacted and escaped.
/// A failing stderr is ignored: there is nowhere left to report it.
pub fn error(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "error: {}", show::for_terminal(message));
}

/// The writer behind log lines: stderr, URLs redacted; control characters escaped unless the
/// formatter colours its output (then stderr is a terminal the user is watching, and the
/// formatter's own escape sequences must pass).
#[derive(Clone, Copy)]
pub struct LogWriter {
    /// Whether the formatter emits ANSI colours.
    pub ansi: bool,
    /// Whether lines are JSON objects (escaped the JSON way).
    pub json: bool,
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let shown = match (self.json, self.ansi) {
            (true, _) => json_for_terminal(&text),
            (false, true) => show::redact_urls(&text).into_owned(),
            (false, false) => show::for_terminal(&text),
        };
        // Logging must never fail a command.
        let _ = std::io::stderr().lock().write_all(shown.as_bytes());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// Whether log lines carry ANSI colours: only when stderr is a terminal and `NO_COLOR` is unset
/// or empty (<https://no-color.org>).
pub fn use_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_stays_valid_and_terminal_safe() {
        let value = serde_json::json!({"url": "https://u:SENTINEL@h/x", "name": "a\u{9b}2J\u{1b}[31m\u{7f}"});
        let shown = json_for_terminal(&value.to_string());
        assert!(!shown.contains("SENTINEL"), "{shown}");
        assert!(!shown.contains(['\u{9b}', '\u{1b}', '\u{7f}']), "{shown}");
        let back: serde_json::Value = serde_json::from_str(&shown).expect("still JSON");
        assert_eq!(back["name"], "a\u{9b}2J\u{1b}[31m\u{7f}", "escapes decode to the same text");
    }

    #[test]
    fn colour_table() {
        use std::ffi::OsStr;
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
    }
}
