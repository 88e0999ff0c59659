//! Zabbix item update intervals: `30s`, `1m`, plain seconds, flexible intervals
//! (`50s;10s/1-5,09:00-18:00`) and scheduling intervals (`md1-31`, `wd1-5h9m30`, `m/1`).
//!
//! Owns parsing and "when is the next check" arithmetic. Pure: the time is passed in (any
//! chrono time zone; the agent passes `Local`); it must not read clocks or do I/O.

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, TimeZone, Timelike};

/// The text the official agent reports for an item whose interval it cannot use.
pub const INCORRECT_INTERVAL: &str = "Incorrect update interval.";

/// Longest simple or flexible delay accepted: what fits a C `int`, as the official
/// parser takes it (the frontend allows at most a day, but the agent does not check).
pub const MAX_DELAY_SECS: u32 = i32::MAX as u32;

/// How far ahead the scheduler looks for a matching time before giving up (a filter
/// like `md31wd1` may match rarely; after this many days the item is not scheduled).
const SCHEDULE_HORIZON_DAYS: i64 = 366 * 4;

/// A parsed update interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// The simple delay in seconds; 0 means "only the custom intervals".
    pub delay: u32,
    /// Flexible intervals: another delay inside a weekly period.
    pub flexible: Vec<Flexible>,
    /// Scheduling intervals: exact times.
    pub scheduling: Vec<Schedule>,
}

/// `delay/period`: inside `period` the item runs every `delay` seconds (0 = not at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flexible {
    /// Delay in seconds inside the period.
    pub delay: u32,
    /// The weekly period.
    pub period: Period,
}

/// `d1-d2,hh:mm-hh:mm`: week days 1 (Monday) to 7 and a time of day range, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First week day, 1 = Monday.
    pub day_from: u8,
    /// Last week day (inclusive).
    pub day_to: u8,
    /// Start, seconds since midnight.
    pub start: u32,
    /// End, seconds since midnight (up to 86400), exclusive.
    pub end: u32,
}

/// One scheduling interval: a set of allowed values per unit. Time units (h, m, s) not
/// written are "any" when larger than the smallest written unit and "0" when smaller, as
/// Zabbix defines it; unwritten day filters (md, wd) are always "any".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Allowed days of the month (bit n = day n, 1–31).
    pub month_days: u64,
    /// Allowed week days (bit n = day n, 1 = Monday … 7).
    pub week_days: u64,
    /// Allowed hours (bits 0–23).
    pub hours: u64,
    /// Allowed minutes (bits 0–59).
    pub minutes: u64,
    /// Allowed seconds (bits 0–59).
    pub seconds: u64,
}

/// The interval text is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid update interval \"{text}\": {why}")]
pub struct IntervalError {
    /// The interval as received.
    pub text: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Parses `30`, `30s`, `1m`, `1h`, `1d`, `1w` into seconds.
pub fn parse_time_suffix(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b's' => (&s[..s.len() - 1], 1),
        b'm' => (&s[..s.len() - 1], 60),
        b'h' => (&s[..s.len() - 1], 3600),
        b'd' => (&s[..s.len() - 1], 86_400),
        b'w' => (&s[..s.len() - 1], 604_800),
        _ => (s, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) || num.len() > 10 {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mult)
}

fn delay_secs(s: &str) -> Option<u32> {
    let v = parse_time_suffix(s)?;
    if v > u64::from(MAX_DELAY_SECS) {
        return None;
    }
    u32::try_from(v).ok()
}

impl Interval {
    /// Parses an interval as the server sends it (user macros already expanded).
    pub fn parse(text: &str) -> Result<Interval, IntervalError> {
        let err = |why| IntervalError {
            text: text.to_string(),
            why,
        };
        let mut parts = text.split(';');
        let first = parts.next().unwrap_or("");
        let delay = delay_secs(first).ok_or_else(|| err("bad simple delay"))?;
        let mut flexible = Vec::new();
        let mut scheduling = Vec::new();
        for part in parts {
            if part.is_empty() {
                return Err(err("empty custom interval"));
            }
            if part.as_bytes()[0].is_ascii_digit() {
                let (d, p) = part
                    .split_once('/')
                    .ok_or_else(|| err("flexible interval without a period"))?;
                let delay = delay_secs(d).ok_or_else(|| err("bad flexible delay"))?;
                let period = Period::parse(p).ok_or_else(|| err("bad flexible period"))?;
                flexible.push(Flexible { delay, period });
            } else {
                scheduling
                    .push(Schedule::parse(part).ok_or_else(|| err("bad scheduling interval"))?);
            }
        }
        if delay == 0 && scheduling.is_empty() && flexible.iter().all(|f| f.delay == 0) {
            return Err(err("the item would never run"));
        }
        Ok(Interval {
            delay,
            flexible,
            scheduling,
        })
    }

    /// An interval from the legacy integer `delay` (0 is what the server sends for
    /// intervals it could not express, and is reported as incorrect).
    pub fn from_legacy(delay: u64) -> Result<Interval, IntervalError> {
        match u32::try_from(delay) {
            Ok(d) if d > 0 && d <= MAX_DELAY_SECS => Ok(Interval {
                delay: d,
                flexible: Vec::new(),
                scheduling: Vec::new(),
            }),
            _ => Err(IntervalError {
                text: delay.to_string(),
                why: "legacy delay out of range",
            }),
        }
    }

    /// The longest delay this interval can put between two checks (simple or flexible).
    pub fn max_delay(&self) -> u32 {
        self.flexible
            .iter()
            .map(|f| f.delay)
            .fold(self.delay, u32::max)
    }

    /// The delay in force at `t` (the smallest delay among the flexible intervals
    /// covering `t`, else the simple delay), as Zabbix picks it.
    pub fn current_delay<Tz: TimeZone>(&self, t: &DateTime<Tz>) -> u32 {
        let mut current: Option<u32> = None;
        for f in &self.flexible {
            if f.period.contains(t) {
                current = Some(current.map_or(f.delay, |c| c.min(f.delay)));
            }
        }
        current.unwrap_or(self.delay)
    }

    /// The next time strictly after `now` the item must run. `seed` staggers items with
    /// the same delay (Zabbix uses the item id). `None` when no time within the horizon
    /// matches (e.g. only flexible intervals of delay 0 forever).
    pub fn next_after<Tz: TimeZone>(&self, now: &DateTime<Tz>, seed: u64) -> Option<DateTime<Tz>> {
        let simple = self.next_simple(now, seed);
        let sched = self
            .scheduling
            .iter()
            .filter_map(|s| s.next_after(now))
            .min();
        match (simple, sched) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Next time from the simple and flexible delays alone.
    fn next_simple<Tz: TimeZone>(&self, now: &DateTime<Tz>, seed: u64) -> Option<DateTime<Tz>> {
        if self.delay == 0 && self.flexible.iter().all(|f| f.delay == 0) {
            return None;
        }
        let mut t = now.clone();
        // Each step moves t to the next boundary where the delay in force changes; a
        // week holds at most 2 boundaries per flexible interval per day.
        for _ in 0..(16 + self.flexible.len() * 16) {
            let delay = self.current_delay(&t);
            let boundary = self.next_boundary(&t);
            if delay != 0 {
                let d = i64::from(delay);
                let ts = t.timestamp();
                let offset = i64::try_from(seed % u64::from(delay)).unwrap_or(0);
                let mut next = d * ts.div_euclid(d) + offset;
                while next <= ts {
                    next += d;
                }
                let next_t = t.timezone().timestamp_opt(next, 0).single()?;
                match &boundary {
                    Some(b) if next_t >= *b => {}
                    _ => return Some(next_t),
                }
            }
            let b = boundary?;
            // Run at the boundary itself when a non-zero delay starts there.
            if self.current_delay(&b) != 0 && b > *now {
                return Some(b);
            }
            t = b;
        }
        None
    }

    /// The next moment after `t` at which some flexible period starts or ends.
    fn next_boundary<Tz: TimeZone>(&self, t: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        self.flexible
            .iter()
            .filter_map(|f| f.period.next_edge(t))
            .min()
    }
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    if !h.bytes().all(|b| b.is_ascii_digit()) || !m.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    if h > 24 || m > 59 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 3600 + m * 60)
}

impl Period {
    /// Parses `1-5,09:00-18:00` or `7,0:00-24:00`.
    pub fn parse(s: &str) -> Option<Period> {
        let (days, times) = s.split_once(',')?;
        let (df, dt) = match days.split_once('-') {
            Some((a, b)) => (a, b),
            None => (days, days),
        };
        let one_digit = |x: &str| -> Option<u8> {
            if x.len() != 1 {
                return None;
            }
            let v = x.parse::<u8>().ok()?;
            (1..=7).contains(&v).then_some(v)
        };
        let day_from = one_digit(df)?;
        let day_to = one_digit(dt)?;
        if day_from > day_to {
            return None;
        }
        let (a, b) = times.split_once('-')?;
        let start = parse_hhmm(a)?;
        let end = parse_hhmm(b)?;
        if start >= end {
            return None;
        }
        Some(Period {
            day_from,
            day_to,
            start,
            end,
        })
    }

    /// Whether `t` (local to its zone) falls inside the period.
    pub fn contains<Tz: TimeZone>(&self, t: &DateTime<Tz>) -> bool {
        let wd = t.weekday().number_from_monday() as u8;
        let sec = t.num_seconds_from_midnight();
        (self.day_from..=self.day_to).contains(&wd) && sec >= self.start && sec < self.end
    }

    /// The next start or end of the period strictly after `t`.
    fn next_edge<Tz: TimeZone>(&self, t: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        let tz = t.timezone();
        let date = t.date_naive();
        for day in 0..8i64 {
            let d = date.checked_add_signed(ChronoDuration::days(day))?;
            let wd = d.weekday().number_from_monday() as u8;
            if !(self.day_from..=self.day_to).contains(&wd) {
                continue;
            }
            for edge in [self.start, self.end] {
                if let Some(c) = at_seconds(&tz, d, edge) {
                    if c > *t {
                        return Some(c);
                    }
                }
            }
        }
        None
    }
}

/// `date` at `secs` since midnight (86400 = next midnight) in `tz`; the earlier of two
/// ambiguous times, `None` inside a DST gap.
fn at_seconds<Tz: TimeZone>(tz: &Tz, date: NaiveDate, secs: u32) -> Option<DateTime<Tz>> {
    let (date, secs) = if secs >= 86_400 {
        (date.succ_opt()?, secs - 86_400)
    } else {
        (date, secs)
    };
    let naive = date.and_hms_opt(secs / 3600, (secs / 60) % 60, secs % 60)?;
    tz.from_local_datetime(&naive).earliest()
}

/// Expands a filter `a-b/step,c,/step` for a unit whose values run `min..=max`.
fn parse_filter(s: &str, min: u32, max: u32) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut bits = 0u64;
    for item in s.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, st)) => {
                if st.is_empty() || st.len() > 2 || !st.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let st: u32 = st.parse().ok()?;
                if st == 0 || st > max - min + 1 {
                    return None;
                }
                (r, st)
            }
            None => (item, 1),
        };
        let num = |x: &str| -> Option<u32> {
            if x.is_empty() || x.len() > 2 || !x.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let v: u32 = x.parse().ok()?;
            (min..=max).contains(&v).then_some(v)
        };
        let (from, to) = if range.is_empty() {
            if step == 1 && !item.contains('/') {
                return None;
            }
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (num(a)?, num(b)?)
        } else {
            let a = num(range)?;
            // `a/step` runs from a to the end of the unit; a bare `a` is just a.
            if item.contains('/') {
                (a, max)
            } else {
                (a, a)
            }
        };
        if from > to {
            return None;
        }
        let mut v = from;
        while v <= to {
            bits |= 1u64 << v;
            v += step;
        }
    }
    Some(bits)
}

fn full(min: u32, max: u32) -> u64 {
    (min..=max).fold(0u64, |b, v| b | (1u64 << v))
}

impl Schedule {
    /// Parses `md1-15`, `wd1-5h9m30`, `h0-23/2`, `m/1`, `s0-59/10`; the filters must come
    /// in the order md, wd, h, m, s and each at most once.
    pub fn parse(s: &str) -> Option<Schedule> {
        const UNITS: [(&str, u32, u32); 5] = [
            ("md", 1, 31),
            ("wd", 1, 7),
            ("h", 0, 23),
            ("m", 0, 59),
            ("s", 0, 59),
        ];
        let mut found: [Option<u64>; 5] = [None; 5];
        let mut rest = s;
        let mut next_unit = 0;
        while !rest.is_empty() {
            let idx = (next_unit..UNITS.len()).find(|&i| rest.starts_with(UNITS[i].0))?;
            rest = &rest[UNITS[idx].0.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '-' || c == '/' || c == ','))
                .unwrap_or(rest.len());
            let (min, max) = (UNITS[idx].1, UNITS[idx].2);
            found[idx] = Some(parse_filter(&rest[..end], min, max)?);
            rest = &rest[end..];
            next_unit = idx + 1;
        }
        // The smallest unit written; smaller ones default to their minimum (0).
        let smallest = found.iter().rposition(Option::is_some)?;
        let pick = |i: usize| -> u64 {
            match found[i] {
                Some(b) => b,
                // Day filters (md, wd) are one level: an unwritten one is "any".
                None if i > smallest && i >= 2 => 1u64 << UNITS[i].1,
                None => full(UNITS[i].1, UNITS[i].2),
            }
        };
        Some(Schedule {
            month_days: pick(0),
            week_days: pick(1),
            hours: pick(2),
            minutes: pick(3),
            seconds: pick(4),
        })
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        let md = d.day();
        let wd = d.weekday().number_from_monday();
        self.month_days & (1u64 << md) != 0 && self.week_days & (1u64 << wd) != 0
    }

    /// The first matching time strictly after `now`.
    pub fn next_after<Tz: TimeZone>(&self, now: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        let tz = now.timezone();
        let start = now.date_naive();
        for day in 0..SCHEDULE_HORIZON_DAYS {
            let d = start.checked_add_signed(ChronoDuration::days(day))?;
            if !self.day_matches(d) {
                continue;
            }
            let from = if day == 0 {
                now.num_seconds_from_midnight() + 1
            } else {
                0
            };
            if let Some(secs) = self.first_time_of_day(from) {
                if let Some(t) = at_seconds(&tz, d, secs) {
                    if t > *now {
                        return Some(t);
                    }
                }
            }
        }
        None
    }

    /// The first allowed second-of-day at or after `from`.
    fn first_time_of_day(&self, from: u32) -> Option<u32> {
        let (fh, fm, fs) = (from / 3600, (from / 60) % 60, from % 60);
        for h in fh..24 {
            if self.hours & (1u64 << h) == 0 {
                continue;
            }
            let m0 = if h == fh { fm } else { 0 };
            for m in m0..60 {
                if self.minutes & (1u64 << m) == 0 {
                    continue;
                }
                let s0 = if h == fh && m == fm { fs } else { 0 };
                if let Some(s) = (s0..60).find(|s| self.seconds & (1u64 << s) != 0) {
                    return Some(h * 3600 + m * 60 + s);
                }
            }
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn simple_suffixes() {
        assert_eq!(Interval::parse("30").unwrap().delay, 30);
        assert_eq!(Interval::parse("30s").unwrap().delay, 30);
        assert_eq!(Interval::parse("1m").unwrap().delay, 60);
        assert_eq!(Interval::parse("1h").unwrap().delay, 3600);
        assert_eq!(Interval::parse("1d").unwrap().delay, 86_400);
        assert_eq!(Interval::parse("1w").unwrap().delay, 604_800);
        assert_eq!(parse_time_suffix("1w"), Some(604_800));
        for bad in [
            "",
            "s",
            "1x",
            "-1",
            "1.5",
            "99999999999",
            "4000w",
            " 5",
            "5 ",
            "0",
        ] {
            assert!(Interval::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn zero_delay_needs_a_custom_interval() {
        assert!(Interval::parse("0;10s/1-7,00:00-24:00").is_ok());
        assert!(Interval::parse("0;md1").is_ok());
        assert!(Interval::parse("0;0/1-7,00:00-24:00").is_err());
    }

    #[test]
    fn flexible_periods() {
        let i = Interval::parse("50s;10s/1-5,09:00-18:00").unwrap();
        assert_eq!(i.delay, 50);
        assert_eq!(
            i.flexible,
            vec![Flexible {
                delay: 10,
                period: Period {
                    day_from: 1,
                    day_to: 5,
                    start: 9 * 3600,
                    end: 18 * 3600
                }
            }]
        );
        assert!(Interval::parse("10s;5s/1-7,00:00-24:00").is_ok());
        assert!(Interval::parse("10s;5s/7,9:00-9:30").is_ok());
        for bad in [
            "10s;5s",
            "10s;5s/8,00:00-24:00",
            "10s;5s/5-1,00:00-24:00",
            "10s;5s/1-5,18:00-09:00",
            "10s;5s/1-5,09:00-24:01",
            "10s;5s/1-5,9:0-10:00",
            "10s;5s/1-5",
            "10s;",
        ] {
            assert!(Interval::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn flexible_delay_in_force() {
        let i = Interval::parse("50s;10s/1-5,09:00-18:00").unwrap();
        // 2026-11-16 is a Monday.
        assert_eq!(i.current_delay(&t("2026-11-16T10:00:00Z")), 10);
        assert_eq!(i.current_delay(&t("2026-11-16T18:00:00Z")), 50);
        assert_eq!(i.current_delay(&t("2026-11-21T10:00:00Z")), 50); // Saturday
                                                                     // Overlapping flexible intervals: the smallest delay wins.
        let i = Interval::parse("1m;30s/1-7,00:00-24:00;20s/1,00:00-12:00").unwrap();
        assert_eq!(i.current_delay(&t("2026-11-16T10:00:00Z")), 20);
        assert_eq!(i.current_delay(&t("2026-11-17T10:00:00Z")), 30);
    }

    #[test]
    fn next_simple_is_aligned_and_staggered_by_seed() {
        let i = Interval::parse("30s").unwrap();
        let now = t("2026-11-16T10:00:05Z");
        assert_eq!(i.next_after(&now, 0).unwrap(), t("2026-11-16T10:00:30Z"));
        assert_eq!(i.next_after(&now, 7).unwrap(), t("2026-11-16T10:00:07Z"));
        assert_eq!(i.next_after(&now, 5).unwrap(), t("2026-11-16T10:00:35Z"));
    }

    #[test]
    fn next_switches_at_flexible_boundaries() {
        let i = Interval::parse("1h;10s/1-5,09:00-18:00").unwrap();
        // Inside the period: every 10 s.
        let n = i.next_after(&t("2026-11-16T10:00:01Z"), 0).unwrap();
        assert_eq!(n, t("2026-11-16T10:00:10Z"));
        // Just before the period starts: the period start comes before the next hour.
        let n = i.next_after(&t("2026-11-16T08:30:00Z"), 0).unwrap();
        assert_eq!(n, t("2026-11-16T09:00:00Z"));
        // After the period, hourly again.
        let n = i.next_after(&t("2026-11-16T18:00:00Z"), 0).unwrap();
        assert_eq!(n, t("2026-11-16T19:00:00Z"));
        // A zero flexible delay suspends the item during its period.
        let i = Interval::parse("10s;0/1-7,00:00-12:00").unwrap();
        let n = i.next_after(&t("2026-11-16T03:00:00Z"), 0).unwrap();
        assert_eq!(n, t("2026-11-16T12:00:00Z"));
    }

    #[test]
    fn scheduling_parse() {
        let s = Schedule::parse("wd1-5h9m30").unwrap();
        assert_eq!(s.week_days, 0b11_1110);
        assert_eq!(s.hours, 1 << 9);
        assert_eq!(s.minutes, 1 << 30);
        assert_eq!(s.seconds, 1); // smaller unit unwritten: second 0
        assert_eq!(s.month_days, full(1, 31)); // larger unit unwritten: any
        let s = Schedule::parse("h0-23/2").unwrap();
        assert_eq!(s.hours, (0..24).step_by(2).fold(0, |b, h| b | 1 << h));
        assert_eq!((s.minutes, s.seconds), (1, 1));
        let s = Schedule::parse("s0-59/10").unwrap();
        assert_eq!(
            s.seconds,
            [0, 10, 20, 30, 40, 50].iter().fold(0, |b, v| b | 1 << v)
        );
        assert_eq!(s.minutes, full(0, 59));
        let s = Schedule::parse("md1,15").unwrap();
        assert_eq!(s.month_days, (1 << 1) | (1 << 15));
        assert_eq!((s.hours, s.minutes, s.seconds), (1, 1, 1));
        for bad in [
            "", "x1", "h24", "m60", "md0", "wd8", "hm", "h9wd1", "h1h2", "h5-1", "m/0", "h/", "h1,",
        ] {
            assert!(Schedule::parse(bad).is_none(), "{bad:?} must be rejected");
        }
        assert!(Interval::parse("1h;m/1").is_ok());
        assert!(Interval::parse("0;wd1-5h9m30").is_ok());
        assert!(Interval::parse("0;md1-31").is_ok());
    }

    #[test]
    fn scheduling_next() {
        let every_minute = Schedule::parse("m/1").unwrap();
        assert_eq!(
            every_minute.next_after(&t("2026-11-16T10:00:05Z")).unwrap(),
            t("2026-11-16T10:01:00Z")
        );
        // Strictly after: at exactly a matching time, the next one.
        assert_eq!(
            every_minute.next_after(&t("2026-11-16T10:01:00Z")).unwrap(),
            t("2026-11-16T10:02:00Z")
        );
        let weekdays = Schedule::parse("wd1-5h9m30").unwrap();
        // Friday 10:00 → Monday 09:30.
        assert_eq!(
            weekdays.next_after(&t("2026-11-20T10:00:00Z")).unwrap(),
            t("2026-11-23T09:30:00Z")
        );
        assert_eq!(
            weekdays.next_after(&t("2026-11-20T09:29:59Z")).unwrap(),
            t("2026-11-20T09:30:00Z")
        );
        let ten = Schedule::parse("s0-59/10").unwrap();
        assert_eq!(
            ten.next_after(&t("2026-11-16T23:59:55Z")).unwrap(),
            t("2026-11-17T00:00:00Z")
        );
        let md31 = Schedule::parse("md31").unwrap();
        assert_eq!(
            md31.next_after(&t("2026-11-16T00:00:00Z")).unwrap(),
            t("2026-12-31T00:00:00Z")
        );
        let two = Schedule::parse("h0-23/2").unwrap();
        assert_eq!(
            two.next_after(&t("2026-11-16T01:00:00Z")).unwrap(),
            t("2026-11-16T02:00:00Z")
        );
    }

    #[test]
    fn scheduling_in_local_time() {
        let tz = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
        let s = Schedule::parse("h9").unwrap();
        let now = tz.with_ymd_and_hms(2026, 11, 16, 8, 0, 0).unwrap();
        let next = s.next_after(&now).unwrap();
        assert_eq!(next.hour(), 9);
        assert_eq!(next.with_timezone(&Utc), t("2026-11-16T07:00:00Z"));
    }

    #[test]
    fn combined_simple_and_scheduling_takes_the_earlier() {
        let i = Interval::parse("1h;m/1").unwrap();
        let n = i.next_after(&t("2026-11-16T10:00:05Z"), 0).unwrap();
        assert_eq!(n, t("2026-11-16T10:01:00Z"));
        let i = Interval::parse("0;wd1-5h9m30").unwrap();
        let n = i.next_after(&t("2026-11-21T10:00:00Z"), 0).unwrap();
        assert_eq!(n, t("2026-11-23T09:30:00Z"));
    }

    #[test]
    fn max_delay_covers_flexible_delays() {
        assert_eq!(Interval::parse("30s").unwrap().max_delay(), 30);
        assert_eq!(
            Interval::parse("10s;5m/1-5,09:00-18:00")
                .unwrap()
                .max_delay(),
            300
        );
        assert_eq!(Interval::parse("0;md1").unwrap().max_delay(), 0);
    }

    #[test]
    fn legacy_delay() {
        assert_eq!(Interval::from_legacy(5).unwrap().delay, 5);
        assert!(Interval::from_legacy(0).is_err());
    }
}
