//! Parsers for the command line's durations (`50ms`, `2s`), sizes (`64KiB`), rates (`100/s`)
//! and chaos's process kinds (`channel,room`).

/// `250ms`, `2s`, `1m`, or a bare number of milliseconds: the same parser `load` uses.
pub use crashcourse_load::units::duration;
use crashcourse_load::units::{positive_per_second, split_unit};
use crashcourse_runtime::{ChaosPlan, Kind};

/// `64KiB`, `1MiB`, `512B`, or a bare number of bytes.
pub fn size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (num, unit) = split_unit(s);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size; write e.g. 64KiB, 1MiB or 4096"))?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?}; use B, KiB or MiB"
            ))
        }
    };
    n.checked_mul(mult)
        .and_then(|b| usize::try_from(b).ok())
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("{s:?} is not a usable size"))
}

/// `100/s` or a bare number per second.
pub fn rate(s: &str) -> Result<u32, String> {
    let num = s.trim().trim_end_matches("/s");
    num.parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?} is not a rate; write e.g. 100/s"))
}

/// A duration above zero.
pub fn positive_duration(s: &str) -> Result<std::time::Duration, String> {
    duration(s).and_then(|d| {
        if d.is_zero() {
            Err(format!("{s:?} must be above zero"))
        } else {
            Ok(d)
        }
    })
}

/// Chaos's kill rate: `50/s`, above zero and at most 10,000 a second.
pub fn kill_rate(s: &str) -> Result<f64, String> {
    let max = crashcourse_runtime::faults::MAX_PER_SECOND;
    positive_per_second(s).and_then(|n| {
        if n <= max {
            Ok(n)
        } else {
            Err(format!("{s:?} is more than {max} kills a second"))
        }
    })
}

/// Process kinds as the process table names them, comma-separated, `_` for a space.
pub fn kinds(s: &str) -> Result<Vec<Kind>, String> {
    ChaosPlan::parse_kinds(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn parses_what_the_design_table_writes() {
        assert_eq!(duration("50ms"), Ok(Duration::from_millis(50)));
        assert_eq!(duration("2000ms"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(size("64KiB"), Ok(65_536));
        assert_eq!(rate("100/s"), Ok(100));
        assert!(duration("fast").is_err());
        assert!(duration("5h").is_err());
        assert!(size("0").is_err());
        assert!(rate("0/s").is_err());
        assert_eq!(kill_rate("50/s"), Ok(50.0));
        assert!(kill_rate("0/s").is_err());
        assert!(kill_rate("1000000/s").is_err());
        assert!(positive_duration("0s").is_err());
        assert_eq!(
            kinds("socket,pool_connection"),
            Ok(vec![Kind::Socket, Kind::PoolConnection])
        );
        assert!(kinds("dragon").unwrap_err().contains("dragon"));
    }
}
