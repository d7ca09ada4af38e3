//! Formatting of UTC timestamps, without a date library (the web UI's wasm bundle carries it).
//!
//! The web UI's server and browser format the same number the same way, so hydration sees
//! identical text; the API writes the AI Horde's dates with it (`rfc822`).

/// A UTC date and time, from seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl UtcTime {
    pub fn from_unix(secs: u64) -> Self {
        let days = (secs / 86_400) as i64;
        let rest = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        UtcTime {
            year,
            month,
            day,
            hour: (rest / 3600) as u32,
            minute: (rest % 3600 / 60) as u32,
            second: (rest % 60) as u32,
        }
    }

    /// `HH:MM:SS`, for people.
    pub fn clock(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }

    /// `YYYY-MM-DD`, for people.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// RFC 3339, for `<time datetime=...>`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// RFC 822 as the AI Horde writes its dates (Python's `email.utils.formatdate`, through
    /// flask-restx): `Fri, 05 Dec 2025 10:00:00 -0000`.
    pub fn rfc822(&self) -> String {
        const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let days = days_from_civil(self.year, self.month, self.day);
        format!(
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} -0000",
            WEEKDAYS[days.rem_euclid(7) as usize],
            self.day,
            MONTHS[(self.month - 1) as usize],
            self.year,
            self.hour,
            self.minute,
            self.second
        )
    }
}

/// (year, month, day) in the proleptic Gregorian calendar to days since 1970-01-01 (a
/// Thursday): Howard Hinnant's `days_from_civil`, the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400); // [0, 399]
    let mp = i64::from((month + 9) % 12); // [0, 11], March-based
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
/// Howard Hinnant's `civil_from_days` (http://howardhinnant.github.io/date_algorithms.html).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch() {
        let t = UtcTime::from_unix(0);
        assert_eq!(t.rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(t.clock(), "00:00:00");
        assert_eq!(t.date(), "1970-01-01");
    }

    #[test]
    fn rfc822_as_the_ai_horde_writes_it() {
        assert_eq!(
            UtcTime::from_unix(0).rfc822(),
            "Thu, 01 Jan 1970 00:00:00 -0000"
        );
        // 2024-02-29T12:34:56Z, a Thursday
        assert_eq!(
            UtcTime::from_unix(1_709_210_096).rfc822(),
            "Thu, 29 Feb 2024 12:34:56 -0000"
        );
        // 2025-12-05T10:00:00Z, a Friday
        assert_eq!(
            UtcTime::from_unix(1_764_928_800).rfc822(),
            "Fri, 05 Dec 2025 10:00:00 -0000"
        );
        for days in [-1000, 0, 59, 60, 11_016, 20_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn leap_day_and_end_of_year() {
        // 2024-02-29T12:34:56Z
        assert_eq!(
            UtcTime::from_unix(1_709_210_096).rfc3339(),
            "2024-02-29T12:34:56Z"
        );
        // 1999-12-31T23:59:59Z
        assert_eq!(
            UtcTime::from_unix(946_684_799).rfc3339(),
            "1999-12-31T23:59:59Z"
        );
        // 2000-03-01T00:00:00Z, after the century leap day
        assert_eq!(
            UtcTime::from_unix(951_868_800).rfc3339(),
            "2000-03-01T00:00:00Z"
        );
    }
}
