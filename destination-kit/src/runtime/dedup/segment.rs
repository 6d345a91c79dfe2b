//! A spilled part of the de-duplication window: the sorted 64-bit id hashes of one time bucket
//! in a file, with a blocked Bloom filter and a sparse index in memory.
//!
//! Memory per spilled id is the filter's [`BLOOM_BITS_PER_ID`] bits (1.5 bytes) plus 8 bytes per
//! [`BLOCK`] ids of index; the ids themselves (8 bytes each) are on disk. A lookup of an id the
//! segment does not hold costs one cache line of filter and, for the ~0.5 % the filter lets
//! through, one 4 KiB read; an id it holds costs the read.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Ids per block of the file (one read of 4 KiB).
const BLOCK: usize = 512;
/// Filter bits per id.
pub(super) const BLOOM_BITS_PER_ID: usize = 12;
/// Bits set per id, all inside one 512-bit block (one cache line).
const PROBES: u32 = 6;

/// One spilled bucket (see the module docs).
pub(super) struct Segment {
    /// The time bucket every id in it was first seen in.
    pub(super) bucket: u64,
    path: PathBuf,
    file: File,
    len: usize,
    /// The first id of every block of [`BLOCK`] ids.
    index: Vec<u64>,
    /// 512-bit filter blocks.
    bloom: Vec<[u64; 8]>,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("bucket", &self.bucket)
            .field("ids", &self.len)
            .finish_non_exhaustive()
    }
}

/// Mixes an id into the bits the filter probes (ids are xxh3 hashes already; this keeps the
/// probe bits independent of the bits that choose the block).
fn probe_bits(key: u64) -> u64 {
    let mut z = key ^ 0x9E37_79B9_7F4A_7C15;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn block_of(key: u64, blocks: usize) -> usize {
    ((u128::from(key) * blocks as u128) >> 64) as usize
}

/// The [`PROBES`] bits of its 512-bit block an id sets: (word, mask) pairs.
fn probes(key: u64) -> impl Iterator<Item = (usize, u64)> {
    let bits = probe_bits(key);
    (0..PROBES).map(move |i| {
        let bit = ((bits >> (9 * i)) & 511) as usize;
        (bit / 64, 1 << (bit % 64))
    })
}

impl Segment {
    /// Write `ids` (any order, no repeats) to a new file `path`.
    pub(super) fn write(path: &Path, bucket: u64, ids: &mut [u64]) -> std::io::Result<Segment> {
        ids.sort_unstable();
        let blocks = (ids.len() * BLOOM_BITS_PER_ID).div_ceil(512).max(1);
        let mut bloom = vec![[0u64; 8]; blocks];
        for &k in ids.iter() {
            let block = &mut bloom[block_of(k, blocks)];
            for (word, mask) in probes(k) {
                block[word] |= mask;
            }
        }
        let index = ids.iter().step_by(BLOCK).copied().collect();
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let mut w = BufWriter::with_capacity(1 << 16, &file);
        for k in ids.iter() {
            w.write_all(&k.to_le_bytes())?;
        }
        w.flush()?;
        drop(w);
        Ok(Segment {
            bucket,
            path: path.to_path_buf(),
            file,
            len: ids.len(),
            index,
            bloom,
        })
    }

    /// Ids in the segment.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Bytes the segment keeps in memory (filter and index).
    pub(super) fn memory_bytes(&self) -> usize {
        self.bloom.len() * 64 + self.index.len() * 8
    }

    /// Whether the filter lets `key` through (it may hold it).
    fn may_hold(&self, key: u64) -> bool {
        let block = &self.bloom[block_of(key, self.bloom.len())];
        probes(key).all(|(word, mask)| block[word] & mask != 0)
    }

    /// Whether the segment holds `key`. A read error is returned, not guessed at.
    pub(super) fn contains(&self, key: u64) -> std::io::Result<bool> {
        if !self.may_hold(key) {
            return Ok(false);
        }
        let i = self.index.partition_point(|&first| first <= key);
        if i == 0 {
            return Ok(false);
        }
        let block = i - 1;
        let start = block * BLOCK;
        let n = BLOCK.min(self.len - start);
        let mut buf = [0u8; BLOCK * 8];
        let buf = &mut buf[..n * 8];
        let mut f = &self.file;
        f.seek(SeekFrom::Start((start * 8) as u64))?;
        f.read_exact(buf)?;
        let mut block_ids = [0u64; BLOCK];
        for (id, bytes) in block_ids.iter_mut().zip(buf.chunks_exact(8)) {
            *id = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        }
        Ok(block_ids[..n].binary_search(&key).is_ok())
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // an expired segment frees its disk space at once
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: u64, salt: u64) -> Vec<u64> {
        (0..n)
            .map(|i| probe_bits(i.wrapping_add(salt << 40)))
            .collect()
    }

    #[test]
    fn holds_exactly_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut ids = keys(5_000, 1);
        let seg = Segment::write(&dir.path().join("s"), 7, &mut ids).unwrap();
        assert_eq!(seg.len(), 5_000);
        assert_eq!(
            std::fs::metadata(dir.path().join("s")).unwrap().len(),
            40_000
        );
        for k in &ids {
            assert!(seg.contains(*k).unwrap());
        }
        let absent = keys(5_000, 2);
        let through = absent.iter().filter(|k| seg.may_hold(**k)).count();
        assert!(absent.iter().all(|k| !seg.contains(*k).unwrap()));
        // the filter lets few absent ids through to the disk
        assert!(
            through < 100,
            "{through} of 5000 absent ids passed the filter"
        );
        drop(seg);
        assert!(
            !dir.path().join("s").exists(),
            "the file goes with the segment"
        );
    }

    #[test]
    fn smallest_and_largest_ids_and_a_partial_last_block() {
        let dir = tempfile::tempdir().unwrap();
        let mut ids: Vec<u64> = (1..=(BLOCK as u64 + 3)).map(|i| i * 1000).collect();
        ids.push(0);
        ids.push(u64::MAX);
        let seg = Segment::write(&dir.path().join("s"), 0, &mut ids).unwrap();
        for k in ids {
            assert!(seg.contains(k).unwrap(), "{k}");
        }
        for k in [1, 999, 1001, u64::MAX - 1] {
            assert!(!seg.contains(k).unwrap(), "{k}");
        }
    }
}
