//! `fmt.Sprintf` as Go's `printf` template function formats its operands.

use super::Value;

/// `fmt.Sprintf` for the verbs messages use: `%v %s %d %q %t %f %x %X %%`, with flags `-`, `0`,
/// `+`, a width and a precision. A missing operand prints `%!v(MISSING)`, as Go does.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut zero, mut plus) = (false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let body = match (verb, arg) {
            ('s', Value::Int(_) | Value::Float(_) | Value::Bool(_)) => {
                format!("%!s({}={})", go_type(arg), arg.to_go_string())
            }
            ('v' | 's', v) => {
                let t = v.to_go_string();
                match precision {
                    Some(p) if verb == 's' => t.chars().take(p).collect(),
                    _ => t,
                }
            }
            ('d', Value::Int(i)) => {
                if plus && *i >= 0 {
                    format!("+{i}")
                } else {
                    i.to_string()
                }
            }
            ('q', Value::Str(t)) => format!("{t:?}"),
            ('t', Value::Bool(b)) => b.to_string(),
            ('f' | 'F', Value::Float(f)) => format!("{f:.*}", precision.unwrap_or(6)),
            ('f' | 'F', Value::Int(i)) => format!("%!f(int={i})"),
            ('x', Value::Int(i)) => format!("{i:x}"),
            ('X', Value::Int(i)) => format!("{i:X}"),
            ('x', Value::Str(t)) => t.bytes().map(|b| format!("{b:02x}")).collect(),
            ('X', Value::Str(t)) => t.bytes().map(|b| format!("{b:02X}")).collect(),
            (verb, v) => format!("%!{verb}({}={})", go_type(v), v.to_go_string()),
        };
        let width: usize = width.parse().unwrap_or(0);
        let pad = width.saturating_sub(body.chars().count());
        if minus {
            out.push_str(&body);
            out.push_str(&" ".repeat(pad));
        } else if zero && matches!(arg, Value::Int(_) | Value::Float(_)) {
            let (sign, digits) = body.split_at(usize::from(body.starts_with(['-', '+'])));
            out.push_str(sign);
            out.push_str(&"0".repeat(pad));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&body);
        }
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..].iter().map(|v| format!("{}={}", go_type(v), v.to_go_string())).collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn go_type(v: &Value) -> String {
    match v {
        Value::Struct(s) => s.type_name.clone(),
        Value::List(_) => "[]interface {}".into(),
        Value::Map(_) => "map[string]interface {}".into(),
        other => other.kind().into(),
    }
}
