//! ISO 8601 dates for `EXT-X-PROGRAM-DATE-TIME` (RFC 8216bis §4.4.4.6), UTC with milliseconds.

use std::fmt::Write as _;

const US_PER_DAY: i64 = 86_400_000_000;

/// Appends `unix_us` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (truncated to the millisecond).
pub(crate) fn write_date(out: &mut String, unix_us: i64) {
    let days = unix_us.div_euclid(US_PER_DAY);
    let in_day_ms = unix_us.rem_euclid(US_PER_DAY) / 1000;
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, ms) = (
        in_day_ms / 3_600_000,
        in_day_ms / 60_000 % 60,
        in_day_ms / 1000 % 60,
        in_day_ms % 1000,
    );
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z");
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)` into UNIX microseconds.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T')?;
    let mut ymd = date.splitn(3, '-');
    let y: i64 = ymd.next()?.parse().ok()?;
    let m: u32 = ymd.next()?.parse().ok()?;
    let d: u32 = ymd.next()?.parse().ok()?;
    let (clock, offset_us) = split_zone(time)?;
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut parts = hms.splitn(3, ':');
    let h: i64 = parts.next()?.parse().ok()?;
    let min: i64 = parts.next()?.parse().ok()?;
    let sec: i64 = parts.next()?.parse().ok()?;
    let valid = (1..=12).contains(&m) && (1..=31).contains(&d) && h < 24 && min < 60 && sec < 61;
    if !valid || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_us = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(6)
        .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
    let days = days_from_civil(y, m, d);
    Some(days * US_PER_DAY + ((h * 60 + min) * 60 + sec) * 1_000_000 + frac_us - offset_us)
}

fn split_zone(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix('Z') {
        return Some((clock, 0));
    }
    let at = time.rfind(['+', '-'])?;
    let (clock, zone) = time.split_at(at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let (h, m) = zone.get(1..)?.split_once(':')?;
    let minutes = h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?;
    Some((clock, sign * minutes * 60_000_000))
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Howard Hinnant's `days_from_civil`, the inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        for (us, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_795_939_431_123_456, "2026-11-29T08:03:51.123Z"),
            (951_782_400_000_000, "2000-02-29T00:00:00.000Z"),
            (-1_000, "1969-12-31T23:59:59.999Z"),
        ] {
            let mut s = String::new();
            write_date(&mut s, us);
            assert_eq!(s, text);
            assert_eq!(parse_date(text), Some(us.div_euclid(1000) * 1000), "{text}");
        }
        assert_eq!(
            parse_date("2026-11-29T05:03:51.5-03:00"),
            parse_date("2026-11-29T08:03:51.500Z")
        );
        assert_eq!(parse_date("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_date("garbage"), None);
    }
}
