//! The mark as PNG at a physical size and resolution: 8-bit grey, the resolution written into
//! the file (pHYs) so that printers place it at its true size. The static artwork is rasterised
//! once; each serial only adds its QR modules (aligned to whole pixels, so they stay crisp) and
//! its serial line.

use tiny_skia::{FillRule, Paint, Pixmap, Transform};

use super::layout::{self, StaticArt, QR_LEFT, QR_SIZE, QR_TOP, SERIAL_BAND, WIDTH};
use super::qr::QrMatrix;
use super::MarkError;

/// Millimetres in an inch.
const MM_PER_INCH: f32 = 25.4;
/// Widest raster accepted, in pixels (a 100 mm mark at 1000 dpi).
pub const MAX_WIDTH_PX: u32 = 4_000;

/// The rasterised static part of a mark at one size and resolution.
pub struct PngTemplate {
    width: u32,
    height: u32,
    dpi: u32,
    pixels_per_unit: f32,
    base: Vec<u8>,
}

fn paint() -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color_rgba8(0, 0, 0, 255);
    paint.anti_alias = true;
    paint
}

/// Draws `path` on a transparent pixmap and darkens `grey` by its coverage.
fn rasterise_into(
    grey: &mut [u8],
    width: u32,
    path: &super::path::Path,
    scale: f32,
    band: (u32, u32),
    rule: FillRule,
) -> Result<(), MarkError> {
    let (top, bottom) = band;
    let height = bottom.saturating_sub(top).max(1);
    let mut pixmap = Pixmap::new(width, height).ok_or(MarkError::Size("raster too large"))?;
    if let Some(skia_path) = path.to_skia(scale, 0.0, -(top as f32)) {
        pixmap.fill_path(&skia_path, &paint(), rule, Transform::identity(), None);
    }
    let offset = (top * width) as usize;
    for (i, pixel) in pixmap.pixels().iter().enumerate() {
        let alpha = pixel.alpha();
        if alpha != 0 {
            if let Some(target) = grey.get_mut(offset + i) {
                *target = (*target).min(255 - alpha);
            }
        }
    }
    Ok(())
}

impl PngTemplate {
    /// Checks the size and resolution and rasterises the static artwork.
    pub fn new(art: &StaticArt, size_mm: f32, dpi: u32) -> Result<Self, MarkError> {
        let width_px = (size_mm / MM_PER_INCH * dpi as f32).round();
        if !(64.0..=MAX_WIDTH_PX as f32).contains(&width_px) {
            return Err(MarkError::Size("size_mm x dpi must give between 64 and 4000 pixels of width"));
        }
        let width = width_px as u32;
        let pixels_per_unit = width as f32 / WIDTH;
        let height = (art.height * pixels_per_unit).round() as u32;
        let mut base = vec![255u8; (width * height) as usize];
        rasterise_into(&mut base, width, &art.border, pixels_per_unit, (0, height), FillRule::EvenOdd)?;
        rasterise_into(&mut base, width, &art.shapes, pixels_per_unit, (0, height), FillRule::Winding)?;
        Ok(Self { width, height, dpi, pixels_per_unit, base })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// One PNG file with `qr` and, for a serialised mark, its serial line.
    pub fn render(&self, qr: &QrMatrix, serial: Option<(u32, u32)>) -> Result<Vec<u8>, MarkError> {
        let mut grey = self.base.clone();
        self.draw_qr(&mut grey, qr)?;
        if let Some((batch, serial)) = serial {
            let band = (
                (SERIAL_BAND.0 * self.pixels_per_unit).floor() as u32,
                ((SERIAL_BAND.1 * self.pixels_per_unit).ceil() as u32).min(self.height),
            );
            let path = layout::serial_path(batch, serial)?;
            rasterise_into(&mut grey, self.width, &path, self.pixels_per_unit, band, FillRule::Winding)?;
        }
        self.encode(&grey)
    }

    fn draw_qr(&self, grey: &mut [u8], qr: &QrMatrix) -> Result<(), MarkError> {
        let area = QR_SIZE * self.pixels_per_unit;
        let total = qr.width_with_quiet_zone() as f32;
        let module = (area / total).floor() as usize;
        if module < 2 {
            return Err(MarkError::Size("too few pixels for a QR code that scans; raise size_mm or dpi"));
        }
        let symbol = module * qr.width_with_quiet_zone();
        let left = (QR_LEFT * self.pixels_per_unit + (area - symbol as f32) / 2.0).round() as usize
            + module * super::qr::QUIET_ZONE;
        let top = (QR_TOP * self.pixels_per_unit + (area - symbol as f32) / 2.0).round() as usize
            + module * super::qr::QUIET_ZONE;
        let width = self.width as usize;
        for (row, column, length) in qr.dark_runs() {
            let x0 = left + column * module;
            let x1 = x0 + length * module;
            for y in top + row * module..top + (row + 1) * module {
                if let Some(line) = grey.get_mut(y * width + x0..y * width + x1) {
                    line.fill(0);
                }
            }
        }
        Ok(())
    }

    fn encode(&self, grey: &[u8]) -> Result<Vec<u8>, MarkError> {
        let mut out = Vec::with_capacity(grey.len() / 8);
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let per_metre = (self.dpi as f32 / 0.0254).round() as u32;
        encoder.set_pixel_dims(Some(png::PixelDimensions { xppu: per_metre, yppu: per_metre, unit: png::Unit::Meter }));
        let mut writer = encoder.write_header().map_err(|e| MarkError::Encode(e.to_string()))?;
        writer.write_image_data(grey).map_err(|e| MarkError::Encode(e.to_string()))?;
        writer.finish().map_err(|e| MarkError::Encode(e.to_string()))?;
        Ok(out)
    }
}
