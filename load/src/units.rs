//! Parsers for the command line's durations (`200ms`, `30s`), rates (`100/s`, `max`) and
//! percentages (`1%`).

use std::time::Duration;

/// `250ms`, `2s`, `1m`, or a bare number of milliseconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = split_unit(s);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; write e.g. 200ms, 30s or 1m"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("{s:?} is not a duration; it must be zero or more"));
    }
    let ms = match unit {
        "" | "ms" => n,
        "s" => n * 1e3,
        "m" | "min" => n * 60e3,
        "us" | "µs" => n / 1e3,
        other => {
            return Err(format!(
                "unknown time unit {other:?} in {s:?}; use ms, s or m"
            ))
        }
    };
    Ok(Duration::from_secs_f64(ms / 1e3))
}

/// `100/s`, `0.5/s` or a bare number per second, zero or more.
pub fn per_second(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let num = t.strip_suffix("/s").unwrap_or(t).trim();
    num.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("{s:?} is not a rate; write e.g. 100/s or 0.5/s"))
}

/// A per-second rate that must be above zero.
pub fn positive_per_second(s: &str) -> Result<f64, String> {
    per_second(s).and_then(|n| {
        if n > 0.0 {
            Ok(n)
        } else {
            Err(format!("{s:?} must be above zero"))
        }
    })
}

/// A closed-model pace: sends per second per client, or `None` for no pause.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace(pub Option<f64>);

/// `N/s` per client, or `max` for no pause between a reply and the next send.
pub fn rate(s: &str) -> Result<Pace, String> {
    if s.trim().eq_ignore_ascii_case("max") {
        return Ok(Pace(None));
    }
    per_second(s)
        .map(|r| Pace(Some(r)))
        .map_err(|e| format!("{e}, or max for no pause"))
}

/// `1%`, `0.5%` or a bare number of percent, as a fraction (`1%` is 0.01).
pub fn percent(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let num = t.strip_suffix('%').unwrap_or(t).trim();
    num.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && (0.0..=100.0).contains(n))
        .map(|n| n / 100.0)
        .ok_or_else(|| format!("{s:?} is not a percentage; write e.g. 1% or 0.5%"))
}

/// Splits `64KiB` into `("64", "KiB")`: the number, then the unit.
pub fn split_unit(s: &str) -> (&str, &str) {
    let i = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    (&s[..i], s[i..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_flags_take() {
        assert_eq!(duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(per_second("100/s"), Ok(100.0));
        assert_eq!(per_second("0.5/s"), Ok(0.5));
        assert_eq!(rate("max"), Ok(Pace(None)));
        assert_eq!(rate("2/s"), Ok(Pace(Some(2.0))));
        assert_eq!(percent("1%"), Ok(0.01));
        assert!(duration("soon").is_err());
        assert!(duration("5h").is_err());
        assert!(per_second("-1/s").is_err());
        assert!(positive_per_second("0/s").is_err());
        assert!(percent("150%").is_err());
    }
}
