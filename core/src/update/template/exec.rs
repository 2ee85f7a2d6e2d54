//! Running a parsed template on data: Go's evaluation rules (dot, variables scoped to their
//! block, pipelines passing the previous result as the last argument, lazy `and`/`or`).

use super::parse::{Arg, Node, Pipe, Template};
use super::{TemplateError, Value, funcs};

/// How a list of nodes ended: normally, or by `{{break}}`/`{{continue}}` inside a range.
enum Flow {
    Normal,
    Break,
    Continue,
}

struct State {
    vars: Vec<(String, Value)>,
    out: String,
}

/// How much a template may print: a commit message, not an accident's gigabytes.
const MAX_OUTPUT: usize = 1 << 20;

impl Template {
    /// Runs the template with `data` as dot and `$`.
    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        let mut state = State { vars: vec![("$".to_owned(), data.clone())], out: String::new() };
        state.walk(&self.nodes, data)?;
        Ok(state.out)
    }
}

fn err(line: usize, message: impl Into<String>) -> TemplateError {
    TemplateError { line, message: message.into() }
}

impl State {
    fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        for node in nodes {
            let flow = match node {
                Node::Text(t) => {
                    self.out.push_str(t);
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let value = self.pipe(pipe, dot, true)?;
                    if pipe.decl.is_empty() {
                        match value {
                            Value::Nil => self.out.push_str("<no value>"),
                            v => self.out.push_str(&v.to_go_string()),
                        }
                    }
                    Flow::Normal
                }
                Node::If { pipe, then, otherwise } => {
                    let mark = self.vars.len();
                    let value = self.pipe(pipe, dot, true)?;
                    let flow = self.walk(if value.truthy() { then } else { otherwise }, dot)?;
                    self.vars.truncate(mark);
                    flow
                }
                Node::With { pipe, body, otherwise } => {
                    let mark = self.vars.len();
                    let value = self.pipe(pipe, dot, true)?;
                    let flow = if value.truthy() { self.walk(body, &value)? } else { self.walk(otherwise, dot)? };
                    self.vars.truncate(mark);
                    flow
                }
                Node::Range { pipe, body, otherwise } => self.range(pipe, body, otherwise, dot)?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if self.out.len() > MAX_OUTPUT {
                return Err(err(0, format!("output exceeds {MAX_OUTPUT} bytes")));
            }
            if !matches!(flow, Flow::Normal) {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn range(&mut self, pipe: &Pipe, body: &[Node], otherwise: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        let value = self.pipe(pipe, dot, false)?;
        let pairs: Vec<(Value, Value)> = match value {
            Value::List(items) => items.into_iter().enumerate().map(|(i, v)| (Value::Int(i as i64), v)).collect(),
            Value::Map(entries) => entries,
            Value::Int(n) => (0..n.max(0)).map(|i| (Value::Int(i), Value::Int(i))).collect(),
            Value::Nil => Vec::new(),
            other => return Err(err(pipe.line, format!("range can't iterate over {}", other.to_go_string()))),
        };
        if pairs.is_empty() {
            return self.walk(otherwise, dot);
        }
        for (key, item) in pairs {
            let mark = self.vars.len();
            match pipe.decl.as_slice() {
                [] => {}
                [v] => self.vars.push((v.clone(), item.clone())),
                [k, v, ..] => {
                    self.vars.push((k.clone(), key));
                    self.vars.push((v.clone(), item.clone()));
                }
            }
            let flow = self.walk(body, &item)?;
            self.vars.truncate(mark);
            if matches!(flow, Flow::Break) {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    /// Evaluates a pipeline; `declare` binds its variables (a range binds its own).
    fn pipe(&mut self, pipe: &Pipe, dot: &Value, declare: bool) -> Result<Value, TemplateError> {
        let mut last: Option<Value> = None;
        for cmd in &pipe.cmds {
            last = Some(self.command(cmd, dot, last, pipe.line)?);
        }
        let value = last.unwrap_or(Value::Nil);
        if declare {
            for name in &pipe.decl {
                if pipe.assign {
                    let slot = self.vars.iter_mut().rev().find(|(n, _)| n == name);
                    let Some(slot) = slot else {
                        return Err(err(pipe.line, format!("undefined variable: {name}")));
                    };
                    slot.1 = value.clone();
                } else {
                    self.vars.push((name.clone(), value.clone()));
                }
            }
        }
        Ok(value)
    }

    fn command(&mut self, args: &[Arg], dot: &Value, last: Option<Value>, line: usize) -> Result<Value, TemplateError> {
        let Some(Arg::Ident(name)) = args.first() else {
            if args.len() > 1 || last.is_some() {
                return Err(err(line, "can't give argument to non-function"));
            }
            return match args.first() {
                Some(Arg::Nil) => Err(err(line, "nil is not a command")),
                Some(a) => self.arg(a, dot, line),
                None => Err(err(line, "empty command")),
            };
        };
        // `and` and `or` stop at the first argument that decides the result, as Go's do.
        if name == "and" || name == "or" {
            let count = args.len() - 1 + usize::from(last.is_some());
            if count == 0 {
                return Err(err(line, format!("wrong number of args for {name}: want at least 1 got 0")));
            }
            let mut value = Value::Nil;
            let mut last = last;
            for i in 0..count {
                value = match args.get(i + 1) {
                    Some(a) => self.arg(a, dot, line)?,
                    None => last.take().unwrap_or(Value::Nil),
                };
                if value.truthy() != (name == "and") {
                    return Ok(value);
                }
            }
            return Ok(value);
        }
        let mut values = Vec::with_capacity(args.len());
        for a in &args[1..] {
            values.push(self.arg(a, dot, line)?);
        }
        values.extend(last);
        funcs::call(name, values).map_err(|message| err(line, format!("error calling {name}: {message}")))
    }

    fn arg(&mut self, arg: &Arg, dot: &Value, line: usize) -> Result<Value, TemplateError> {
        match arg {
            Arg::Dot => Ok(dot.clone()),
            Arg::Field(chain) => fields(dot.clone(), chain, line),
            Arg::Var(name, chain) => {
                let value = self.vars.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone());
                let value = value.ok_or_else(|| err(line, format!("undefined variable: {name}")))?;
                fields(value, chain, line)
            }
            Arg::Ident(name) => {
                funcs::call(name, Vec::new()).map_err(|message| err(line, format!("error calling {name}: {message}")))
            }
            Arg::Str(s) => Ok(Value::Str(s.clone())),
            Arg::Int(i) => Ok(Value::Int(*i)),
            Arg::Float(f) => Ok(Value::Float(*f)),
            Arg::Bool(b) => Ok(Value::Bool(*b)),
            Arg::Nil => Ok(Value::Nil),
            Arg::Sub(pipe, chain) => {
                let value = self.pipe(pipe, dot, true)?;
                fields(value, chain, line)
            }
        }
    }
}

/// `.A.B.C` from `value`.
fn fields(mut value: Value, chain: &[String], line: usize) -> Result<Value, TemplateError> {
    for name in chain {
        value = match &value {
            Value::Struct(s) => match s.field(name) {
                Some(v) => v.clone(),
                None => return Err(err(line, format!("can't evaluate field {name} in type {}", s.type_name))),
            },
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == name))
                .map_or(Value::Nil, |(_, v)| v.clone()),
            Value::Nil => return Err(err(line, format!("nil pointer evaluating .{name}"))),
            other => return Err(err(line, format!("can't evaluate field {name} in type {}", other.kind()))),
        };
    }
    Ok(value)
}
