//! GB/T 27922-2011 evaluation: three first-level scores, applicable points, special deductions
//! and bonus, and the star level they earn.
//!
//! Points are kept in tenths so that sums and thresholds are exact; the JSON form is a plain
//! number with at most one decimal (`36.5`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A score in points with one decimal, held as tenths of a point.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Points(u32);

impl Points {
    pub const fn from_tenths(tenths: u32) -> Self {
        Self(tenths)
    }

    pub const fn whole(points: u32) -> Self {
        Self(points * 10)
    }

    pub const fn tenths(self) -> u32 {
        self.0
    }

    /// Parses "36", "36.5" (at most one decimal, not negative).
    pub fn parse(input: &str) -> Result<Self, EvaluationError> {
        let text = input.trim();
        let bad = || EvaluationError::BadPoints(text.to_string());
        let (whole, fraction) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 4 {
            return Err(bad());
        }
        if fraction.len() > 1 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if text.ends_with('.') {
            return Err(bad());
        }
        let whole: u32 = whole.parse().map_err(|_| bad())?;
        let tenth: u32 = if fraction.is_empty() { 0 } else { fraction.parse().map_err(|_| bad())? };
        Ok(Self(whole * 10 + tenth))
    }
}

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 10 == 0 {
            write!(f, "{}", self.0 / 10)
        } else {
            write!(f, "{}.{}", self.0 / 10, self.0 % 10)
        }
    }
}

impl fmt::Debug for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Points({self})")
    }
}

impl Serialize for Points {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Whole numbers as integers and the rest as the shortest decimal keeps the canonical
        // JSON identical to what RFC 8785 would print.
        if self.0 % 10 == 0 {
            serializer.serialize_u64(u64::from(self.0 / 10))
        } else {
            serializer.serialize_f64(f64::from(self.0) / 10.0)
        }
    }
}

impl<'de> Deserialize<'de> for Points {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Number::deserialize(deserializer)?;
        Points::parse(&value.to_string()).map_err(serde::de::Error::custom)
    }
}

/// Star level of a certificate, from the lowest that passes to the highest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 达标级, score >= 70.
    Compliant,
    /// 三星级, score >= 80.
    ThreeStar,
    /// 四星级, score >= 90.
    FourStar,
    /// 五星级, score >= 95.
    FiveStar,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Compliant, Level::ThreeStar, Level::FourStar, Level::FiveStar];

    /// The name used in the API and in canonical records.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Compliant => "compliant",
            Level::ThreeStar => "three_star",
            Level::FourStar => "four_star",
            Level::FiveStar => "five_star",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.as_str() == input.trim())
    }

    /// The Chinese name printed on certificates.
    pub fn name_zh(self) -> &'static str {
        match self {
            Level::Compliant => "达标级",
            Level::ThreeStar => "三星级",
            Level::FourStar => "四星级",
            Level::FiveStar => "五星级",
        }
    }

    /// Number of stars on the mark (compliant carries none).
    pub fn stars(self) -> u8 {
        match self {
            Level::Compliant => 0,
            Level::ThreeStar => 3,
            Level::FourStar => 4,
            Level::FiveStar => 5,
        }
    }

    /// The level a final score earns, or `None` below 70.
    pub fn for_score(score: Points) -> Option<Self> {
        match score.tenths() {
            t if t >= 950 => Some(Level::FiveStar),
            t if t >= 900 => Some(Level::FourStar),
            t if t >= 800 => Some(Level::ThreeStar),
            t if t >= 700 => Some(Level::Compliant),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Maximum of the after-sales service system indicator (售后服务体系).
pub const SYSTEM_MAX: Points = Points::whole(40);
/// Maximum of the commodity service indicator (商品服务).
pub const COMMODITY_MAX: Points = Points::whole(35);
/// Maximum of the customer service indicator (顾客服务).
pub const CUSTOMER_MAX: Points = Points::whole(25);
/// Full marks when every item applies.
pub const FULL_MARKS: Points = Points::whole(100);
/// The fewest applicable points an evaluation may have. Out-of-scope items only remove
/// second-level indicators; every certificate keeps the service system (40), customer service
/// (25) and the core of commodity service, so a sheet with fewer points in scope did not evaluate
/// the scheme and its percentage would be meaningless (1 point of 1 is not five stars).
pub const MIN_APPLICABLE: Points = Points::whole(65);
/// This many special deductions fail the evaluation whatever the score.
pub const FAILING_DEDUCTIONS: u8 = 5;

/// The audit result a certificate is issued on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evaluation {
    /// Points won in 售后服务体系 (max 40).
    pub system: Points,
    /// Points won in 商品服务 (max 35).
    pub commodity: Points,
    /// Points won in 顾客服务 (max 25).
    pub customer: Points,
    /// Points of the items in scope (100 when all apply).
    #[serde(default = "full_marks")]
    pub applicable: Points,
    /// Special deductions, one point each.
    #[serde(default)]
    pub special_deductions: u8,
    /// Whether the single special bonus point was awarded.
    #[serde(default)]
    pub special_bonus: bool,
}

fn full_marks() -> Points {
    FULL_MARKS
}

/// Why an evaluation cannot be issued on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationError {
    #[error("'{0}' is not a number of points (use at most one decimal, e.g. 36.5)")]
    BadPoints(String),
    #[error("{indicator} score {given} exceeds its maximum of {max}")]
    AboveMaximum { indicator: &'static str, given: Points, max: Points },
    #[error("applicable points must be between 65 and 100 (only out-of-scope items reduce the 100), not {0}")]
    BadApplicable(Points),
    #[error("points won ({won}) exceed the applicable points ({applicable})")]
    WonAboveApplicable { won: Points, applicable: Points },
    #[error("{0} special deductions: 5 or more fail the evaluation")]
    TooManyDeductions(u8),
    #[error("score {0} is below 70: the evaluation fails and no certificate can be issued")]
    BelowPass(Points),
    #[error("the level given ({given}) does not agree with the evaluation, which earns {earned}")]
    LevelMismatch { given: Level, earned: Level },
}

impl Evaluation {
    /// Checks the figures and returns the final score, before any pass/fail decision.
    pub fn score(&self) -> Result<Points, EvaluationError> {
        for (indicator, given, max) in [
            ("after-sales service system", self.system, SYSTEM_MAX),
            ("commodity service", self.commodity, COMMODITY_MAX),
            ("customer service", self.customer, CUSTOMER_MAX),
        ] {
            if given > max {
                return Err(EvaluationError::AboveMaximum { indicator, given, max });
            }
        }
        if self.applicable < MIN_APPLICABLE || self.applicable > FULL_MARKS {
            return Err(EvaluationError::BadApplicable(self.applicable));
        }
        let won = self.system.tenths() + self.commodity.tenths() + self.customer.tenths();
        if won > self.applicable.tenths() {
            return Err(EvaluationError::WonAboveApplicable {
                won: Points::from_tenths(won),
                applicable: self.applicable,
            });
        }
        // Normalise to 100 in tenths, rounding half up, then apply deductions and bonus.
        let applicable = u64::from(self.applicable.tenths());
        let normalised = (u64::from(won) * 1000 * 2 + applicable) / (applicable * 2);
        let mut score = i64::try_from(normalised).unwrap_or(i64::MAX);
        score -= i64::from(self.special_deductions) * 10;
        if self.special_bonus {
            score += 10;
        }
        let clamped = score.clamp(0, 1000);
        Ok(Points::from_tenths(u32::try_from(clamped).unwrap_or(0)))
    }

    /// The level this evaluation earns, or why it fails.
    pub fn level(&self) -> Result<Level, EvaluationError> {
        let score = self.score()?;
        if self.special_deductions >= FAILING_DEDUCTIONS {
            return Err(EvaluationError::TooManyDeductions(self.special_deductions));
        }
        Level::for_score(score).ok_or(EvaluationError::BelowPass(score))
    }

    /// The level to issue: the earned one, which a level given explicitly must agree with.
    pub fn confirm_level(&self, given: Option<Level>) -> Result<Level, EvaluationError> {
        let earned = self.level()?;
        match given {
            Some(given) if given != earned => Err(EvaluationError::LevelMismatch { given, earned }),
            _ => Ok(earned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eval(system: u32, commodity: u32, customer: u32) -> Evaluation {
        Evaluation {
            system: Points::whole(system),
            commodity: Points::whole(commodity),
            customer: Points::whole(customer),
            applicable: FULL_MARKS,
            special_deductions: 0,
            special_bonus: false,
        }
    }

    #[test]
    fn thresholds_follow_the_standard() {
        assert_eq!(eval(28, 25, 16).level(), Err(EvaluationError::BelowPass(Points::whole(69))));
        assert_eq!(eval(28, 25, 17).level(), Ok(Level::Compliant));
        assert_eq!(eval(32, 28, 20).level(), Ok(Level::ThreeStar));
        assert_eq!(eval(36, 32, 22).level(), Ok(Level::FourStar));
        assert_eq!(eval(38, 33, 24).level(), Ok(Level::FiveStar));
    }

    #[test]
    fn out_of_scope_items_are_not_counted() {
        // 76 of 80 applicable points is 95: five stars.
        let mut e = eval(30, 26, 20);
        e.applicable = Points::whole(80);
        assert_eq!(e.score(), Ok(Points::whole(95)));
        assert_eq!(e.level(), Ok(Level::FiveStar));
    }

    #[test]
    fn applicable_points_are_bounded_as_the_scheme_is() {
        let mut tiny = eval(1, 0, 0);
        tiny.applicable = Points::whole(1);
        assert_eq!(tiny.level(), Err(EvaluationError::BadApplicable(Points::whole(1))));
        let mut low = eval(30, 20, 14);
        low.applicable = Points::from_tenths(649);
        assert_eq!(low.level(), Err(EvaluationError::BadApplicable(Points::from_tenths(649))));
        low.applicable = Points::whole(65);
        assert_eq!(low.score(), Ok(Points::from_tenths(985)));
        let mut over = eval(40, 35, 25);
        over.applicable = Points::from_tenths(1001);
        assert_eq!(over.level(), Err(EvaluationError::BadApplicable(Points::from_tenths(1001))));
    }

    #[test]
    fn deductions_and_bonus_move_the_score() {
        let mut e = eval(36, 32, 22); // 90
        e.special_deductions = 1;
        assert_eq!(e.level(), Ok(Level::ThreeStar));
        e.special_bonus = true;
        assert_eq!(e.level(), Ok(Level::FourStar));
    }

    #[test]
    fn five_deductions_fail_whatever_the_score() {
        let mut e = eval(40, 35, 25);
        e.special_deductions = 5;
        assert_eq!(e.level(), Err(EvaluationError::TooManyDeductions(5)));
    }

    #[test]
    fn maxima_are_enforced() {
        assert!(matches!(eval(41, 30, 20).level(), Err(EvaluationError::AboveMaximum { .. })));
        let mut e = eval(40, 35, 25);
        e.applicable = Points::whole(90);
        assert!(matches!(e.level(), Err(EvaluationError::WonAboveApplicable { .. })));
    }

    #[test]
    fn explicit_level_must_agree() {
        let e = eval(36, 32, 22);
        assert_eq!(e.confirm_level(Some(Level::FourStar)), Ok(Level::FourStar));
        assert_eq!(
            e.confirm_level(Some(Level::FiveStar)),
            Err(EvaluationError::LevelMismatch { given: Level::FiveStar, earned: Level::FourStar })
        );
    }

    #[test]
    fn points_parse_and_print() {
        assert_eq!(Points::parse("36.5"), Ok(Points::from_tenths(365)));
        assert_eq!(Points::parse("36").map(|p| p.to_string()), Ok("36".into()));
        for bad in ["", "-1", "1.25", "1.", ".5", "abc", "1e3"] {
            assert!(Points::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(serde_json::to_string(&Points::from_tenths(365)).unwrap(), "36.5");
        assert_eq!(serde_json::to_string(&Points::whole(32)).unwrap(), "32");
        let parsed: Points = serde_json::from_str("32.0").unwrap();
        assert_eq!(parsed, Points::whole(32));
    }

    proptest! {
        #[test]
        fn level_is_monotonic_in_points_won(a in 0u32..=400, b in 0u32..=350, c in 0u32..=250, extra in 0u32..=10) {
            let base = Evaluation { system: Points::from_tenths(a), commodity: Points::from_tenths(b), customer: Points::from_tenths(c), applicable: FULL_MARKS, special_deductions: 0, special_bonus: false };
            let mut better = base.clone();
            better.customer = Points::from_tenths((c + extra).min(250));
            let low = base.level().ok();
            let high = better.level().ok();
            prop_assert!(low <= high);
        }
    }
}
