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
}

impl Default for Faults {
    fn default() -> Self {
        Self { fail_sync: AtomicBool::new(false), space_left_bytes: AtomicU64::new(u64::MAX) }
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

    fn check_sync(&self) -> io::Result<()> {
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
        self.inner.read_at(buf, position)
    }

    fn sync(&self) -> io::Result<()> {
        self.disk.check_sync()?;
        self.inner.sync()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
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
        Ok(Arc::new(FaultyFile { inner: RealDisk.open(path, mode)?, disk: self.clone() }))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        RealDisk.remove(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
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
