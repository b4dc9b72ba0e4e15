//! Where the Polygon API key is kept: the operating system's keyring where one runs
//! (Secret Service on Linux, Keychain, Credential Manager), otherwise a file in the app's
//! config directory that only the user can read (mode 0600). Never the settings store. The
//! page only ever sees a hint (`••••1a2b`) and which of the two holds the key.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use secrecy::{ExposeSecret, SecretString};
use tracing::{info, warn};

const SERVICE: &str = "io.tickstock.admin";
const ACCOUNT: &str = "polygon-api-key";

/// The key's home, probed once at start.
pub struct KeyStore {
    file: PathBuf,
    keyring: Option<keyring::Entry>,
    cached: RwLock<Option<SecretString>>,
}

fn keyring_entry() -> Option<keyring::Entry> {
    if std::env::var_os("TICKSTOCK_NO_KEYRING").is_some() {
        return None;
    }
    let entry = keyring::Entry::new(SERVICE, ACCOUNT).ok()?;
    // A store that answers (with the key or with "no entry") is usable.
    match entry.get_password() {
        Ok(_) | Err(keyring::Error::NoEntry) => Some(entry),
        Err(e) => {
            info!("no usable OS keyring ({e}); the API key is kept in a private file");
            None
        }
    }
}

fn read_file(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn write_private(path: &Path, key: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
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
    std::fs::rename(&tmp, path)
}

fn remove_file(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

impl KeyStore {
    /// Probes the keyring and reads the stored key. Blocking: call outside async code.
    /// A key left in the file while a keyring now runs is moved into the keyring.
    pub fn open(config_dir: &Path) -> KeyStore {
        let file = config_dir.join("polygon-api-key");
        let keyring = keyring_entry();
        let mut key = keyring
            .as_ref()
            .and_then(|e| e.get_password().ok())
            .filter(|k| !k.trim().is_empty());
        if key.is_none() {
            if let Some(from_file) = read_file(&file) {
                if let Some(entry) = &keyring {
                    match entry.set_password(&from_file) {
                        Ok(()) => {
                            let _ = remove_file(&file);
                            info!("moved the API key from its file into the OS keyring");
                        }
                        Err(e) => warn!("could not move the API key into the keyring: {e}"),
                    }
                }
                key = Some(from_file);
            }
        }
        KeyStore {
            file,
            keyring,
            cached: RwLock::new(key.map(SecretString::from)),
        }
    }

    /// Where a key is (or would be) kept: `keyring` or `file`.
    pub fn storage(&self) -> &'static str {
        if self.keyring.is_some() {
            "keyring"
        } else {
            "file"
        }
    }

    /// The key: the `POLYGON_API_KEY` environment variable wins over the stored one.
    pub fn load(&self) -> Option<SecretString> {
        if let Ok(k) = std::env::var("POLYGON_API_KEY") {
            if !k.trim().is_empty() {
                return Some(SecretString::from(k.trim().to_string()));
            }
        }
        self.cached.read().expect("key lock").clone()
    }

    /// Stores a key. Blocking (keyring): call from a blocking task.
    pub fn save(&self, key: &str) -> Result<(), String> {
        let key = key.trim();
        match &self.keyring {
            Some(entry) => entry.set_password(key).map_err(|e| e.to_string())?,
            None => write_private(&self.file, key).map_err(|e| e.to_string())?,
        }
        *self.cached.write().expect("key lock") = Some(SecretString::from(key.to_string()));
        Ok(())
    }

    /// Forgets the key everywhere it may be.
    pub fn remove(&self) -> Result<(), String> {
        if let Some(entry) = &self.keyring {
            match entry.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        remove_file(&self.file).map_err(|e| e.to_string())?;
        *self.cached.write().expect("key lock") = None;
        Ok(())
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
    fn without_a_keyring_the_key_file_is_private() {
        std::env::set_var("TICKSTOCK_NO_KEYRING", "1");
        let dir = tempfile::tempdir().unwrap();
        let ks = KeyStore::open(dir.path());
        assert_eq!(ks.storage(), "file");
        ks.save(" abcdef123456 ").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("polygon-api-key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = KeyStore::open(dir.path());
        if std::env::var("POLYGON_API_KEY").is_err() {
            assert_eq!(again.load().unwrap().expose_secret(), "abcdef123456");
        }
        assert_eq!(
            hint(&SecretString::from("abcdef123456".to_string())),
            "••••3456"
        );
        again.remove().unwrap();
        assert!(!dir.path().join("polygon-api-key").exists());
    }
}
