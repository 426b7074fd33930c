//! The mark as PNG at a physical size and resolution: one bit a pixel (the form label printers
//! print without halftoning), with the resolution written into the file (pHYs) so that printers
//! place it at its true size. The static artwork is rasterised once; each serial only copies it,
//! clears its QR modules (aligned to whole pixels, so they stay crisp) and stamps its serial
//! line from glyphs rasterised once.

use std::collections::HashMap;

use tiny_skia::{FillRule, Paint, Pixmap, Transform};

use super::layout::{self, StaticArt, QR_LEFT, QR_SIZE, QR_TOP, WIDTH};
use super::path::Path;
use super::qr::QrMatrix;
use super::MarkError;

/// Millimetres in an inch.
const MM_PER_INCH: f32 = 25.4;
/// Widest raster accepted, in pixels (a 100 mm mark at 1000 dpi).
pub const MAX_WIDTH_PX: u32 = 4_000;

/// A one-bit image, 1 = white, most significant bit first, as PNG stores it.
#[derive(Clone)]
struct Bitmap {
    width: usize,
    height: usize,
    stride: usize,
    bits: Vec<u8>,
}

impl Bitmap {
    fn white(width: usize, height: usize) -> Self {
        let stride = width.div_ceil(8);
        Self { width, height, stride, bits: vec![0xff; stride * height] }
    }

    /// Blackens pixels `x0..x1` of row `y`.
    fn blacken(&mut self, y: usize, x0: usize, x1: usize) {
        if y >= self.height {
            return;
        }
        let row = &mut self.bits[y * self.stride..(y + 1) * self.stride];
        let (x0, x1) = (x0.min(self.width), x1.min(self.width));
        let mut x = x0;
        while x < x1 {
            if x % 8 == 0 && x + 8 <= x1 {
                row[x / 8] = 0;
                x += 8;
            } else {
                row[x / 8] &= !(0x80 >> (x % 8));
                x += 1;
            }
        }
    }
}

/// A shape rasterised once: black pixels as runs (row, first column, end column), relative to
/// its origin.
#[derive(Clone, Default)]
struct Stamp {
    runs: Vec<(i32, i32, i32)>,
}

fn paint() -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color_rgba8(0, 0, 0, 255);
    paint.anti_alias = true;
    paint
}

/// Rasterises `path` (already in pixels, shifted by `dx, dy`) into a `width` x `height` area
/// and returns the pixels at least half covered, as runs.
fn stamp(
    path: &Path,
    scale: f32,
    dx: f32,
    dy: f32,
    width: u32,
    height: u32,
    rule: FillRule,
) -> Result<Stamp, MarkError> {
    let mut pixmap = Pixmap::new(width.max(1), height.max(1)).ok_or(MarkError::Size("raster too large"))?;
    if let Some(skia) = path.to_skia(scale, dx, dy) {
        pixmap.fill_path(&skia, &paint(), rule, Transform::identity(), None);
    }
    let mut runs = Vec::new();
    let w = pixmap.width() as usize;
    for (y, row) in pixmap.pixels().chunks_exact(w).enumerate() {
        let mut x = 0;
        while x < w {
            if row[x].alpha() >= 128 {
                let start = x;
                while x < w && row[x].alpha() >= 128 {
                    x += 1;
                }
                runs.push((y as i32, start as i32, x as i32));
            } else {
                x += 1;
            }
        }
    }
    Ok(Stamp { runs })
}

/// The rasterised static part of a mark at one size and resolution.
pub struct PngTemplate {
    dpi: u32,
    base: Bitmap,
    pixels_per_unit: f32,
    /// Serial characters with their advance in pixels.
    glyphs: HashMap<char, (Stamp, f32)>,
    /// Glyph stamps are drawn from this many pixels above the baseline.
    ascent: f32,
}

impl PngTemplate {
    /// Checks the size and resolution and rasterises the static artwork and serial glyphs.
    pub fn new(art: &StaticArt, size_mm: f32, dpi: u32) -> Result<Self, MarkError> {
        let width_px = (size_mm / MM_PER_INCH * dpi as f32).round();
        if !(64.0..=MAX_WIDTH_PX as f32).contains(&width_px) {
            return Err(MarkError::Size("size_mm x dpi must give between 64 and 4000 pixels of width"));
        }
        let width = width_px as u32;
        let pixels_per_unit = width as f32 / WIDTH;
        let height = (art.height * pixels_per_unit).round() as u32;
        let mut base = Bitmap::white(width as usize, height as usize);
        for (path, rule) in [(&art.border, FillRule::EvenOdd), (&art.shapes, FillRule::Winding)] {
            for (y, x0, x1) in stamp(path, pixels_per_unit, 0.0, 0.0, width, height, rule)?.runs {
                base.blacken(y as usize, x0 as usize, x1 as usize);
            }
        }
        let font = super::font::font()?;
        let size = layout::SERIAL_SIZE * pixels_per_unit;
        let ascent = size * 1.2;
        let mut glyphs = HashMap::new();
        for c in layout::SERIAL_CHARACTERS.chars() {
            let (path, advance) = font.glyph_path(c, size)?;
            let box_width = (advance.ceil() as u32 + 4).max(4);
            let box_height = (size * 1.6).ceil() as u32;
            glyphs.insert(c, (stamp(&path, 1.0, 2.0, ascent, box_width, box_height, FillRule::Winding)?, advance));
        }
        Ok(Self { dpi, base, pixels_per_unit, glyphs, ascent })
    }

    pub fn width(&self) -> u32 {
        self.base.width as u32
    }

    pub fn height(&self) -> u32 {
        self.base.height as u32
    }

    /// One PNG file with `qr` and, for a serialised mark, its serial line.
    pub fn render(&self, qr: &QrMatrix, serial: Option<(u32, u32)>) -> Result<Vec<u8>, MarkError> {
        let mut image = self.base.clone();
        self.draw_qr(&mut image, qr)?;
        if let Some((batch, serial)) = serial {
            self.draw_serial(&mut image, &layout::serial_text(batch, serial))?;
        }
        self.encode(&image)
    }

    fn draw_qr(&self, image: &mut Bitmap, qr: &QrMatrix) -> Result<(), MarkError> {
        let area = QR_SIZE * self.pixels_per_unit;
        let total = qr.width_with_quiet_zone() as f32;
        let module = (area / total).floor() as usize;
        if module < 2 {
            return Err(MarkError::Size("too few pixels for a QR code that scans; raise size_mm or dpi"));
        }
        let symbol = module * qr.width_with_quiet_zone();
        let quiet = module * super::qr::QUIET_ZONE;
        let left = (QR_LEFT * self.pixels_per_unit + (area - symbol as f32) / 2.0).round() as usize + quiet;
        let top = (QR_TOP * self.pixels_per_unit + (area - symbol as f32) / 2.0).round() as usize + quiet;
        for (row, column, length) in qr.dark_runs() {
            let x0 = left + column * module;
            for y in top + row * module..top + (row + 1) * module {
                image.blacken(y, x0, x0 + length * module);
            }
        }
        Ok(())
    }

    fn draw_serial(&self, image: &mut Bitmap, text: &str) -> Result<(), MarkError> {
        let mut total = 0.0;
        for c in text.chars() {
            total += self.glyphs.get(&c).ok_or(super::font::MissingGlyph(c))?.1;
        }
        let mut x = WIDTH / 2.0 * self.pixels_per_unit - total / 2.0;
        let top = (layout::SERIAL_BASELINE * self.pixels_per_unit - self.ascent).round() as i32;
        for c in text.chars() {
            let (glyph, advance) = self.glyphs.get(&c).ok_or(super::font::MissingGlyph(c))?;
            let left = x.round() as i32 - 2;
            for (y, x0, x1) in &glyph.runs {
                let (y, x0, x1) = (top + y, left + x0, left + x1);
                if y >= 0 && x0 >= 0 {
                    image.blacken(y as usize, x0 as usize, x1.max(0) as usize);
                }
            }
            x += advance;
        }
        Ok(())
    }

    fn encode(&self, image: &Bitmap) -> Result<Vec<u8>, MarkError> {
        let mut out = Vec::with_capacity(image.bits.len() / 4);
        let mut encoder = png::Encoder::new(&mut out, image.width as u32, image.height as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        encoder.set_compression(png::Compression::Fast);
        // QR modules are many pixels tall, so "up" turns most rows into zeros.
        encoder.set_filter(png::Filter::Up);
        let per_metre = (self.dpi as f32 / 0.0254).round() as u32;
        encoder.set_pixel_dims(Some(png::PixelDimensions { xppu: per_metre, yppu: per_metre, unit: png::Unit::Meter }));
        let mut writer = encoder.write_header().map_err(|e| MarkError::Encode(e.to_string()))?;
        writer.write_image_data(&image.bits).map_err(|e| MarkError::Encode(e.to_string()))?;
        writer.finish().map_err(|e| MarkError::Encode(e.to_string()))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blackening_sets_exactly_the_given_pixels() {
        let mut bitmap = Bitmap::white(20, 2);
        bitmap.blacken(1, 3, 17);
        assert_eq!(bitmap.bits[..3], [0xff, 0xff, 0xff]);
        assert_eq!(bitmap.bits[3..], [0b1110_0000, 0x00, 0b0111_1111]);
        bitmap.blacken(5, 0, 20);
        bitmap.blacken(0, 18, 99);
        assert_eq!(bitmap.bits[2], 0b1100_1111, "pixels 18 and 19 only; the row ends at 20");
    }
}
