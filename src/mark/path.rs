//! A vector path in mark units, the common language of the SVG and PNG renderers.

use std::fmt::Write;

/// One drawing command.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Segment {
    Move(f32, f32),
    Line(f32, f32),
    Quad(f32, f32, f32, f32),
    Cubic(f32, f32, f32, f32, f32, f32),
    Close,
}

/// A filled path (non-zero winding).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Path {
    segments: Vec<Segment>,
}

impl Path {
    pub fn move_to(&mut self, x: f32, y: f32) {
        self.segments.push(Segment::Move(x, y));
    }
    pub fn line_to(&mut self, x: f32, y: f32) {
        self.segments.push(Segment::Line(x, y));
    }
    pub fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        self.segments.push(Segment::Quad(x1, y1, x, y));
    }
    pub fn cubic_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        self.segments.push(Segment::Cubic(x1, y1, x2, y2, x, y));
    }
    pub fn close(&mut self) {
        self.segments.push(Segment::Close);
    }

    /// An axis-aligned rectangle.
    pub fn rect(&mut self, x: f32, y: f32, width: f32, height: f32) {
        self.move_to(x, y);
        self.line_to(x + width, y);
        self.line_to(x + width, y + height);
        self.line_to(x, y + height);
        self.close();
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// SVG path data, coordinates multiplied by `scale` and printed with 3 decimals.
    pub fn write_svg(&self, out: &mut String, scale: f32) {
        let s = |v: f32| (v * scale * 1000.0).round() / 1000.0;
        for segment in &self.segments {
            let _ = match *segment {
                Segment::Move(x, y) => write!(out, "M{} {}", s(x), s(y)),
                Segment::Line(x, y) => write!(out, "L{} {}", s(x), s(y)),
                Segment::Quad(x1, y1, x, y) => write!(out, "Q{} {} {} {}", s(x1), s(y1), s(x), s(y)),
                Segment::Cubic(x1, y1, x2, y2, x, y) => {
                    write!(out, "C{} {} {} {} {} {}", s(x1), s(y1), s(x2), s(y2), s(x), s(y))
                }
                Segment::Close => write!(out, "Z"),
            };
        }
    }

    /// The same path for tiny-skia, coordinates multiplied by `scale` and shifted by `dx, dy`.
    pub fn to_skia(&self, scale: f32, dx: f32, dy: f32) -> Option<tiny_skia::Path> {
        let mut builder = tiny_skia::PathBuilder::new();
        let p = |x: f32, y: f32| (x * scale + dx, y * scale + dy);
        for segment in &self.segments {
            match *segment {
                Segment::Move(x, y) => {
                    let (x, y) = p(x, y);
                    builder.move_to(x, y)
                }
                Segment::Line(x, y) => {
                    let (x, y) = p(x, y);
                    builder.line_to(x, y)
                }
                Segment::Quad(x1, y1, x, y) => {
                    let ((x1, y1), (x, y)) = (p(x1, y1), p(x, y));
                    builder.quad_to(x1, y1, x, y)
                }
                Segment::Cubic(x1, y1, x2, y2, x, y) => {
                    let ((x1, y1), (x2, y2), (x, y)) = (p(x1, y1), p(x2, y2), p(x, y));
                    builder.cubic_to(x1, y1, x2, y2, x, y)
                }
                Segment::Close => builder.close(),
            }
        }
        builder.finish()
    }
}
