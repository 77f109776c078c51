//! The disk seam: every file operation of the log goes through `SegmentDisk` / `SegmentFile`,
//! so tests can make writes or fsyncs fail, or the disk fill up, at chosen moments
//! (`FaultyDisk`). Files are shared (`Arc`) between the writer and readers, so every method
//! takes `&self` and positions are explicit.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// An open segment, index or checkpoint file.
pub trait SegmentFile: Send + Sync + fmt::Debug {
    /// Writes all of `data` at `position`.
    fn write_at(&self, data: &[u8], position: u64) -> io::Result<()>;
    /// Writes `parts` one after the other from `position`. Real files do it in one `pwritev`
    /// (no copy into one buffer first); the default writes part by part.
    fn write_parts_at(&self, parts: &[&[u8]], position: u64) -> io::Result<()> {
        let mut at = position;
        for part in parts {
            self.write_at(part, at)?;
            at += part.len() as u64;
        }
        Ok(())
    }
    /// Fills `buf` from `position`; reading past the end is an `UnexpectedEof` error.
    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<()>;
    /// Makes the file's data durable (`fdatasync`).
    fn sync(&self) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    fn size_bytes(&self) -> io::Result<u64>;
    /// The real file descriptor, for `sendfile`; `None` for files with no kernel file behind.
    fn raw_fd(&self) -> Option<RawFd>;
}

/// How `SegmentDisk::open` treats an absent or present file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Open an existing file; absent is a `NotFound` error.
    Existing,
    /// Open, creating it empty when absent.
    Create,
    /// Create it, or cut an existing one to zero bytes.
    Truncate,
}

pub trait SegmentDisk: Send + Sync + fmt::Debug {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn SegmentFile>>;
    /// Unlinks `path` (absent is fine). Open handles keep working on the unlinked file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Names of the files in `dir`.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Makes creations, renames and removals inside `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// Reads a whole file, `None` when it does not exist.
pub fn read_whole(disk: &dyn SegmentDisk, path: &Path) -> io::Result<Option<Vec<u8>>> {
    let file = match disk.open(path, OpenMode::Existing) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut out = vec![0; usize::try_from(file.size_bytes()?).map_err(io::Error::other)?];
    file.read_at(&mut out, 0)?;
    Ok(Some(out))
}

/// Replaces `dir/name` with `bytes` atomically and durably: written to `dir/tmp_name`,
/// fsynced, renamed over `name`, then the folder fsynced. A crash at any point leaves the old
/// file or the new one under `name` (and perhaps the temporary file, which the caller removes
/// on open).
pub fn write_atomically(
    disk: &dyn SegmentDisk,
    dir: &Path,
    name: &str,
    tmp_name: &str,
    bytes: &[u8],
) -> io::Result<()> {
    let tmp = dir.join(tmp_name);
    let file = disk.open(&tmp, OpenMode::Truncate)?;
    file.write_at(bytes, 0)?;
    file.sync()?;
    disk.rename(&tmp, &dir.join(name))?;
    disk.sync_dir(dir)
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealDisk;

#[derive(Debug)]
struct RealFile(std::fs::File);

impl SegmentFile for RealFile {
    fn write_at(&self, data: &[u8], position: u64) -> io::Result<()> {
        self.0.write_all_at(data, position)
    }

    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, position)
    }

    #[cfg(target_os = "linux")]
    fn write_parts_at(&self, parts: &[&[u8]], position: u64) -> io::Result<()> {
        pwritev_all(&self.0, parts, position)
    }

    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn size_bytes(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.0.as_raw_fd())
    }
}

/// At most this many parts per `pwritev` call (Linux's `IOV_MAX` is 1024).
#[cfg(target_os = "linux")]
const PARTS_PER_CALL: usize = 1024;

/// `pwritev` until every part is written (a call may write less than asked).
#[cfg(target_os = "linux")]
fn pwritev_all(file: &std::fs::File, parts: &[&[u8]], position: u64) -> io::Result<()> {
    let mut parts: Vec<&[u8]> = parts.iter().copied().filter(|part| !part.is_empty()).collect();
    let mut first = 0;
    let mut at = position;
    while first < parts.len() {
        let batch = &parts[first..parts.len().min(first + PARTS_PER_CALL)];
        let iovecs: Vec<libc::iovec> =
            batch.iter().map(|part| libc::iovec { iov_base: part.as_ptr() as *mut _, iov_len: part.len() }).collect();
        let offset = libc::off_t::try_from(at).map_err(io::Error::other)?;
        // SAFETY: each iovec points into a live slice of `parts` for the whole call, and the
        // kernel only reads through them; the descriptor is open while `file` is borrowed.
        let written = unsafe { libc::pwritev(file.as_raw_fd(), iovecs.as_ptr(), iovecs.len() as libc::c_int, offset) };
        if written < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        if written == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "pwritev wrote nothing"));
        }
        let mut left = written as usize;
        at += left as u64;
        // Skip the parts written whole, and the written front of a part written partly.
        while left > 0 {
            let part = parts[first];
            if left >= part.len() {
                left -= part.len();
                first += 1;
            } else {
                parts[first] = &part[left..];
                left = 0;
            }
        }
    }
    Ok(())
}

impl SegmentDisk for RealDisk {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn SegmentFile>> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true);
        match mode {
            OpenMode::Existing => {}
            OpenMode::Create => {
                options.create(true);
            }
            OpenMode::Truncate => {
                options.create(true).truncate(true);
            }
        }
        Ok(Arc::new(RealFile(options.open(path)?)))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::File::open(dir)?.sync_all()
    }
}

/// Switches of a `FaultyDisk`, shared with the test that flips them.
#[derive(Debug)]
pub struct Faults {
    /// Every fsync (file or directory) fails.
    pub fail_sync: AtomicBool,
    /// Bytes that may still be written; a write beyond writes what fits, then fails with
    /// "no space left on device".
    pub space_left_bytes: AtomicU64,
    /// Operations that change the disk (write, fsync, truncate, create, rename, remove) that
    /// may still run; every one after fails, as if the process had died there. Tests sweep it
    /// to stop a multi-step write at each step.
    pub mutations_left: AtomicU64,
    /// `read_at` calls so far (tests count what a compaction round reads).
    pub reads: AtomicU64,
    /// File fsyncs that succeeded so far (tests check which step of the log syncs).
    pub file_syncs: AtomicU64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            fail_sync: AtomicBool::new(false),
            space_left_bytes: AtomicU64::new(u64::MAX),
            mutations_left: AtomicU64::new(u64::MAX),
            reads: AtomicU64::new(0),
            file_syncs: AtomicU64::new(0),
        }
    }
}

/// The real file system, whose writes and syncs fail on demand.
#[derive(Debug, Default, Clone)]
pub struct FaultyDisk {
    pub faults: Arc<Faults>,
}

impl FaultyDisk {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one disk-changing operation; fails once `mutations_left` is used up.
    fn mutate(&self) -> io::Result<()> {
        let left = &self.faults.mutations_left;
        if left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_err() {
            return Err(io::Error::other("crashed before this operation (injected)"));
        }
        Ok(())
    }

    fn check_sync(&self) -> io::Result<()> {
        self.mutate()?;
        if self.faults.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::other("fsync failed (injected)"));
        }
        Ok(())
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: Arc<dyn SegmentFile>,
    disk: FaultyDisk,
}

impl SegmentFile for FaultyFile {
    fn write_at(&self, data: &[u8], position: u64) -> io::Result<()> {
        self.disk.mutate()?;
        let space = &self.disk.faults.space_left_bytes;
        let left = space.load(Ordering::SeqCst);
        let fits = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
        space.fetch_sub(fits as u64, Ordering::SeqCst);
        self.inner.write_at(&data[..fits], position)?;
        if fits < data.len() {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "no space left on device (injected)"));
        }
        Ok(())
    }

    fn read_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
        self.disk.faults.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_at(buf, position)
    }

    fn sync(&self) -> io::Result<()> {
        self.disk.check_sync()?;
        self.inner.sync()?;
        self.disk.faults.file_syncs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.disk.mutate()?;
        self.inner.set_len(len)
    }

    fn size_bytes(&self) -> io::Result<u64> {
        self.inner.size_bytes()
    }

    fn raw_fd(&self) -> Option<RawFd> {
        self.inner.raw_fd()
    }
}

impl SegmentDisk for FaultyDisk {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn SegmentFile>> {
        if mode != OpenMode::Existing {
            self.mutate()?;
        }
        Ok(Arc::new(FaultyFile { inner: RealDisk.open(path, mode)?, disk: self.clone() }))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.mutate()?;
        RealDisk.remove(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.mutate()?;
        RealDisk.rename(from, to)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        RealDisk.list_dir(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        RealDisk.create_dir_all(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.check_sync()?;
        RealDisk.sync_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many parts (more than one `pwritev` takes), empty ones among them, land end to end
    /// after what is already in the file, exactly as part-by-part writes put them.
    #[test]
    fn parts_are_written_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let pieces: Vec<Vec<u8>> = (0..3000u32).map(|i| vec![(i % 251) as u8; (i % 7) as usize]).collect();
        let parts: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        let mut written = Vec::new();
        for disk in [&RealDisk as &dyn SegmentDisk, &FaultyDisk::new()] {
            let path = dir.path().join(format!("parts-{}", written.len()));
            let file = disk.open(&path, OpenMode::Create).unwrap();
            file.write_at(b"head", 0).unwrap();
            file.write_parts_at(&parts, 4).unwrap();
            written.push(std::fs::read(&path).unwrap());
        }
        assert_eq!(written[0], written[1]);
        assert_eq!(&written[0][..4], b"head");
        assert_eq!(written[0][4..], pieces.concat());
    }
}
