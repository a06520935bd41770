//! dateutil's `_ymd`: the numbers that may be a year, month or day, and `resolve_ymd`, which
//! decides which is which (with `dayfirst` and `yearfirst` off, as GE calls it).

use super::info::days_in_month;
use super::numbers::{Num, int, is_digits};

/// What a value is known to be (dateutil never labels a day).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Label {
    Year,
    Month,
}

/// A value appended to the day-month-year list, in the three forms dateutil appends.
pub(super) enum Part<'a> {
    /// A token (`"05"`, `"2024"`): more than two digits make it a year.
    Text(&'a str),
    /// A number read with `Decimal`: above 100 it is a year.
    Number(Num),
    /// A month from its name.
    Month(u64),
}

/// `_ymd`: the numbers that may be a year, month or day, and which are known to be which.
/// (dateutil's parser never labels a day, so there is no day label here.)
#[derive(Default)]
pub(super) struct Ymd {
    pub(super) values: Vec<u64>,
    pub(super) century_specified: bool,
    year: Option<usize>,
    month: Option<usize>,
}

impl Ymd {
    pub(super) fn append(&mut self, part: Part<'_>, label: Option<Label>) -> Option<()> {
        let mut label = label;
        let mut year_like = |label: &mut Option<Label>| {
            self.century_specified = true;
            if label.is_some_and(|l| l != Label::Year) {
                return None;
            }
            *label = Some(Label::Year);
            Some(())
        };
        let value = match part {
            Part::Text(text) => {
                if is_digits(text) && text.chars().count() > 2 {
                    year_like(&mut label)?;
                }
                int(text)?
            }
            Part::Number(num) => {
                if num.above(100) {
                    year_like(&mut label)?;
                }
                num.int
            }
            Part::Month(month) => month,
        };
        self.values.push(value);
        let at = self.values.len() - 1;
        let slot = match label {
            None => return Some(()),
            Some(Label::Year) => &mut self.year,
            Some(Label::Month) => &mut self.month,
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(at);
        Some(())
    }

    pub(super) fn could_be_day(&self, value: Num) -> bool {
        let most = match (self.month, self.year) {
            (None, _) => 31,
            (Some(m), None) => days_in_month(2000, self.values[m]),
            (Some(m), Some(y)) => days_in_month(self.values[y], self.values[m]),
        };
        value.int >= 1 && value.at_most(most)
    }

    /// `resolve_ymd` with `dayfirst` and `yearfirst` false: (year, month, day).
    #[allow(clippy::type_complexity)]
    pub(super) fn resolve(&self) -> Option<(Option<u64>, Option<u64>, Option<u64>)> {
        let v = &self.values;
        let labelled = [self.year, self.month, None];
        let known = labelled.iter().flatten().count();
        if (v.len() == known && known > 0) || (v.len() == 3 && known == 2) {
            let mut at = labelled;
            if v.len() == 3 && known == 2 {
                let free = (0..3).find(|i| !labelled.contains(&Some(*i)))?;
                if let Some(slot) = at.iter_mut().find(|s| s.is_none()) {
                    *slot = Some(free);
                }
            }
            let get = |i: Option<usize>| i.map(|i| v[i]);
            return Some((get(at[0]), get(at[1]), get(at[2])));
        }
        let (mut year, mut month, mut day) = (None, None, None);
        match (v.len(), self.month) {
            (n, _) if n > 3 => return None,
            (1, None) | (2, Some(_)) => {
                let other = match self.month {
                    Some(m) => {
                        month = Some(v[m]);
                        v[if m == 0 { v.len() - 1 } else { m - 1 }]
                    }
                    None => v[0],
                };
                if other > 31 {
                    year = Some(other);
                } else {
                    day = Some(other);
                }
            }
            (2, None) => {
                if v[0] > 31 {
                    (year, month) = (Some(v[0]), Some(v[1]));
                } else if v[1] > 31 {
                    (month, year) = (Some(v[0]), Some(v[1]));
                } else {
                    (month, day) = (Some(v[0]), Some(v[1]));
                }
            }
            (3, Some(0)) => {
                if v[1] > 31 {
                    (month, year, day) = (Some(v[0]), Some(v[1]), Some(v[2]));
                } else {
                    (month, day, year) = (Some(v[0]), Some(v[1]), Some(v[2]));
                }
            }
            (3, Some(1)) => {
                if v[0] > 31 {
                    (year, month, day) = (Some(v[0]), Some(v[1]), Some(v[2]));
                } else {
                    (day, month, year) = (Some(v[0]), Some(v[1]), Some(v[2]));
                }
            }
            (3, Some(_)) => {
                if v[1] > 31 {
                    (day, year, month) = (Some(v[0]), Some(v[1]), Some(v[2]));
                } else {
                    (year, day, month) = (Some(v[0]), Some(v[1]), Some(v[2]));
                }
            }
            (3, None) => {
                if v[0] > 31 || self.year == Some(0) {
                    (year, month, day) = (Some(v[0]), Some(v[1]), Some(v[2]));
                } else if v[0] > 12 {
                    (day, month, year) = (Some(v[0]), Some(v[1]), Some(v[2]));
                } else {
                    (month, day, year) = (Some(v[0]), Some(v[1]), Some(v[2]));
                }
            }
            _ => {}
        }
        Some((year, month, day))
    }
}
