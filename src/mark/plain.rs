//! A bare QR code as inline SVG, for pages that print a link (verification receipts): one path
//! of unit squares on a white quiet zone, scaled by the viewer.

use std::fmt::Write;

use super::qr::{QrMatrix, QUIET_ZONE};

/// The SVG element; `label` becomes its accessible name (escaped by the caller's rules: it must
/// not contain markup).
pub fn qr_svg(qr: &QrMatrix, label: &str) -> String {
    let side = qr.width_with_quiet_zone();
    let mut path = String::with_capacity(8 * side * side / 2);
    for (row, column, length) in qr.dark_runs() {
        let _ = write!(path, "M{} {}h{length}v1h-{length}z", column + QUIET_ZONE, row + QUIET_ZONE);
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" role=\"img\" aria-label=\"{label}\" \
         shape-rendering=\"crispEdges\"><rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dark_module_is_drawn_inside_the_quiet_zone() {
        let qr = QrMatrix::encode("https://registry.example/receipts/0123456789abcdef0123456789abcdef").expect("qr");
        let svg = qr_svg(&qr, "receipt");
        let side = qr.width_with_quiet_zone();
        assert!(svg.contains(&format!("viewBox=\"0 0 {side} {side}\"")));
        let drawn: usize = qr.dark_runs().map(|(_, _, length)| length).sum();
        let in_path: usize = svg.split('h').skip(1).filter_map(|s| s.split('v').next()?.parse::<usize>().ok()).sum();
        assert_eq!(drawn, in_path);
        assert!(
            svg.contains(&format!("M{} {}", QUIET_ZONE, QUIET_ZONE)),
            "the top-left finder starts at the quiet zone"
        );
    }
}
