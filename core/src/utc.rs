//! Calendar fields of a UTC instant, for the two timestamp formats core writes (SigV4's
//! `YYYYMMDDTHHMMSS` and RFC 3339), without a date-time dependency.

/// Year, month (1-12), day (1-31), hour, minute and second of `secs` since the Unix epoch, UTC.
pub fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Seconds since the Unix epoch of an RFC 3339 time (`2026-11-30T23:29:09Z`, with optional
/// fractional seconds, `Z` or a `±HH:MM` offset), as the Kubernetes API and shipline's status
/// ConfigMaps write them; `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        if s.bytes().all(|c| c.is_ascii_digit()) { s.parse().ok() } else { None }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let (sign, hhmm) = match rest.as_bytes().first() {
                Some(b'+') => (1, &rest[1..]),
                Some(b'-') => (-1, &rest[1..]),
                _ => return None,
            };
            if hhmm.len() != 5 || hhmm.as_bytes()[2] != b':' {
                return None;
            }
            let (h, m) = (hhmm[..2].parse::<i64>().ok()?, hhmm[3..].parse::<i64>().ok()?);
            if h > 23 || m > 59 || !hhmm[..2].bytes().chain(hhmm[3..].bytes()).all(|c| c.is_ascii_digit()) {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    // Days from civil (the inverse of `civil`, Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn rfc3339_table() {
        let cases = [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2026-11-30T23:29:09Z", Some(1_796_081_349)),
            ("2026-11-30T23:29:09.123456Z", Some(1_796_081_349)),
            ("2026-12-01T00:29:09+01:00", Some(1_796_081_349)),
            ("2026-11-30T22:29:09-01:00", Some(1_796_081_349)),
            ("2024-02-29T00:00:00Z", Some(1_709_164_800)),
            ("2023-02-29T00:00:00Z", None),
            ("2026-13-01T00:00:00Z", None),
            ("2026-11-30 23:29:09Z", None),
            ("2026-11-30T23:29:09", None),
            ("2026-11-30T23:29:09.Z", None),
            ("2026-11-30T23:29:09+1:00", None),
            ("+026-11-30T23:29:09Z", None),
            ("yesterday", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_rfc3339(text), want, "{text}");
        }
    }

    proptest! {
        #[test]
        fn parse_inverts_civil(secs in 0i64..8_000_000_000) {
            let (y, mo, d, h, mi, s) = civil(secs);
            let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z");
            prop_assert_eq!(parse_rfc3339(&text), Some(secs));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            let _ = parse_rfc3339(&text);
        }
    }
}
