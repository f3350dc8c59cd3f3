//! Secrets at rest (seed 002: webhook secrets belong in a vault, not in plain storage). Every secret a document
//! holds — endpoints' signing keys (outbound, timers', bots') and custom headers, transformations' variables,
//! inbound registrations' secrets, the timers' signing key and bots' incoming-webhook tokens — and every stored
//! idempotent answer (it may show a secret) is sealed with XChaCha20-Poly1305 under the **main key** before it
//! reaches the database, as `enc:v1:<key id>:<base64url(nonce ‖ ciphertext)>`, bound to its document (kind,
//! organization, id) so that a sealed value cannot be moved to another document. [`start`] gives the store its
//! key, and the store's document and idempotency queries seal and open with it: the engine and the faces see
//! plaintext, the database never does. Opened values live in the caches above the store as before, so the
//! delivery path does not open a secret per message.
//!
//! The main key is 32 bytes: `HOOKD_MAIN_KEY` (64 hex digits or base64), or a key file (`--main-key-file`; by
//! default `<database file>.key` beside a SQLite database, `hookd-main.key` in the working directory for
//! PostgreSQL), made with mode 0600 on first start. The `meta` table holds a known text sealed under the key: a
//! start with another key stops with an error instead of signing with garbage. `hookd keys rotate` reseals
//! everything under a new key in one transaction.

use std::borrow::Cow;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::*;

const PREFIX: &str = "enc:v1:";
/// The meta row holding the check value.
pub const CHECK_NAME: &str = "main_key_check";
const CHECK_TEXT: &[u8] = b"hookd main key check";
const NONCE: usize = 24;

/// Which string fields of which documents are secrets (`*` walks an array's items or an object's values). Named
/// here, below the faces, so that every secret is sealed in one place whichever face stored it.
const SECRET_FIELDS: &[(DocKind, &[&[&str]])] = &[
    // Outbound, timers' and bots' endpoints: current and rotated-out signing keys; custom headers and the
    // transformation's variables, which carry receivers' tokens (`Authorization`, a GitHub token).
    (DocKind::Endpoint, &[&["secrets", "*", "key"], &["headers", "*"], &["transformation", "variables", "*"]]),
    // A queue source's `config` (broker URLs with credentials, access keys), kept as one string.
    (DocKind::InboundRegistration, &[&["secrets", "*", "key"], &["transformation", "variables", "*"], &["source"]]),
    // The timers' application keeps the organization's timer signing key; older versions kept it in the
    // metadata, where it is still opened to be moved (see `upgrade`).
    (DocKind::Application, &[&["signing_key"], &["metadata", LEGACY_TIMER_KEY.1]]),
    (DocKind::Bot, &[&["incoming_webhook_token"]]),
    // A destination's whole `config` (URLs with credentials, passwords, keys, FIFO headers), kept as one string.
    (DocKind::Destination, &[&["config"], &["poller_token", "token"], &["old_poller_token", "token"]]),
    // An ingest source's URL tokens, current and rotated-out: whoever holds one may post to the source.
    (DocKind::IngestSource, &[&["tokens", "*", "key"]]),
];

/// The timers application's uid, and the metadata key older versions kept its signing key under.
const LEGACY_TIMER_KEY: (&str, &str) = ("hookd-timers", "timerWebhookSecret");

/// Moves what an older version left where the API shows it: the timers application's signing key, from its
/// metadata to its own field. The key stays the same, so receivers keep verifying. Runs on opened documents.
fn upgrade(rec: &DocRecord, data: Cow<'_, str>) -> StoreResult<String> {
    let (uid, field) = LEGACY_TIMER_KEY;
    if rec.kind != DocKind::Application || rec.uid.as_deref() != Some(uid) || !data.contains(field) {
        return Ok(data.into_owned());
    }
    let mut v: Value = serde_json::from_str(&data).map_err(anyhow::Error::from)?;
    let Some(key) = v.get_mut("metadata").and_then(Value::as_object_mut).and_then(|m| m.remove(field)) else {
        return Ok(data.into_owned());
    };
    if v.get("signing_key").is_none_or(Value::is_null) {
        v["signing_key"] = key;
    }
    Ok(serde_json::to_string(&v).map_err(anyhow::Error::from)?)
}

fn secret_paths(kind: DocKind) -> Option<&'static [&'static [&'static str]]> {
    SECRET_FIELDS.iter().find(|(k, _)| *k == kind).map(|(_, p)| *p)
}

/// The 32-byte main key and its id (the first 4 bytes of a SHA-256 of it, hex), which sealed values carry.
#[derive(Clone)]
pub struct MainKey {
    bytes: [u8; 32],
    cipher: XChaCha20Poly1305,
    id: String,
}

impl std::fmt::Debug for MainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MainKey({})", self.id)
    }
}

impl MainKey {
    pub fn from_bytes(bytes: [u8; 32]) -> MainKey {
        let digest = Sha256::new().chain_update(b"hookd main key id\0").chain_update(bytes).finalize();
        MainKey { bytes, cipher: XChaCha20Poly1305::new(&bytes.into()), id: hex::encode(&digest[..4]) }
    }

    pub fn generate() -> MainKey {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        MainKey::from_bytes(bytes)
    }

    /// 64 hex digits, or base64 (standard or URL-safe, padded or not) of 32 bytes.
    pub fn parse(text: &str) -> anyhow::Result<MainKey> {
        let text = text.trim();
        let decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].iter().find_map(|e| e.decode(text).ok())
        };
        let bytes: [u8; 32] = decoded.and_then(|d| d.try_into().ok()).ok_or_else(|| {
            anyhow::anyhow!(
                "a main key is 32 bytes, written as 64 hex digits or as base64 (e.g. `openssl rand -hex 32`)"
            )
        })?;
        Ok(MainKey::from_bytes(bytes))
    }

    /// The key as the key file holds it: 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plain` with a fresh random nonce, bound to `aad`.
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> String {
        let mut nonce = [0u8; NONCE];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
            .expect("XChaCha20-Poly1305 seals any length");
        let mut out = Vec::with_capacity(NONCE + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        format!("{PREFIX}{}:{}", self.id, URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a value [`MainKey::seal`] made with this key and the same `aad`.
    pub fn open(&self, sealed: &str, aad: &[u8]) -> anyhow::Result<Vec<u8>> {
        let rest = sealed.strip_prefix(PREFIX).context("not a sealed value")?;
        let (id, data) = rest.split_once(':').context("a sealed value without a key id")?;
        anyhow::ensure!(
            id == self.id,
            "a secret sealed under main key {id} cannot be opened with main key {}",
            self.id
        );
        let data = URL_SAFE_NO_PAD.decode(data).context("a sealed value that is not base64")?;
        anyhow::ensure!(data.len() > NONCE, "a sealed value too short");
        let (nonce, ct) = data.split_at(NONCE);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| anyhow::anyhow!("a sealed value does not open with main key {} (damaged or moved)", self.id))
    }

    /// The check value stored in `meta`.
    fn check_value(&self) -> String {
        self.seal(CHECK_TEXT, CHECK_NAME.as_bytes())
    }

    /// Fails, saying what to do, unless `check` was sealed under this key.
    pub fn verify(&self, check: &str, source: &KeySource) -> anyhow::Result<()> {
        if self.open(check, CHECK_NAME.as_bytes()).is_ok_and(|t| t == CHECK_TEXT) {
            return Ok(());
        }
        let expected = check.strip_prefix(PREFIX).and_then(|r| r.split_once(':')).map_or("?", |(id, _)| id);
        anyhow::bail!(
            "wrong main key: this database's secrets are sealed under main key {expected}, and the main key from \
             {source} is {}. hookd will not start with a key that cannot open them; start it with the key the \
             database was sealed with (HOOKD_MAIN_KEY or --main-key-file)",
            self.id
        )
    }

    fn aad(kind: DocKind, org_id: &str, id: &str) -> Vec<u8> {
        format!("{}/{org_id}/{id}", kind.as_str()).into_bytes()
    }

    /// The document's JSON with its secrets sealed (every one: what reaches the store is plaintext).
    fn seal_doc(&self, kind: DocKind, org_id: &str, id: &str, data: String) -> StoreResult<String> {
        let Some(paths) = secret_paths(kind) else { return Ok(data) };
        let mut v: Value = serde_json::from_str(&data).map_err(anyhow::Error::from)?;
        let aad = Self::aad(kind, org_id, id);
        let mut any = false;
        for path in paths {
            walk(&mut v, path, &mut |s| {
                *s = self.seal(s.as_bytes(), &aad);
                any = true;
                Ok(())
            })?;
        }
        Ok(if any { serde_json::to_string(&v).map_err(anyhow::Error::from)? } else { data })
    }

    /// The document's JSON with its sealed secrets opened. Values not sealed (none, once a database has been
    /// started by this version) are kept as they are.
    pub(super) fn open_doc<'a>(
        &self,
        kind: DocKind,
        org_id: &str,
        id: &str,
        data: &'a str,
    ) -> StoreResult<Cow<'a, str>> {
        let Some(paths) = secret_paths(kind).filter(|_| data.contains(PREFIX)) else {
            return Ok(Cow::Borrowed(data));
        };
        let mut v: Value = serde_json::from_str(data).map_err(anyhow::Error::from)?;
        let aad = Self::aad(kind, org_id, id);
        for path in paths {
            walk(&mut v, path, &mut |s| {
                if s.starts_with(PREFIX) {
                    *s = String::from_utf8(self.open(s, &aad)?).context("a sealed secret that is not text")?;
                }
                Ok(())
            })?;
        }
        Ok(Cow::Owned(serde_json::to_string(&v).map_err(anyhow::Error::from)?))
    }

    pub(super) fn open_record(&self, mut rec: DocRecord) -> StoreResult<DocRecord> {
        let opened = match self.open_doc(rec.kind, &rec.org_id, &rec.id, &rec.data)? {
            Cow::Owned(data) => Some(data),
            Cow::Borrowed(_) => None,
        };
        if let Some(data) = opened {
            rec.data = data;
        }
        Ok(rec)
    }

    pub(super) fn seal_record(&self, mut rec: DocRecord) -> StoreResult<DocRecord> {
        rec.data = self.seal_doc(rec.kind, &rec.org_id, &rec.id, std::mem::take(&mut rec.data))?;
        Ok(rec)
    }

    /// Bound to the organization and the key, so that a stored answer cannot be replayed under another.
    fn answer_aad(org_id: &str, key: &str) -> Vec<u8> {
        format!("idempotency/{org_id}/{key}").into_bytes()
    }

    /// A stored idempotent answer's body, sealed.
    pub(super) fn seal_answer(&self, org_id: &str, key: &str, body: &[u8]) -> Vec<u8> {
        self.seal(body, &Self::answer_aad(org_id, key)).into_bytes()
    }

    /// A stored idempotent answer's body, opened (one that is not sealed is kept as it is).
    pub(super) fn open_answer(&self, org_id: &str, key: &str, body: Vec<u8>) -> StoreResult<Vec<u8>> {
        if !body.starts_with(PREFIX.as_bytes()) {
            return Ok(body);
        }
        let sealed = std::str::from_utf8(&body).map_err(anyhow::Error::from)?;
        Ok(self.open(sealed, &Self::answer_aad(org_id, key))?)
    }
}

/// Applies `f` to every string at `path` in `v`.
fn walk(v: &mut Value, path: &[&str], f: &mut dyn FnMut(&mut String) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let Some((first, rest)) = path.split_first() else {
        if let Value::String(s) = v {
            f(s)?;
        }
        return Ok(());
    };
    match (*first, v) {
        ("*", Value::Array(items)) => items.iter_mut().try_for_each(|item| walk(item, rest, f)),
        ("*", Value::Object(map)) => map.values_mut().try_for_each(|item| walk(item, rest, f)),
        (field, Value::Object(map)) => map.get_mut(field).map_or(Ok(()), |child| walk(child, rest, f)),
        _ => Ok(()),
    }
}

/// Where the main key came from, for messages.
#[derive(Debug, Clone)]
pub enum KeySource {
    Env,
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env => write!(f, "HOOKD_MAIN_KEY"),
            KeySource::File(p) => write!(f, "the key file {}", p.display()),
        }
    }
}

/// The key file used when none is named: `<file>.key` beside a SQLite database; for PostgreSQL, whose database
/// has no file, `hookd-main.key` in the working directory (several nodes must share one key: give them
/// `HOOKD_MAIN_KEY` or the same `--main-key-file`).
pub fn default_key_file(database_url: &str) -> PathBuf {
    match database_url.strip_prefix("sqlite://") {
        Some(path) => PathBuf::from(format!("{}.key", path.split('?').next().unwrap_or(path))),
        None => PathBuf::from("hookd-main.key"),
    }
}

/// Where the main key comes from: `HOOKD_MAIN_KEY`, else a key file.
#[derive(Clone, Default)]
pub struct KeyOptions {
    pub main_key: Option<String>,
    pub main_key_file: Option<PathBuf>,
}

/// Never shows the key.
impl std::fmt::Debug for KeyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyOptions")
            .field("main_key", &self.main_key.as_ref().map(|_| "…"))
            .field("main_key_file", &self.main_key_file)
            .finish()
    }
}

impl KeyOptions {
    fn file(&self, database_url: &str) -> PathBuf {
        self.main_key_file.clone().unwrap_or_else(|| default_key_file(database_url))
    }

    /// Reads the main key. With `create`, a missing key file is made (mode 0600) and said so in the log.
    pub fn load(&self, database_url: &str, create: bool) -> anyhow::Result<(MainKey, KeySource)> {
        if let Some(text) = self.main_key.as_deref().filter(|t| !t.trim().is_empty()) {
            return Ok((MainKey::parse(text).context("HOOKD_MAIN_KEY")?, KeySource::Env));
        }
        let path = self.file(database_url);
        let source = KeySource::File(path.clone());
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((MainKey::parse(&text).with_context(|| format!("{source}"))?, source)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let key = MainKey::generate();
                match write_new_key_file(&path, &key) {
                    Ok(()) => {
                        tracing::warn!(
                            path = %path.display(),
                            key_id = key.id(),
                            "created the main key file (mode 0600) that seals the secrets in the database: keep \
                             it with your backups, without it they cannot be read"
                        );
                        Ok((key, source))
                    }
                    // Made by another process starting at the same moment: use that one.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => self.load(database_url, false),
                    Err(e) => Err(anyhow::Error::from(e).context(format!("creating {}", path.display()))),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
                "this database's secrets are sealed under a main key, and there is none: set HOOKD_MAIN_KEY or \
                 --main-key-file, or put the key file at {}",
                path.display()
            ),
            Err(e) => Err(anyhow::Error::from(e).context(format!("reading {}", path.display()))),
        }
    }
}

/// Writes `key` to a new file at `path`, mode 0600, whole or not at all (a temporary file linked into place);
/// `AlreadyExists` when there is one.
fn write_new_key_file(path: &Path, key: &MainKey) -> std::io::Result<()> {
    let tmp = write_temp_key_file(path, key)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked
}

fn write_temp_key_file(path: &Path, key: &MainKey) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = PathBuf::from(format!("{}.{}.tmp", path.display(), crate::ids::random_token(8)));
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(format!("{}\n", key.to_hex()).as_bytes())?;
    f.sync_all()?;
    Ok(tmp)
}

/// Opens the store's secrets with the main key: checks the key against the store's check value, or, on a store
/// that has none (new, or written by a version that kept secrets in plaintext), seals every secret and stores
/// the check value. Returns the store the rest of hookd uses.
pub async fn start(inner: Arc<dyn Store>, keys: &KeyOptions, database_url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let check = inner.meta_get(CHECK_NAME).await?;
    let (key, source) = keys.load(database_url, check.is_none())?;
    match check {
        Some(check) => key.verify(&check, &source)?,
        None => match inner.reseal(reseal_job(&key, &key, None)).await {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(documents = n, key_id = key.id(), "sealed the secrets stored in plaintext");
                }
            }
            // Another node sealed them first: its key must be ours.
            Err(StoreError::Conflict(_)) => {
                let check = inner.meta_get(CHECK_NAME).await?.context("the main key check vanished")?;
                key.verify(&check, &source)?;
            }
            Err(e) => return Err(e.into()),
        },
    }
    // Fields named secret since the store was sealed (custom headers, transformation variables) are sealed,
    // and what `upgrade` moves is moved, once, by the first node to start with this list.
    let fields = inner.meta_get(FIELDS_NAME).await?;
    if fields.as_deref() != Some(FIELDS_VERSION) {
        let meta = (FIELDS_NAME, fields, FIELDS_VERSION.into());
        let job = Reseal { meta, new_key: false, ..reseal_job(&key, &key, None) };
        match inner.reseal(job).await {
            Ok(n) if n > 0 => tracing::info!(documents = n, "sealed the fields newly counted as secrets"),
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if inner.key_slot().set(key).is_err() {
        anyhow::bail!("the store's main key was set already");
    }
    Ok(inner)
}

/// The meta row naming which version of [`SECRET_FIELDS`] (and of [`upgrade`]) the store's documents are sealed
/// by; bump `FIELDS_VERSION` when a field is added there, or something to [`upgrade`].
const FIELDS_NAME: &str = "sealed_fields";
const FIELDS_VERSION: &str = "4";

/// Reseals every secret: opened with `old` (values not sealed are taken as they are), upgraded, sealed under
/// `new`.
fn reseal_job(old: &MainKey, new: &MainKey, expect: Option<String>) -> Reseal {
    let (old, new_key) = (old.clone(), new.clone());
    Reseal {
        kinds: SECRET_FIELDS.iter().map(|(k, _)| *k).collect(),
        change: Box::new(move |rec| {
            let opened = upgrade(rec, old.open_doc(rec.kind, &rec.org_id, &rec.id, &rec.data)?)?;
            let sealed = new_key.seal_doc(rec.kind, &rec.org_id, &rec.id, opened)?;
            Ok((sealed != rec.data).then_some(sealed))
        }),
        meta: (CHECK_NAME, expect, new.check_value()),
        new_key: true,
    }
}

/// What `hookd keys rotate` did.
#[derive(Debug)]
pub struct Rotated {
    pub documents: u64,
    pub old_id: String,
    pub new_id: String,
    /// The key file now holding the new key (None: the key comes from `HOOKD_MAIN_KEY`, which must be changed).
    pub key_file: Option<PathBuf>,
}

/// `hookd keys rotate`, with hookd stopped: reseals every secret under `new_key` (generated when None) in one
/// transaction and replaces the check value. With a key file, the new key is written beside it first
/// (`<file>.new`) and moved into place once the store has committed, so that no moment loses the key.
pub async fn rotate(
    store: Arc<dyn Store>,
    keys: &KeyOptions,
    database_url: &str,
    new_key: Option<&str>,
) -> anyhow::Result<Rotated> {
    let check = store.meta_get(CHECK_NAME).await?.context(
        "this database has no main key yet: start hookd on it once (it seals the secrets then), then rotate",
    )?;
    // A node still serving would go on sealing with the old key (PostgreSQL; SQLite's lock file already refused).
    let live = store.nodes_seen_since(now_ms() - super::postgres::NODE_TIMEOUT.as_millis() as Millis).await?;
    anyhow::ensure!(
        live == 0,
        "{live} hookd node(s) serve this database: stop every node first (a node killed without stopping counts \
         for {} s more)",
        super::postgres::NODE_TIMEOUT.as_secs()
    );
    let (old, source) = keys.load(database_url, false)?;
    old.verify(&check, &source)?;
    let new = match new_key {
        Some(text) => MainKey::parse(text).context("the new main key")?,
        None if matches!(source, KeySource::Env) => anyhow::bail!(
            "the main key comes from HOOKD_MAIN_KEY: give the new one with --new-key (HOOKD_NEW_MAIN_KEY), then \
             start hookd with HOOKD_MAIN_KEY set to it"
        ),
        None => MainKey::generate(),
    };
    anyhow::ensure!(new.id() != old.id(), "the new main key is the current one");
    let staged = match &source {
        KeySource::File(path) => Some((path.clone(), write_temp_key_file(path, &new)?)),
        KeySource::Env => None,
    };
    let documents = match store.reseal(reseal_job(&old, &new, Some(check))).await {
        Ok(n) => n,
        Err(e) => {
            if let Some((_, tmp)) = &staged {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(anyhow::Error::from(e).context("resealing the secrets (nothing was changed)"));
        }
    };
    let key_file = match staged {
        Some((path, tmp)) => {
            std::fs::rename(&tmp, &path).with_context(|| {
                format!(
                    "the store is resealed under the new key, which is in {}: move it to {}",
                    tmp.display(),
                    path.display()
                )
            })?;
            Some(path)
        }
        None => None,
    };
    Ok(Rotated { documents, old_id: old.id().to_string(), new_id: new.id().to_string(), key_file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_document() {
        let (key, other) = (MainKey::generate(), MainKey::generate());
        let sealed = key.seal(b"whsec_abc", b"endpoint/org/ep_1");
        assert!(sealed.starts_with(&format!("enc:v1:{}:", key.id())));
        assert_eq!(key.open(&sealed, b"endpoint/org/ep_1").unwrap(), b"whsec_abc");
        assert!(key.open(&sealed, b"endpoint/org/ep_2").is_err(), "bound to its document");
        assert!(other.open(&sealed, b"endpoint/org/ep_1").is_err());
        assert_ne!(sealed, key.seal(b"whsec_abc", b"endpoint/org/ep_1"), "a fresh nonce each time");
    }

    #[test]
    fn documents_seal_and_open_their_secret_fields_only() {
        let key = MainKey::generate();
        let data = r#"{"id":"ep_1","url":"https://x","secrets":[{"key":"whsec_new","expires_at":null},{"key":"whsec_old","expires_at":5}],
            "headers":{"Authorization":"Bearer tok_1"},"transformation":{"code":"function handler(w) { return w; }","variables":{"gh":"ghp_2"}}}"#;
        let sealed = key.seal_doc(DocKind::Endpoint, "org", "ep_1", data.to_string()).unwrap();
        for secret in ["whsec_", "tok_1", "ghp_2"] {
            assert!(!sealed.contains(secret), "{secret} in {sealed}");
        }
        // Only values are sealed: the header's name, the URL and the code stay readable.
        for plain in ["https://x", "Authorization", "function handler", "\"gh\""] {
            assert!(sealed.contains(plain), "{plain} not in {sealed}");
        }
        let opened = key.open_doc(DocKind::Endpoint, "org", "ep_1", &sealed).unwrap();
        let (a, b): (Value, Value) = (serde_json::from_str(&opened).unwrap(), serde_json::from_str(data).unwrap());
        assert_eq!(a, b);
        // Kinds without secrets pass through untouched.
        let chat = r#"{"text":"enc:v1:not:sealed"}"#;
        assert_eq!(key.seal_doc(DocKind::ChatMessage, "o", "m", chat.into()).unwrap(), chat);
    }

    #[test]
    fn the_timers_key_moves_out_of_the_timers_apps_metadata_unchanged() {
        let key = MainKey::generate();
        let data = r#"{"id":"app_1","uid":"hookd-timers","metadata":{"timerWebhookSecret":"whsec_k","plan":"x"}}"#;
        let sealed = key.seal_doc(DocKind::Application, "org", "app_1", data.into()).unwrap();
        let rec = DocRecord {
            kind: DocKind::Application,
            org_id: "org".into(),
            parent: String::new(),
            id: "app_1".into(),
            uid: Some("hookd-timers".into()),
            created_at: 0,
            data: sealed,
        };
        let upgraded = |rec: &DocRecord| {
            let changed = (reseal_job(&key, &key, None).change)(rec).unwrap().expect("resealed");
            assert!(!changed.contains("whsec_k"), "{changed}");
            let opened = key.open_doc(rec.kind, &rec.org_id, &rec.id, &changed).unwrap().into_owned();
            serde_json::from_str::<Value>(&opened).unwrap()
        };
        let v = upgraded(&rec);
        assert_eq!(v["signing_key"], "whsec_k");
        assert_eq!(v["metadata"], serde_json::json!({"plan": "x"}));
        // Another application's metadata is its user's: left as it is.
        let v = upgraded(&DocRecord { uid: Some("acme".into()), ..rec });
        assert_eq!(v["metadata"]["timerWebhookSecret"], "whsec_k");
        assert!(v.get("signing_key").is_none());
    }

    #[test]
    fn keys_parse_as_hex_or_base64() {
        let key = MainKey::generate();
        assert_eq!(MainKey::parse(&key.to_hex()).unwrap().id(), key.id());
        assert_eq!(MainKey::parse(&STANDARD.encode(key.bytes)).unwrap().id(), key.id());
        assert!(MainKey::parse("too short").is_err());
    }
}
