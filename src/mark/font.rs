//! The mark's only font, compiled in: Noto Sans CJK SC Bold subset to the glyphs the mark
//! prints (see assets/fonts). Text becomes outlines, so neither the SVG nor the PNG depends on
//! the fonts of the machine that renders or prints it.

use std::sync::OnceLock;

use super::path::Path;

const FONT: &[u8] = include_bytes!("../../assets/fonts/starmark-mark.otf");

/// The parsed font, loaded once.
pub struct Font {
    face: ttf_parser::Face<'static>,
    units_per_em: f32,
}

/// A character the subset does not contain: the mark wording and the subset must agree.
#[derive(Debug, thiserror::Error)]
#[error("the mark font has no glyph for '{0}'; add it to scripts/subset-font")]
pub struct MissingGlyph(pub char);

/// The embedded font. Parsing is checked by the unit tests, so failure here is a build defect.
pub fn font() -> Result<&'static Font, MissingGlyph> {
    static FONT_CELL: OnceLock<Option<Font>> = OnceLock::new();
    FONT_CELL
        .get_or_init(|| {
            ttf_parser::Face::parse(FONT, 0)
                .ok()
                .map(|face| Font { units_per_em: f32::from(face.units_per_em()), face })
        })
        .as_ref()
        .ok_or(MissingGlyph('\u{0}'))
}

struct Outliner<'a> {
    path: &'a mut Path,
    scale: f32,
    x: f32,
    baseline: f32,
}

impl Outliner<'_> {
    fn point(&self, x: f32, y: f32) -> (f32, f32) {
        (self.x + x * self.scale, self.baseline - y * self.scale)
    }
}

impl ttf_parser::OutlineBuilder for Outliner<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.point(x, y);
        self.path.move_to(x, y);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.point(x, y);
        self.path.line_to(x, y);
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (x1, y1) = self.point(x1, y1);
        let (x, y) = self.point(x, y);
        self.path.quad_to(x1, y1, x, y);
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (x1, y1) = self.point(x1, y1);
        let (x2, y2) = self.point(x2, y2);
        let (x, y) = self.point(x, y);
        self.path.cubic_to(x1, y1, x2, y2, x, y);
    }
    fn close(&mut self) {
        self.path.close();
    }
}

impl Font {
    fn glyph(&self, c: char) -> Result<ttf_parser::GlyphId, MissingGlyph> {
        self.face.glyph_index(c).ok_or(MissingGlyph(c))
    }

    /// Width of `text` at `size` (in the caller's units).
    pub fn width(&self, text: &str, size: f32) -> Result<f32, MissingGlyph> {
        let mut units = 0.0;
        for c in text.chars() {
            units += f32::from(self.face.glyph_hor_advance(self.glyph(c)?).unwrap_or(0));
        }
        Ok(units * size / self.units_per_em)
    }

    /// One glyph's outline with its origin at (0, 0) on the baseline, and its advance.
    pub fn glyph_path(&self, c: char, size: f32) -> Result<(Path, f32), MissingGlyph> {
        let glyph = self.glyph(c)?;
        let scale = size / self.units_per_em;
        let mut path = Path::default();
        let mut outliner = Outliner { path: &mut path, scale, x: 0.0, baseline: 0.0 };
        self.face.outline_glyph(glyph, &mut outliner);
        Ok((path, f32::from(self.face.glyph_hor_advance(glyph).unwrap_or(0)) * scale))
    }

    /// Adds the outlines of `text`, centred on `centre_x`, sitting on `baseline`, to `path`.
    pub fn centred_text(
        &self,
        path: &mut Path,
        text: &str,
        size: f32,
        centre_x: f32,
        baseline: f32,
    ) -> Result<(), MissingGlyph> {
        let scale = size / self.units_per_em;
        let mut x = centre_x - self.width(text, size)? / 2.0;
        for c in text.chars() {
            let glyph = self.glyph(c)?;
            let mut outliner = Outliner { path, scale, x, baseline };
            self.face.outline_glyph(glyph, &mut outliner);
            x += f32::from(self.face.glyph_hor_advance(glyph).unwrap_or(0)) * scale;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_font_has_every_glyph_the_mark_prints() {
        let font = font().expect("font parses");
        for text in [
            "商品售后服务认证",
            "After-sales Service Certified",
            "GB/T 27922 · 五星级 三星级 四星级 达标级",
            "SM2026ASC000001 No. 3-000123",
        ] {
            assert!(font.width(text, 10.0).is_ok(), "{text}");
        }
        assert!(matches!(font.width("龍", 10.0), Err(MissingGlyph('龍'))));
    }
}
