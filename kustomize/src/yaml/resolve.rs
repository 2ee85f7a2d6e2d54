//! Scalar resolution rules of the two Go YAML libraries kustomize chains.
//!
//! Input is decoded with `yaml.v3` (YAML 1.2-ish: `yes` is a string), output is encoded
//! with `yaml.v2` (YAML 1.1: `yes` is a bool, so it must be quoted). Both are reproduced
//! here as pure functions.

use super::value::Value;

/// Resolves a plain (unquoted, untagged) scalar the way `yaml.v3` decodes it into `interface{}`.
pub fn resolve_plain_v3(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first.is_ascii_digit() || first == b'+' || first == b'-' {
        if let Some(ts) = parse_timestamp(s) {
            return Value::String(ts);
        }
        let plain = s.replace('_', "");
        if let Some(i) = go_parse_int(&plain) {
            return Value::Int(i);
        }
        if is_yaml_float(&plain)
            && let Ok(f) = plain.parse::<f64>()
        {
            return Value::Float(f);
        }
    } else if first == b'.'
        && is_yaml_float(s)
        && let Ok(f) = s.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::String(s.to_string())
}

/// Resolves a plain scalar with YAML 1.1 rules, as `sigs.k8s.io/yaml` (yaml.v2) reads
/// kustomization files: `yes`, `on`, `y` are booleans there.
pub fn resolve_plain_v2(s: &str) -> Value {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Value::Bool(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Value::Bool(false),
        _ => {}
    }
    match resolve_plain_v3(s) {
        // yaml.v2 leaves timestamps as strings when decoding into interface{}.
        Value::String(_) => Value::String(s.to_string()),
        other => other,
    }
}

/// Whether `yaml.v2` would read `s`, written plain, back as a string (if not, it must be quoted).
pub fn plain_is_str_v2(s: &str) -> bool {
    match s {
        "" | "~" | "null" | "Null" | "NULL" | "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO"
        | "true" | "True" | "TRUE" | "false" | "False" | "FALSE" | "on" | "On" | "ON" | "off" | "Off" | "OFF"
        | ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf"
        | "-.INF" => return false,
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first.is_ascii_digit() || first == b'+' || first == b'-' {
        if parse_timestamp(s).is_some() {
            return false;
        }
        let plain = s.replace('_', "");
        if go_parse_int(&plain).is_some() {
            return false;
        }
        if is_yaml_float(&plain) && plain.parse::<f64>().is_ok() {
            return false;
        }
    } else if first == b'.' && is_yaml_float(&s.replace('_', "")) {
        // Measured: kubectl quotes ".1_000" too, so underscores are dropped here as well.
        return false;
    }
    !is_base60_float(s)
}

/// Go's `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint`: sign, `0x`/`0o`/`0b`
/// prefixes and C-style leading-zero octal.
pub fn go_parse_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u128::from_str_radix(digits, radix).ok()?;
    if neg { (mag <= 1u128 << 63).then(|| -(mag as i128)) } else { (mag <= u64::MAX as u128).then_some(mag as i128) }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`, the float syntax of go-yaml.
pub fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$` (YAML 1.1 sexagesimal numbers).
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let n = i - start;
        if n == 0 || (n == 2 && b[start] > b'5') {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// Parses the timestamp forms go-yaml accepts and returns them as Go's `time.Time`
/// marshals to JSON (RFC 3339 with nanoseconds trimmed), or `None`.
pub fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let mut p = Cursor { b, i: 5 };
    let year = &s[..4];
    let month = p.num(1, 2)?;
    p.lit(b'-')?;
    let day = p.num(1, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year.parse().ok()?, month) {
        return None;
    }
    let date = format!("{year}-{month:02}-{day:02}");
    if p.i == b.len() {
        return Some(format!("{date}T00:00:00Z"));
    }
    let sep = b[p.i];
    p.i += 1;
    let zoned = match sep {
        b'T' | b't' => true,
        b' ' => false,
        _ => return None,
    };
    let h = p.num(1, 2)?;
    p.lit(b':')?;
    let m = p.num(1, 2)?;
    p.lit(b':')?;
    let sec = p.num(1, 2)?;
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let mut frac = String::new();
    if p.i < b.len() && b[p.i] == b'.' {
        p.i += 1;
        let start = p.i;
        while p.i < b.len() && b[p.i].is_ascii_digit() {
            p.i += 1;
        }
        if p.i == start || p.i - start > 9 {
            return None;
        }
        let digits = s[start..p.i].trim_end_matches('0');
        if !digits.is_empty() {
            frac = format!(".{digits}");
        }
    }
    let zone = if zoned {
        match b.get(p.i)? {
            b'Z' => {
                p.i += 1;
                "Z".to_string()
            }
            b'+' | b'-' => {
                let sign = b[p.i] as char;
                p.i += 1;
                let zh = p.num(2, 2)?;
                p.lit(b':')?;
                let zm = p.num(2, 2)?;
                if zh == 0 && zm == 0 { "Z".to_string() } else { format!("{sign}{zh:02}:{zm:02}") }
            }
            _ => return None,
        }
    } else {
        "Z".to_string()
    };
    (p.i == b.len()).then(|| format!("{date}T{h:02}:{m:02}:{sec:02}{frac}{zone}"))
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn num(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() && self.i - start < max {
            self.i += 1;
        }
        if self.i - start < min {
            return None;
        }
        std::str::from_utf8(&self.b[start..self.i]).ok()?.parse().ok()
    }

    fn lit(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Formats a float as it comes out of kustomize: `encoding/json` text, re-read by `yaml.v2`
/// (integral values become ints) and printed with Go's `%g`-style shortest formatting.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf".into() } else { "-.inf".into() };
    }
    let (digits, exp) = shortest_digits(f);
    let abs = f.abs();
    // encoding/json prints plain decimals for 1e-6 <= |f| < 1e21; an integral one is read
    // back by yaml.v2 as an int when it fits in 64 bits.
    if f == f.trunc() && abs < 1e21 {
        let int_text = format!("{f:.0}");
        if let Some(i) = go_parse_int(&int_text) {
            return if i == 0 { "0".into() } else { i.to_string() };
        }
    }
    let neg = if f.is_sign_negative() && f != 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{neg}{m}e{sign}{:02}", exp.abs())
    } else if exp < 0 {
        format!("{neg}0.{}{digits}", "0".repeat((-exp - 1) as usize))
    } else {
        let point = exp as usize + 1;
        if digits.len() <= point {
            format!("{neg}{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{neg}{}.{}", &digits[..point], &digits[point..])
        }
    }
}

/// The shortest round-trip decimal digits of `|f|` and the decimal exponent of the first one.
fn shortest_digits(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    (mant.replace('.', ""), exp.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_resolution_table() {
        let cases: &[(&str, Value)] = &[
            ("1", Value::Int(1)),
            ("0x1F", Value::Int(31)),
            ("017", Value::Int(15)),
            ("0o17", Value::Int(15)),
            ("1_000", Value::Int(1000)),
            ("+1", Value::Int(1)),
            ("1.5", Value::Float(1.5)),
            (".5", Value::Float(0.5)),
            ("yes", Value::String("yes".into())),
            ("on", Value::String("on".into())),
            ("True", Value::Bool(true)),
            ("~", Value::Null),
            ("2024-01-01", Value::String("2024-01-01T00:00:00Z".into())),
            ("1:20", Value::String("1:20".into())),
            ("12345678901234567890", Value::Int(12345678901234567890)),
        ];
        for (input, want) in cases {
            assert_eq!(&resolve_plain_v3(input), want, "input {input:?}");
        }
    }

    #[test]
    fn v2_quoting_table() {
        for s in [
            "1",
            "on",
            "yes",
            "y",
            "N",
            "true",
            "1.0",
            "0x1",
            "0b101",
            "0o17",
            "1_000",
            "1e3",
            "+1",
            ".inf",
            "2024-01-01",
            "1:20",
            "",
            "~",
            "null",
        ] {
            assert!(!plain_is_str_v2(s), "{s:?} must be quoted");
        }
        for s in ["a", ".", "1.2.3", "v1", "nginx:1.25", "Infinity", "1a", "-", "2024-13-01"] {
            assert!(plain_is_str_v2(s), "{s:?} may be plain");
        }
    }

    #[test]
    fn float_formatting_table() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (1.5, "1.5"),
            (1e21, "1e+21"),
            (1e20, "1e+20"),
            (1234567.5, "1.2345675e+06"),
            (123456.5, "123456.5"),
            (0.000001, "1e-06"),
            (0.0001, "0.0001"),
            (-0.0, "0"),
            (-2.5, "-2.5"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float(*f), *want, "float {f}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("2024-1-2").as_deref(), Some("2024-01-02T00:00:00Z"));
        assert_eq!(parse_timestamp("2024-01-01T10:00:00.500+02:00").as_deref(), Some("2024-01-01T10:00:00.5+02:00"));
        assert_eq!(parse_timestamp("2024-02-30"), None);
        assert_eq!(parse_timestamp("2024-01-01x"), None);
    }
}
