//! Where everything sits on the mark, in units of 1/100 of its width (so one layout serves any
//! printed size): the border, the stars of the level, the wording, the QR square and the lines
//! under it.

use super::font::{font, MissingGlyph};
use super::path::Path;
use crate::domain::Level;

/// Width of the mark in layout units.
pub const WIDTH: f32 = 100.0;
/// Height of a certificate-level mark (no serial line).
pub const HEIGHT_WITHOUT_SERIAL: f32 = 139.0;
/// Height of a serialised mark.
pub const HEIGHT_WITH_SERIAL: f32 = 146.0;
/// The QR square, quiet zone included.
pub const QR_LEFT: f32 = 8.0;
pub const QR_TOP: f32 = 35.0;
pub const QR_SIZE: f32 = 84.0;

const SMALL: f32 = 5.6;
/// Size and baseline of the serial line.
pub const SERIAL_SIZE: f32 = SMALL;
pub const SERIAL_BASELINE: f32 = 140.0;
/// Every character a serial line can hold.
pub const SERIAL_CHARACTERS: &str = "No. 0123456789-";

/// Chinese wording of the certification.
pub const TITLE_ZH: &str = "商品售后服务认证";
/// English wording.
pub const TITLE_EN: &str = "After-sales Service Certified";

/// The parts of the artwork that do not change from one serial to the next.
pub struct StaticArt {
    /// Filled with the non-zero rule.
    pub shapes: Path,
    /// The border ring, filled with the even-odd rule.
    pub border: Path,
    pub height: f32,
}

fn star(path: &mut Path, cx: f32, cy: f32, outer: f32) {
    let inner = outer * 0.382;
    for i in 0..10 {
        let radius = if i % 2 == 0 { outer } else { inner };
        let angle = std::f32::consts::PI * (i as f32) / 5.0 - std::f32::consts::FRAC_PI_2;
        let (x, y) = (cx + radius * angle.cos(), cy + radius * angle.sin());
        if i == 0 {
            path.move_to(x, y);
        } else {
            path.line_to(x, y);
        }
    }
    path.close();
}

fn rounded_rect(path: &mut Path, x: f32, y: f32, w: f32, h: f32, r: f32) {
    path.move_to(x + r, y);
    path.line_to(x + w - r, y);
    path.quad_to(x + w, y, x + w, y + r);
    path.line_to(x + w, y + h - r);
    path.quad_to(x + w, y + h, x + w - r, y + h);
    path.line_to(x + r, y + h);
    path.quad_to(x, y + h, x, y + h - r);
    path.line_to(x, y + r);
    path.quad_to(x, y, x + r, y);
    path.close();
}

/// The text of the serial line, e.g. `No. 3-000123`.
pub fn serial_text(batch: u32, serial: u32) -> String {
    format!("No. {}", SerialLabel { batch, serial })
}

/// A mark's serial as printed after `No. `, e.g. `3-000123`; written where it is needed (a scan
/// answer serialises it without making a string first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SerialLabel {
    pub batch: u32,
    pub serial: u32,
}

impl std::fmt::Display for SerialLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{:06}", self.batch, self.serial)
    }
}

impl SerialLabel {
    /// Appends the label's text, the same as its `Display` writes, without `core::fmt` (a scan
    /// answer writes one each time).
    pub fn push_text(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(itoa::Buffer::new().format(self.batch).as_bytes());
        out.push(b'-');
        let mut digits = itoa::Buffer::new();
        let serial = digits.format(self.serial).as_bytes();
        out.extend_from_slice(&b"000000"[serial.len().min(6)..]);
        out.extend_from_slice(serial);
    }
}

impl serde::Serialize for SerialLabel {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Lays out everything but the QR modules and the serial.
pub fn static_art(number: &str, level: Level, serialised: bool) -> Result<StaticArt, MissingGlyph> {
    let font = font()?;
    let height = if serialised { HEIGHT_WITH_SERIAL } else { HEIGHT_WITHOUT_SERIAL };
    let centre = WIDTH / 2.0;
    let mut shapes = Path::default();

    let stars = level.stars();
    if stars == 0 {
        font.centred_text(&mut shapes, level.name_zh(), 8.0, centre, 14.0)?;
    } else {
        let spacing = 11.0;
        let first = centre - spacing * (f32::from(stars) - 1.0) / 2.0;
        for i in 0..stars {
            star(&mut shapes, first + spacing * f32::from(i), 10.5, 4.8);
        }
    }
    font.centred_text(&mut shapes, TITLE_ZH, 10.5, centre, 25.5)?;
    font.centred_text(&mut shapes, TITLE_EN, SMALL, centre, 32.5)?;
    font.centred_text(&mut shapes, &format!("GB/T 27922 · {}", level.name_zh()), SMALL, centre, 126.0)?;
    font.centred_text(&mut shapes, number, SMALL, centre, 133.0)?;

    let mut border = Path::default();
    rounded_rect(&mut border, 0.8, 0.8, WIDTH - 1.6, height - 1.6, 6.0);
    rounded_rect(&mut border, 2.0, 2.0, WIDTH - 4.0, height - 4.0, 5.0);
    Ok(StaticArt { shapes, border, height })
}

#[cfg(test)]
mod tests {
    use super::SerialLabel;

    #[test]
    fn the_pushed_label_is_the_displayed_one() {
        for (batch, serial) in [(3, 366_512), (3, 12), (0, 0), (12, 1_234_567), (u32::MAX, u32::MAX), (1, 100_000)] {
            let label = SerialLabel { batch, serial };
            let mut out = Vec::new();
            label.push_text(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), label.to_string());
        }
    }
}
