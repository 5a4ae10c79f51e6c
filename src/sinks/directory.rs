//! A directory as a destination: each object is a file under the root with the object's key
//! as its relative path. Files are written under a temporary name, fsynced, then renamed, so a
//! reader never sees a partial file. A key can never name a path outside the root.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use super::Upload;
use crate::failure::ExportError;

pub(crate) struct DirDestination {
    root: PathBuf,
    bucket: String,
}

impl DirDestination {
    pub(crate) fn new(root: &Path, bucket: &str) -> DirDestination {
        DirDestination {
            root: root.to_owned(),
            bucket: bucket.to_owned(),
        }
    }

    pub(crate) fn bucket_name(&self) -> &str {
        &self.bucket
    }

    /// The file of a key, after checking that it stays under the root: every directory on the
    /// way is resolved one step at a time, so a symbolic link inside the root cannot lead out,
    /// and nothing is created before its parent was checked. With `create`, missing
    /// directories are made.
    pub(crate) fn path_for(&self, key: &str, create: bool) -> Result<PathBuf, ExportError> {
        let relative = safe_relative(key).ok_or_else(|| {
            ExportError::terminal(
                "the object key is not a safe relative path",
                format!("refused key {key:?}"),
            )
        })?;
        let io_err = |what: &Path, e: io::Error| {
            ExportError::retryable(
                "the export directory cannot be used; the server log has details",
                format!("{}: {e}", what.display()),
            )
        };
        if create {
            fs::create_dir_all(&self.root).map_err(|e| io_err(&self.root, e))?;
        }
        let root = self
            .root
            .canonicalize()
            .map_err(|e| io_err(&self.root, e))?;
        let escape = |path: &Path| {
            ExportError::terminal(
                "the object key leads outside the export directory",
                format!("{key:?} resolves to {}", path.display()),
            )
        };
        let inside = |path: &Path| -> Result<PathBuf, ExportError> {
            let real = path.canonicalize().map_err(|e| io_err(path, e))?;
            if real.starts_with(&root) {
                Ok(real)
            } else {
                Err(escape(&real))
            }
        };
        let mut current = root.clone();
        let mut segments: Vec<_> = relative.iter().collect();
        let name = segments.pop().ok_or_else(|| escape(&root))?;
        for segment in segments {
            let next = current.join(segment);
            current = match fs::symlink_metadata(&next) {
                Ok(m) if m.file_type().is_symlink() => inside(&next)?,
                Ok(m) if m.is_dir() => next,
                Ok(_) => {
                    return Err(ExportError::terminal(
                        "the object key names a file as a directory",
                        format!("{}", next.display()),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    match fs::create_dir(&next) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(io_err(&next, e)),
                    }
                    inside(&next)?
                }
                Err(e) => return Err(io_err(&next, e)),
            };
        }
        let path = current.join(name);
        // An existing link at the file itself must not lead out either (reads follow it).
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            inside(&path)?;
        }
        Ok(path)
    }

    pub(crate) fn begin(&self, key: &str) -> Result<DirUpload, ExportError> {
        let path = self.path_for(key, true)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = path.with_file_name(format!(".{name}.{}.partial", ulid::Ulid::new()));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| write_failed(&temp, e))?;
        Ok(DirUpload {
            file: Some(file),
            temp,
            path,
        })
    }

    pub(crate) fn delete(&self, key: &str) -> Result<(), ExportError> {
        let path = self.path_for(key, false)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(write_failed(&path, e)),
        }
    }

    /// Opens a stored object for reading (downloads).
    pub(crate) fn open(&self, key: &str) -> Result<File, ExportError> {
        let path = self.path_for(key, false)?;
        File::open(&path).map_err(|e| {
            ExportError::terminal(
                "the exported file is missing",
                format!("{}: {e}", path.display()),
            )
        })
    }
}

/// Removes the temporary files (`.<name>.<ulid>.partial`) that exports cut short by a crash
/// left under `root`, before any export of this process starts. Symbolic links are not
/// followed. Returns how many were removed.
pub(crate) fn remove_leftovers(root: &Path) -> usize {
    let mut removed = 0;
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() && name.starts_with('.') && name.ends_with(".partial") {
                match fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) => log::warn!(
                        "cannot remove the leftover temporary file {}: {e}",
                        entry.path().display()
                    ),
                }
            }
        }
    }
    if removed > 0 {
        log::info!(
            "removed {removed} temporary file(s) that interrupted exports left in {}",
            root.display()
        );
    }
    removed
}

fn write_failed(path: &Path, e: io::Error) -> ExportError {
    ExportError::retryable(
        "writing to the export directory failed (full disk or permissions?); the server log has details",
        format!("{}: {e}", path.display()),
    )
}

/// `key` as a relative path of normal segments only, or `None`.
pub(crate) fn safe_relative(key: &str) -> Option<PathBuf> {
    if key.is_empty() || key.contains('\0') || key.contains('\\') {
        return None;
    }
    let mut out = PathBuf::new();
    for segment in key.split('/') {
        let mut components = Path::new(segment).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(part)), None) if part == segment => out.push(part),
            _ => return None,
        }
    }
    Some(out)
}

pub(crate) struct DirUpload {
    file: Option<File>,
    temp: PathBuf,
    path: PathBuf,
}

impl DirUpload {
    fn file(&mut self) -> Result<&mut File, ExportError> {
        self.file.as_mut().ok_or_else(|| {
            ExportError::retryable("the export file was closed", "write after close")
        })
    }
}

impl Upload for DirUpload {
    fn part(&mut self, data: &[u8]) -> Result<(), ExportError> {
        let temp = self.temp.clone();
        self.file()?
            .write_all(data)
            .map_err(|e| write_failed(&temp, e))
    }

    fn upload_id(&self) -> Option<&str> {
        None
    }

    fn finish(mut self: Box<Self>, tail: &[u8]) -> Result<(), ExportError> {
        let temp = self.temp.clone();
        let mut file = self
            .file
            .take()
            .ok_or_else(|| ExportError::retryable("the export file was closed", "finish twice"))?;
        file.write_all(tail)
            .and_then(|_| file.sync_all())
            .map_err(|e| write_failed(&temp, e))?;
        drop(file);
        fs::rename(&self.temp, &self.path).map_err(|e| write_failed(&self.path, e))?;
        // Make the rename itself durable.
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| write_failed(dir, e))?;
        }
        Ok(())
    }

    fn abort(mut self: Box<Self>) {
        self.file.take();
        let _ = fs::remove_file(&self.temp);
    }
}

impl Drop for DirUpload {
    fn drop(&mut self) {
        // Neither finished nor aborted (an early return): leave no temporary file behind.
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_keys_are_safe() {
        assert_eq!(safe_relative("a/b/c.csv"), Some(PathBuf::from("a/b/c.csv")));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
            "a\0b",
            ".",
            "..",
        ] {
            assert_eq!(safe_relative(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn writes_atomically_and_aborts_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let dest = DirDestination::new(&dir.path().join("root"), "managed");
        let mut up = Box::new(dest.begin("t/e/events/x.csv").unwrap());
        up.part(b"hello ").unwrap();
        let final_path = dir.path().join("root/t/e/events/x.csv");
        assert!(!final_path.exists(), "nothing visible before finish");
        up.finish(b"world").unwrap();
        assert_eq!(fs::read(&final_path).unwrap(), b"hello world");

        let mut up = Box::new(dest.begin("t/e/events/y.csv").unwrap());
        up.part(b"partial").unwrap();
        up.abort();
        let left: Vec<_> = fs::read_dir(dir.path().join("root/t/e/events"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("x.csv")],
            "no temporary file remains"
        );
    }

    #[test]
    fn leftover_temporary_files_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let dest = DirDestination::new(&root, "managed");
        let mut up = Box::new(dest.begin("t/e/events/done.csv").unwrap());
        up.part(b"x").unwrap();
        up.finish(b"").unwrap();
        // What a kill -9 leaves: an upload never finished nor aborted (no destructor runs).
        let mut cut = dest.begin("t/e/events/cut.csv").unwrap();
        cut.part(b"partial").unwrap();
        std::mem::forget(cut);
        fs::write(root.join("t/keep.partial"), "not ours: no leading dot").unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join(".x.partial"), "outside the root").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();

        assert_eq!(remove_leftovers(&root), 1);
        let mut left: Vec<_> = fs::read_dir(root.join("t/e/events"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["done.csv"]);
        assert!(root.join("t/keep.partial").exists());
        assert!(
            outside.join(".x.partial").exists(),
            "links are not followed"
        );
        assert_eq!(remove_leftovers(&dir.path().join("missing")), 0);
    }

    #[test]
    fn refuses_keys_and_links_that_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let dest = DirDestination::new(&root, "managed");
        std::os::unix::fs::symlink(outside.join("secret"), root.join("file-link")).unwrap();
        fs::write(outside.join("secret"), "outside").unwrap();
        for key in [
            "../outside/x.csv",
            "/tmp/x.csv",
            "link/x.csv",
            "link/deeper/x.csv",
            "a/../../outside/x",
        ] {
            assert!(dest.begin(key).is_err(), "{key}");
        }
        assert!(
            dest.open("file-link").is_err(),
            "a link to a file outside is not read"
        );
        fs::remove_file(outside.join("secret")).unwrap();
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "nothing was written outside the root"
        );
        assert!(dest.begin("fine/x.csv").is_ok());
    }
}
