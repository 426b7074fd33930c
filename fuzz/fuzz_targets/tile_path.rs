//! Log tile paths (`/api/v1/log/tile/{path}`) and entry bundles (what a mirror reads back). A
//! path that parses maps back to the same path; every tile the log can name parses back to
//! itself; a bundle that splits writes back to the same bytes.
#![no_main]

use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use starmark::tlog::tiles::{entry_bundle, parse_entry_bundle};
use starmark::tlog::TilePath;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            let Ok(path) = std::str::from_utf8(rest) else { return };
            if let Ok(tile) = TilePath::parse(path) {
                assert_eq!(tile.to_path(), path, "a tile path that parses maps back to itself");
            }
        }
        1 => {
            let mut u = Unstructured::new(rest);
            let (Ok(level), Ok(index), Ok(width)) =
                (u.int_in_range(0..=63u8), u64::arbitrary(&mut u), u.int_in_range(1..=256u64))
            else {
                return;
            };
            let tile = if u.arbitrary::<bool>().unwrap_or(false) {
                TilePath::Entries { index, width }
            } else {
                TilePath::Hashes { level, index, width }
            };
            let path = tile.to_path();
            if path.len() <= 64 {
                assert_eq!(TilePath::parse(&path), Ok(tile), "{path}");
            }
        }
        _ => {
            if let Ok(entries) = parse_entry_bundle(rest) {
                assert_eq!(entry_bundle(&entries).expect("entries fit"), rest);
            }
        }
    }
});
