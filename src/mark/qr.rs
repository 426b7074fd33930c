//! QR encoding of a mark URL at error-correction level Q, the level the EU digital COVID
//! certificates chose: it survives 25% damage, enough for scuffed packaging.
//!
//! The `qrcode` crate encodes the data and draws the symbol; the choice among the eight mask
//! patterns is made here with the penalty rules of ISO/IEC 18004 (section 7.8.3) computed on
//! bit rows, because that choice is most of the cost of a symbol and a batch of a million marks
//! makes a million symbols.

use qrcode::bits::Bits;
use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::{Color, EcLevel, Version};

/// Modules of white border the QR specification asks for on every side.
pub const QUIET_ZONE: usize = 4;

const MASKS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// A QR symbol as a square of dark/light modules, without its quiet zone.
pub struct QrMatrix {
    width: usize,
    dark: Vec<bool>,
    version: i16,
}

/// A payload too long for any QR version at level Q.
#[derive(Debug, thiserror::Error)]
#[error("the mark URL is too long for a QR code: {0}")]
pub struct QrError(String);

/// Penalty of rules 1 and 3 along one line of modules.
fn line_penalty(line: &[bool]) -> u32 {
    let width = line.len();
    let mut score = 0;
    // Rule 1: runs of five or more modules of one colour cost 3, plus 1 per module beyond 5.
    let mut run = 1;
    for i in 1..width {
        if line[i] == line[i - 1] {
            run += 1;
        } else {
            if run >= 5 {
                score += 3 + (run - 5);
            }
            run = 1;
        }
    }
    if run >= 5 {
        score += 3 + (run - 5);
    }
    // Rule 3: dark-light-dark-dark-dark-light-dark with four light modules before or after
    // (modules outside the symbol are the light quiet zone) costs 40.
    let light = |from: isize, to: isize| (from..to).all(|k| k < 0 || k >= width as isize || !line[k as usize]);
    for i in 0..width.saturating_sub(6) {
        if line[i] && !line[i + 1] && line[i + 2] && line[i + 3] && line[i + 4] && !line[i + 5] && line[i + 6] {
            let start = i as isize;
            if light(start - 4, start) || light(start + 7, start + 11) {
                score += 40;
            }
        }
    }
    score
}

/// The ISO/IEC 18004 penalty of a symbol: lower scans more reliably.
fn penalty(dark: &[bool], width: usize) -> u32 {
    let mut score = 0;
    let mut column = vec![false; width];
    for x in 0..width {
        for (y, cell) in column.iter_mut().enumerate() {
            *cell = dark[y * width + x];
        }
        score += line_penalty(&column);
    }
    for row in dark.chunks_exact(width) {
        score += line_penalty(row);
    }
    // Rule 2: every 2x2 block of one colour costs 3.
    for y in 0..width - 1 {
        let (top, bottom) = (&dark[y * width..(y + 1) * width], &dark[(y + 1) * width..(y + 2) * width]);
        for x in 0..width - 1 {
            let c = top[x];
            if top[x + 1] == c && bottom[x] == c && bottom[x + 1] == c {
                score += 3;
            }
        }
    }
    // Rule 4: 10 for every full 5% the dark proportion is away from 50%.
    let total = (width * width) as u32;
    let dark_count = dark.iter().filter(|d| **d).count() as u32;
    let percent = dark_count * 100 / total;
    score + 10 * (percent.abs_diff(50) / 5)
}

/// Rows (or columns) of up to 120 modules as bits, bit `k + 4` for module `k`, so that four light
/// quiet-zone modules sit on either side.
type Lines = Vec<u128>;

fn lines_of(dark: &[bool], width: usize) -> (Lines, Lines) {
    let mut rows = vec![0u128; width];
    let mut columns = vec![0u128; width];
    for (y, row) in dark.chunks_exact(width).enumerate() {
        for (x, module) in row.iter().enumerate() {
            if *module {
                rows[y] |= 1 << (x + 4);
                columns[x] |= 1 << (y + 4);
            }
        }
    }
    (rows, columns)
}

/// Rules 1 and 3 on one padded line, all positions at once.
fn line_penalty_bits(line: u128, width: usize) -> u32 {
    let inside: u128 = ((1u128 << width) - 1) << 4;
    // Rule 1: bit k set when modules k..k+4 all have one colour; a run of length L >= 5 sets
    // L - 4 such bits and costs L - 2, so the cost is the bits plus 2 per run.
    let same_next = !(line ^ (line >> 1)) & (inside >> 1) & inside;
    let five = same_next & (same_next >> 1) & (same_next >> 2) & (same_next >> 3);
    let starts = five & !(five << 1);
    let rule1 = five.count_ones() + 2 * starts.count_ones();
    // Rule 3: 1011101 starting at bit k, with 0000 at k-4..k or at k+7..k+11 (padding is light).
    let l = line;
    let core = l & !(l >> 1) & (l >> 2) & (l >> 3) & (l >> 4) & !(l >> 5) & (l >> 6);
    let light4 = !(l | (l >> 1) | (l >> 2) | (l >> 3));
    let before = (light4 << 4) & core;
    let after = (light4 >> 7) & core;
    let rule3 = 40 * ((before | after) & inside).count_ones();
    rule1 + rule3
}

/// The same penalty as [`penalty`], bit-parallel, for symbols up to 120 modules wide.
fn penalty_bits(rows: &Lines, columns: &Lines, width: usize) -> u32 {
    let mut score: u32 = rows.iter().chain(columns.iter()).map(|line| line_penalty_bits(*line, width)).sum();
    let pairs = ((1u128 << (width - 1)) - 1) << 4;
    for pair in rows.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let vertical = !(a ^ b);
        let block = vertical & (vertical >> 1) & !(a ^ (a >> 1)) & pairs;
        score += 3 * block.count_ones();
    }
    let dark: u32 = rows.iter().map(|r| r.count_ones()).sum();
    let percent = dark * 100 / (width * width) as u32;
    score + 10 * (percent.abs_diff(50) / 5)
}

/// What is fixed for a version: which modules carry data, what each mask inverts, and what
/// every other module looks like under each mask. Computed once per version and cached.
struct VersionLayout {
    width: usize,
    is_data: Vec<bool>,
    /// Per mask: the finished symbol for all-zero codewords (only its non-data modules are used).
    reference: Vec<Vec<bool>>,
    data_rows: Lines,
    data_columns: Lines,
    flip_rows: Vec<Lines>,
    flip_columns: Vec<Lines>,
    fixed_rows: Vec<Lines>,
    fixed_columns: Vec<Lines>,
}

impl VersionLayout {
    fn get(version: Version, width: usize, data_len: usize, ec_len: usize) -> std::sync::Arc<Self> {
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex, OnceLock};
        static CACHE: OnceLock<Mutex<HashMap<usize, Arc<VersionLayout>>>> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        if let Some(layout) = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&width) {
            return layout.clone();
        }
        let layout = Arc::new(Self::compute(version, width, data_len, ec_len));
        cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(width, layout.clone());
        layout
    }

    fn compute(version: Version, width: usize, data_len: usize, ec_len: usize) -> Self {
        let mut functional = Canvas::new(version, EcLevel::Q);
        functional.draw_all_functional_patterns();
        // The data modules are those that change when every codeword is inverted.
        let mut zeros = functional.clone();
        zeros.draw_data(&vec![0u8; data_len], &vec![0u8; ec_len]);
        let mut ones = functional;
        ones.draw_data(&vec![0xffu8; data_len], &vec![0xffu8; ec_len]);
        let is_data: Vec<bool> =
            dark_modules(zeros.clone()).into_iter().zip(dark_modules(ones)).map(|(a, b)| a != b).collect();
        let reference: Vec<Vec<bool>> = MASKS
            .into_iter()
            .map(|mask| {
                let mut masked = zeros.clone();
                masked.apply_mask(mask);
                dark_modules(masked)
            })
            .collect();
        let flips: Vec<Vec<bool>> = (0..MASKS.len())
            .map(|m| (0..width * width).map(|i| is_data[i] && mask_inverts(m, i / width, i % width)).collect())
            .collect();
        let fixed: Vec<Vec<bool>> =
            reference.iter().map(|r| r.iter().zip(&is_data).map(|(dark, data)| *dark && !data).collect()).collect();
        let (mut data_rows, mut data_columns) = (Vec::new(), Vec::new());
        let (mut flip_rows, mut flip_columns, mut fixed_rows, mut fixed_columns) = (vec![], vec![], vec![], vec![]);
        if width <= 120 {
            (data_rows, data_columns) = lines_of(&is_data, width);
            for m in 0..MASKS.len() {
                let (r, c) = lines_of(&flips[m], width);
                flip_rows.push(r);
                flip_columns.push(c);
                let (r, c) = lines_of(&fixed[m], width);
                fixed_rows.push(r);
                fixed_columns.push(c);
            }
        }
        Self { width, is_data, reference, data_rows, data_columns, flip_rows, flip_columns, fixed_rows, fixed_columns }
    }

    /// The finished symbol for `unmasked` data under mask `m`.
    fn compose(&self, unmasked: &[bool], m: usize) -> Vec<bool> {
        let width = self.width;
        (0..unmasked.len())
            .map(|i| {
                if self.is_data[i] {
                    unmasked[i] ^ mask_inverts(m, i / width, i % width)
                } else {
                    self.reference[m][i]
                }
            })
            .collect()
    }
}

fn dark_modules(canvas: Canvas) -> Vec<bool> {
    canvas.into_colors().into_iter().map(|c| c == Color::Dark).collect()
}

/// Whether mask pattern `index` (ISO/IEC 18004 table 10, in `MASKS` order) inverts the data
/// module at `row`, `column`.
fn mask_inverts(index: usize, row: usize, column: usize) -> bool {
    let (i, j) = (row, column);
    match index {
        0 => (i + j) % 2 == 0,
        1 => i % 2 == 0,
        2 => j % 3 == 0,
        3 => (i + j) % 3 == 0,
        4 => (i / 2 + j / 3) % 2 == 0,
        5 => (i * j) % 2 + (i * j) % 3 == 0,
        6 => ((i * j) % 2 + (i * j) % 3) % 2 == 0,
        _ => ((i + j) % 2 + (i * j) % 3) % 2 == 0,
    }
}

impl QrMatrix {
    /// Encodes `data` in the smallest version at level Q. Upper-case URLs go into one
    /// alphanumeric segment; anything else uses the encoder's optimal segmentation.
    pub fn encode(data: &str) -> Result<Self, QrError> {
        let bits = qrcode::bits::encode_auto(data.as_bytes(), EcLevel::Q).map_err(|e| QrError(e.to_string()))?;
        Self::from_bits(bits)
    }

    fn from_bits(bits: Bits) -> Result<Self, QrError> {
        let version = bits.version();
        let number = match version {
            Version::Normal(v) | Version::Micro(v) => v,
        };
        let data = bits.into_bytes();
        let (data, ec) =
            qrcode::ec::construct_codewords(&data, version, EcLevel::Q).map_err(|e| QrError(e.to_string()))?;
        let width = usize::try_from(version.width()).map_err(|_| QrError("bad width".into()))?;
        let layout = VersionLayout::get(version, width, data.len(), ec.len());
        let mut canvas = Canvas::new(version, EcLevel::Q);
        canvas.draw_all_functional_patterns();
        canvas.draw_data(&data, &ec);
        let unmasked = dark_modules(canvas);

        // Every mask's finished symbol is known without drawing it: data modules are the
        // unmasked ones, inverted where the mask says; every other module is as the mask's
        // reference symbol has it (function patterns, format and version information).
        let best = if width <= 120 {
            let (rows, columns) = lines_of(&unmasked, width);
            (0..MASKS.len())
                .min_by_key(|&m| {
                    let compose = |lines: &[u128], data: &[u128], flips: &[u128], fixed: &[u128]| -> Vec<u128> {
                        lines.iter().zip(data).zip(flips).zip(fixed).map(|(((l, d), f), x)| ((l & d) ^ f) | x).collect()
                    };
                    let r = compose(&rows, &layout.data_rows, &layout.flip_rows[m], &layout.fixed_rows[m]);
                    let c = compose(&columns, &layout.data_columns, &layout.flip_columns[m], &layout.fixed_columns[m]);
                    penalty_bits(&r, &c, width)
                })
                .unwrap_or(0)
        } else {
            (0..MASKS.len()).min_by_key(|&m| penalty(&layout.compose(&unmasked, m), width)).unwrap_or(0)
        };
        Ok(Self { width, dark: layout.compose(&unmasked, best), version: number })
    }

    /// Modules per side including the quiet zone on both sides.
    pub fn width_with_quiet_zone(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    /// QR version (1-40).
    pub fn version(&self) -> i16 {
        self.version
    }

    /// Horizontal runs of dark modules as (row, first column, length): what both renderers draw.
    pub fn dark_runs(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        (0..self.width).flat_map(move |y| {
            let row = &self.dark[y * self.width..(y + 1) * self.width];
            let mut runs = Vec::new();
            let mut x = 0;
            while x < self.width {
                if row[x] {
                    let start = x;
                    while x < self.width && row[x] {
                        x += 1;
                    }
                    runs.push((y, start, x - start));
                } else {
                    x += 1;
                }
            }
            runs
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The penalty of the crate's own choice, to compare ours with.
    fn crate_choice(data: &str) -> Vec<bool> {
        let code = qrcode::QrCode::with_error_correction_level(data.as_bytes(), EcLevel::Q).unwrap();
        code.to_colors().into_iter().map(|c| c == Color::Dark).collect()
    }

    #[test]
    fn rule_by_rule_penalties_on_small_grids() {
        // 5x5 all light: rule 1: 10 lines of 5 = 10 x 3; rule 2: 16 blocks x 3; rule 4: 0% dark = 10 x 10.
        assert_eq!(penalty(&[false; 25], 5), 30 + 48 + 100);
        // A checkerboard has no runs, no blocks, 13/25 dark (52%: step 0).
        let checker: Vec<bool> = (0..25).map(|i| (i % 5 + i / 5) % 2 == 0).collect();
        assert_eq!(penalty(&checker, 5), 0);
        // Rule 3 alone, on one line: the finder-like pattern with light modules after it.
        let finder = [true, false, true, true, true, false, true, false, false, false, false];
        assert_eq!(line_penalty(&finder), 40);
        let broken = [true, false, true, false, true, false, true, false, false, false, false];
        assert_eq!(line_penalty(&broken), 0);
    }

    proptest::proptest! {
        #[test]
        fn bit_parallel_penalty_agrees(width in 5usize..=40, seed in proptest::collection::vec(proptest::bool::ANY, 1600)) {
            let grid = &seed[..width * width];
            let (rows, columns) = lines_of(grid, width);
            proptest::prop_assert_eq!(penalty_bits(&rows, &columns, width), penalty(grid, width));
        }
    }

    #[test]
    fn composed_symbols_equal_the_crates_drawing_for_every_mask() {
        for data in ["HTTPS://EXAMPLE.CN/V/ABC", "HTTPS://VERIFY.STARMARK-EXAMPLE.ORG.CN/V/SM2026ASC000001.91350200776049653AAE2HKD4YXVM7Z7ADKRUQAAAAAMAADYSAPT2RASFWCJZXALCE63DXJ4YE5I3WTOA3LGJX7N7P5C7XRXV7FSJSS54K4KEIGCAIMFDQGDHD6I2Y7Z37CQB5VFBP3R2BNH6AOY7BOCI"] {
            let bits = qrcode::bits::encode_auto(data.as_bytes(), EcLevel::Q).unwrap();
            let version = bits.version();
            let width = usize::try_from(version.width()).unwrap();
            let data = bits.into_bytes();
            let (data, ec) = qrcode::ec::construct_codewords(&data, version, EcLevel::Q).unwrap();
            let layout = VersionLayout::get(version, width, data.len(), ec.len());
            let mut canvas = Canvas::new(version, EcLevel::Q);
            canvas.draw_all_functional_patterns();
            canvas.draw_data(&data, &ec);
            let unmasked = dark_modules(canvas.clone());
            for (m, mask) in MASKS.into_iter().enumerate() {
                let mut drawn = canvas.clone();
                drawn.apply_mask(mask);
                assert!(layout.compose(&unmasked, m) == dark_modules(drawn), "mask {m} of version {version:?}");
                if width <= 120 {
                    let composed = layout.compose(&unmasked, m);
                    let (rows, columns) = lines_of(&composed, width);
                    assert_eq!(penalty_bits(&rows, &columns, width), penalty(&composed, width));
                }
            }
        }
    }

    #[test]
    fn masks_invert_the_same_modules_as_the_crate() {
        let bits = qrcode::bits::encode_auto(b"HTTPS://EXAMPLE.CN/V/ABC", EcLevel::Q).unwrap();
        let version = bits.version();
        let width = usize::try_from(version.width()).unwrap();
        let data = bits.into_bytes();
        let (data, ec) = qrcode::ec::construct_codewords(&data, version, EcLevel::Q).unwrap();
        let mut canvas = Canvas::new(version, EcLevel::Q);
        canvas.draw_all_functional_patterns();
        canvas.draw_data(&data, &ec);
        let unmasked = dark_modules(canvas.clone());
        for (index, mask) in MASKS.into_iter().enumerate() {
            let mut masked = canvas.clone();
            masked.apply_mask(mask);
            let masked = dark_modules(masked);
            let mut agree = 0;
            for i in 0..width * width {
                if unmasked[i] ^ mask_inverts(index, i / width, i % width) == masked[i] {
                    agree += 1;
                }
            }
            // Data modules follow the mask; function patterns do not, so most but not all agree.
            assert!(agree > width * width * 6 / 10, "mask {index}: {agree} of {}", width * width);
        }
    }

    #[test]
    fn our_mask_choice_is_as_good_as_the_crates() {
        for data in ["HTTPS://VERIFY.EXAMPLE.CN/V/SM2026ASC000001.91350200776049653AABCDEFGHIJ", "hello, world"] {
            let ours = QrMatrix::encode(data).unwrap();
            let theirs = crate_choice(data);
            assert_eq!(ours.dark.len(), theirs.len());
            let (mine, crates) = (penalty(&ours.dark, ours.width), penalty(&theirs, ours.width));
            assert!(mine <= crates, "{data}: ours {mine}, the crate's {crates}");
        }
    }
}
