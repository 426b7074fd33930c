//! The mark as SVG: vector, sized in millimetres, text as outlines, for label printers.

use std::fmt::Write;

use super::layout::{self, StaticArt, QR_LEFT, QR_SIZE, QR_TOP, WIDTH};
use super::qr::{QrMatrix, QUIET_ZONE};
use super::MarkError;

/// The static part of an SVG mark, rendered once and reused for every serial.
pub struct SvgTemplate {
    head: String,
    scale: f32,
}

impl SvgTemplate {
    /// `size_mm` is the printed width; everything scales with it.
    pub fn new(art: &StaticArt, size_mm: f32) -> Self {
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
        Self { head, scale }
    }

    /// One complete SVG document with `qr` and, for a serialised mark, its serial line.
    pub fn render(&self, qr: &QrMatrix, serial: Option<(u32, u32)>) -> Result<String, MarkError> {
        let mut out = String::with_capacity(self.head.len() + 24_000);
        out.push_str(&self.head);
        let module = QR_SIZE / qr.width_with_quiet_zone() as f32 * self.scale;
        let left = QR_LEFT * self.scale + module * QUIET_ZONE as f32;
        let top = QR_TOP * self.scale + module * QUIET_ZONE as f32;
        let round = |v: f32| (v * 10_000.0).round() / 10_000.0;
        out.push_str("<path fill=\"#000\" shape-rendering=\"crispEdges\" d=\"");
        for (row, column, length) in qr.dark_runs() {
            let _ = write!(
                out,
                "M{} {}h{}v{}h-{}z",
                round(left + column as f32 * module),
                round(top + row as f32 * module),
                round(length as f32 * module),
                round(module),
                round(length as f32 * module)
            );
        }
        out.push_str("\"/>");
        if let Some((batch, serial)) = serial {
            out.push_str("<path fill=\"#000\" d=\"");
            layout::serial_path(batch, serial)?.write_svg(&mut out, self.scale);
            out.push_str("\"/>");
        }
        out.push_str("</svg>\n");
        Ok(out)
    }
}
