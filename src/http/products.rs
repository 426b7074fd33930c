//! `GET /api/v1/products/{gtin}`: which certificates cover a product, for marketplaces; and
//! `GET /01/{gtin}`, the same answer at the product's GS1 Digital Link URI. A certificate covers
//! a product when one of its mark batches is bound to the GTIN; the answer says each one's state
//! today, so that a reader decides for itself what a suspended or expired one means.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use serde::Serialize;

use super::certificates::json_response;
use super::error::ApiError;
use super::scan::gs1::gtin_of;
use super::views::CertificateSummary;
use super::AppState;
use crate::domain::{CertificateRecord, Gtin};
use crate::registry::clock;

/// One batch of marks bound to the product.
#[derive(Serialize)]
struct BatchView<'a> {
    batch: u32,
    count: u32,
    ordered: NaiveDate,
    product: &'a str,
}

/// One certificate covering the product, with the batches that bind it.
#[derive(Serialize)]
struct Coverage<'a> {
    #[serde(flatten)]
    certificate: CertificateSummary<'a>,
    /// The certificate's public page.
    url: String,
    batches: Vec<BatchView<'a>>,
}

#[derive(Serialize)]
struct ProductAnswer<'a> {
    gtin: &'a Gtin,
    /// The product's name as the newest batch names it; `null` when no certificate covers it.
    product: Option<&'a str>,
    certificates: Vec<Coverage<'a>>,
}

fn coverage<'a>(record: &'a CertificateRecord, gtin: &Gtin, today: NaiveDate) -> Coverage<'a> {
    let batches = record
        .mark_batches
        .iter()
        .filter(|b| b.gtin.as_ref() == Some(gtin))
        .map(|b| BatchView {
            batch: b.id,
            count: b.count,
            ordered: b.ordered,
            product: b.product.as_deref().unwrap_or(""),
        })
        .collect();
    Coverage {
        certificate: CertificateSummary::of_record(record, today),
        url: format!("/certificates/{}", record.number),
        batches,
    }
}

async fn answer(state: &AppState, gtin: &str) -> Result<Response, ApiError> {
    let gtin = gtin_of(gtin)?;
    let records = state.registry.certificates_of_product(&gtin).await?;
    let today = clock::today();
    let certificates: Vec<Coverage<'_>> = records.iter().map(|r| coverage(r, &gtin, today)).collect();
    let product = records
        .iter()
        .flat_map(|r| r.mark_batches.iter())
        .filter(|b| b.gtin == Some(gtin))
        .max_by_key(|b| b.ordered)
        .and_then(|b| b.product.as_deref());
    json_response(StatusCode::OK, &ProductAnswer { gtin: &gtin, product, certificates })
}

/// `GET /api/v1/products/{gtin}`.
#[utoipa::path(
    get, path = "/api/v1/products/{gtin}", tag = "gs1", summary = "Certificates covering a product",
    params(("gtin" = String, Path, description = "GTIN-8, -12, -13 or -14 with its check digit", example = "06901234567892")),
    responses(
        (status = 200, description = "The product and the valid certificates that cover it", body = ref("#/components/schemas/Product")),
        (status = 400, description = "`invalid-parameter`: not a GTIN"),
        (status = 404, description = "`not-found`: no certificate covers it"),
        (status = 503, description = "`unavailable` or `status-unconfirmed`"),
    )
)]
pub async fn product(State(state): State<AppState>, Path(gtin): Path<String>) -> Result<Response, ApiError> {
    answer(&state, &gtin).await
}

/// `GET /01/{gtin}`: the product's GS1 Digital Link URI without a serial.
#[utoipa::path(
    get, path = "/01/{gtin}", tag = "gs1", summary = "A product's GS1 Digital Link URI",
    description = "The same answer as `/api/v1/products/{gtin}`, at the product's GS1 Digital Link URI without a serial; readable from any origin.",
    params(("gtin" = String, Path, description = "GTIN-8, -12, -13 or -14 with its check digit", example = "06901234567892")),
    responses(
        (status = 200, description = "The product and the valid certificates that cover it", body = ref("#/components/schemas/Product")),
        (status = 400, description = "`invalid-parameter`: not a GTIN"),
        (status = 404, description = "`not-found`: no certificate covers it"),
        (status = 503, description = "`unavailable` or `status-unconfirmed`"),
    )
)]
pub async fn product_uri(State(state): State<AppState>, Path(gtin): Path<String>) -> Result<Response, ApiError> {
    answer(&state, &gtin).await
}
