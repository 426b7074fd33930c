//! Bearer-token authentication for admin routes: 401 without a good token, 403 with a token
//! whose role is too weak. Handlers say what they need in their signature, e.g.
//! `Authorized<IssuerRole>`, so no route can forget the check.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;
use crate::domain::Role;
use crate::registry::Principal;

/// A role a route requires.
pub trait RequiredRole {
    const ROLE: Role;
}

/// Read-only admin access.
pub struct ReaderRole;
/// Issue and change certificates.
pub struct IssuerRole;
/// Everything.
pub struct AdminRole;

impl RequiredRole for ReaderRole {
    const ROLE: Role = Role::Reader;
}
impl RequiredRole for IssuerRole {
    const ROLE: Role = Role::Issuer;
}
impl RequiredRole for AdminRole {
    const ROLE: Role = Role::Admin;
}

/// A caller whose token holds at least role `R`.
pub struct Authorized<R: RequiredRole> {
    pub principal: Principal,
    role: PhantomData<R>,
}

impl<R: RequiredRole + Send + Sync> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("send an API token as `Authorization: Bearer <token>`"))?;
        let text = header.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
        let token = match text.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token,
            _ => return Err(ApiError::unauthorized("use the Bearer scheme: `Authorization: Bearer <token>`")),
        };
        let principal = state.registry.authenticate(token).await?;
        if !principal.role.allows(R::ROLE) {
            return Err(ApiError::forbidden(format!(
                "this action needs the {} role; the token has the {} role",
                R::ROLE.as_str(),
                principal.role.as_str()
            )));
        }
        Ok(Self { principal, role: PhantomData })
    }
}
