//! Certificate states and the transitions between them.
//!
//! The recorded state is what the certification body decided; the *effective* state adds what
//! the calendar decides (expiry), so "expired" is always derived and never stored stale.

use std::fmt;

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::text::clean_text;

/// Longest reason recorded with a status change.
pub const MAX_REASON_CHARS: usize = 500;

/// Longest suspension a scheme allows; past it a certificate must be revoked.
pub const MAX_SUSPENSION_MONTHS: u32 = 6;

/// What a consumer is told about a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// 有效
    Valid,
    /// 暂停
    Suspended,
    /// 撤销
    Revoked,
    /// 注销 (at the holder's request)
    Withdrawn,
    /// 过期失效 (past `valid_until`)
    Expired,
}

impl State {
    pub const ALL: [State; 5] = [State::Valid, State::Suspended, State::Revoked, State::Withdrawn, State::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Valid => "valid",
            State::Suspended => "suspended",
            State::Revoked => "revoked",
            State::Withdrawn => "withdrawn",
            State::Expired => "expired",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == input.trim())
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            State::Valid => "有效",
            State::Suspended => "暂停",
            State::Revoked => "撤销",
            State::Withdrawn => "注销",
            State::Expired => "过期失效",
        }
    }

    /// Revoked, withdrawn and expired are final for a certificate.
    pub fn is_final(self) -> bool {
        matches!(self, State::Revoked | State::Withdrawn | State::Expired)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The recorded status of a certificate, as signed in its record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// Never `expired`: expiry is derived from the dates.
    pub state: State,
    /// Day the state took effect.
    pub since: NaiveDate,
    /// Why (required for suspend, revoke and withdraw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// End of a suspension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
}

impl Status {
    pub fn valid(since: NaiveDate) -> Self {
        Self { state: State::Valid, since, reason: None, until: None }
    }
}

/// A status change ordered by the certification body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusAction {
    /// Temporarily invalid until `until` (at most six months from today).
    Suspend { reason: String, until: NaiveDate },
    /// Back to valid after a suspension.
    Reinstate { reason: Option<String> },
    /// Withdrawn by the body for cause; final.
    Revoke { reason: String },
    /// Cancelled at the holder's request; final.
    Withdraw { reason: String },
}

impl StatusAction {
    pub fn name(&self) -> &'static str {
        match self {
            StatusAction::Suspend { .. } => "suspend",
            StatusAction::Reinstate { .. } => "reinstate",
            StatusAction::Revoke { .. } => "revoke",
            StatusAction::Withdraw { .. } => "withdraw",
        }
    }
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("cannot {action} a certificate that is {current}")]
    Illegal { action: &'static str, current: State },
    #[error("a reason is required to {0}")]
    ReasonRequired(&'static str),
    #[error("reason: {0}")]
    BadReason(String),
    #[error("a suspension must end after today ({today}), not on {until}")]
    SuspensionEndsInPast { today: NaiveDate, until: NaiveDate },
    #[error("a suspension may last at most 6 months: until {latest} at the latest, not {until}")]
    SuspensionTooLong { latest: NaiveDate, until: NaiveDate },
}

/// The state in force on `today`, given the recorded status and the validity end.
pub fn effective_state(status: &Status, valid_until: NaiveDate, today: NaiveDate) -> State {
    match status.state {
        State::Valid | State::Suspended if today > valid_until => State::Expired,
        state => state,
    }
}

/// The status after `action`, or why the action is not allowed now.
pub fn transition(
    current: &Status,
    valid_until: NaiveDate,
    action: &StatusAction,
    today: NaiveDate,
) -> Result<Status, TransitionError> {
    let state = effective_state(current, valid_until, today);
    let illegal = || TransitionError::Illegal { action: action.name(), current: state };
    let reason_of = |reason: &str| {
        if reason.trim().is_empty() {
            return Err(TransitionError::ReasonRequired(action.name()));
        }
        clean_text("reason", reason, MAX_REASON_CHARS).map_err(|e| TransitionError::BadReason(e.message))
    };
    match (state, action) {
        (State::Valid, StatusAction::Suspend { reason, until }) => {
            let reason = reason_of(reason)?;
            if *until <= today {
                return Err(TransitionError::SuspensionEndsInPast { today, until: *until });
            }
            let latest = today.checked_add_months(Months::new(MAX_SUSPENSION_MONTHS)).unwrap_or(NaiveDate::MAX);
            if *until > latest {
                return Err(TransitionError::SuspensionTooLong { latest, until: *until });
            }
            Ok(Status { state: State::Suspended, since: today, reason: Some(reason), until: Some(*until) })
        }
        (State::Suspended, StatusAction::Reinstate { reason }) => Ok(Status {
            state: State::Valid,
            since: today,
            reason: match reason.as_deref().filter(|r| !r.trim().is_empty()) {
                Some(reason) => Some(reason_of(reason)?),
                None => None,
            },
            until: None,
        }),
        (State::Valid | State::Suspended, StatusAction::Revoke { reason }) => {
            Ok(Status { state: State::Revoked, since: today, reason: Some(reason_of(reason)?), until: None })
        }
        (State::Valid | State::Suspended, StatusAction::Withdraw { reason }) => {
            Ok(Status { state: State::Withdrawn, since: today, reason: Some(reason_of(reason)?), until: None })
        }
        _ => Err(illegal()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const TODAY: (i32, u32, u32) = (2026, 11, 26);

    fn today() -> NaiveDate {
        day(TODAY.0, TODAY.1, TODAY.2)
    }

    fn until() -> NaiveDate {
        day(2029, 11, 25)
    }

    fn suspend() -> StatusAction {
        StatusAction::Suspend { reason: "surveillance audit overdue".into(), until: day(2027, 2, 1) }
    }

    #[test]
    fn suspend_then_reinstate() {
        let valid = Status::valid(day(2026, 11, 1));
        let suspended = transition(&valid, until(), &suspend(), today()).unwrap();
        assert_eq!(suspended.state, State::Suspended);
        assert_eq!(suspended.until, Some(day(2027, 2, 1)));
        let back = transition(&suspended, until(), &StatusAction::Reinstate { reason: None }, today()).unwrap();
        assert_eq!(back.state, State::Valid);
        assert_eq!(back.reason, None);
    }

    #[test]
    fn suspension_is_capped_at_six_months() {
        let valid = Status::valid(day(2026, 11, 1));
        let too_long = StatusAction::Suspend { reason: "x".into(), until: day(2027, 5, 27) };
        assert_eq!(
            transition(&valid, until(), &too_long, today()),
            Err(TransitionError::SuspensionTooLong { latest: day(2027, 5, 26), until: day(2027, 5, 27) })
        );
        let past = StatusAction::Suspend { reason: "x".into(), until: today() };
        assert!(matches!(
            transition(&valid, until(), &past, today()),
            Err(TransitionError::SuspensionEndsInPast { .. })
        ));
    }

    #[test]
    fn expired_is_derived_and_final() {
        let valid = Status::valid(day(2020, 1, 1));
        let ended = day(2022, 12, 31);
        assert_eq!(effective_state(&valid, ended, today()), State::Expired);
        assert_eq!(effective_state(&valid, ended, ended), State::Valid);
        assert_eq!(
            transition(&valid, ended, &StatusAction::Revoke { reason: "x".into() }, today()),
            Err(TransitionError::Illegal { action: "revoke", current: State::Expired })
        );
    }

    #[test]
    fn reasons_are_cleaned() {
        let valid = Status::valid(day(2026, 11, 1));
        let long = StatusAction::Revoke { reason: "x".repeat(501) };
        assert!(matches!(transition(&valid, until(), &long, today()), Err(TransitionError::BadReason(_))));
        let control = StatusAction::Revoke { reason: "a\u{7}b".into() };
        assert!(matches!(transition(&valid, until(), &control, today()), Err(TransitionError::BadReason(_))));
        let padded = transition(&valid, until(), &StatusAction::Revoke { reason: "  fraud ".into() }, today());
        assert_eq!(padded.unwrap().reason.as_deref(), Some("fraud"));
    }

    #[test]
    fn reasons_are_required() {
        let valid = Status::valid(day(2026, 11, 1));
        assert_eq!(
            transition(&valid, until(), &StatusAction::Revoke { reason: "  ".into() }, today()),
            Err(TransitionError::ReasonRequired("revoke"))
        );
    }

    fn action_strategy() -> impl Strategy<Value = StatusAction> {
        prop_oneof![
            (1u64..200).prop_map(|days| StatusAction::Suspend {
                reason: "r".into(),
                until: day(TODAY.0, TODAY.1, TODAY.2) + chrono::Days::new(days)
            }),
            Just(StatusAction::Reinstate { reason: None }),
            Just(StatusAction::Revoke { reason: "r".into() }),
            Just(StatusAction::Withdraw { reason: "r".into() }),
        ]
    }

    proptest! {
        /// Any sequence of actions keeps to the lifecycle: final states never change, and
        /// every accepted step is one of the legal edges.
        #[test]
        fn random_walks_respect_the_lifecycle(actions in proptest::collection::vec(action_strategy(), 0..20)) {
            let mut status = Status::valid(day(2026, 1, 1));
            for action in &actions {
                let before = effective_state(&status, until(), today());
                match transition(&status, until(), action, today()) {
                    Ok(next) => {
                        prop_assert!(!before.is_final());
                        let legal = matches!(
                            (before, next.state, action),
                            (State::Valid, State::Suspended, StatusAction::Suspend { .. })
                                | (State::Suspended, State::Valid, StatusAction::Reinstate { .. })
                                | (State::Valid | State::Suspended, State::Revoked, StatusAction::Revoke { .. })
                                | (State::Valid | State::Suspended, State::Withdrawn, StatusAction::Withdraw { .. })
                        );
                        prop_assert!(legal, "{before:?} --{}--> {:?}", action.name(), next.state);
                        prop_assert_ne!(next.state, State::Expired);
                        status = next;
                    }
                    Err(TransitionError::Illegal { current, .. }) => prop_assert_eq!(current, before),
                    Err(TransitionError::SuspensionTooLong { until, .. }) => {
                        prop_assert_eq!(before, State::Valid);
                        prop_assert!(until > today() + chrono::Days::new(181));
                    }
                    Err(other) => prop_assert!(false, "unexpected refusal {other}"),
                }
            }
        }
    }
}
