//! The console's staff, sessions and login throttles ([`StaffStore`]): plain statements both
//! backends run as written.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::rows::DbRow;
use super::Backend;
use crate::domain::{DisplayName, StaffRole, Username};
use crate::store::dialect::Dialect;
use crate::store::staff::{LoginFailures, NewStaff, StaffStore, StoredSession, StoredStaff};
use crate::store::StoreError;

const STAFF_COLUMNS: &str = "id, username, display_name, role, password_hash, password_changed_at, totp_secret, \
                             totp_confirmed_at, totp_last_step, disabled_at, created_at";

const SESSION_COLUMNS: &str = "id_hash, staff_id, csrf_token, pending, created_at, last_seen_at";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("stored {what}: {e}"))
}

fn staff(row: &DbRow) -> Result<StoredStaff, StoreError> {
    let username: String = row.try_get("username")?;
    let display_name: String = row.try_get("display_name")?;
    let role: String = row.try_get("role")?;
    Ok(StoredStaff {
        id: row.try_get("id")?,
        username: Username::parse(&username).map_err(|e| corrupt("username", e))?,
        display_name: DisplayName::parse(&display_name).map_err(|e| corrupt("display name", e))?,
        role: StaffRole::parse(&role).map_err(|e| corrupt("role", e))?,
        password_hash: row.try_get("password_hash")?,
        password_changed_at: Backend::read_instant(row, "password_changed_at")?,
        totp_secret: row.try_get("totp_secret")?,
        totp_confirmed_at: Backend::read_optional_instant(row, "totp_confirmed_at")?,
        totp_last_step: row.try_get("totp_last_step")?,
        disabled_at: Backend::read_optional_instant(row, "disabled_at")?,
        created_at: Backend::read_instant(row, "created_at")?,
    })
}

fn session(row: &DbRow) -> Result<StoredSession, StoreError> {
    Ok(StoredSession {
        id_hash: row.try_get("id_hash")?,
        staff_id: row.try_get("staff_id")?,
        csrf_token: row.try_get("csrf_token")?,
        pending: row.try_get("pending")?,
        created_at: Backend::read_instant(row, "created_at")?,
        last_seen_at: Backend::read_instant(row, "last_seen_at")?,
    })
}

fn failures(row: &DbRow) -> Result<LoginFailures, StoreError> {
    let count: i64 = row.try_get("count")?;
    Ok(LoginFailures {
        count: u32::try_from(count).unwrap_or(u32::MAX),
        last_at: Backend::read_instant(row, "last_at")?,
    })
}

#[async_trait]
impl StaffStore for Backend {
    async fn insert_staff(&self, new: &NewStaff) -> Result<i64, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO staff (username, display_name, role, password_hash, password_changed_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(new.username.as_str())
        .bind(new.display_name.as_str())
        .bind(new.role.as_str())
        .bind(&new.password_hash)
        .bind(Self::instant(new.at))
        .bind(Self::instant(new.at))
        .fetch_one(self.writes())
        .await;
        match inserted {
            Ok(row) => Ok(row.try_get("id")?),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                Err(StoreError::Duplicate(new.username.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn staff_by_username(&self, username: &Username) -> Result<Option<StoredStaff>, StoreError> {
        let row = sqlx::query(&format!("SELECT {STAFF_COLUMNS} FROM staff WHERE username = $1"))
            .bind(username.as_str())
            .fetch_optional(self.reads())
            .await?;
        row.as_ref().map(staff).transpose()
    }

    async fn staff_by_id(&self, id: i64) -> Result<Option<StoredStaff>, StoreError> {
        let row = sqlx::query(&format!("SELECT {STAFF_COLUMNS} FROM staff WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.reads())
            .await?;
        row.as_ref().map(staff).transpose()
    }

    async fn list_staff(&self) -> Result<Vec<StoredStaff>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {STAFF_COLUMNS} FROM staff ORDER BY username"))
            .fetch_all(self.reads())
            .await?;
        rows.iter().map(staff).collect()
    }

    async fn disable_staff(&self, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.writes().begin().await?;
        let done = sqlx::query("UPDATE staff SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
            .bind(Self::instant(at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM staff_sessions WHERE staff_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_staff_password(&self, id: i64, password_hash: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.writes().begin().await?;
        let done = sqlx::query("UPDATE staff SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(Self::instant(at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM staff_sessions WHERE staff_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn begin_totp(&self, id: i64, secret: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE staff SET totp_secret = $1, totp_last_step = NULL WHERE id = $2 AND totp_confirmed_at IS NULL",
        )
        .bind(secret)
        .bind(id)
        .execute(self.writes())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn confirm_totp(&self, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE staff SET totp_confirmed_at = $1 \
             WHERE id = $2 AND totp_secret IS NOT NULL AND totp_confirmed_at IS NULL",
        )
        .bind(Self::instant(at))
        .bind(id)
        .execute(self.writes())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_totp_step(&self, id: i64, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE staff SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
        )
        .bind(step)
        .bind(id)
        .execute(self.writes())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_session(&self, s: &StoredSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO staff_sessions (id_hash, staff_id, csrf_token, pending, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.id_hash)
        .bind(s.staff_id)
        .bind(&s.csrf_token)
        .bind(s.pending)
        .bind(Self::instant(s.created_at))
        .bind(Self::instant(s.last_seen_at))
        .execute(self.writes())
        .await?;
        Ok(())
    }

    async fn session(&self, id_hash: &[u8]) -> Result<Option<StoredSession>, StoreError> {
        let row = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM staff_sessions WHERE id_hash = $1"))
            .bind(id_hash)
            .fetch_optional(self.reads())
            .await?;
        row.as_ref().map(session).transpose()
    }

    async fn touch_session(&self, id_hash: &[u8], at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE staff_sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(Self::instant(at))
            .bind(id_hash)
            .execute(self.writes())
            .await?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM staff_sessions WHERE id_hash = $1").bind(id_hash).execute(self.writes()).await?;
        Ok(())
    }

    async fn delete_staff_sessions(&self, staff_id: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM staff_sessions WHERE staff_id = $1").bind(staff_id).execute(self.writes()).await?;
        Ok(done.rows_affected())
    }

    async fn delete_expired_sessions(
        &self,
        idle_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM staff_sessions WHERE last_seen_at < $1 OR created_at < $2")
            .bind(Self::instant(idle_before))
            .bind(Self::instant(created_before))
            .execute(self.writes())
            .await?;
        Ok(done.rows_affected())
    }

    async fn login_failures(&self, key: &str) -> Result<Option<LoginFailures>, StoreError> {
        let row = sqlx::query("SELECT count, last_at FROM login_failures WHERE key = $1")
            .bind(key)
            .fetch_optional(self.reads())
            .await?;
        row.as_ref().map(failures).transpose()
    }

    async fn add_login_failure(
        &self,
        key: &str,
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<LoginFailures, StoreError> {
        let row = sqlx::query(
            "INSERT INTO login_failures (key, count, last_at) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
             count = CASE WHEN login_failures.last_at < $3 THEN 1 ELSE login_failures.count + 1 END, last_at = $2 \
             RETURNING count, last_at",
        )
        .bind(key)
        .bind(Self::instant(at))
        .bind(Self::instant(forget_before))
        .fetch_one(self.writes())
        .await?;
        failures(&row)
    }

    async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1").bind(key).execute(self.writes()).await?;
        Ok(())
    }
}
