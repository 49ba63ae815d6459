//! The sandbox file table behind `/files/*` and the v1 `LIST_FILES` and
//! `READ_FILE` calls (upstream `src/files/files.cpp`).
//!
//! Owns the virtual path table (attached by the actor for every executor
//! run: the real run directory, `<work_dir>/.../runs/latest` and
//! `/frameworks/<fid>/executors/<eid>/runs/latest`) and the typed
//! operations on it: list, read (`offset=-1` gives the size, reads capped at
//! 16 pages) and open. A resolved path must stay inside its attached
//! directory (no `..` or symlink escapes): files are opened in one step
//! relative to the attached directory with `openat2(RESOLVE_BENEATH)`, so a
//! task swapping a directory for a symlink cannot race a check (where
//! `openat2` is missing, component by component with `O_NOFOLLOW`), and only
//! regular files and directories are served (opened `O_NONBLOCK` and
//! checked with `fstat` before any read, so a FIFO or device can never pin
//! a thread). Never writes files, and knows nothing of HTTP: the endpoints
//! in `http::files` and `http::operator` map its errors to status codes.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Upstream caps each read at 16 pages.
pub const MAX_READ_LENGTH: usize = 16 * 4096;

/// The virtual path → real directory table, shared by the actor (which
/// attaches) and the handlers (which resolve).
#[derive(Clone, Default, Debug)]
pub struct Files {
    paths: Arc<RwLock<BTreeMap<String, PathBuf>>>,
    /// What guards each attached path, for authorization.
    owners: Arc<RwLock<BTreeMap<String, Owner>>>,
}

/// Whose files an attached path holds: an executor's sandbox (its user,
/// for `access_sandboxes`) or the agent's own log (`access_mesos_logs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    Sandbox { user: String },
    Log,
}

#[derive(Debug, PartialEq, Eq)]
pub enum FilesError {
    /// 400.
    Invalid(String),
    /// 404.
    NotFound,
    /// 500.
    Unknown(String),
}

/// `/a/b/` and `a/b` both become `/a/b`.
fn normalize(path: &str) -> String {
    format!("/{}", path.trim_matches('/'))
}

impl Files {
    pub fn attach(&self, virtual_path: &str, real: &Path) {
        let mut paths = self.paths.write().unwrap_or_else(|e| e.into_inner());
        paths.insert(normalize(virtual_path), real.to_path_buf());
    }

    /// Attaches `real` at `virtual_path`, guarded by `owner`.
    pub fn attach_owned(&self, virtual_path: &str, real: &Path, owner: Owner) {
        self.attach(virtual_path, real);
        let mut owners = self.owners.write().unwrap_or_else(|e| e.into_inner());
        owners.insert(normalize(virtual_path), owner);
    }

    pub fn detach(&self, virtual_path: &str) {
        let mut paths = self.paths.write().unwrap_or_else(|e| e.into_inner());
        paths.remove(&normalize(virtual_path));
        let mut owners = self.owners.write().unwrap_or_else(|e| e.into_inner());
        owners.remove(&normalize(virtual_path));
    }

    /// The owner of the attached path `path` falls in (longest attached
    /// prefix, as resolution picks it); `None` for unguarded or unknown
    /// paths.
    pub fn owner(&self, path: &str) -> Option<Owner> {
        let path = normalize(path);
        let paths = self.paths.read().unwrap_or_else(|e| e.into_inner());
        let owners = self.owners.read().unwrap_or_else(|e| e.into_inner());
        let mut prefix = path.as_str();
        loop {
            if paths.contains_key(prefix) {
                return owners.get(prefix).cloned();
            }
            match prefix.rfind('/') {
                Some(0) if prefix.len() > 1 => prefix = "/",
                Some(i) if i > 0 => prefix = &prefix[..i],
                _ => return None,
            }
        }
    }

    pub fn table(&self) -> BTreeMap<String, PathBuf> {
        self.paths.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Opens a virtual path in one step beneath its attached directory
    /// (symlinks are followed only while they stay beneath it), and refuses
    /// anything but a regular file or a directory. Never blocks: the open is
    /// non-blocking and the type is checked on the opened descriptor.
    pub fn open(&self, path: &str) -> Result<Opened, FilesError> {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        let (root, suffix) = self.locate(path)?;
        let root_fd = rustix::fs::open(
            &root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|_| FilesError::NotFound)?;
        let relative = if suffix.is_empty() {
            "."
        } else {
            suffix.as_str()
        };
        let opened = match rustix::fs::openat2(
            &root_fd,
            relative,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        ) {
            // Kernels before 5.6 (or a seccomp filter) lack openat2.
            Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => {
                open_without_links(&root_fd, relative)
            }
            other => other,
        };
        let fd = opened.map_err(|e| match e {
            rustix::io::Errno::XDEV | rustix::io::Errno::LOOP => FilesError::Invalid(format!(
                "Path '{}' resolves outside its attached directory",
                normalize(path)
            )),
            rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR => FilesError::NotFound,
            e => FilesError::Unknown(format!("Failed to open '{}': {e}", normalize(path))),
        })?;
        let file = std::fs::File::from(fd);
        let meta = file
            .metadata()
            .map_err(|e| FilesError::Unknown(format!("Failed to stat '{path}': {e}")))?;
        if !meta.is_file() && !meta.is_dir() {
            return Err(FilesError::Invalid(format!(
                "'{}' is not a regular file or directory",
                normalize(path)
            )));
        }
        let name = Path::new(&suffix)
            .file_name()
            .or_else(|| root.file_name())
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        Ok(Opened {
            file,
            is_dir: meta.is_dir(),
            name,
        })
    }

    /// The attached directory a virtual path falls in, and the rest of the
    /// path below it (no `..`).
    fn locate(&self, path: &str) -> Result<(PathBuf, String), FilesError> {
        let path = normalize(path);
        if Path::new(&path)
            .components()
            .any(|c| matches!(c, Component::ParentDir))
        {
            return Err(FilesError::Invalid(format!(
                "Cannot resolve path '{path}' containing '..'"
            )));
        }
        let table = self.table();
        let mut prefix = path.as_str();
        let root = loop {
            if let Some(root) = table.get(prefix) {
                break root.clone();
            }
            match prefix.rfind('/') {
                Some(0) if prefix.len() > 1 => prefix = "/",
                Some(i) if i > 0 => prefix = &prefix[..i],
                _ => return Err(FilesError::NotFound),
            }
        };
        let suffix = path[prefix.len()..].trim_start_matches('/').to_string();
        Ok((root, suffix))
    }

    /// Maps a virtual path to an existing real path inside an attached one.
    /// Only for display and tests: serving goes through [`Files::open`].
    pub fn resolve(&self, path: &str) -> Result<PathBuf, FilesError> {
        let path = normalize(path);
        if Path::new(&path)
            .components()
            .any(|c| matches!(c, Component::ParentDir))
        {
            return Err(FilesError::Invalid(format!(
                "Cannot resolve path '{path}' containing '..'"
            )));
        }
        let table = self.table();
        // The longest attached prefix (whole components) wins.
        let mut prefix = path.as_str();
        let root = loop {
            if let Some(root) = table.get(prefix) {
                break root.clone();
            }
            match prefix.rfind('/') {
                Some(0) if prefix.len() > 1 => prefix = "/",
                Some(i) if i > 0 => prefix = &prefix[..i],
                _ => return Err(FilesError::NotFound),
            }
        };
        let suffix = path[prefix.len()..].trim_start_matches('/');
        let candidate = if suffix.is_empty() {
            root.clone()
        } else {
            root.join(suffix)
        };
        let real = match std::fs::canonicalize(&candidate) {
            Ok(real) => real,
            Err(_) => return Err(FilesError::NotFound),
        };
        let real_root = std::fs::canonicalize(&root).map_err(|_| FilesError::NotFound)?;
        if !real.starts_with(&real_root) {
            return Err(FilesError::Invalid(format!(
                "Path '{path}' resolves outside its attached directory"
            )));
        }
        Ok(real)
    }

    /// `browse`: entries sorted by path; a file (not a directory) lists as `[]`.
    pub fn list(&self, path: &str) -> Result<Vec<FileEntry>, FilesError> {
        let opened = self.open(path)?;
        if !opened.is_dir {
            return Ok(Vec::new());
        }
        // List through the opened descriptor, never the path again.
        let real = PathBuf::from(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&opened.file)
        ));
        let virtual_base = normalize(path);
        let mut entries = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir(&real) {
            for entry in dir.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let full = real.join(&name);
                // Follow symlinks like stat(2); skip dangling ones.
                let Ok(meta) = std::fs::metadata(&full) else {
                    continue;
                };
                let virtual_path = if virtual_base == "/" {
                    format!("/{name}")
                } else {
                    format!("{virtual_base}/{name}")
                };
                entries.insert(name, file_info(&virtual_path, &meta));
            }
        }
        Ok(entries.into_values().collect())
    }

    /// `browse`'s legacy JSON objects (`{path,nlink,size,mtime,mode,uid,gid}`).
    pub fn browse(&self, path: &str) -> Result<Vec<serde_json::Value>, FilesError> {
        Ok(self.list(path)?.iter().map(FileEntry::to_json).collect())
    }

    /// `read`: `(offset, data)` per upstream's rules.
    pub fn read(
        &self,
        path: &str,
        offset: i64,
        length: Option<usize>,
    ) -> Result<(u64, Vec<u8>), FilesError> {
        let (size, data) = self.read_file(path, offset, length)?;
        if offset < 0 || data.is_empty() {
            Ok((size, data))
        } else {
            Ok((offset as u64, data))
        }
    }

    /// `(file size, data)`: at most `length` (16 pages at most) bytes from
    /// `offset`; nothing for a negative offset or one past the end.
    pub fn read_file(
        &self,
        path: &str,
        offset: i64,
        length: Option<usize>,
    ) -> Result<(u64, Vec<u8>), FilesError> {
        let opened = self.open(path)?;
        if opened.is_dir {
            return Err(FilesError::Invalid("Cannot read a directory.\n".into()));
        }
        let real = PathBuf::from(normalize(path));
        let mut file = opened.file;
        let size = file.seek(SeekFrom::End(0)).map_err(|e| {
            FilesError::Unknown(format!("Failed to open file at '{}': {e}", real.display()))
        })?;
        if offset < 0 {
            return Ok((size, Vec::new()));
        }
        let offset = offset as u64;
        let length = length.unwrap_or_else(|| size.saturating_sub(offset) as usize);
        if length == 0 || offset >= size {
            return Ok((size, Vec::new()));
        }
        let length = length.min(MAX_READ_LENGTH);
        file.seek(SeekFrom::Start(offset)).map_err(|e| {
            FilesError::Unknown(format!("Failed to seek file at '{}': {e}", real.display()))
        })?;
        let mut data = Vec::with_capacity(length);
        file.take(length as u64)
            .read_to_end(&mut data)
            .map_err(|e| {
                FilesError::Unknown(format!("Failed to read file at '{}': {e}", real.display()))
            })?;
        Ok((size, data))
    }
}

/// Opens `relative` beneath `root` one component at a time, following no
/// symlink at all (stricter than `RESOLVE_BENEATH`, which follows links that
/// stay beneath): the fallback where `openat2` is missing. `..` is refused.
pub(crate) fn open_without_links(
    root: &std::os::fd::OwnedFd,
    relative: &str,
) -> rustix::io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let file_flags =
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NOFOLLOW;
    let parts: Vec<&str> = relative
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let Some((last, dirs)) = parts.split_last() else {
        return rustix::fs::openat(root, ".", file_flags, Mode::empty());
    };
    let mut dir = rustix::fs::openat(
        root,
        ".",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for part in dirs.iter().chain(std::iter::once(last)) {
        if *part == ".." {
            return Err(rustix::io::Errno::XDEV);
        }
    }
    for part in dirs {
        dir = rustix::fs::openat(
            &dir,
            *part,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
    }
    rustix::fs::openat(&dir, *last, file_flags, Mode::empty())
}

/// One entry of a listing: what `stat(2)` says, with owner names.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEntry {
    /// The virtual path.
    pub path: String,
    pub nlink: u64,
    pub size: u64,
    /// Seconds since the epoch, with the nanoseconds.
    pub mtime: f64,
    /// `st_mode`.
    pub mode: u32,
    /// `ls -l` style text of `mode`.
    pub mode_text: String,
    pub uid: String,
    pub gid: String,
}

impl FileEntry {
    /// The `/files/browse` object (key order as upstream's `jsonify`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "path": self.path,
            "nlink": self.nlink,
            "size": self.size,
            "mtime": self.mtime,
            "mode": self.mode_text,
            "uid": self.uid,
            "gid": self.gid,
        })
    }
}

/// A file or directory opened by [`Files::open`].
#[derive(Debug)]
pub struct Opened {
    pub file: std::fs::File,
    pub is_dir: bool,
    /// The last component, for `Content-Disposition`.
    pub name: String,
}

/// `ls -l` style permission text.
pub fn mode_string(mode: u32, is_dir: bool, is_symlink: bool) -> String {
    let kind = if is_dir {
        'd'
    } else if is_symlink {
        'l'
    } else {
        '-'
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 0o7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

fn group_name(gid: u32) -> String {
    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
        .unwrap_or_else(|| gid.to_string())
}

fn file_info(path: &str, meta: &std::fs::Metadata) -> FileEntry {
    FileEntry {
        path: path.to_string(),
        nlink: meta.nlink(),
        size: meta.size(),
        mtime: meta.mtime() as f64 + meta.mtime_nsec() as f64 / 1e9,
        mode: meta.mode(),
        mode_text: mode_string(meta.mode(), meta.is_dir(), meta.file_type().is_symlink()),
        uid: user_name(meta.uid()),
        gid: group_name(meta.gid()),
    }
}
