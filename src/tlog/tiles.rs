//! C2SP tlog-tiles: the log served as immutable files a mirror can cache forever.
//!
//! A hash tile `tile/<L>/<N>[.p/<W>]` holds the hashes of level `8·L` nodes `N·256 .. N·256+W`
//! (complete subtrees of `256^L` leaves), 32 bytes each; a full tile has 256. An entry bundle
//! `tile/entries/<N>[.p/<W>]` holds leaf data of leaves `N·256 ..`, each as a big-endian u16
//! length then the bytes. `N` is written in 3-digit groups, all but the last prefixed `x`:
//! 1234067 is `x001/x234/067`.

/// Leaves (or hashes) per full tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels per tile level.
pub const TILE_HEIGHT: u32 = 8;
/// Highest tile level a 64-bit tree can need.
const MAX_LEVEL: u8 = 63;

/// A tile path, parsed; only canonical spellings are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePath {
    Hashes { level: u8, index: u64, width: u64 },
    Entries { index: u64, width: u64 },
}

/// Why a tile path or bundle is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("'{0}' is not a tile path (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])")]
    BadPath(String),
    #[error("an entry of {0} bytes does not fit an entry bundle")]
    EntryTooLarge(usize),
    #[error("the entry bundle is truncated")]
    Truncated,
}

/// Writes `n` as 3-digit groups: `x001/x234/067`.
pub fn encode_index(n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

impl TilePath {
    /// Parses the part after `tile/`.
    pub fn parse(path: &str) -> Result<Self, TileError> {
        let bad = || TileError::BadPath(path.to_string());
        if path.len() > 64 {
            return Err(bad());
        }
        let mut parts: Vec<&str> = path.split('/').collect();
        if parts.len() < 2 {
            return Err(bad());
        }
        let mut width = TILE_WIDTH;
        if parts.len() >= 3 {
            if let Some(stem) = parts[parts.len() - 2].strip_suffix(".p") {
                let w: u64 = parts[parts.len() - 1].parse().map_err(|_| bad())?;
                width = w;
                let at = parts.len() - 2;
                parts[at] = stem;
                parts.pop();
            }
        }
        let mut index: u64 = 0;
        for part in &parts[1..] {
            let digits = part.strip_prefix('x').unwrap_or(part);
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let group: u64 = digits.parse().map_err(|_| bad())?;
            index = index.checked_mul(1000).and_then(|i| i.checked_add(group)).ok_or_else(bad)?;
        }
        let tile = if parts[0] == "entries" {
            TilePath::Entries { index, width }
        } else {
            let level: u8 = parts[0].parse().map_err(|_| bad())?;
            if level > MAX_LEVEL {
                return Err(bad());
            }
            TilePath::Hashes { level, index, width }
        };
        if width == 0 || width > TILE_WIDTH || tile.to_path() != path {
            return Err(bad());
        }
        Ok(tile)
    }

    /// The canonical path after `tile/`.
    pub fn to_path(&self) -> String {
        let (head, index, width) = match self {
            TilePath::Hashes { level, index, width } => (level.to_string(), index, width),
            TilePath::Entries { index, width } => ("entries".to_string(), index, width),
        };
        let suffix = if *width == TILE_WIDTH { String::new() } else { format!(".p/{width}") };
        format!("{head}/{}{suffix}", encode_index(*index))
    }

    /// Full tiles never change; partial ones are superseded as the log grows.
    pub fn is_full(&self) -> bool {
        match self {
            TilePath::Hashes { width, .. } | TilePath::Entries { width, .. } => *width == TILE_WIDTH,
        }
    }
}

/// Serialises leaf data as an entry bundle.
pub fn entry_bundle<T: AsRef<[u8]>>(entries: &[T]) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.as_ref().len() + 2).sum());
    for entry in entries {
        let entry = entry.as_ref();
        let len = u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLarge(entry.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Splits an entry bundle into its entries.
pub fn parse_entry_bundle(mut bytes: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    let mut entries = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_at_checked(2).ok_or(TileError::Truncated)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let (entry, rest) = rest.split_at_checked(len).ok_or(TileError::Truncated)?;
        entries.push(entry);
        bytes = rest;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_written_in_groups_of_three() {
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(67), "067");
        assert_eq!(encode_index(1000), "x001/000");
        assert_eq!(encode_index(1_234_067), "x001/x234/067");
    }

    #[test]
    fn paths_parse_only_when_canonical() {
        assert_eq!(
            TilePath::parse("0/x001/x234/067").unwrap(),
            TilePath::Hashes { level: 0, index: 1_234_067, width: 256 }
        );
        assert_eq!(
            TilePath::parse("2/x001/x234/067.p/8").unwrap(),
            TilePath::Hashes { level: 2, index: 1_234_067, width: 8 }
        );
        assert_eq!(TilePath::parse("entries/000.p/1").unwrap(), TilePath::Entries { index: 0, width: 1 });
        assert_eq!(TilePath::parse("entries/123").unwrap(), TilePath::Entries { index: 123, width: 256 });
        for bad in [
            "",
            "0",
            "0/1",
            "0/0001",
            "0/x000/001",
            "0/001/002",
            "00/000",
            "64/000",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/01",
            "data/000",
            "0/000.p",
            "0/-01",
            "0/x001",
            "entries/000/",
            "0/x018/x446/x744/x073/x709/x551/616",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn entry_bundles_round_trip() {
        let entries: Vec<Vec<u8>> = vec![b"one".to_vec(), Vec::new(), vec![7; 300]];
        let bundle = entry_bundle(&entries).unwrap();
        assert_eq!(&bundle[..5], &[0, 3, b'o', b'n', b'e']);
        let back: Vec<Vec<u8>> = parse_entry_bundle(&bundle).unwrap().into_iter().map(<[u8]>::to_vec).collect();
        assert_eq!(back, entries);
        assert_eq!(parse_entry_bundle(&bundle[..bundle.len() - 1]), Err(TileError::Truncated));
        assert_eq!(entry_bundle(&[vec![0u8; 70_000]]), Err(TileError::EntryTooLarge(70_000)));
    }
}
