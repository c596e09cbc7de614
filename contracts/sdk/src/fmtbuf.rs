//! A fixed-capacity `core::fmt::Write` buffer that truncates safely.

use core::fmt;

/// Collects formatted text into `N` bytes on the stack. Text past the
/// capacity is cut on a UTF-8 char boundary and marked with `...`; the
/// contents are always valid UTF-8.
pub struct FmtBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
    truncated: bool,
}

impl<const N: usize> FmtBuf<N> {
    pub const fn new() -> Self {
        FmtBuf { buf: [0; N], len: 0, truncated: false }
    }
    pub fn as_str(&self) -> &str {
        // Only whole chars (and ASCII dots) are ever copied in.
        unsafe { core::str::from_utf8_unchecked(&self.buf[..self.len]) }
    }
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl<const N: usize> Default for FmtBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for FmtBuf<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Write for FmtBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.truncated {
            return Err(fmt::Error);
        }
        let room = N - self.len;
        if s.len() <= room {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
            return Ok(());
        }
        // Keep room for the "..." marker (when N allows it).
        const MARK: &[u8] = b"...";
        let keep_total = N.saturating_sub(MARK.len());
        let mut take = 0;
        if self.len > keep_total {
            // The marker does not fit after the text so far: cut it back
            // (to a char boundary) and take nothing of `s`.
            self.len = keep_total;
            while self.len > 0 && (self.buf[self.len] & 0xc0) == 0x80 {
                self.len -= 1;
            }
        } else {
            take = (keep_total - self.len).min(s.len());
            while take > 0 && !s.is_char_boundary(take) {
                take -= 1;
            }
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        let m = MARK.len().min(N - self.len);
        self.buf[self.len..self.len + m].copy_from_slice(&MARK[..m]);
        self.len += m;
        self.truncated = true;
        Err(fmt::Error)
    }
}
