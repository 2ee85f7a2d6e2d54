//! A fast event source for the plain block YAML that kustomize trees almost always hold.
//!
//! granit-parser's scanner and parser were about half of all CPU time of a parse + print.
//! [`Fast`] reads a subset of YAML by lines and yields the same [`Event`]s granit-parser yields
//! for it (with the "span is empty" flag [`super::parse`]'s `Builder` reads), one document at a
//! time. On anything outside the subset it declines ([`Declined`]) and the caller parses the
//! whole text again with granit-parser, so what it accepts is proven by comparison (the
//! differential and property tests in `fast_tests.rs`) and what it does not is never guessed.
//!
//! The subset: `\n` line ends; printable characters; tabs only inside literal block scalars
//! and comments; full-line and trailing comments; `---` document starts; block mappings with
//! plain or single-line quoted keys; block sequences (compact, nested, indentless); plain
//! scalars that could be nothing else (continued on more indented lines); single-line quoted
//! scalars without escapes; empty values; `[]`, `{}` and one-line flow sequences of scalars;
//! literal block scalars (`|`, `|-`, `|+`) below a key or a dash.

use std::borrow::Cow;

use granit_parser::{Event, ScalarStyle, StructureStyle};

use super::parse::MAX_DEPTH;

/// The input leaves the subset [`Fast`] reads: parse it with granit-parser instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Declined;

type R<T> = Result<T, Declined>;

/// Longer implicit keys are errors in YAML (libyaml: 1024 characters); decline well before.
const MAX_KEY_LEN: usize = 1000;

/// One line of the input, located by [`Fast::significant`].
#[derive(Clone, Copy)]
struct Line<'a> {
    /// Leading spaces.
    indent: usize,
    /// The line after its indentation, without the line break.
    text: &'a str,
    /// Where the following line starts.
    next: usize,
}

impl Line<'_> {
    fn is_doc_start(&self) -> bool {
        self.indent == 0 && self.text == "---"
    }
}

/// Events of a YAML text read by lines; see the module documentation.
pub(super) struct Fast<'a> {
    src: &'a str,
    /// Start of the first line not read yet.
    pos: usize,
    /// Events of the current document (with the empty-span flag), yielded from `taken` on.
    out: Vec<(Event<'a>, bool)>,
    taken: usize,
    started: bool,
    ended: bool,
    /// Collections open around the node being read.
    depth: usize,
}

impl<'a> Fast<'a> {
    /// A source over `src`, or [`Declined`] when a character outside the subset occurs.
    pub(super) fn new(src: &'a str) -> R<Fast<'a>> {
        check_chars(src)?;
        Ok(Fast { src, pos: 0, out: Vec::new(), taken: 0, started: false, ended: false, depth: 0 })
    }

    /// The next event and whether granit-parser's span of it would be empty.
    pub(super) fn next_event(&mut self) -> R<(Event<'a>, bool)> {
        if self.taken < self.out.len() {
            let ev = std::mem::replace(&mut self.out[self.taken], (Event::StreamEnd, true));
            self.taken += 1;
            return Ok(ev);
        }
        if !self.started {
            self.started = true;
            return Ok((Event::StreamStart, true));
        }
        if self.ended {
            return Err(Declined);
        }
        self.out.clear();
        self.taken = 0;
        self.document()?;
        if self.out.is_empty() {
            self.ended = true;
            return Ok((Event::StreamEnd, true));
        }
        self.next_event()
    }

    /// Where the line being read starts (for tests that report where the source declined).
    #[cfg(test)]
    pub(super) fn position(&self) -> usize {
        self.pos
    }

    fn push(&mut self, ev: Event<'a>) {
        self.out.push((ev, false));
    }

    fn scalar(&mut self, text: Cow<'a, str>, style: ScalarStyle) {
        self.out.push((Event::Scalar(text, style, 0, None), false));
    }

    /// An absent node: granit-parser reports a plain `~` spanning no text.
    fn empty(&mut self) {
        self.out.push((Event::Scalar(Cow::Borrowed("~"), ScalarStyle::Plain, 0, None), true));
    }

    /// Reads the next document into `out` (nothing at the end of the stream).
    fn document(&mut self) -> R<()> {
        let Some(first) = self.significant()? else { return Ok(()) };
        let explicit = first.is_doc_start();
        if explicit {
            self.pos = first.next;
        }
        self.push(Event::DocumentStart(explicit, None));
        match self.significant()? {
            None => self.empty(),
            Some(l) if l.is_doc_start() => self.empty(),
            Some(l) => {
                self.pos = l.next;
                self.node_at(l.indent, l.text, None)?;
                if self.significant()?.is_some_and(|l| !l.is_doc_start()) {
                    return Err(Declined);
                }
            }
        }
        self.push(Event::DocumentEnd);
        Ok(())
    }

    /// The line starting at `pos` (without its line break) and where the next one starts;
    /// `None` at the end of the input.
    fn line_at(&self, pos: usize) -> R<Option<(&'a str, usize)>> {
        let rest = self.src.get(pos..).ok_or(Declined)?;
        Ok(match rest.find('\n') {
            _ if rest.is_empty() => None,
            Some(i) => Some((rest.get(..i).ok_or(Declined)?, pos + i + 1)),
            None => Some((rest, self.src.len())),
        })
    }

    /// Skips blank and comment lines and returns the next line without consuming it (`pos`
    /// stays at its start), or `None` at the end of the input.
    fn significant(&mut self) -> R<Option<Line<'a>>> {
        loop {
            let Some((line, next)) = self.line_at(self.pos)? else { return Ok(None) };
            let text = line.trim_start_matches(' ');
            let indent = line.len() - text.len();
            if text.is_empty() || text.starts_with('#') {
                self.pos = next;
                continue;
            }
            if text.starts_with('\t') {
                return Err(Declined);
            }
            let l = Line { indent, text, next };
            // Directives, document ends and anything else that starts like a marker.
            if indent == 0
                && (text.starts_with('%') || text.starts_with("...") || text.starts_with("---"))
                && !l.is_doc_start()
            {
                return Err(Declined);
            }
            return Ok(Some(l));
        }
    }

    /// Reads the node whose text starts `text` (at column `col`), the rest of a line already
    /// consumed; `parent` is the indentation of the collection holding it (`None` at the root).
    fn node_at(&mut self, col: usize, text: &'a str, parent: Option<usize>) -> R<()> {
        if is_dash(text) {
            self.sequence(col, text, false)
        } else if key_split(text)?.is_some() {
            self.mapping(col, text)
        } else {
            self.inline_scalar(text, parent)
        }
    }

    fn open(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { Err(Declined) } else { Ok(()) }
    }

    /// A block mapping at indentation `m` whose first entry is `text`.
    fn mapping(&mut self, m: usize, mut text: &'a str) -> R<()> {
        self.open()?;
        self.push(Event::MappingStart(StructureStyle::Block, 0, None));
        loop {
            let (key, style, rest) = key_split(text)?.ok_or(Declined)?;
            self.scalar(key, style);
            self.value(m, rest)?;
            match self.significant()? {
                Some(l) if l.indent > m => return Err(Declined),
                Some(l) if l.indent == m && !l.is_doc_start() => {
                    self.pos = l.next;
                    text = l.text;
                }
                _ => break,
            }
        }
        self.push(Event::MappingEnd);
        self.depth -= 1;
        Ok(())
    }

    /// The value of a key of a mapping at indentation `m`; `rest` follows `:` and its spaces.
    fn value(&mut self, m: usize, rest: &'a str) -> R<()> {
        if !(rest.is_empty() || rest.starts_with('#')) {
            return self.inline_scalar(rest, Some(m));
        }
        match self.significant()? {
            Some(l) if l.indent > m => self.collection_below(l),
            Some(l) if l.indent == m && is_dash(l.text) => {
                self.pos = l.next;
                self.sequence(m, l.text, true)
            }
            _ => {
                self.empty();
                Ok(())
            }
        }
    }

    /// The collection starting at line `l`, the value of a key or dash that ends its line.
    fn collection_below(&mut self, l: Line<'a>) -> R<()> {
        self.pos = l.next;
        if is_dash(l.text) {
            self.sequence(l.indent, l.text, false)
        } else if key_split(l.text)?.is_some() {
            self.mapping(l.indent, l.text)
        } else {
            Err(Declined)
        }
    }

    /// A block sequence at indentation `s` whose first item is `text` (starting with `-`);
    /// `indentless` when it is the value of a key at the same indentation.
    fn sequence(&mut self, s: usize, mut text: &'a str, indentless: bool) -> R<()> {
        self.open()?;
        self.push(Event::SequenceStart(StructureStyle::Block, 0, None));
        loop {
            self.item(s, text)?;
            match self.significant()? {
                Some(l) if l.indent > s => return Err(Declined),
                Some(l) if l.indent == s && is_dash(l.text) => {
                    self.pos = l.next;
                    text = l.text;
                }
                Some(l) if l.indent == s && !indentless && !l.is_doc_start() => return Err(Declined),
                _ => break,
            }
        }
        self.push(Event::SequenceEnd);
        self.depth -= 1;
        Ok(())
    }

    /// One item of a sequence at indentation `s`: `text` is its line from the dash on.
    fn item(&mut self, s: usize, text: &'a str) -> R<()> {
        let after = text.get(1..).ok_or(Declined)?;
        let inner = after.trim_start_matches(' ');
        if inner.starts_with('\t') {
            return Err(Declined);
        }
        if !(inner.is_empty() || inner.starts_with('#')) {
            let col = s + 1 + (after.len() - inner.len());
            return self.node_at(col, inner, Some(s));
        }
        match self.significant()? {
            Some(l) if l.indent > s => self.collection_below(l),
            _ => {
                self.empty();
                Ok(())
            }
        }
    }

    /// A scalar (or `{}`, a flow sequence) that starts `text`, in a collection at indentation `parent`.
    fn inline_scalar(&mut self, text: &'a str, parent: Option<usize>) -> R<()> {
        let first = text.as_bytes().first().copied().ok_or(Declined)?;
        match first {
            b'|' => self.literal(text, parent.ok_or(Declined)?),
            b'"' | b'\'' => {
                let (value, rest) = quoted(text)?;
                end_of_content(rest)?;
                let style = if first == b'"' { ScalarStyle::DoubleQuoted } else { ScalarStyle::SingleQuoted };
                self.scalar(value, style);
                Ok(())
            }
            b'[' => self.flow_sequence(text),
            // Any other `{` is declined by `plain`.
            b'{' if text.starts_with("{}") => {
                end_of_content(text.get(2..).ok_or(Declined)?)?;
                self.push(Event::MappingStart(StructureStyle::Flow, 0, None));
                self.push(Event::MappingEnd);
                Ok(())
            }
            _ => {
                let value = plain(text)?;
                if value.ends_with(':') || value.contains(": ") {
                    return Err(Declined);
                }
                let value = match parent {
                    // A comment ends the scalar; more lines would be an error, left to the caller.
                    Some(parent) if !text.contains(" #") => self.plain_lines(value, parent)?,
                    _ => Cow::Borrowed(value),
                };
                self.scalar(value, ScalarStyle::Plain);
                Ok(())
            }
        }
    }

    /// The lines that continue a plain scalar whose first line is `first` (the ones indented
    /// more than `parent`), folded: one line break reads as a space, `n` blank lines as `n`
    /// line breaks.
    fn plain_lines(&mut self, first: &'a str, parent: usize) -> R<Cow<'a, str>> {
        let mut value = Cow::Borrowed(first);
        let (mut pos, mut blanks) = (self.pos, 0);
        loop {
            let Some((line, next)) = self.line_at(pos)? else { return Ok(value) };
            let body = line.trim_start_matches(' ');
            if line.len() - body.len() <= parent && !body.is_empty() || body.starts_with('#') {
                return Ok(value);
            }
            pos = next;
            if body.is_empty() {
                blanks += 1;
                continue;
            }
            let text = plain(body)?;
            if text.len() != body.trim_end_matches(' ').len() || text.ends_with(':') || text.contains(": ") {
                return Err(Declined);
            }
            let s = value.to_mut();
            match blanks {
                0 => s.push(' '),
                n => s.extend(std::iter::repeat_n('\n', n)),
            }
            s.push_str(text);
            blanks = 0;
            self.pos = next;
        }
    }

    /// A flow sequence of scalars on one line (`[]`, `[a, "b", 'c']`).
    fn flow_sequence(&mut self, text: &'a str) -> R<()> {
        self.open()?;
        self.push(Event::SequenceStart(StructureStyle::Flow, 0, None));
        let mut rest = text.get(1..).ok_or(Declined)?.trim_start_matches(' ');
        if let Some(after) = rest.strip_prefix(']') {
            rest = after;
        } else {
            loop {
                let first = *rest.as_bytes().first().ok_or(Declined)?;
                let after = if first == b'"' || first == b'\'' {
                    let (value, after) = quoted(rest)?;
                    let style = if first == b'"' { ScalarStyle::DoubleQuoted } else { ScalarStyle::SingleQuoted };
                    self.scalar(value, style);
                    after
                } else {
                    let end = rest.find([',', ']']).ok_or(Declined)?;
                    let value = rest.get(..end).ok_or(Declined)?.trim_end_matches(' ');
                    // Flow indicators, `:` and `#` read differently in flow context.
                    if !plain_start(value) || value.bytes().any(|b| b"[]{}:#\t".contains(&b)) {
                        return Err(Declined);
                    }
                    self.scalar(Cow::Borrowed(value), ScalarStyle::Plain);
                    rest.get(end..).ok_or(Declined)?
                };
                let after = after.trim_start_matches(' ');
                if let Some(more) = after.strip_prefix(',') {
                    rest = more.trim_start_matches(' ');
                    // A trailing `,` before `]` (allowed by YAML) is left to the full parser.
                    continue;
                }
                rest = after.strip_prefix(']').ok_or(Declined)?;
                break;
            }
        }
        end_of_content(rest)?;
        self.push(Event::SequenceEnd);
        self.depth -= 1;
        Ok(())
    }

    /// A literal block scalar: `text` is its header (`|`, `|-`, `|+`, maybe a comment), its
    /// lines follow, indented more than `parent`.
    fn literal(&mut self, text: &'a str, parent: usize) -> R<()> {
        let (chomp, rest) = match text.as_bytes().get(1) {
            Some(b'-') => (Chomp::Strip, text.get(2..)),
            Some(b'+') => (Chomp::Keep, text.get(2..)),
            _ => (Chomp::Clip, text.get(1..)),
        };
        end_of_content(rest.ok_or(Declined)?)?;
        let mut value = String::new();
        let mut indent = None;
        // Line breaks seen since the last content line (the first one's included).
        let mut breaks = 0usize;
        while let Some((line, next)) = self.line_at(self.pos)? {
            // A block scalar ending the input without a line break keeps no final break (see
            // `Builder::next`): not reproduced here.
            let unterminated = next == self.src.len() && !self.src.ends_with('\n');
            let body = line.trim_start_matches(' ');
            let spaces = line.len() - body.len();
            let n = match indent {
                Some(n) => n,
                // Leading blank lines pick the indentation by rules not reproduced here.
                None if body.is_empty() => return Err(Declined),
                None if spaces <= parent => return Err(Declined),
                None => *indent.insert(spaces),
            };
            if unterminated && (body.is_empty() || spaces >= n) {
                return Err(Declined);
            }
            if body.is_empty() {
                // A blank line; spaces beyond the indentation would be content.
                if spaces > n {
                    return Err(Declined);
                }
                breaks += 1;
                self.pos = next;
                continue;
            }
            if spaces < n {
                if body.starts_with('\t') {
                    return Err(Declined);
                }
                break;
            }
            value.extend(std::iter::repeat_n('\n', breaks));
            value.push_str(line.get(n..).ok_or(Declined)?);
            breaks = 1;
            self.pos = next;
        }
        if indent.is_none() {
            return Err(Declined);
        }
        match chomp {
            Chomp::Strip => {}
            Chomp::Clip => value.push('\n'),
            Chomp::Keep => value.extend(std::iter::repeat_n('\n', breaks)),
        }
        self.scalar(Cow::Owned(value), ScalarStyle::Literal);
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Chomp {
    Strip,
    Clip,
    Keep,
}

/// Whether `text` (a line after its indentation) is a sequence item: `-` then a space or end.
fn is_dash(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Splits a mapping entry `key: rest` into the key's text and style and what follows the `:`
/// and its spaces. `None` when `text` is no entry; [`Declined`] when it may be one the subset
/// does not hold.
fn key_split(text: &str) -> R<Option<(Cow<'_, str>, ScalarStyle, &str)>> {
    let first = text.as_bytes().first().copied().ok_or(Declined)?;
    let (key, style, after) = if first == b'"' || first == b'\'' {
        let (key, after) = quoted(text)?;
        let style = if first == b'"' { ScalarStyle::DoubleQuoted } else { ScalarStyle::SingleQuoted };
        (key, style, after)
    } else {
        let bytes = text.as_bytes();
        let mut colon = None;
        for (i, &b) in bytes.iter().enumerate() {
            if b == b':' && matches!(bytes.get(i + 1), None | Some(b' ')) {
                colon = Some(i);
                break;
            }
            if b == b'#' && i > 0 && bytes.get(i - 1) == Some(&b' ') {
                break;
            }
        }
        let Some(colon) = colon else { return Ok(None) };
        let key = text.get(..colon).ok_or(Declined)?;
        if key.is_empty()
            || key.ends_with(' ')
            || key.len() > MAX_KEY_LEN
            || key.bytes().any(|b| matches!(b, b'\t' | b'[' | b']' | b'{' | b'}' | b','))
            || !plain_start(key)
        {
            return Err(Declined);
        }
        (Cow::Borrowed(key), ScalarStyle::Plain, text.get(colon..).ok_or(Declined)?)
    };
    // `after` starts at the `:`.
    let Some(rest) = after.strip_prefix(':') else {
        return if style == ScalarStyle::Plain { Err(Declined) } else { Ok(None) };
    };
    if !(rest.is_empty() || rest.starts_with(' ')) || key.len() > MAX_KEY_LEN {
        return Err(Declined);
    }
    let rest = rest.trim_start_matches(' ');
    if rest.starts_with('\t') {
        return Err(Declined);
    }
    Ok(Some((key, style, rest)))
}

/// Whether a plain scalar may start like `text`, with no other reading possible.
fn plain_start(text: &str) -> bool {
    match text.as_bytes() {
        [] => false,
        [b'-', next, ..] => *next != b' ',
        [first, ..] => !b"-?:,[]{}#&*!|>'\"%@`".contains(first),
    }
}

/// A single-line plain scalar at the start of `text`, up to a comment; [`Declined`] when it
/// could be something else.
fn plain(text: &str) -> R<&str> {
    if !plain_start(text) {
        return Err(Declined);
    }
    let end = text.find(" #").unwrap_or(text.len());
    let value = text.get(..end).ok_or(Declined)?.trim_end_matches(' ');
    if value.contains('\t') {
        return Err(Declined);
    }
    Ok(value)
}

/// A single-line quoted scalar at the start of `text` (double quotes without escapes, or
/// single quotes with `''`): its value and what follows the closing quote.
fn quoted(text: &str) -> R<(Cow<'_, str>, &str)> {
    let quote = *text.as_bytes().first().ok_or(Declined)?;
    let body = text.get(1..).ok_or(Declined)?;
    if quote == b'"' {
        let end = body.find(['"', '\\']).ok_or(Declined)?;
        if body.as_bytes().get(end) != Some(&b'"') {
            return Err(Declined);
        }
        let value = body.get(..end).ok_or(Declined)?;
        if value.contains('\t') {
            return Err(Declined);
        }
        return Ok((Cow::Borrowed(value), body.get(end + 1..).ok_or(Declined)?));
    }
    let mut owned: Option<String> = None;
    let mut from = 0;
    loop {
        let end = from + body.get(from..).ok_or(Declined)?.find('\'').ok_or(Declined)?;
        let part = body.get(from..end).ok_or(Declined)?;
        if part.contains('\t') {
            return Err(Declined);
        }
        if body.as_bytes().get(end + 1) == Some(&b'\'') {
            let s = owned.get_or_insert_with(String::new);
            s.push_str(part);
            s.push('\'');
            from = end + 2;
            continue;
        }
        let rest = body.get(end + 1..).ok_or(Declined)?;
        let value = match owned {
            Some(mut s) => {
                s.push_str(part);
                Cow::Owned(s)
            }
            None => Cow::Borrowed(part),
        };
        return Ok((value, rest));
    }
}

/// What may follow a node on its line: nothing, or spaces and a comment.
fn end_of_content(rest: &str) -> R<()> {
    let trimmed = rest.trim_start_matches(' ');
    if trimmed.is_empty() || (trimmed.len() < rest.len() && trimmed.starts_with('#')) { Ok(()) } else { Err(Declined) }
}

/// Declines on characters outside the subset: controls other than line feed and tab (a
/// carriage return among them), DEL, C1 controls (NEL included), the byte order mark,
/// non-characters and the Unicode line and paragraph separators, which YAML treats specially.
fn check_chars(src: &str) -> R<()> {
    let bytes = src.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b < 0x20 && b != b'\n' && b != b'\t' || b == 0x7f {
            return Err(Declined);
        }
        if b >= 0xc2 {
            let next = bytes.get(i + 1..i + 3).unwrap_or(&[]);
            let bad = match (b, next) {
                (0xc2, [c, ..]) => *c <= 0x9f,
                (0xef, [0xbb, 0xbf]) | (0xef, [0xbf, 0xbe | 0xbf]) | (0xe2, [0x80, 0xa8 | 0xa9]) => true,
                _ => false,
            };
            if bad {
                return Err(Declined);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "fast_tests.rs"]
mod tests;
