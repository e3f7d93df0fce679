//! How a block of postings is stored: the postings as varints (row id as a gap from the one
//! before, the block's first row being the key of its SQL row; term frequency; row length in
//! terms), and the block's impacts: the `(tf, len)` pairs of its postings that no other posting
//! beats with both a higher-or-equal frequency and a shorter-or-equal row. BM25 is
//! non-decreasing in `tf` and non-increasing in `len`, so the best score any posting of the
//! block can reach, under any statistics of the vault, is the best score of its impacts: the
//! block's upper bound, computed at query time without decoding the postings.

use crate::StoreError;

/// One row's occurrences of one term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Posting {
    /// The chunk or memory row id.
    pub row: i64,
    /// How often the term occurs in the row.
    pub tf: u32,
    /// The row's length in terms, repeats included.
    pub len: u32,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint at `*at`, advancing it.
fn varint(bytes: &[u8], at: &mut usize) -> Result<u64, StoreError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&b) = bytes.get(*at) else { break };
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(StoreError::Corrupt(format!("keyword index: a block ends inside a number at byte {at}")))
}

fn small(v: u64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("keyword index: {what} {v} is out of range")))
}

/// The postings of a block, in row order; the first one's row is the block's key.
pub(crate) fn encode_postings(postings: &[Posting]) -> Vec<u8> {
    let mut out = Vec::with_capacity(postings.len() * 5);
    let mut previous = postings.first().map_or(0, |p| p.row);
    for p in postings {
        put_varint(&mut out, p.row.abs_diff(previous));
        put_varint(&mut out, u64::from(p.tf));
        put_varint(&mut out, u64::from(p.len));
        previous = p.row;
    }
    out
}

/// Decodes the postings of a block whose first row is `first`, appending them to `out`.
pub(crate) fn decode_postings(first: i64, bytes: &[u8], out: &mut Vec<Posting>) -> Result<(), StoreError> {
    let mut at = 0;
    let mut row = first;
    while at < bytes.len() {
        let gap = varint(bytes, &mut at)?;
        row = i64::try_from(gap)
            .ok()
            .and_then(|gap| row.checked_add(gap))
            .ok_or_else(|| StoreError::Corrupt(format!("keyword index: a row gap of {gap} after row {row}")))?;
        let tf = small(varint(bytes, &mut at)?, "term frequency")?;
        let len = small(varint(bytes, &mut at)?, "row length")?;
        out.push(Posting { row, tf, len });
    }
    Ok(())
}

/// The impacts of a block's postings (see the module documentation), by falling `tf`.
pub(crate) fn impacts(postings: &[Posting]) -> Vec<(u32, u32)> {
    let mut pairs: Vec<(u32, u32)> = postings.iter().map(|p| (p.tf, p.len)).collect();
    pairs.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (tf, len) in pairs {
        // Sorted by falling tf: a pair is beaten unless its row is shorter than every kept one.
        if out.last().is_none_or(|&(_, shortest)| len < shortest) {
            out.push((tf, len));
        }
    }
    out
}

pub(crate) fn encode_impacts(impacts: &[(u32, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(impacts.len() * 3);
    for &(tf, len) in impacts {
        put_varint(&mut out, u64::from(tf));
        put_varint(&mut out, u64::from(len));
    }
    out
}

pub(crate) fn decode_impacts(bytes: &[u8]) -> Result<Vec<(u32, u32)>, StoreError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let tf = small(varint(bytes, &mut at)?, "term frequency")?;
        let len = small(varint(bytes, &mut at)?, "row length")?;
        out.push((tf, len));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_round_trip_and_torn_blocks_are_refused() {
        let postings = [
            Posting { row: 5, tf: 1, len: 3 },
            Posting { row: 6, tf: 300, len: 70_000 },
            Posting { row: i64::MAX / 2, tf: 2, len: 0 },
            Posting { row: i64::MAX, tf: u32::MAX, len: u32::MAX },
        ];
        let bytes = encode_postings(&postings);
        let mut back = Vec::new();
        decode_postings(5, &bytes, &mut back).unwrap();
        assert_eq!(back, postings);
        let mut torn = Vec::new();
        assert!(decode_postings(5, &bytes[..bytes.len() - 1], &mut torn).is_err());
        assert!(decode_postings(i64::MAX, &bytes[..4], &mut Vec::new()).is_err(), "a row past i64::MAX");
    }

    #[test]
    fn impacts_keep_only_the_pairs_nothing_beats() {
        let p = |tf, len| Posting { row: 1, tf, len };
        let postings = [p(1, 10), p(3, 50), p(2, 8), p(3, 40), p(1, 5), p(2, 9), p(1, 5)];
        let kept = impacts(&postings);
        assert_eq!(kept, [(3, 40), (2, 8), (1, 5)]);
        assert_eq!(decode_impacts(&encode_impacts(&kept)).unwrap(), kept);
        // Every posting is beaten or matched by a kept pair.
        for q in postings {
            assert!(kept.iter().any(|&(tf, len)| tf >= q.tf && len <= q.len), "{q:?}");
        }
    }
}
