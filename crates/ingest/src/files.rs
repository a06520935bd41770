//! Finding a source's files (a path, a directory, a glob, or an object-store URL with a glob)
//! and staging each one locally with its size and SHA-256, the identity the ingest ledger uses.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use dataflow_core::config::{FileFormat, SourceConfig};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use url::Url;

use crate::error::{Error, Result};

/// A file ready to parse.
#[derive(Debug)]
pub struct StagedFile {
    /// Where the file lives, as the user knows it (path or URL).
    pub location: String,
    /// A local copy or the file itself.
    pub local: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    _temp: Option<tempfile::TempPath>,
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |e| Error::Io {
        context,
        message: e.to_string(),
    }
}

fn extensions(format: FileFormat) -> &'static [&'static str] {
    match format {
        FileFormat::Csv => &["csv"],
        FileFormat::Json => &["json", "jsonl", "ndjson"],
        FileFormat::Parquet => &["parquet", "pq"],
    }
}

fn has_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

fn is_remote(location: &str) -> bool {
    location.contains("://")
}

/// Lists the files of a source, sorted. `location` is the configured path resolved against the
/// project directory.
pub async fn discover(
    source_name: &str,
    source: &SourceConfig,
    location: &str,
) -> Result<Vec<String>> {
    let files = if is_remote(location) {
        discover_remote(source, location).await?
    } else {
        discover_local(source, location)?
    };
    if files.is_empty() {
        return Err(Error::NoFiles {
            source_name: source_name.to_string(),
            path: location.to_string(),
        });
    }
    Ok(files)
}

fn discover_local(source: &SourceConfig, location: &str) -> Result<Vec<String>> {
    let path = Path::new(location);
    let mut files = Vec::new();
    if has_glob(location) {
        let entries = glob::glob(location).map_err(|e| Error::Io {
            context: format!("invalid glob `{location}`"),
            message: e.to_string(),
        })?;
        for entry in entries.flatten() {
            if entry.is_file() {
                files.push(entry.to_string_lossy().into_owned());
            }
        }
    } else if path.is_dir() {
        let wanted = extensions(source.format);
        for entry in std::fs::read_dir(path).map_err(io(format!("cannot list {location}")))? {
            let entry = entry.map_err(io(format!("cannot list {location}")))?;
            let file = entry.path();
            let matches = file
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| wanted.contains(&e.to_ascii_lowercase().as_str()));
            if file.is_file() && matches {
                files.push(file.to_string_lossy().into_owned());
            }
        }
    } else if path.is_file() {
        files.push(location.to_string());
    }
    files.sort();
    Ok(files)
}

/// Whether the local file `file` is one of the files `location` (a source's path resolved
/// against the project directory: a file, a directory or a glob) names, so it can be read with
/// that source's schema. Remote locations never match.
pub fn names_file(source: &SourceConfig, location: &str, file: &Path) -> bool {
    if is_remote(location) {
        return false;
    }
    let absolute = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let file = absolute(file);
    if has_glob(location) {
        // The pattern's directory part made absolute the same way as the file.
        let pattern = Path::new(location);
        let (Some(parent), Some(name)) = (pattern.parent(), pattern.file_name()) else {
            return false;
        };
        let anchored = if has_glob(&parent.to_string_lossy()) {
            pattern.to_path_buf()
        } else {
            absolute(parent).join(name)
        };
        return glob::Pattern::new(&anchored.to_string_lossy())
            .is_ok_and(|p| p.matches_path(&file));
    }
    let path = Path::new(location);
    if path.is_dir() {
        let wanted = extensions(source.format);
        return file.parent() == Some(absolute(path).as_path())
            && file
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| wanted.contains(&e.to_ascii_lowercase().as_str()));
    }
    absolute(path) == file
}

/// Opens the object store for a URL. S3 credentials and region come from the standard `AWS_*`
/// environment variables.
fn store_for(url: &Url) -> Result<(Box<dyn ObjectStore>, ObjectPath)> {
    let failed = |e: object_store::Error| Error::Io {
        context: format!("cannot open object store for {url}"),
        message: e.to_string(),
    };
    if url.scheme() == "s3" {
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_url(url.as_str())
            .build()
            .map_err(failed)?;
        let path = ObjectPath::from_url_path(url.path()).map_err(|e| failed(e.into()))?;
        return Ok((Box::new(store), path));
    }
    object_store::parse_url(url).map_err(failed)
}

async fn discover_remote(source: &SourceConfig, location: &str) -> Result<Vec<String>> {
    let bad_url = |e: url::ParseError| Error::Io {
        context: format!("invalid URL `{location}`"),
        message: e.to_string(),
    };
    // Split off the glob part: list the longest prefix without wildcards, then match.
    let (base, pattern) = match location.find(['*', '?', '[']) {
        Some(index) => {
            let slash = location[..index].rfind('/').map_or(0, |s| s + 1);
            (&location[..slash], Some(&location[slash..]))
        }
        None => (location, None),
    };
    let base_url = Url::parse(base).map_err(bad_url)?;
    let (store, prefix) = store_for(&base_url)?;
    let matcher = match pattern {
        Some(p) => Some(glob::Pattern::new(p).map_err(|e| Error::Io {
            context: format!("invalid glob `{location}`"),
            message: e.to_string(),
        })?),
        None => None,
    };
    let wanted = extensions(source.format);
    let listed: Vec<_> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| Error::Io {
            context: format!("cannot list {base}"),
            message: e.to_string(),
        })?;
    let mut files = Vec::new();
    for meta in listed {
        let full = meta.location.to_string();
        let relative = full
            .strip_prefix(prefix.as_ref())
            .unwrap_or(&full)
            .trim_start_matches('/');
        let keep = match &matcher {
            Some(m) => m.matches(relative),
            None => {
                full == prefix.as_ref()
                    || relative
                        .rsplit('.')
                        .next()
                        .is_some_and(|e| wanted.contains(&e.to_ascii_lowercase().as_str()))
            }
        };
        if keep {
            let mut url = base_url.clone();
            url.set_path(&format!("/{full}"));
            files.push(url.to_string());
        }
    }
    files.sort();
    Ok(files)
}

/// Stages one file: hashes a local file in place, or downloads a remote one to a temporary file
/// while hashing it.
pub async fn stage(location: &str) -> Result<StagedFile> {
    if !is_remote(location) {
        let path = PathBuf::from(location);
        let owned = location.to_string();
        let (size, sha256) = tokio::task::spawn_blocking(move || hash_file(&path))
            .await
            .map_err(Error::internal)??;
        return Ok(StagedFile {
            location: owned.clone(),
            local: PathBuf::from(owned),
            size,
            sha256,
            _temp: None,
        });
    }
    let url = Url::parse(location).map_err(|e| Error::Io {
        context: format!("invalid URL `{location}`"),
        message: e.to_string(),
    })?;
    let (store, path) = store_for(&url)?;
    let result = store.get(&path).await.map_err(|e| Error::Io {
        context: format!("cannot read {location}"),
        message: e.to_string(),
    })?;
    let mut stream = result.into_stream();
    let temp = tempfile::NamedTempFile::new().map_err(io("cannot create a temporary file"))?;
    let (mut file, temp_path) = temp.into_parts();
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.try_next().await.map_err(|e| Error::Io {
        context: format!("cannot read {location}"),
        message: e.to_string(),
    })? {
        hasher.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk)
            .map_err(io("cannot write a temporary file"))?;
    }
    file.flush().map_err(io("cannot write a temporary file"))?;
    Ok(StagedFile {
        location: location.to_string(),
        local: temp_path.to_path_buf(),
        size,
        sha256: hex(&hasher.finalize()),
        _temp: Some(temp_path),
    })
}

fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut file =
        std::fs::File::open(path).map_err(io(format!("cannot open {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(io(format!("cannot read {}", path.display())))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buffer[..n]);
    }
    Ok((size, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(format: &str) -> SourceConfig {
        serde_yaml_ng::from_str(&format!(
            "format: {format}\npath: unused\ncolumns:\n  - {{name: id, type: bigint}}\n"
        ))
        .expect("source")
    }

    #[test]
    fn a_source_names_its_files_by_path_glob_or_directory() {
        let dir = tempfile::tempdir().expect("dir");
        let incoming = dir.path().join("in");
        std::fs::create_dir_all(&incoming).expect("mkdir");
        let orders = incoming.join("orders_1.csv");
        let other = incoming.join("customers.csv");
        std::fs::write(&orders, "id\n").expect("write");
        std::fs::write(&other, "id\n").expect("write");
        let csv = source("csv");
        let glob = format!("{}/orders*.csv", incoming.display());
        assert!(names_file(&csv, &glob, &orders));
        assert!(!names_file(&csv, &glob, &other));
        // Relative spellings of the same file match.
        let dotted = incoming.join("../in/orders_1.csv");
        assert!(names_file(&csv, &glob, &dotted));
        let folder = incoming.to_string_lossy().into_owned();
        assert!(names_file(&csv, &folder, &other));
        assert!(!names_file(&source("json"), &folder, &other));
        assert!(names_file(&csv, &orders.to_string_lossy(), &orders));
        assert!(!names_file(&csv, &orders.to_string_lossy(), &other));
        assert!(!names_file(&csv, "s3://bucket/in/*.csv", &orders));
    }
}
