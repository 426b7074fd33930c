//! QR encoding of a mark URL at error-correction level Q, the level the EU digital COVID
//! certificates chose: it survives 25% damage, enough for scuffed packaging.

use qrcode::{Color, EcLevel, QrCode};

/// Modules of white border the QR specification asks for on every side.
pub const QUIET_ZONE: usize = 4;

/// A QR symbol as a square of dark/light modules, without its quiet zone.
pub struct QrMatrix {
    width: usize,
    dark: Vec<bool>,
    version: i16,
}

/// A payload too long for any QR version at level Q.
#[derive(Debug, thiserror::Error)]
#[error("the mark URL is too long for a QR code: {0}")]
pub struct QrError(String);

impl QrMatrix {
    /// Encodes `data`, letting the encoder pick the cheapest modes (alphanumeric for an
    /// upper-case URL) and the smallest version.
    pub fn encode(data: &str) -> Result<Self, QrError> {
        let code =
            QrCode::with_error_correction_level(data.as_bytes(), EcLevel::Q).map_err(|e| QrError(e.to_string()))?;
        let version = match code.version() {
            qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
        };
        let width = code.width();
        let dark = code.to_colors().into_iter().map(|c| c == Color::Dark).collect();
        Ok(Self { width, dark, version })
    }

    /// Modules per side, without the quiet zone.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Modules per side including the quiet zone on both sides.
    pub fn width_with_quiet_zone(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    /// QR version (1-40).
    pub fn version(&self) -> i16 {
        self.version
    }

    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        self.dark[y * self.width + x]
    }

    /// Horizontal runs of dark modules as (row, first column, length): what both renderers draw.
    pub fn dark_runs(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        (0..self.width).flat_map(move |y| {
            let row = &self.dark[y * self.width..(y + 1) * self.width];
            let mut runs = Vec::new();
            let mut x = 0;
            while x < self.width {
                if row[x] {
                    let start = x;
                    while x < self.width && row[x] {
                        x += 1;
                    }
                    runs.push((y, start, x - start));
                } else {
                    x += 1;
                }
            }
            runs
        })
    }
}
