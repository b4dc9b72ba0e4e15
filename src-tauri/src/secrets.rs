//! Where the Polygon API key is kept: a file in the app's config directory that only the
//! user can read (mode 0600), never the settings store. The page only ever sees a hint
//! (`••••1a2b`) and where the key lives.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

/// The key file.
#[derive(Debug, Clone)]
pub struct KeyFile {
    path: PathBuf,
}

impl KeyFile {
    pub fn new(config_dir: &Path) -> KeyFile {
        KeyFile {
            path: config_dir.join("polygon-api-key"),
        }
    }

    /// Where keys are kept, as the page names it.
    pub fn storage(&self) -> &'static str {
        "file"
    }

    /// The stored key: the `POLYGON_API_KEY` environment variable wins over the file.
    pub fn load(&self) -> Option<SecretString> {
        if let Ok(k) = std::env::var("POLYGON_API_KEY") {
            if !k.trim().is_empty() {
                return Some(SecretString::from(k.trim().to_string()));
            }
        }
        std::fs::read_to_string(&self.path)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .map(SecretString::from)
    }

    /// Stores a key, readable by the user only.
    pub fn save(&self, key: &str) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("tmp");
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            f.write_all(key.trim().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)
    }

    pub fn remove(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// `••••` and the last four characters.
pub fn hint(key: &SecretString) -> String {
    let k = key.expose_secret();
    let tail: String = k
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("••••{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trip_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let f = KeyFile::new(dir.path());
        f.save(" abcdef123456 ").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("polygon-api-key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        if std::env::var("POLYGON_API_KEY").is_err() {
            assert_eq!(f.load().unwrap().expose_secret(), "abcdef123456");
        }
        assert_eq!(
            hint(&SecretString::from("abcdef123456".to_string())),
            "••••3456"
        );
        f.remove().unwrap();
    }
}
