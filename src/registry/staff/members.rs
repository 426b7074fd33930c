//! Adding, listing, disabling members and resetting their passwords.

use super::{Console, ConsoleError, Member};
use crate::crypto::password;
use crate::domain::{DisplayName, StaffRole, Username};
use crate::registry::clock;
use crate::store::{NewStaff, StoreError};

impl Console {
    /// Adds a member with `password` (checked and hashed here); the display name defaults to
    /// the username.
    pub async fn add_member(
        &self,
        username: Username,
        display_name: Option<DisplayName>,
        role: StaffRole,
        password: String,
    ) -> Result<Member, ConsoleError> {
        password::check_new(&password)?;
        let hash = self.hashing(move || password::hash(&password)).await??;
        let display_name = match display_name {
            Some(name) => name,
            None => DisplayName::parse(username.as_str())?,
        };
        let new = NewStaff { username: username.clone(), display_name, role, password_hash: hash, at: clock::now() };
        match self.store.insert_staff(&new).await {
            Ok(_) => {}
            Err(StoreError::Duplicate(_)) => return Err(ConsoleError::Duplicate(username.to_string())),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(username = %username, role = %role, "member of staff added");
        Ok(Member::from(&self.member_named(&username).await?))
    }

    /// Every member, in username order.
    pub async fn members(&self) -> Result<Vec<Member>, ConsoleError> {
        Ok(self.store.list_staff().await?.iter().map(Member::from).collect())
    }

    /// One member by name.
    pub async fn member(&self, username: &Username) -> Result<Member, ConsoleError> {
        Ok(Member::from(&self.member_named(username).await?))
    }

    /// Disables a member and ends their sessions; disabling a disabled member changes nothing.
    pub async fn disable(&self, username: &Username) -> Result<Member, ConsoleError> {
        let member = self.member_named(username).await?;
        if self.store.disable_staff(member.id, clock::now()).await? {
            tracing::info!(username = %username, "member of staff disabled");
        }
        Ok(Member::from(&self.member_named(username).await?))
    }

    /// Sets a new password and ends every session of the member.
    pub async fn reset_password(&self, username: &Username, password: String) -> Result<(), ConsoleError> {
        password::check_new(&password)?;
        let member = self.member_named(username).await?;
        let hash = self.hashing(move || password::hash(&password)).await??;
        if !self.store.set_staff_password(member.id, &hash, clock::now()).await? {
            return Err(ConsoleError::NoSuchMember(username.to_string()));
        }
        tracing::info!(username = %username, "staff password reset; their sessions are ended");
        Ok(())
    }
}
