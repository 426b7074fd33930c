//! `/api/v1/receipts`: signed verification receipts. One file per endpoint.

pub mod create;
pub mod get;
pub mod verify;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::http::error::ApiError;
use crate::registry::receipt::IssuedReceipt;

/// A receipt as handed out: its id, the URL of its page (for the QR code), and the signed
/// document byte for byte as stored.
#[derive(Serialize)]
pub struct ReceiptView<'a> {
    pub id: &'a str,
    pub url: &'a str,
    pub document: &'a RawValue,
}

impl<'a> ReceiptView<'a> {
    pub fn of(receipt: &'a IssuedReceipt) -> Result<Self, ApiError> {
        let document = serde_json::from_str(&receipt.document).map_err(ApiError::internal)?;
        Ok(Self { id: &receipt.id, url: &receipt.url, document })
    }
}
