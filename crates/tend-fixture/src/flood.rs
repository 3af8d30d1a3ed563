//! Output flooding: many fixed-size, numbered lines as fast as possible.
//!
//! tend's log-capture tests and throughput benchmarks need a child that
//! writes a known amount of output quickly and verifiably. Every line is
//! `L` + 10-digit zero-padded number (from 1) + ' ' + 'x' filler + '\n', so a
//! reader can check that no line was lost, reordered or torn. Lines are built
//! into a ~1 MiB buffer once; only the digits are rewritten per chunk.

use std::io;

use crate::args::FloodSize;

/// Shortest line: 'L' + 10 digits + ' ' + '\n' (no filler).
pub const MIN_LINE_BYTES: usize = 13;
/// Largest number that fits in the 10 digits.
pub const MAX_LINE_NUMBER: u64 = 9_999_999_999;
/// Target size of one write.
const CHUNK_BYTES: usize = 1 << 20;
/// Where the digits sit in a line.
const DIGITS: std::ops::Range<usize> = 1..11;

/// Formats line number `n` into `line`, whose length is the line size.
///
/// `line.len()` must be at least [`MIN_LINE_BYTES`] and `n` at most
/// [`MAX_LINE_NUMBER`] (higher digits are silently dropped).
pub fn format_line(line: &mut [u8], n: u64) {
    debug_assert!(line.len() >= MIN_LINE_BYTES);
    let last = line.len() - 1;
    line[0] = b'L';
    write_digits(&mut line[DIGITS], n);
    line[11] = b' ';
    line[12..last].fill(b'x');
    line[last] = b'\n';
}

/// Writes `n` zero-padded into all of `digits`.
fn write_digits(digits: &mut [u8], mut n: u64) {
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// How many lines a flood of `size` writes with lines of `line_bytes`.
pub fn line_count(size: FloodSize, line_bytes: usize) -> u64 {
    match size {
        FloodSize::Lines(n) => n,
        FloodSize::Bytes(b) => b / line_bytes as u64,
    }
}

/// Writes lines `1..=lines` of `line_bytes` each, handing `sink` whole
/// chunks of about 1 MiB (always whole lines).
pub fn flood<F>(lines: u64, line_bytes: usize, mut sink: F) -> io::Result<()>
where
    F: FnMut(&[u8]) -> io::Result<()>,
{
    let per_chunk = (CHUNK_BYTES / line_bytes).max(1);
    let per_chunk = per_chunk.min(usize::try_from(lines).unwrap_or(usize::MAX));
    let mut buf = vec![0u8; per_chunk * line_bytes];
    for line in buf.chunks_exact_mut(line_bytes) {
        format_line(line, 0);
    }
    let mut next = 1u64;
    while next <= lines {
        let count = (lines - next + 1).min(per_chunk as u64) as usize;
        let chunk = &mut buf[..count * line_bytes];
        for (i, line) in chunk.chunks_exact_mut(line_bytes).enumerate() {
            write_digits(&mut line[DIGITS], next + i as u64);
        }
        sink(chunk)?;
        next += count as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_default_line() {
        let mut line = vec![0u8; 100];
        format_line(&mut line, 1);
        let text = String::from_utf8(line).unwrap();
        assert_eq!(text.len(), 100);
        assert!(text.starts_with("L0000000001 xxx"));
        assert!(text.ends_with("xx\n"));
        assert_eq!(text.matches('x').count(), 100 - 13);
    }

    #[test]
    fn formats_minimal_and_largest() {
        let mut line = [0u8; MIN_LINE_BYTES];
        format_line(&mut line, MAX_LINE_NUMBER);
        assert_eq!(&line, b"L9999999999 \n");
        format_line(&mut line, 42);
        assert_eq!(&line, b"L0000000042 \n");
    }

    #[test]
    fn counts_lines_from_bytes() {
        assert_eq!(line_count(FloodSize::Lines(5), 100), 5);
        assert_eq!(line_count(FloodSize::Bytes(1099), 100), 10);
        assert_eq!(line_count(FloodSize::Bytes(99), 100), 0);
    }

    #[test]
    fn floods_whole_numbered_lines_across_chunks() {
        // Lines of 1000 bytes make ~1048 lines per chunk: 2500 spans 3 chunks.
        let (lines, size) = (2500u64, 1000usize);
        let mut out = Vec::new();
        let mut writes = 0;
        flood(lines, size, |chunk| {
            assert_eq!(chunk.len() % size, 0);
            writes += 1;
            out.extend_from_slice(chunk);
            Ok(())
        })
        .unwrap();
        assert_eq!(writes, 3);
        assert_eq!(out.len(), 2500 * 1000);
        let mut expect = vec![0u8; size];
        for (i, line) in out.chunks_exact(size).enumerate() {
            format_line(&mut expect, i as u64 + 1);
            assert_eq!(line, &expect[..], "line {}", i + 1);
        }
    }

    #[test]
    fn zero_lines_write_nothing() {
        flood(0, 100, |_| panic!("no write expected")).unwrap();
    }

    #[test]
    fn sink_errors_stop_the_flood() {
        let err = flood(10, 100, |_| Err(io::ErrorKind::BrokenPipe.into())).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
