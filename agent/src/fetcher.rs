//! The fetcher: puts every `CommandInfo.uris` entry into the sandbox before
//! the executor starts (upstream `launcher/fetcher.cpp`, `docs/fetcher.md`).
//!
//! Supported sources: `http(s)://` (followed redirects, `http(s)_proxy`
//! honoured, aborts when no byte arrives for `--fetcher_stall_timeout`),
//! `file://` and absolute paths, relative paths under `--frameworks_home`,
//! and any other scheme through `hadoop fs -copyToLocal`.
//! The file is named after `output_file` (a relative path, directories
//! created) or the URI's basename *including its query string*. Then
//! `executable` makes it mode 755 (and skips extraction); otherwise, with
//! `extract` (default true), `.tar`, `.tar.gz`, `.tgz`, `.tar.bz2`, `.tbz2`,
//! `.tar.xz`, `.txz`, `.zip` and `.gz` files are unpacked next to it, in
//! process (no dependency on system `tar`/`unzip`). The archive stays too.
//! The per-user cache (`URI.cache`) is not implemented: cached URIs are
//! fetched directly, which is upstream's own fallback.
//!
//! Owns only files under the given sandbox; it never changes agent state.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mesos_proto::mesos::command_info::Uri;
use tokio::io::AsyncWriteExt;

use crate::error::AgentError;

#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    frameworks_home: Option<PathBuf>,
    hadoop_home: Option<PathBuf>,
    stall_timeout: Duration,
    /// Shared by every clone, so the agent's metrics see all fetches.
    counts: Arc<FetchCounts>,
}

/// Container fetches that ended (upstream's
/// `containerizer/fetcher/task_fetches_{succeeded,failed}`): one per
/// container launch, whatever its number of URIs; a fetch cancelled by the
/// container's destruction is neither.
#[derive(Debug, Default)]
pub struct FetchCounts {
    succeeded: AtomicU64,
    failed: AtomicU64,
}

impl FetchCounts {
    pub fn succeeded(&self) -> u64 {
        self.succeeded.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

impl Fetcher {
    pub fn new(
        frameworks_home: Option<PathBuf>,
        hadoop_home: Option<PathBuf>,
        stall_timeout: Duration,
    ) -> Result<Self, AgentError> {
        let client = reqwest::Client::builder()
            .connect_timeout(stall_timeout)
            .build()
            .map_err(|e| AgentError::Fetch(format!("Failed to create an HTTP client: {e}")))?;
        Ok(Fetcher {
            client,
            frameworks_home,
            hadoop_home,
            stall_timeout,
            counts: Arc::default(),
        })
    }

    /// How many container fetches succeeded and failed so far.
    pub fn counts(&self) -> &FetchCounts {
        &self.counts
    }

    /// Fetches all `uris` in order into `sandbox`; the first failure stops
    /// the fetch and is returned.
    pub async fn fetch_all(&self, uris: &[Uri], sandbox: &Path) -> Result<(), AgentError> {
        for uri in uris {
            if let Err(e) = self.fetch(uri, sandbox).await {
                self.counts.failed.fetch_add(1, Ordering::Relaxed);
                return Err(AgentError::Fetch(format!(
                    "Failed to fetch '{}': {e}",
                    uri.value
                )));
            }
        }
        self.counts.succeeded.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn fetch(&self, uri: &Uri, sandbox: &Path) -> Result<PathBuf, String> {
        let name = match &uri.output_file {
            Some(output) => relative_output(output)?,
            None => PathBuf::from(basename(&uri.value)?),
        };
        let destination = sandbox.join(name);
        if let Some(parent) = destination.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| format!("Failed to create directory '{}': {e}", parent.display()))?;
        }

        let value = uri.value.trim();
        let lower = value.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            self.download(value, &destination).await?;
        } else if let Some(path) = value.strip_prefix("file://") {
            copy_local(Path::new(path), &destination).await?;
        } else if value.contains("://") {
            self.hadoop_copy(value, &destination).await?;
        } else {
            let source = self.local_source(value)?;
            copy_local(&source, &destination).await?;
        }

        let executable = uri.executable.unwrap_or(false);
        let extract = uri.extract.unwrap_or(true);
        let target = destination.clone();
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            if executable {
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| format!("Failed to chmod '{}': {e}", target.display()))
            } else if extract {
                let dir = target.parent().unwrap_or(Path::new("."));
                extract_archive(&target, dir).map(|_| ())
            } else {
                Ok(())
            }
        })
        .await
        .map_err(|e| format!("Fetcher task failed: {e}"))??;
        Ok(destination)
    }

    fn local_source(&self, value: &str) -> Result<PathBuf, String> {
        let path = Path::new(value);
        if path.is_absolute() {
            return Ok(path.to_path_buf());
        }
        match &self.frameworks_home {
            Some(home) => Ok(home.join(path)),
            None => Err(
                "A relative path was passed for the resource but the Mesos framework \
                         home was not specified. Please either provide this config option or \
                         avoid using a relative path"
                    .to_string(),
            ),
        }
    }

    async fn download(&self, url: &str, destination: &Path) -> Result<(), String> {
        let stall = self.stall_timeout;
        let mut response = tokio::time::timeout(stall, self.client.get(url).send())
            .await
            .map_err(|_| format!("Download stalled for {stall:?} while connecting"))?
            .map_err(|e| format!("Error downloading resource: {}", error_chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "Error downloading resource, received HTTP return code {}",
                status.as_u16()
            ));
        }
        let mut file = tokio::fs::File::create(destination)
            .await
            .map_err(|e| format!("Failed to create '{}': {e}", destination.display()))?;
        loop {
            let chunk = tokio::time::timeout(stall, response.chunk())
                .await
                .map_err(|_| format!("Download stalled: no data for {stall:?}"))?
                .map_err(|e| format!("Error downloading resource: {}", error_chain(&e)))?;
            let Some(chunk) = chunk else { break };
            file.write_all(&chunk)
                .await
                .map_err(|e| format!("Failed to write '{}': {e}", destination.display()))?;
        }
        file.flush()
            .await
            .map_err(|e| format!("Failed to write '{}': {e}", destination.display()))?;
        Ok(())
    }

    async fn hadoop_copy(&self, uri: &str, destination: &Path) -> Result<(), String> {
        let hadoop = match &self.hadoop_home {
            Some(home) => home.join("bin").join("hadoop"),
            None => PathBuf::from("hadoop"),
        };
        let output = tokio::process::Command::new(&hadoop)
            .arg("fs")
            .arg("-copyToLocal")
            .arg(uri)
            .arg(destination)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| {
                format!(
                    "Unsupported URI scheme; running '{}' to fetch it failed: {e}",
                    hadoop.display()
                )
            })?;
        if !output.status.success() {
            return Err(format!(
                "HDFS copyToLocal failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(())
    }
}

/// An error with its causes (`a: b: c`), since HTTP client errors keep the
/// useful part (e.g. "Connection refused") in their sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The default file name: everything after the last `/`, query included.
pub fn basename(uri: &str) -> Result<String, String> {
    let trimmed = uri.trim().trim_end_matches('/');
    let name = trimmed.rsplit('/').next().unwrap_or(trimmed);
    if name.is_empty() || name == "." || name == ".." || name.ends_with(':') {
        return Err(format!(
            "Cannot derive a file name from '{uri}'; set 'output_file'"
        ));
    }
    Ok(name.to_string())
}

/// `output_file` may name subdirectories but must stay inside the sandbox.
fn relative_output(output: &str) -> Result<PathBuf, String> {
    let path = Path::new(output);
    let inside = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if output.is_empty() || !inside {
        return Err(format!(
            "Output file '{output}' must be a relative path inside the sandbox"
        ));
    }
    Ok(path.to_path_buf())
}

async fn copy_local(source: &Path, destination: &Path) -> Result<(), String> {
    let meta = tokio::fs::metadata(source)
        .await
        .map_err(|e| format!("Failed to access '{}': {e}", source.display()))?;
    if meta.is_dir() {
        return Err(format!("'{}' is a directory, not a file", source.display()));
    }
    tokio::fs::copy(source, destination).await.map_err(|e| {
        format!(
            "Failed to copy '{}' to '{}': {e}",
            source.display(),
            destination.display()
        )
    })?;
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum ArchiveKind {
    Tar,
    Zip,
    Gzip,
}

fn archive_kind(path: &Path) -> Option<ArchiveKind> {
    let name = path.file_name()?.to_string_lossy().to_string();
    const TARS: [&str; 7] = [
        ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz",
    ];
    if TARS.iter().any(|ext| name.ends_with(ext)) {
        Some(ArchiveKind::Tar)
    } else if name.ends_with(".gz") {
        Some(ArchiveKind::Gzip)
    } else if name.ends_with(".zip") {
        Some(ArchiveKind::Zip)
    } else {
        None
    }
}

/// Unpacks a recognised archive into `dir`; `Ok(false)` when the file is not
/// an archive by name.
pub fn extract_archive(archive: &Path, dir: &Path) -> Result<bool, String> {
    let Some(kind) = archive_kind(archive) else {
        return Ok(false);
    };
    let open =
        || File::open(archive).map_err(|e| format!("Failed to open '{}': {e}", archive.display()));
    let failed =
        |e: &dyn std::fmt::Display| format!("Failed to extract '{}': {e}", archive.display());
    match kind {
        ArchiveKind::Tar => {
            // Like `tar -xf`, detect the compression from the content.
            let mut reader = BufReader::new(open()?);
            let mut magic = [0u8; 6];
            let n = peek(&mut reader, &mut magic).map_err(|e| failed(&e))?;
            let file = open()?;
            let decoded: Box<dyn Read> = match &magic[..n] {
                [0x1f, 0x8b, ..] => {
                    Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
                }
                [b'B', b'Z', b'h', ..] => {
                    Box::new(bzip2::read::MultiBzDecoder::new(BufReader::new(file)))
                }
                [0xfd, b'7', b'z', b'X', b'Z', 0x00] => Box::new(
                    xz2::read::XzDecoder::new_multi_decoder(BufReader::new(file)),
                ),
                _ => Box::new(BufReader::new(file)),
            };
            let mut tar = tar::Archive::new(decoded);
            tar.set_preserve_permissions(true);
            tar.set_overwrite(true);
            tar.unpack(dir).map_err(|e| failed(&e))?;
        }
        ArchiveKind::Zip => {
            let mut zip = zip::ZipArchive::new(open()?).map_err(|e| failed(&e))?;
            zip.extract(dir).map_err(|e| failed(&e))?;
        }
        ArchiveKind::Gzip => {
            let name = archive
                .file_name()
                .map(|n| n.to_string_lossy().trim_end_matches(".gz").to_string())
                .unwrap_or_default();
            if name.is_empty() {
                return Err(failed(&"empty file name"));
            }
            let target = dir.join(name);
            let mut decoder = flate2::read::MultiGzDecoder::new(BufReader::new(open()?));
            let mut out = File::create(&target).map_err(|e| failed(&e))?;
            std::io::copy(&mut decoder, &mut out).map_err(|e| failed(&e))?;
        }
    }
    Ok(true)
}

/// Reads up to `buf.len()` bytes (fewer at end of file).
fn peek(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn uri(value: &str) -> Uri {
        Uri {
            value: value.to_string(),
            ..Default::default()
        }
    }

    fn fetcher() -> Fetcher {
        Fetcher::new(None, None, Duration::from_secs(5)).unwrap()
    }

    /// Builds a tar with one file `dir/hello.txt` holding "hello".
    fn tar_bytes() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "dir/hello.txt", &b"hello"[..])
            .unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn basename_keeps_the_query_string() {
        assert_eq!(basename("http://h/a/b.tgz?x=1").unwrap(), "b.tgz?x=1");
        assert_eq!(basename("/tmp/file.txt").unwrap(), "file.txt");
        assert_eq!(basename("hdfs://nn/dir/").unwrap(), "dir");
        assert!(basename("http://").is_err());
    }

    #[test]
    fn output_file_must_stay_inside() {
        assert!(relative_output("sub/dir/f").is_ok());
        assert!(relative_output("/etc/passwd").is_err());
        assert!(relative_output("../x").is_err());
    }

    #[tokio::test]
    async fn copies_local_files_and_file_uris() {
        let src = tempfile::tempdir().unwrap();
        let sandbox = tempfile::tempdir().unwrap();
        let file = src.path().join("script.sh");
        std::fs::write(&file, "echo hi").unwrap();

        let mut exec = uri(file.to_str().unwrap());
        exec.executable = Some(true);
        let mut renamed = uri(&format!("file://{}", file.display()));
        renamed.output_file = Some("nested/dir/copy.sh".into());
        fetcher()
            .fetch_all(&[exec, renamed], sandbox.path())
            .await
            .unwrap();

        let fetched = sandbox.path().join("script.sh");
        assert_eq!(std::fs::read_to_string(&fetched).unwrap(), "echo hi");
        assert_eq!(
            std::fs::metadata(&fetched).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert!(sandbox.path().join("nested/dir/copy.sh").is_file());
    }

    #[tokio::test]
    async fn failures_name_the_uri() {
        let sandbox = tempfile::tempdir().unwrap();
        let err = fetcher()
            .fetch_all(&[uri("/no/such/file.txt")], sandbox.path())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("Failed to fetch '/no/such/file.txt'"), "{err}");
        let err = fetcher()
            .fetch_all(&[uri("relative/file")], sandbox.path())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("framework home"), "{err}");
    }

    #[tokio::test]
    async fn each_container_fetch_is_counted_once_by_every_clone() {
        let src = tempfile::tempdir().unwrap();
        let sandbox = tempfile::tempdir().unwrap();
        let file = src.path().join("a.txt");
        std::fs::write(&file, "a").unwrap();
        let fetcher = fetcher();
        let clone = fetcher.clone();
        // Two URIs are one fetch; a launch without URIs is a fetch too.
        let two = [uri(file.to_str().unwrap()), uri(file.to_str().unwrap())];
        clone.fetch_all(&two, sandbox.path()).await.unwrap();
        fetcher.fetch_all(&[], sandbox.path()).await.unwrap();
        let failing = [uri(file.to_str().unwrap()), uri("/no/such/file")];
        assert!(clone.fetch_all(&failing, sandbox.path()).await.is_err());
        assert_eq!(fetcher.counts().succeeded(), 2);
        assert_eq!(fetcher.counts().failed(), 1);
    }

    #[tokio::test]
    async fn relative_paths_use_frameworks_home() {
        let home = tempfile::tempdir().unwrap();
        let sandbox = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join("bin")).unwrap();
        std::fs::write(home.path().join("bin/tool"), "x").unwrap();
        let f = Fetcher::new(
            Some(home.path().to_path_buf()),
            None,
            Duration::from_secs(5),
        )
        .unwrap();
        f.fetch_all(&[uri("bin/tool")], sandbox.path())
            .await
            .unwrap();
        assert!(sandbox.path().join("tool").is_file());
    }

    #[test]
    fn extracts_every_archive_kind() {
        let tar = tar_bytes();
        let dir = tempfile::tempdir().unwrap();

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        let tgz = gz.finish().unwrap();

        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(&tar).unwrap();
        let tbz = bz.finish().unwrap();

        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&tar).unwrap();
        let txz = xz.finish().unwrap();

        let cases: Vec<(&str, &[u8])> = vec![
            ("a.tar", &tar),
            ("b.tar.gz", &tgz),
            ("c.tgz", &tgz),
            ("d.tar.bz2", &tbz),
            ("e.tbz2", &tbz),
            ("f.tar.xz", &txz),
            ("g.txz", &txz),
        ];
        for (name, bytes) in cases {
            let out = dir.path().join(name.replace('.', "_"));
            std::fs::create_dir(&out).unwrap();
            let archive = out.join(name);
            std::fs::write(&archive, bytes).unwrap();
            assert!(extract_archive(&archive, &out).unwrap(), "{name}");
            assert_eq!(
                std::fs::read_to_string(out.join("dir/hello.txt")).unwrap(),
                "hello",
                "{name}"
            );
            assert!(archive.exists(), "the archive stays");
        }

        // zip
        let out = dir.path().join("zip");
        std::fs::create_dir(&out).unwrap();
        let archive = out.join("h.zip");
        {
            let mut zip = zip::ZipWriter::new(File::create(&archive).unwrap());
            zip.start_file("dir/hello.txt", zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(b"hello").unwrap();
            zip.finish().unwrap();
        }
        assert!(extract_archive(&archive, &out).unwrap());
        assert_eq!(
            std::fs::read_to_string(out.join("dir/hello.txt")).unwrap(),
            "hello"
        );

        // plain .gz
        let out = dir.path().join("gz");
        std::fs::create_dir(&out).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"data").unwrap();
        std::fs::write(out.join("file.txt.gz"), gz.finish().unwrap()).unwrap();
        assert!(extract_archive(&out.join("file.txt.gz"), &out).unwrap());
        assert_eq!(
            std::fs::read_to_string(out.join("file.txt")).unwrap(),
            "data"
        );

        // not an archive
        std::fs::write(dir.path().join("plain.txt"), "x").unwrap();
        assert!(!extract_archive(&dir.path().join("plain.txt"), dir.path()).unwrap());
        // a broken archive is an error
        std::fs::write(dir.path().join("broken.zip"), "not a zip").unwrap();
        assert!(extract_archive(&dir.path().join("broken.zip"), dir.path()).is_err());
    }

    /// A one-shot HTTP/1.1 server on 127.0.0.1 answering every request with
    /// `status` and `body`.
    async fn serve(status: &'static str, body: Vec<u8>) -> std::net::SocketAddr {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn downloads_over_http_and_extracts() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar_bytes()).unwrap();
        let addr = serve("200 OK", gz.finish().unwrap()).await;
        let sandbox = tempfile::tempdir().unwrap();

        let archive = uri(&format!("http://{addr}/dist/pkg.tgz"));
        let mut with_query = uri(&format!("http://{addr}/dist/pkg.tgz?version=1"));
        with_query.extract = Some(true);
        let mut kept = uri(&format!("http://{addr}/dist/raw.tgz"));
        kept.extract = Some(false);
        fetcher()
            .fetch_all(&[archive, with_query, kept], sandbox.path())
            .await
            .unwrap();
        assert!(sandbox.path().join("pkg.tgz").is_file());
        assert_eq!(
            std::fs::read_to_string(sandbox.path().join("dir/hello.txt")).unwrap(),
            "hello"
        );
        // The query string stays in the name, so that one is not unpacked.
        assert!(sandbox.path().join("pkg.tgz?version=1").is_file());
        assert!(sandbox.path().join("raw.tgz").is_file());
    }

    #[tokio::test]
    async fn http_errors_fail_the_fetch() {
        let addr = serve("404 Not Found", b"nope".to_vec()).await;
        let sandbox = tempfile::tempdir().unwrap();
        let err = fetcher()
            .fetch_all(
                &[uri(&format!("http://{addr}/missing.txt"))],
                sandbox.path(),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("404"), "{err}");
    }
}
