//! Reading QR codes back from pictures with rqrr, a decoder we did not write.

/// The text of the first QR code rqrr finds in a PNG, or `None` when it finds none.
pub fn decode_png(png: &[u8]) -> Option<String> {
    let grey = image::load_from_memory(png).ok()?.to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(grey);
    prepared.detect_grids().first()?.decode().ok().map(|(_, content)| content)
}
