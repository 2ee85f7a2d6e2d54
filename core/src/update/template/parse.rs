//! Lexing and parsing Go templates into a tree: text, actions and the `if`/`range`/`with`
//! blocks, with `{{- -}}` trimming applied to the text around them.

use super::TemplateError;

/// A parsed template, ready to run on any data.
#[derive(Debug, Clone)]
pub struct Template {
    pub(super) nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
pub(super) enum Node {
    Text(String),
    Action(Pipe),
    If { pipe: Pipe, then: Vec<Node>, otherwise: Vec<Node> },
    Range { pipe: Pipe, body: Vec<Node>, otherwise: Vec<Node> },
    With { pipe: Pipe, body: Vec<Node>, otherwise: Vec<Node> },
    Break,
    Continue,
}

/// `$a, $b := cmd | cmd arg ...`
#[derive(Debug, Clone)]
pub(super) struct Pipe {
    pub line: usize,
    pub decl: Vec<String>,
    /// `=` (assign to an existing variable) rather than `:=`.
    pub assign: bool,
    pub cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
pub(super) enum Arg {
    Dot,
    /// `.A.B`
    Field(Vec<String>),
    /// `$x.A.B` (`$` alone is the data the template was run on).
    Var(String, Vec<String>),
    /// A function name.
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    /// `(pipe).A.B`
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Dot,
    Field(String),
    Var(String),
    Ident(String),
    Str(String),
    Num(String),
    Char(i64),
    Bar,
    Open,
    Close,
    Comma,
    Declare,
    Assign,
}

/// A token and whether whitespace came before it (a field chain continues only without).
type Spanned = (Tok, bool);

/// One action's contents, classified.
enum Item {
    Text(String),
    Action(Pipe),
    If(Pipe),
    Range(Pipe),
    With(Pipe),
    Else,
    ElseIf(Pipe),
    ElseWith(Pipe),
    End(usize),
    Break(usize),
    Continue(usize),
}

fn err(line: usize, message: impl Into<String>) -> TemplateError {
    TemplateError { line, message: message.into() }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

impl Template {
    /// Parses `source`; every error names the line.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let items = split(source)?;
        let mut pos = 0;
        let (nodes, end) = build(&items, &mut pos, 0)?;
        match end {
            Terminator::Eof => Ok(Template { nodes }),
            Terminator::End(line) => Err(err(line, "unexpected {{end}}")),
            Terminator::Else(line) => Err(err(line, "unexpected {{else}}")),
        }
    }
}

/// Splits the source into text and classified actions, applying trim markers.
fn split(source: &str) -> Result<Vec<Item>, TemplateError> {
    let mut items = Vec::new();
    let mut rest = source;
    let mut line = 1;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            let text = if trim_next { rest.trim_start_matches(is_space) } else { rest };
            items.push(Item::Text(text.to_owned()));
            break;
        };
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start_matches(is_space);
        }
        let after = &rest[open + 2..];
        let trim_left = after.starts_with('-') && after[1..].starts_with(is_space);
        if trim_left {
            text = text.trim_end_matches(is_space);
        }
        line += rest[..open].matches('\n').count();
        if !text.is_empty() {
            items.push(Item::Text(text.to_owned()));
        }
        let body = if trim_left { &after[2..] } else { after };
        let (tokens, consumed, trim_right) = lex_action(body, line)?;
        let action_text = &rest[open..open + if trim_left { 4 } else { 2 } + consumed];
        if let Some(tokens) = tokens {
            items.push(classify(tokens, line)?);
        }
        line += action_text.matches('\n').count();
        rest = &rest[open + action_text.len()..];
        trim_next = trim_right;
    }
    Ok(items)
}

/// Lexes one action up to and including `}}`. Returns the tokens (`None` for a comment), the
/// bytes consumed and whether the action ends with ` -}}`.
fn lex_action(body: &str, line: usize) -> Result<(Option<Vec<Spanned>>, usize, bool), TemplateError> {
    let trimmed = body.trim_start_matches(is_space);
    if trimmed.starts_with("/*") {
        let close = trimmed.find("*/").ok_or_else(|| err(line, "unclosed comment"))?;
        let after = &trimmed[close + 2..];
        let (consumed_after, trim_right) = if let Some(a) = after.strip_prefix(" -}}") {
            (after.len() - a.len(), true)
        } else if let Some(a) = after.strip_prefix("}}") {
            (after.len() - a.len(), false)
        } else {
            return Err(err(line, "comment ends before closing delimiter"));
        };
        let consumed = body.len() - after.len() + consumed_after;
        return Ok((None, consumed, trim_right));
    }
    let bytes: Vec<char> = body.chars().collect();
    let mut tokens: Vec<Spanned> = Vec::new();
    let mut i = 0;
    let mut spaced = true;
    let byte_len = |n: usize| bytes[..n].iter().map(|c| c.len_utf8()).sum::<usize>();
    loop {
        let Some(&c) = bytes.get(i) else {
            return Err(err(line, "unclosed action"));
        };
        if is_space(c) {
            // ` -}}` trims the text after the action.
            let mut j = i;
            while bytes.get(j).is_some_and(|c| is_space(*c)) {
                j += 1;
            }
            if bytes.get(j) == Some(&'-') && bytes.get(j + 1) == Some(&'}') && bytes.get(j + 2) == Some(&'}') {
                return Ok((Some(tokens), byte_len(j + 3), true));
            }
            i = j;
            spaced = true;
            continue;
        }
        if c == '}' && bytes.get(i + 1) == Some(&'}') {
            return Ok((Some(tokens), byte_len(i + 2), false));
        }
        let start = i;
        let tok = match c {
            '|' => {
                i += 1;
                Tok::Bar
            }
            '(' => {
                i += 1;
                Tok::Open
            }
            ')' => {
                i += 1;
                Tok::Close
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            ':' if bytes.get(i + 1) == Some(&'=') => {
                i += 2;
                Tok::Declare
            }
            '=' => {
                i += 1;
                Tok::Assign
            }
            '"' => {
                let (s, n) = lex_quoted(&bytes[i..], line)?;
                i += n;
                Tok::Str(s)
            }
            '`' => {
                let end = bytes[i + 1..]
                    .iter()
                    .position(|c| *c == '`')
                    .ok_or_else(|| err(line, "unterminated raw quoted string"))?;
                let s: String = bytes[i + 1..i + 1 + end].iter().collect();
                i += end + 2;
                Tok::Str(s)
            }
            '\'' => {
                let (s, n) = lex_quoted(&bytes[i..], line)?;
                let mut chars = s.chars();
                let (Some(ch), None) = (chars.next(), chars.next()) else {
                    return Err(err(line, "malformed character constant"));
                };
                i += n;
                Tok::Char(ch as i64)
            }
            '.' | '$' => {
                let mut j = i + 1;
                while bytes.get(j).is_some_and(|c| c.is_alphanumeric() || *c == '_') {
                    j += 1;
                }
                let name: String = bytes[i + 1..j].iter().collect();
                i = j;
                match (c, name.is_empty()) {
                    ('.', true) if bytes.get(j).is_some_and(|c| c.is_ascii_digit()) => {
                        return Err(err(line, "bad number syntax"));
                    }
                    ('.', true) => Tok::Dot,
                    ('.', false) => Tok::Field(name),
                    _ => Tok::Var(format!("${name}")),
                }
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+') && bytes.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let mut j = i + 1;
                while bytes.get(j).is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-')) {
                    // `+`/`-` belong to a number only right after an exponent marker.
                    if matches!(bytes[j], '+' | '-') && !matches!(bytes[j - 1], 'e' | 'E' | 'p' | 'P') {
                        break;
                    }
                    j += 1;
                }
                let s: String = bytes[i..j].iter().collect();
                i = j;
                Tok::Num(s)
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while bytes.get(j).is_some_and(|c| c.is_alphanumeric() || *c == '_') {
                    j += 1;
                }
                let s: String = bytes[i..j].iter().collect();
                i = j;
                Tok::Ident(s)
            }
            other => return Err(err(line, format!("unexpected {other:?} in command"))),
        };
        debug_assert!(i > start);
        tokens.push((tok, spaced));
        spaced = false;
    }
}

/// A Go interpreted string or character literal starting at `chars[0]`; returns the value and
/// the characters consumed.
fn lex_quoted(chars: &[char], line: usize) -> Result<(String, usize), TemplateError> {
    let quote = chars[0];
    let mut out = String::new();
    let mut i = 1;
    loop {
        match chars.get(i) {
            None | Some('\n') => return Err(err(line, "unterminated quoted string")),
            Some(c) if *c == quote => return Ok((out, i + 1)),
            Some('\\') => {
                let esc = chars.get(i + 1).ok_or_else(|| err(line, "unterminated quoted string"))?;
                i += 2;
                match esc {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' | '"' | '\'' => out.push(*esc),
                    'x' | 'u' | 'U' => {
                        let n = match esc {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = chars.get(i..i + n).ok_or_else(|| err(line, "bad escape"))?.iter().collect();
                        let code = u32::from_str_radix(&hex, 16).map_err(|_| err(line, "bad escape"))?;
                        out.push(char::from_u32(code).ok_or_else(|| err(line, "bad escape"))?);
                        i += n;
                    }
                    other => return Err(err(line, format!("unknown escape sequence \\{other}"))),
                }
            }
            Some(c) => {
                out.push(*c);
                i += 1;
            }
        }
    }
}

fn classify(tokens: Vec<Spanned>, line: usize) -> Result<Item, TemplateError> {
    let keyword = match tokens.first() {
        Some((Tok::Ident(k), _)) => k.as_str(),
        None => return Err(err(line, "missing value for command")),
        _ => "",
    };
    let rest = || tokens[1..].to_vec();
    let pipe = |toks: Vec<Spanned>, what: &str| {
        if toks.is_empty() {
            return Err(err(line, format!("missing value for {what}")));
        }
        parse_pipe(&toks, line)
    };
    let bare = |item: Item, what: &str| {
        if tokens.len() == 1 { Ok(item) } else { Err(err(line, format!("unexpected tokens after {{{{{what}}}}}"))) }
    };
    match keyword {
        "if" => Ok(Item::If(pipe(rest(), "if")?)),
        "range" => Ok(Item::Range(pipe(rest(), "range")?)),
        "with" => Ok(Item::With(pipe(rest(), "with")?)),
        "end" => bare(Item::End(line), "end"),
        "break" => bare(Item::Break(line), "break"),
        "continue" => bare(Item::Continue(line), "continue"),
        "else" => match tokens.get(1) {
            None => Ok(Item::Else),
            Some((Tok::Ident(k), _)) if k == "if" => Ok(Item::ElseIf(pipe(tokens[2..].to_vec(), "if")?)),
            Some((Tok::Ident(k), _)) if k == "with" => Ok(Item::ElseWith(pipe(tokens[2..].to_vec(), "with")?)),
            _ => Err(err(line, "unexpected tokens after {{else}}")),
        },
        "define" | "template" | "block" => {
            Err(err(line, format!("{{{{{keyword}}}}} (named templates) is not supported in a commit message template")))
        }
        _ => Ok(Item::Action(parse_pipe(&tokens, line)?)),
    }
}

fn parse_pipe(tokens: &[Spanned], line: usize) -> Result<Pipe, TemplateError> {
    let mut pos = 0;
    let pipe = parse_pipe_at(tokens, &mut pos, line)?;
    if pos < tokens.len() {
        return Err(err(line, format!("unexpected {:?} in operand", tokens[pos].0)));
    }
    Ok(pipe)
}

fn parse_pipe_at(tokens: &[Spanned], pos: &mut usize, line: usize) -> Result<Pipe, TemplateError> {
    let mut decl = Vec::new();
    let mut assign = false;
    // `$x :=`, `$x =`, `$i, $v :=`
    let look = |i: usize| tokens.get(*pos + i).map(|t| &t.0);
    match (look(0), look(1), look(2), look(3)) {
        (Some(Tok::Var(a)), Some(Tok::Comma), Some(Tok::Var(b)), Some(Tok::Declare | Tok::Assign)) => {
            assign = look(3) == Some(&Tok::Assign);
            decl = vec![a.clone(), b.clone()];
            *pos += 4;
        }
        (Some(Tok::Var(a)), Some(Tok::Declare | Tok::Assign), _, _) => {
            assign = look(1) == Some(&Tok::Assign);
            decl = vec![a.clone()];
            *pos += 2;
        }
        _ => {}
    }
    let mut cmds = Vec::new();
    loop {
        let mut args = Vec::new();
        while let Some((tok, _)) = tokens.get(*pos) {
            if matches!(tok, Tok::Bar | Tok::Close) {
                break;
            }
            args.push(parse_operand(tokens, pos, line)?);
        }
        if args.is_empty() {
            return Err(err(line, "missing value for command"));
        }
        cmds.push(args);
        match tokens.get(*pos) {
            Some((Tok::Bar, _)) => *pos += 1,
            _ => break,
        }
    }
    Ok(Pipe { line, decl, assign, cmds })
}

fn parse_operand(tokens: &[Spanned], pos: &mut usize, line: usize) -> Result<Arg, TemplateError> {
    let (tok, _) = tokens[*pos].clone();
    *pos += 1;
    let mut arg = match tok {
        Tok::Dot => Arg::Dot,
        Tok::Field(name) => Arg::Field(vec![name]),
        Tok::Var(name) => Arg::Var(name, Vec::new()),
        Tok::Ident(name) => match name.as_str() {
            "true" => Arg::Bool(true),
            "false" => Arg::Bool(false),
            "nil" => Arg::Nil,
            _ => {
                if !super::funcs::NAMES.contains(&name.as_str()) {
                    return Err(err(line, format!("function {name:?} not defined")));
                }
                Arg::Ident(name)
            }
        },
        Tok::Str(s) => Arg::Str(s),
        Tok::Char(c) => Arg::Int(c),
        Tok::Num(s) => parse_number(&s).ok_or_else(|| err(line, format!("bad number syntax: {s:?}")))?,
        Tok::Open => {
            let inner = parse_pipe_at(tokens, pos, line)?;
            match tokens.get(*pos) {
                Some((Tok::Close, _)) => *pos += 1,
                _ => return Err(err(line, "unclosed left paren")),
            }
            Arg::Sub(Box::new(inner), Vec::new())
        }
        other => return Err(err(line, format!("unexpected {other:?} in operand"))),
    };
    // A field chain continues only without whitespace: `$x.A.B`, `(pipe).A`.
    while let Some((Tok::Field(name), false)) = tokens.get(*pos) {
        match &mut arg {
            Arg::Field(chain) | Arg::Var(_, chain) | Arg::Sub(_, chain) => chain.push(name.clone()),
            Arg::Dot => arg = Arg::Field(vec![name.clone()]),
            _ => return Err(err(line, format!("unexpected .{name} after a literal or function"))),
        }
        *pos += 1;
    }
    Ok(arg)
}

fn parse_number(s: &str) -> Option<Arg> {
    let clean = s.replace('_', "");
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let radix = [("0x", 16), ("0X", 16), ("0o", 8), ("0O", 8), ("0b", 2), ("0B", 2)]
        .iter()
        .find_map(|(p, r)| digits.strip_prefix(p).map(|d| (d, *r)));
    let int = match radix {
        Some((d, r)) => i64::from_str_radix(d, r).ok(),
        None if digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()) => {
            i64::from_str_radix(&digits[1..], 8).ok()
        }
        None => digits.parse::<i64>().ok(),
    };
    if let Some(i) = int {
        return Some(Arg::Int(if neg { -i } else { i }));
    }
    clean.parse::<f64>().ok().filter(|f| f.is_finite()).map(Arg::Float)
}

enum Terminator {
    Eof,
    End(usize),
    Else(usize),
}

/// Builds nodes from `items[*pos..]` up to an `{{end}}` or `{{else ...}}` (left for the caller).
fn build(items: &[Item], pos: &mut usize, ranges: usize) -> Result<(Vec<Node>, Terminator), TemplateError> {
    let mut nodes = Vec::new();
    while let Some(item) = items.get(*pos) {
        *pos += 1;
        match item {
            Item::Text(t) => nodes.push(Node::Text(t.clone())),
            Item::Action(p) => nodes.push(Node::Action(p.clone())),
            Item::Break(line) | Item::Continue(line) if ranges == 0 => {
                let what = if matches!(item, Item::Break(_)) { "break" } else { "continue" };
                return Err(err(*line, format!("{{{{{what}}}}} outside {{{{range}}}}")));
            }
            Item::Break(_) => nodes.push(Node::Break),
            Item::Continue(_) => nodes.push(Node::Continue),
            Item::If(p) | Item::With(p) | Item::Range(p) => nodes.push(build_block(items, pos, item, p, ranges)?),
            Item::End(line) => return Ok((nodes, Terminator::End(*line))),
            Item::Else | Item::ElseIf(_) | Item::ElseWith(_) => {
                *pos -= 1;
                let line = match item {
                    Item::ElseIf(p) | Item::ElseWith(p) => p.line,
                    _ => 0,
                };
                return Ok((nodes, Terminator::Else(line)));
            }
        }
    }
    Ok((nodes, Terminator::Eof))
}

/// An `if`/`with`/`range` block whose opening item was just consumed; consumes through `end`.
fn build_block(
    items: &[Item],
    pos: &mut usize,
    open: &Item,
    pipe: &Pipe,
    ranges: usize,
) -> Result<Node, TemplateError> {
    let is_range = matches!(open, Item::Range(_));
    let (body, end) = build(items, pos, ranges + usize::from(is_range))?;
    let otherwise = match end {
        Terminator::Eof => return Err(err(pipe.line, "unexpected EOF: missing {{end}}")),
        Terminator::End(_) => Vec::new(),
        Terminator::Else(_) => {
            let else_item = &items[*pos];
            *pos += 1;
            match else_item {
                // `{{else if x}}` is `{{else}}{{if x}}...{{end}}{{end}}` sharing one end.
                Item::ElseIf(p) if !is_range => vec![build_block(items, pos, &Item::If(p.clone()), p, ranges)?],
                Item::ElseWith(p) if !is_range => vec![build_block(items, pos, &Item::With(p.clone()), p, ranges)?],
                Item::ElseIf(p) | Item::ElseWith(p) => return Err(err(p.line, "{{else if}} in {{range}}")),
                _ => {
                    let (nodes, end) = build(items, pos, ranges)?;
                    match end {
                        Terminator::End(_) => nodes,
                        Terminator::Eof => return Err(err(pipe.line, "unexpected EOF: missing {{end}}")),
                        Terminator::Else(line) => {
                            return Err(err(line.max(pipe.line), "expected {{end}}, found {{else}}"));
                        }
                    }
                }
            }
        }
    };
    let pipe = pipe.clone();
    Ok(match open {
        Item::If(_) => Node::If { pipe, then: body, otherwise },
        Item::With(_) => Node::With { pipe, body, otherwise },
        _ => Node::Range { pipe, body, otherwise },
    })
}
