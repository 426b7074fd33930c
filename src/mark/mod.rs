//! Star-mark artwork: the stars of the level, the certification wording, the certificate number,
//! the serial, and the QR code that leads to the scan landing, as SVG (vector, for printers) and
//! PNG (at a physical size and dpi). Knows nothing of HTTP or storage.
//!
//! A [`MarkArt`] is prepared once per certificate and size; rendering a serial then only encodes
//! its QR code and draws what changes, which is what makes batches of thousands fast.

mod font;
pub mod layout;
mod path;
pub mod plain;
mod png;
pub mod qr;
mod svg;

pub use font::MissingGlyph;
pub use qr::{QrError, QrMatrix};

use crate::domain::Level;

/// Default printed width.
pub const DEFAULT_SIZE_MM: f32 = 30.0;
/// Default raster resolution.
pub const DEFAULT_DPI: u32 = 600;

/// Why a mark cannot be drawn.
#[derive(Debug, thiserror::Error)]
pub enum MarkError {
    #[error(transparent)]
    Glyph(#[from] MissingGlyph),
    #[error(transparent)]
    Qr(#[from] QrError),
    #[error("{0}")]
    Size(&'static str),
    #[error("PNG encoding failed: {0}")]
    Encode(String),
}

/// What the mark shows besides its QR code.
#[derive(Clone, Debug)]
pub struct MarkFace {
    pub number: String,
    pub level: Level,
    /// Whether the mark carries a serial line (batch marks) or not (certificate-level mark).
    pub serialised: bool,
}

/// A mark prepared for one certificate, size and resolution.
pub struct MarkArt {
    svg: svg::SvgTemplate,
    png: Option<png::PngTemplate>,
}

impl MarkArt {
    /// Prepares the SVG template, and the PNG one when `dpi` is given.
    pub fn new(face: &MarkFace, size_mm: f32, dpi: Option<u32>) -> Result<Self, MarkError> {
        if !(10.0..=100.0).contains(&size_mm) {
            return Err(MarkError::Size("size_mm must be between 10 and 100"));
        }
        let art = layout::static_art(&face.number, face.level, face.serialised)?;
        let png = dpi.map(|dpi| png::PngTemplate::new(&art, size_mm, dpi)).transpose()?;
        Ok(Self { svg: svg::SvgTemplate::new(&art, size_mm)?, png })
    }

    /// The mark as an SVG document.
    pub fn svg(&self, url: &str, serial: Option<(u32, u32)>) -> Result<String, MarkError> {
        self.svg.render(&QrMatrix::encode(url)?, serial)
    }

    /// The mark as a PNG file; needs a resolution given to [`MarkArt::new`].
    pub fn png(&self, url: &str, serial: Option<(u32, u32)>) -> Result<Vec<u8>, MarkError> {
        let template = self.png.as_ref().ok_or(MarkError::Size("no resolution given for PNG output"))?;
        template.render(&QrMatrix::encode(url)?, serial)
    }

    /// Pixel size of the PNG output, if prepared.
    pub fn png_size(&self) -> Option<(u32, u32)> {
        self.png.as_ref().map(|t| (t.width(), t.height()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "HTTPS://VERIFY.STARMARK-REGISTRY.CN/V/SM2026ASC000001.91350200776049653AAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn draws_png_and_svg() {
        for level in Level::ALL {
            let face = MarkFace { number: "SM2026ASC000001".into(), level, serialised: true };
            let art = MarkArt::new(&face, DEFAULT_SIZE_MM, Some(DEFAULT_DPI)).unwrap();
            let png = art.png(URL, Some((3, 123))).unwrap();
            assert!(png.starts_with(b"\x89PNG"));
            let svg = art.svg(URL, Some((3, 123))).unwrap();
            assert!(svg.starts_with("<svg") && svg.contains("width=\"30mm\""));
            if std::env::var("STARMARK_WRITE_SAMPLES").is_ok() {
                std::fs::write(format!("/tmp/mark-{level}.png"), &png).unwrap();
                std::fs::write(format!("/tmp/mark-{level}.svg"), &svg).unwrap();
            }
        }
    }
}
