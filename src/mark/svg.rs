//! The mark as SVG: vector, sized in millimetres, text as outlines, for label printers.

use std::collections::HashMap;
use std::fmt::Write;

use super::layout::{self, StaticArt, QR_LEFT, QR_SIZE, QR_TOP, WIDTH};
use super::qr::{QrMatrix, QUIET_ZONE};
use super::MarkError;

/// The static part of an SVG mark, rendered once and reused for every serial.
pub struct SvgTemplate {
    head: String,
    scale: f32,
    /// Path data (in millimetres, origin on the baseline) and advance of each serial character.
    glyphs: HashMap<char, (String, f32)>,
}

impl SvgTemplate {
    /// `size_mm` is the printed width; everything scales with it.
    pub fn new(art: &StaticArt, size_mm: f32) -> Result<Self, MarkError> {
        let scale = size_mm / WIDTH;
        let (w, h) = (size_mm, art.height * scale);
        let mut head = String::with_capacity(40_000);
        let _ = write!(
            head,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}mm\" height=\"{h}mm\" viewBox=\"0 0 {w} {h}\">\
             <rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/><path fill=\"#000\" fill-rule=\"evenodd\" d=\""
        );
        art.border.write_svg(&mut head, scale);
        head.push_str("\"/><path fill=\"#000\" d=\"");
        art.shapes.write_svg(&mut head, scale);
        head.push_str("\"/>");
        let font = super::font::font()?;
        let mut glyphs = HashMap::new();
        for c in layout::SERIAL_CHARACTERS.chars() {
            let (path, advance) = font.glyph_path(c, layout::SERIAL_SIZE)?;
            let mut data = String::new();
            path.write_svg(&mut data, scale);
            glyphs.insert(c, (data, advance * scale));
        }
        Ok(Self { head, scale, glyphs })
    }

    /// One complete SVG document with `qr` and, for a serialised mark, its serial line.
    pub fn render(&self, qr: &QrMatrix, serial: Option<(u32, u32)>) -> Result<String, MarkError> {
        let mut out = String::with_capacity(self.head.len() + 24_000);
        out.push_str(&self.head);
        // The QR code in module units, placed and sized by one transform, so every number in
        // its path data is a small integer.
        let module = QR_SIZE / qr.width_with_quiet_zone() as f32 * self.scale;
        let left = QR_LEFT * self.scale + module * QUIET_ZONE as f32;
        let top = QR_TOP * self.scale + module * QUIET_ZONE as f32;
        let _ = write!(
            out,
            "<path fill=\"#000\" shape-rendering=\"crispEdges\" transform=\"translate({left:.4} {top:.4}) scale({module:.5})\" d=\""
        );
        for (row, column, length) in qr.dark_runs() {
            let _ = write!(out, "M{column} {row}h{length}v1h-{length}z");
        }
        out.push_str("\"/>");
        if let Some((batch, serial)) = serial {
            let text = layout::serial_text(batch, serial);
            let mut advances = Vec::with_capacity(text.len());
            for c in text.chars() {
                let (_, advance) = self.glyphs.get(&c).ok_or(super::font::MissingGlyph(c))?;
                advances.push(*advance);
            }
            let mut x = WIDTH / 2.0 * self.scale - advances.iter().sum::<f32>() / 2.0;
            let baseline = layout::SERIAL_BASELINE * self.scale;
            for (c, advance) in text.chars().zip(advances) {
                if let Some((data, _)) = self.glyphs.get(&c).filter(|(data, _)| !data.is_empty()) {
                    let _ =
                        write!(out, "<path fill=\"#000\" transform=\"translate({x:.3} {baseline:.3})\" d=\"{data}\"/>");
                }
                x += advance;
            }
        }
        out.push_str("</svg>\n");
        Ok(out)
    }
}
