//! Models in the registry: push, resolve, fetch (through the cache), list, verify, delete.

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::cache::sha256_hex;
use super::layout::{
    check_name, model_root, version_dir, MODEL_MANIFEST, MODEL_PLAIN, MODEL_SEALED,
};
use super::lifecycle::Entry;
use super::model_weights::WeightsObject;
use super::versions::now_unix;
use super::{Platform, ProgressFn, PushOptions};
use crate::crypto;
use crate::error::NEEDS_PLATFORM_KEY;
use crate::model::{Model, ModelOptions};
use crate::pools::block_on;
use crate::{Error, Result};

/// The manifest format version of a model stored as one object.
pub const MODEL_FORMAT: u32 = 1;
/// The manifest format version of a model stored as an object set (graph + weights objects,
/// [`super::model_weights`]).
pub const MODEL_FORMAT_OBJECT_SET: u32 = 2;
/// The manifest format version of a keyed manifest (one with a `mac`) whose MAC covers fields
/// format-2 readers do not know (`blake3`, `seal_header`, `provenance`), one object or an object
/// set alike: such a reader would drop them, compute another MAC and report a wrong key, where
/// this version makes it say the manifest needs a newer lepton. Unkeyed manifests keep format 1
/// or 2 (older readers ignore the fields and check `sha256`). The newest this build reads.
pub const MODEL_FORMAT_KEYED_FIELDS: u32 = 3;
/// Uploads larger than this go in parts of this size (progress per part).
const PART: usize = 8 << 20;

/// What the registry knows about one model version (its manifest, the commit object).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelInfo {
    /// Manifest format version.
    pub format: u32,
    /// The model name.
    pub name: String,
    /// The version (1, 2, ...).
    pub version: u64,
    /// When it was pushed, seconds since the Unix epoch.
    pub created_unix: u64,
    /// Size of the ONNX bytes.
    pub size: u64,
    /// Size of the stored object (larger than `size` when sealed); `stored_size` in the
    /// manifest (its name since format 1), `stored_bytes` as datasets spell it.
    #[serde(rename = "stored_size")]
    pub stored_bytes: u64,
    /// SHA-256 (hex) of the stored object: its name in the cache, and what a read checks when
    /// the manifest has no `blake3`.
    pub sha256: String,
    /// BLAKE3 (hex) of the stored object, written by every push since it was added: what a read
    /// checks (from the store or the cache), at near memory speed. Absent in older manifests
    /// (their reads check `sha256`); not written then, so they and their MACs read unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
    /// The header of a sealed stored object (hex of its C2SP salt and key commitment), written
    /// by every push of a sealed model since it was added: a keyed read checks that the object
    /// starts with it and then lets the decryption authenticate every byte, with no hash (see
    /// `docs/platform-layout.md`). Absent for plain objects and in older manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_header: Option<String>,
    /// Whether the stored object is sealed with the platform key.
    pub encrypted: bool,
    /// The stored object's name inside the version folder.
    pub object: String,
    /// Free-form metadata given at push.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Where the model came from, as given at push (`PushOptions::provenance`): framework and
    /// version, exporter, opset, parity figures. Empty for a model pushed as ONNX without it;
    /// not written then, so older manifests (and their MACs) read unchanged.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub provenance: serde_json::Map<String, serde_json::Value>,
    /// HMAC-SHA-256 (hex) of every other field under a key derived from the platform key, written
    /// when the pushing platform has a key: a keyed platform refuses a manifest without a valid
    /// one, so whoever can write to the store cannot swap in another (e.g. a plain) model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The weights objects of a model stored as an object set (format 2), in order; empty for a
    /// model stored as one object. Authenticated by `mac` like every other field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<WeightsObject>,
}

/// A model's graph as stored in its version folder.
pub(super) struct StoredGraph {
    /// The stored bytes (sealed when `encrypted`).
    pub bytes: Bytes,
    /// The object's name inside the version folder.
    pub object: &'static str,
    /// Whether `bytes` are sealed with the platform key.
    pub encrypted: bool,
}

impl ModelInfo {
    /// The unsigned manifest of version `version` of `name`: `graph` (the ONNX bytes) stored as
    /// `stored`; `weights`: the weights objects of an object set (format 2), `None` for one
    /// self-contained object (format 1).
    pub(super) fn new(
        name: &str,
        version: u64,
        graph: &[u8],
        stored: &StoredGraph,
        metadata: serde_json::Map<String, serde_json::Value>,
        provenance: serde_json::Map<String, serde_json::Value>,
        weights: Option<Vec<WeightsObject>>,
    ) -> ModelInfo {
        ModelInfo {
            format: match weights {
                None => MODEL_FORMAT,
                Some(_) => MODEL_FORMAT_OBJECT_SET,
            },
            name: name.into(),
            version,
            created_unix: now_unix(),
            size: graph.len() as u64,
            stored_bytes: stored.bytes.len() as u64,
            sha256: sha256_hex(&stored.bytes),
            blake3: Some(blake3_hex(&stored.bytes)),
            seal_header: stored
                .encrypted
                .then(|| hex::encode(&stored.bytes[..crypto::c2sp::HEADER])),
            encrypted: stored.encrypted,
            object: stored.object.into(),
            metadata,
            provenance,
            mac: None,
            weights: weights.unwrap_or_default(),
        }
    }

    /// The manifest as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("manifests serialize")
    }
}

/// Objects smaller than this are hashed and decrypted on the calling thread: handing them to
/// the CPU pool (waking its threads, waiting for them) costs more than it saves.
const PARALLEL_MIN: usize = 1 << 20;

/// The hex BLAKE3 of a stored model object, a large one hashed on every core of lepton's own
/// pool (a model being loaded waits for it; rayon's global pool would hang in a forked child).
fn blake3_hex(data: &[u8]) -> String {
    let mut hasher = blake3::Hasher::new();
    if data.len() < PARALLEL_MIN {
        hasher.update(data);
    } else {
        crate::pools::cpu().install(|| hasher.update_rayon(data));
    }
    hasher.finalize().to_hex().to_string()
}

/// The purpose of the model-manifest MAC subkey.
const MANIFEST_MAC_PURPOSE: &[u8] = b"lepton-ai model manifest mac v1";

/// The MAC of `info` (all fields but `mac`) under the platform key.
pub(super) fn manifest_mac(key: &crypto::Key, info: &ModelInfo) -> String {
    let mut unsigned = info.clone();
    unsigned.mac = None;
    // serde_json maps are sorted (no `preserve_order`), so this text is canonical.
    let text = serde_json::to_vec(&unsigned).expect("manifests serialize");
    let k = key.derive(MANIFEST_MAC_PURPOSE);
    hex::encode(crypto::kdf::hmac_sha256(k.as_bytes(), &text))
}

/// Constant-time equality of two MACs.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a sealed model is bound to: a sealed model copied to another name or version fails.
pub(super) fn seal_context(name: &str, version: u64) -> Vec<u8> {
    format!("lepton-ai model v{MODEL_FORMAT}\0{name}\0{version}").into_bytes()
}

/// `progress` for one part of a larger transfer: the part's `(done, _)` is reported as
/// `(base + done, total)`.
pub(super) fn part_of(progress: &Option<ProgressFn>, base: u64, total: u64) -> Option<ProgressFn> {
    progress.as_ref().map(|p| {
        let p = p.clone();
        std::sync::Arc::new(move |done: u64, _: u64| p(base + done, total)) as ProgressFn
    })
}

pub(super) fn report(progress: &Option<ProgressFn>, done: u64, total: u64) -> Result<()> {
    match progress {
        Some(p) => p(done, total),
        None => Ok(()),
    }
}

impl PushOptions {
    /// The metadata as a JSON object; anything else is [`Error::InvalidArgument`].
    pub(super) fn metadata_map(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        json_object("metadata", &self.metadata)
    }

    /// `provenance` as the JSON object the manifest stores (empty when not given).
    pub(super) fn provenance_map(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        json_object("provenance", &self.provenance)
    }
}

/// A JSON object option (`metadata`, `provenance`): null is empty, anything but an object is
/// refused.
fn json_object(
    what: &str,
    value: &serde_json::Value,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    match value {
        serde_json::Value::Null => Ok(serde_json::Map::new()),
        serde_json::Value::Object(m) => Ok(m.clone()),
        other => Err(Error::InvalidArgument(format!(
            "{what} must be a JSON object (a dict), got {other}"
        ))),
    }
}

impl Platform {
    /// Whether a push encrypts ([`Platform::push_key`]'s rule).
    pub(super) fn wants_encryption(&self, options: &PushOptions) -> Result<bool> {
        Ok(self.push_key(options.encrypt)?.is_some())
    }

    pub(super) fn model_what(name: &str, version: Option<u64>) -> String {
        Entry::Model(name).what(version)
    }

    /// Pushes ONNX bytes as the next version of `name`; returns the committed manifest. When the
    /// latest version already holds these bytes (same SHA-256), with the same metadata,
    /// provenance and encryption, nothing is written and that version's manifest is returned.
    pub fn push_model(&self, name: &str, onnx: &[u8], options: &PushOptions) -> Result<ModelInfo> {
        let (metadata, provenance, encrypt) = self.check_model_push(name, onnx, options)?;
        if let Some(latest) = self.latest_holding(name, onnx, &metadata, &provenance, encrypt) {
            tracing::info!(
                name,
                version = latest.version,
                "model unchanged; nothing pushed"
            );
            return Ok(latest);
        }
        block_on(async {
            let (root, version, dir) = self.claim_model_version(name).await?;
            let stored = self.store_graph(name, version, onnx, encrypt)?;
            let info = ModelInfo::new(name, version, onnx, &stored, metadata, provenance, None);
            self.upload(
                &dir.clone().join(stored.object),
                stored.bytes.clone(),
                &options.progress,
            )
            .await?;
            // Last chance to cancel: nothing is visible until the manifest exists.
            report(&options.progress, info.stored_bytes, info.stored_bytes)?;
            let info = self.commit_model(&root, info).await?;
            if let Some(cache) = &self.cache {
                if let Err(e) = cache.put_object(&info.sha256, &stored.bytes) {
                    tracing::warn!("could not cache the pushed model: {e}");
                }
            }
            tracing::info!(name, version, encrypt, bytes = onnx.len(), "pushed model");
            Ok(info)
        })
    }

    /// The latest version of `name` when it holds exactly `onnx` (SHA-256) as one object, with
    /// these metadata, provenance and encryption; `None` otherwise, or when it cannot be read (the
    /// push then adds a version, as it would without this check).
    fn latest_holding(
        &self,
        name: &str,
        onnx: &[u8],
        metadata: &serde_json::Map<String, serde_json::Value>,
        provenance: &serde_json::Map<String, serde_json::Value>,
        encrypt: bool,
    ) -> Option<ModelInfo> {
        // Online and past the cache: a push must not fill the cache with an older version.
        let latest = block_on(self.model_info_online(name, None)).ok()?;
        let same_manifest = latest.size == onnx.len() as u64
            && latest.weights.is_empty()
            && latest.encrypted == encrypt
            && &latest.metadata == metadata
            && &latest.provenance == provenance;
        if !same_manifest {
            return None;
        }
        // A plain object's hash is the ONNX bytes' hash; a sealed one is read back (from the
        // cache if there, else from the store without filling the cache) and opened.
        let stored_onnx_sha256 = if latest.encrypted {
            let cached = self
                .cache
                .as_ref()
                .and_then(|c| c.get_object(&latest.sha256));
            let stored = match cached {
                Some(hit) => hit,
                None => {
                    let root = model_root(&self.prefix, name);
                    let path = version_dir(&root, latest.version).join(latest.object.as_str());
                    let data = block_on(self.download(&path, &None)).ok()?;
                    (sha256_hex(&data) == latest.sha256).then_some(data)?
                }
            };
            sha256_hex(&self.decrypt(&latest, stored).ok()?)
        } else {
            latest.sha256.clone()
        };
        (stored_onnx_sha256 == sha256_hex(onnx)).then_some(latest)
    }

    /// What every model push checks before it claims a version (the name, a writable registry,
    /// metadata and provenance as JSON objects, a key when encrypting, `graph` being an ONNX or
    /// ORT-format model): the manifest's metadata and provenance, and whether to encrypt.
    /// Nothing is written before these pass, so bytes that are not a model never get a version.
    #[allow(clippy::type_complexity)]
    pub(super) fn check_model_push(
        &self,
        name: &str,
        graph: &[u8],
        options: &PushOptions,
    ) -> Result<(
        serde_json::Map<String, serde_json::Value>,
        serde_json::Map<String, serde_json::Value>,
        bool,
    )> {
        check_name("model", name)?;
        self.check_writable()?;
        let metadata = options.metadata_map()?;
        let provenance = options.provenance_map()?;
        let encrypt = self.wants_encryption(options)?;
        if let Some(problem) = crate::model::model_bytes_problem(graph) {
            return Err(Error::InvalidModel {
                source_name: Some(name.into()),
                reason: format!("{problem}; nothing was pushed"),
            });
        }
        Ok((metadata, provenance, encrypt))
    }

    /// Claims the next version of model `name`: its root folder, the version, its folder.
    pub(super) async fn claim_model_version(&self, name: &str) -> Result<(Path, u64, Path)> {
        let root = model_root(&self.prefix, name);
        let commit = Entry::Model(name).commit();
        let what = Self::model_what(name, None);
        let version = self.bucket.claim_next_fresh(&root, commit, &what).await?;
        let dir = version_dir(&root, version);
        Ok((root, version, dir))
    }

    /// `graph` (ONNX bytes) as version `version` of `name` stores it: sealed with the platform
    /// key when `encrypt`.
    pub(super) fn store_graph(
        &self,
        name: &str,
        version: u64,
        graph: &[u8],
        encrypt: bool,
    ) -> Result<StoredGraph> {
        Ok(if encrypt {
            let key = self.key().expect("wants_encryption checked the key");
            StoredGraph {
                bytes: Bytes::from(crypto::seal(key, &seal_context(name, version), graph)?),
                object: MODEL_SEALED,
                encrypted: true,
            }
        } else {
            StoredGraph {
                bytes: Bytes::copy_from_slice(graph),
                object: MODEL_PLAIN,
                encrypted: false,
            }
        })
    }

    /// Commits `info` (its objects already uploaded under `root`): signs it with the platform
    /// key, creates the manifest (the commit object), then advances the latest pointer.
    pub(super) async fn commit_model(&self, root: &Path, mut info: ModelInfo) -> Result<ModelInfo> {
        if let Some(k) = self.key() {
            if info.blake3.is_some() || info.seal_header.is_some() || !info.provenance.is_empty() {
                info.format = MODEL_FORMAT_KEYED_FIELDS;
            }
            info.mac = Some(manifest_mac(k, &info));
        }
        let manifest = serde_json::to_vec_pretty(&info).expect("manifest serializes");
        let dir = version_dir(root, info.version);
        if !self
            .bucket
            .create(&dir.join(MODEL_MANIFEST), Bytes::from(manifest))
            .await?
        {
            return Err(Error::AlreadyExists(format!(
                "{} (its manifest appeared during the push)",
                Self::model_what(&info.name, Some(info.version))
            )));
        }
        self.bucket.advance_latest(root, info.version).await?;
        Ok(info)
    }

    pub(super) async fn upload(
        &self,
        path: &Path,
        data: Bytes,
        progress: &Option<ProgressFn>,
    ) -> Result<()> {
        let total = data.len() as u64;
        report(progress, 0, total)?;
        if data.len() <= PART {
            self.bucket
                .store
                .put(path, PutPayload::from_bytes(data))
                .await
                .map_err(|e| self.bucket.err(e))?;
            return Ok(());
        }
        let mut upload = self
            .bucket
            .store
            .put_multipart(path)
            .await
            .map_err(|e| self.bucket.err(e))?;
        let mut done = 0u64;
        for start in (0..data.len()).step_by(PART) {
            let part = data.slice(start..(start + PART).min(data.len()));
            let len = part.len() as u64;
            if let Err(e) = upload.put_part(PutPayload::from_bytes(part)).await {
                let _ = upload.abort().await;
                return Err(self.bucket.err(e));
            }
            done += len;
            if let Err(e) = report(progress, done, total) {
                let _ = upload.abort().await;
                return Err(e);
            }
        }
        upload.complete().await.map_err(|e| self.bucket.err(e))?;
        Ok(())
    }

    async fn download(&self, path: &Path, progress: &Option<ProgressFn>) -> Result<Vec<u8>> {
        if let Some(file) = self.bucket.local_path(path) {
            // Read straight into the buffer: `object_store` zero-fills a local file's buffer
            // first, a second pass over every byte of the model (and its pages).
            let data = match std::fs::read(&file) {
                Ok(data) => data,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::NotFound {
                        what: path.to_string(),
                        hint: None,
                    })
                }
                Err(e) => return Err(Error::io(&file, e)),
            };
            let total = data.len() as u64;
            report(progress, 0, total)?;
            report(progress, total, total)?;
            return Ok(data);
        }
        let r = self
            .bucket
            .store
            .get(path)
            .await
            .map_err(|e| self.bucket.err(e))?;
        let total = r.meta.size;
        report(progress, 0, total)?;
        if matches!(r.payload, object_store::GetResultPayload::File(..)) {
            // A local file in one read: its stream is 8 KiB pieces, each a blocking-pool round
            // trip (a 4 MiB model took 25 ms to read that way, longer than ONNX Runtime's load).
            let data = r.bytes().await.map_err(|e| self.bucket.err(e))?;
            report(progress, total, total)?;
            return Ok(data.into());
        }
        let mut out = Vec::with_capacity(total as usize);
        let mut stream = r.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.bucket.err(e))?;
            out.extend_from_slice(&chunk);
            report(progress, out.len() as u64, total)?;
        }
        Ok(out)
    }

    async fn model_info_online(&self, name: &str, version: Option<u64>) -> Result<ModelInfo> {
        let (v, bytes) = self.commit_online(Entry::Model(name), version).await?;
        self.read_manifest(name, &bytes, Some(v))
    }

    /// Parses and checks a manifest of `name` (at `version` when known) and authenticates it.
    fn read_manifest(&self, name: &str, bytes: &[u8], version: Option<u64>) -> Result<ModelInfo> {
        let info = parse_manifest(bytes, &Self::model_what(name, version))?;
        if let Some(v) = version.filter(|v| info.name != name || info.version != *v) {
            return Err(Error::Integrity {
                what: Self::model_what(name, Some(v)),
                reason: format!(
                    "its manifest describes `{}` version {} (moved or copied objects)",
                    info.name, info.version
                ),
            });
        }
        self.authenticate(&info)?;
        Ok(info)
    }

    /// With a platform key, checks the manifest's MAC: a manifest not written by a holder of the
    /// key (e.g. a plain model put in place of a sealed one) is refused.
    fn authenticate(&self, info: &ModelInfo) -> Result<()> {
        let Some(key) = self.read_key(info.encrypted || info.mac.is_some()) else {
            return Ok(());
        };
        let what = Self::model_what(&info.name, Some(info.version));
        let want = manifest_mac(key, info);
        match &info.mac {
            Some(got) if ct_eq(got.as_bytes(), want.as_bytes()) => Ok(()),
            // Like a failed decryption: the key is wrong, or the manifest was edited.
            Some(_) => Err(Error::WrongKey {
                what: format!("{what} (its manifest's MAC does not match)"),
            }),
            None if info.encrypted => Err(Error::Integrity {
                what,
                reason: "its manifest carries no MAC (modified in the store, or pushed by an \
                         older version); push the model again"
                    .into(),
            }),
            None => Err(Error::KeyRequired(format!(
                "{what} is not encrypted and its manifest is not authenticated by this platform's \
                 key, so anyone with write access to the store could have put it there; push it \
                 again through this keyed platform, or open the registry without a key to read \
                 unencrypted models"
            ))),
        }
    }

    pub(super) async fn model_info_async(
        &self,
        name: &str,
        version: Option<u64>,
    ) -> Result<ModelInfo> {
        let read = |bytes: &[u8], v: Option<u64>| {
            let info = self.read_manifest(name, bytes, v)?;
            Ok((info.version, info))
        };
        let (_, _, info) = self
            .resolve_commit(Entry::Model(name), version, read)
            .await?;
        Ok(info)
    }

    /// The manifest of `name` at `version` (`None`: the latest committed version).
    pub fn model_info(&self, name: &str, version: Option<u64>) -> Result<ModelInfo> {
        self.block_on_store(self.model_info_async(name, version))
    }

    /// The stored object of `info`: from the cache when it holds it intact, else from the store,
    /// checked against the manifest hash either way (its BLAKE3 when it has one).
    pub(super) async fn fetch_stored(
        &self,
        info: &ModelInfo,
        use_cache: bool,
        progress: &Option<ProgressFn>,
    ) -> Result<Vec<u8>> {
        let blake3 = info.blake3.as_deref();
        if let (Some(want), true, Some(cache)) = (blake3, use_cache, &self.cache) {
            // Kept under its SHA-256 name, checked with the manifest's (faster) BLAKE3.
            if let Some(hit) = cache.get_unverified(&info.sha256) {
                if blake3_hex(&hit) == want {
                    return Ok(hit);
                }
                tracing::warn!(sha256 = %info.sha256, "cached object is corrupted; fetching it again");
                cache.remove(&info.sha256);
            }
        }
        self.object_bytes(
            info,
            &info.object,
            &info.sha256,
            blake3,
            use_cache,
            progress,
        )
        .await
    }

    /// One stored object of `info`'s version (`object`, hashing to `sha256` per the manifest,
    /// and to `blake3` when the manifest has it: then that is the hash checked).
    pub(super) async fn object_bytes(
        &self,
        info: &ModelInfo,
        object: &str,
        sha256: &str,
        blake3: Option<&str>,
        use_cache: bool,
        progress: &Option<ProgressFn>,
    ) -> Result<Vec<u8>> {
        if use_cache && blake3.is_none() {
            if let Some(hit) = self.cache.as_ref().and_then(|c| c.get_object(sha256)) {
                return Ok(hit);
            }
        }
        let data = self.fetch_object(info, object, progress).await?;
        let (got, want) = match blake3 {
            Some(want) => (blake3_hex(&data), want),
            None => (sha256_hex(&data), sha256),
        };
        if got != want {
            return Err(Error::Integrity {
                what: Self::model_what(&info.name, Some(info.version)),
                reason: format!(
                    "stored object hashes to {got}, the manifest says {}; the store was modified \
                     or corrupted: push the model again{}",
                    want,
                    if object == info.object {
                        String::new()
                    } else {
                        format!(" (object {object})")
                    }
                ),
            });
        }
        if let Some(cache) = &self.cache {
            // Checked above (with the manifest's hash): no second hash to put it in the cache.
            let kept = match blake3 {
                Some(_) => cache.put_unverified(sha256, &data),
                None => cache.put_object(sha256, &data),
            };
            if let Err(e) = kept {
                tracing::warn!("could not cache {}: {e}", info.name);
            }
        }
        Ok(data)
    }

    /// The stored object `object` of `info`'s version, as it is (not checked); a committed
    /// version missing it is [`Error::Integrity`].
    async fn fetch_object(
        &self,
        info: &ModelInfo,
        object: &str,
        progress: &Option<ProgressFn>,
    ) -> Result<Vec<u8>> {
        let root = model_root(&self.prefix, &info.name);
        let path = version_dir(&root, info.version).clone().join(object);
        match self.download(&path, progress).await {
            Err(Error::NotFound { .. }) => Err(Error::Integrity {
                what: Self::model_what(&info.name, Some(info.version)),
                reason: format!(
                    "its manifest is committed but {} is missing; push the model again",
                    object
                ),
            }),
            other => other,
        }
    }

    /// The clear ONNX bytes of a model stored as one object, through the cache. A sealed object
    /// whose manifest names its header is checked by its decryption alone: the header must match
    /// and every block must authenticate under the key, the model's name and version and that
    /// header's random salt, which only the object the manifest was written for does (a cached
    /// copy that fails is dropped and fetched again). Others are hashed, then decrypted.
    pub(super) async fn clear_bytes(
        &self,
        info: &ModelInfo,
        progress: &Option<ProgressFn>,
    ) -> Result<Vec<u8>> {
        let header = info.seal_header.as_deref().filter(|_| info.encrypted);
        let (Some(header), Some(_)) = (header, self.key()) else {
            let stored = self.fetch_stored(info, true, progress).await?;
            return self.decrypt(info, stored);
        };
        let header = hex::decode(header).map_err(|_| Error::Integrity {
            what: Self::model_what(&info.name, Some(info.version)),
            reason: "its manifest's seal_header is not hex; push the model again".into(),
        })?;
        if let Some(cache) = &self.cache {
            if let Some(hit) = cache.get_unverified(&info.sha256) {
                if hit.starts_with(&header) {
                    match self.open_sealed(info, &hit) {
                        Err(Error::Integrity { .. }) => {}
                        done => return done,
                    }
                }
                tracing::warn!(sha256 = %info.sha256, "cached object is corrupted; fetching it again");
                cache.remove(&info.sha256);
            }
        }
        let stored = self.fetch_object(info, &info.object, progress).await?;
        if !stored.starts_with(&header) {
            return Err(Error::Integrity {
                what: Self::model_what(&info.name, Some(info.version)),
                reason: "the stored object is not the one its manifest names (another sealed \
                         header); the store was modified: push the model again"
                    .into(),
            });
        }
        let onnx = self.open_sealed(info, &stored)?;
        if let Some(cache) = &self.cache {
            if let Err(e) = cache.put_unverified(&info.sha256, &stored) {
                tracing::warn!("could not cache {}: {e}", info.name);
            }
        }
        Ok(onnx)
    }

    pub(super) fn decrypt(&self, info: &ModelInfo, stored: Vec<u8>) -> Result<Vec<u8>> {
        if !info.encrypted {
            return Ok(stored);
        }
        self.open_sealed(info, &stored)
    }

    /// The clear bytes of `info`'s sealed object `stored` (authenticated decryption).
    fn open_sealed(&self, info: &ModelInfo, stored: &[u8]) -> Result<Vec<u8>> {
        let what = Self::model_what(&info.name, Some(info.version));
        let Some(key) = self.key() else {
            return Err(self.missing_key(&what));
        };
        let context = seal_context(&info.name, info.version);
        if stored.len() < PARALLEL_MIN {
            return crypto::open(key, &context, stored, &what);
        }
        // On lepton's own pool: rayon's global one would hang in a forked child.
        crate::pools::cpu().install(|| crypto::open_parallel(key, &context, stored, &what))
    }

    /// The ONNX bytes (decrypted in memory) and manifest of `name` at `version` (`None`: latest).
    pub fn model_bytes(&self, name: &str, version: Option<u64>) -> Result<(ModelInfo, Vec<u8>)> {
        self.model_bytes_with_progress(name, version, None)
    }

    /// [`Platform::model_bytes`] reporting download progress.
    pub fn model_bytes_with_progress(
        &self,
        name: &str,
        version: Option<u64>,
        progress: Option<ProgressFn>,
    ) -> Result<(ModelInfo, Vec<u8>)> {
        block_on(async {
            let info = self.model_info_async(name, version).await?;
            if !info.weights.is_empty() {
                let onnx = self.object_set_bytes(&info, true, &progress).await?;
                return Ok((info, onnx));
            }
            let onnx = self.clear_bytes(&info, &progress).await?;
            Ok((info, onnx))
        })
    }

    /// Loads `name` at `version` (`None`: latest) on ONNX Runtime: fetched through the cache,
    /// decrypted in memory when sealed, and handed to ONNX Runtime from memory (the clear model
    /// never touches the disk).
    pub fn load_model(
        &self,
        name: &str,
        version: Option<u64>,
        options: &ModelOptions,
    ) -> Result<Model> {
        self.load_model_with_progress(name, version, options, None)
    }

    /// [`Platform::load_model`] reporting download progress (a model stored as one object).
    pub fn load_model_with_progress(
        &self,
        name: &str,
        version: Option<u64>,
        options: &ModelOptions,
        progress: Option<ProgressFn>,
    ) -> Result<Model> {
        Ok(self
            .load_model_tuned(name, version, options, None, progress)?
            .0)
    }

    /// Loads the version `info` describes (its manifest already resolved and authenticated):
    /// the stored object fetched through the cache, verified, decrypted in memory when sealed,
    /// and handed to ONNX Runtime from memory.
    pub(super) fn load_resolved(
        &self,
        info: &ModelInfo,
        options: &ModelOptions,
        progress: Option<ProgressFn>,
    ) -> Result<Model> {
        if !info.weights.is_empty() {
            return self.load_object_set(info, options);
        }
        let onnx = self.block_on_store(self.clear_bytes(info, &progress))?;
        Model::from_bytes(onnx, options).map_err(|e| match e {
            Error::InvalidModel { reason, .. } => Error::InvalidModel {
                source_name: Some(Self::model_what(&info.name, Some(info.version))),
                reason,
            },
            other => other,
        })
    }

    /// Pushes a loaded model (its ONNX bytes) as the next version of `name`.
    pub fn push_loaded_model(
        &self,
        name: &str,
        model: &Model,
        options: &PushOptions,
    ) -> Result<ModelInfo> {
        self.push_model(name, model.self_contained_bytes()?, options)
    }

    /// Re-reads `name` at `version` from the store (not the cache), checks its hash and, when
    /// sealed, authenticates it with the platform key.
    pub fn verify_model(&self, name: &str, version: Option<u64>) -> Result<ModelInfo> {
        self.verify_model_with_progress(name, version, None)
    }

    /// [`verify_model`](Self::verify_model), reporting `(bytes checked, total)` to `progress`
    /// (the stored graph, then the weights objects of an object set).
    pub fn verify_model_with_progress(
        &self,
        name: &str,
        version: Option<u64>,
        progress: Option<ProgressFn>,
    ) -> Result<ModelInfo> {
        block_on(async {
            let info = self.model_info_online(name, version).await?;
            let total = info.stored_bytes + info.weights.iter().map(|w| w.size).sum::<u64>();
            let graph_progress = part_of(&progress, 0, total);
            let stored = self.fetch_stored(&info, false, &graph_progress).await?;
            if info.encrypted && self.key().is_none() {
                if let Some(e) = self.unusable_ambient_key() {
                    return Err(e);
                }
                return Err(Error::KeyRequired(format!(
                    "{} is encrypted; verifying it needs the key: {NEEDS_PLATFORM_KEY}",
                    Self::model_what(name, Some(info.version))
                )));
            }
            let onnx = self.decrypt(&info, stored)?;
            if !info.weights.is_empty() {
                // Every weights object: hash, then (when sealed) authenticated decryption.
                let weights_progress = part_of(&progress, info.stored_bytes, total);
                self.object_set_bytes_verify(&info, &weights_progress)
                    .await?;
            }
            if onnx.len() as u64 != info.size {
                return Err(Error::Integrity {
                    what: Self::model_what(name, Some(info.version)),
                    reason: format!("{} bytes, the manifest says {}", onnx.len(), info.size),
                });
            }
            Ok(info)
        })
    }

    /// The names of the models with at least one committed version, sorted.
    pub fn list_models(&self) -> Result<Vec<String>> {
        block_on(self.list_models_async())
    }

    /// The committed versions of `name`, ascending (empty if it has none).
    pub fn model_versions(&self, name: &str) -> Result<Vec<u64>> {
        self.entry_versions(Entry::Model(name))
    }

    /// Deletes one version of `name`, or every version when `version` is `None`.
    pub fn delete_model(&self, name: &str, version: Option<u64>) -> Result<()> {
        check_name("model", name)?;
        self.check_writable()?;
        block_on(self.delete_entry(Entry::Model(name), version))
    }
}

fn parse_manifest(bytes: &[u8], what: &str) -> Result<ModelInfo> {
    #[derive(Deserialize)]
    struct Head {
        format: u32,
    }
    let head: Head = serde_json::from_slice(bytes).map_err(|e| Error::Integrity {
        what: what.into(),
        reason: format!("unreadable manifest: {e}"),
    })?;
    if head.format > MODEL_FORMAT_KEYED_FIELDS {
        return Err(Error::UnsupportedVersion {
            what: what.into(),
            found: head.format,
            supported: MODEL_FORMAT_KEYED_FIELDS,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| Error::Integrity {
        what: what.into(),
        reason: format!("unreadable manifest: {e}"),
    })
}
