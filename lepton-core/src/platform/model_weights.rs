//! Models stored as an object set: the graph (the ONNX protobuf with its large weights left as
//! external data) plus the weights, each side file cut into objects of at most [`WEIGHTS_PART`]
//! bytes, each encrypted on its own (C2SP chunked AES-256-GCM, a fresh per-object subkey, bound to
//! name, version and object name) when the registry has a key. The manifest lists every weights
//! object with its hash and, on a keyed registry, is authenticated by its MAC.
//!
//! Loading decrypts one object at a time in memory and copies its bytes into the ONNX Runtime
//! values of the initializers it covers (external initializers), so no weight passes through
//! protobuf (no 2 GiB limit) and none is written decrypted to disk. See
//! `docs/platform-layout.md`.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path as FsPath;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::cache::sha256_hex;
use super::models::{report, ModelInfo, MODEL_FORMAT_OBJECT_SET};
use super::{Platform, ProgressFn, PushOptions};
use crate::crypto;
use crate::model::external::{
    inline_external_data, read_model_path, split_external_data, ExternalTensor, SideFiles,
    PROTOBUF_LIMIT, SPLIT_MIN_BYTES,
};
use crate::model::{runtime, Filling, Model, ModelOptions};
use crate::pools::block_on;
use crate::{Error, Result};

/// The largest weights object (plaintext bytes): a side file is stored in parts of this size.
pub const WEIGHTS_PART: u64 = 64 << 20;

/// One weights object of a model stored as an object set.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WeightsObject {
    /// The side file it is part of (`location` in the graph).
    pub file: String,
    /// Where its bytes start in that side file.
    pub offset: u64,
    /// Its plaintext size.
    pub size: u64,
    /// Size of the stored object (larger than `size` when sealed); `stored_size` in the
    /// manifest (its name since format 1), `stored_bytes` as datasets spell it.
    #[serde(rename = "stored_size")]
    pub stored_bytes: u64,
    /// SHA-256 (hex) of the stored object.
    pub sha256: String,
    /// The object's name inside the version folder.
    pub object: String,
}

/// What a sealed weights object is bound to: moved to another model, version or position, it
/// fails to decrypt.
fn weights_context(name: &str, version: u64, object: &str) -> Vec<u8> {
    format!("lepton-ai model weights v{MODEL_FORMAT_OBJECT_SET}\0{name}\0{version}\0{object}")
        .into_bytes()
}

fn read_part(path: &FsPath, offset: u64, len: u64) -> Result<Vec<u8>> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io(path, e))?;
    let mut out = vec![0u8; len as usize];
    f.read_exact(&mut out).map_err(|e| Error::io(path, e))?;
    Ok(out)
}

impl Platform {
    /// Pushes a model file as the next version of `name`. A model whose weights live in side
    /// files (ONNX external data) is stored as an object set (graph + weights objects), whatever
    /// its size; any other model as [`Platform::push_model`] stores it.
    ///
    /// Errors: as [`Platform::push_model`]; a missing side file is [`Error::NotFound`].
    pub fn push_model_file(
        &self,
        name: &str,
        path: impl AsRef<FsPath>,
        options: &PushOptions,
    ) -> Result<ModelInfo> {
        let path = path.as_ref();
        let (bytes, folder) = read_model_path(path)?;
        self.push_read_model_file(name, path, bytes, folder, options)
    }

    /// [`Platform::push_model_file`] of a file already read (`bytes`, side files in `folder`).
    fn push_read_model_file(
        &self,
        name: &str,
        path: &FsPath,
        bytes: Vec<u8>,
        folder: &FsPath,
        options: &PushOptions,
    ) -> Result<ModelInfo> {
        if super::model_file::is_sealed(&bytes)
            || !crate::model::external::has_external_data(&bytes).unwrap_or(false)
        {
            return self.push_model(
                name,
                &super::model_file::read_model_file(path, None)?,
                options,
            );
        }
        let invalid = |e| match e {
            Error::InvalidModel { reason, .. } => Error::InvalidModel {
                source_name: Some(path.display().to_string()),
                reason,
            },
            other => other,
        };
        let (graph, tensors) =
            split_external_data(bytes, SideFiles::Dir(folder), SPLIT_MIN_BYTES).map_err(invalid)?;
        let mut files: Vec<(String, u64)> = Vec::new();
        for t in &tensors {
            if files.iter().all(|(f, _)| f != &t.location) {
                let p = folder.join(&t.location);
                let size = std::fs::metadata(&p).map_err(|e| Error::io(&p, e))?.len();
                files.push((t.location.clone(), size));
            }
            let size = files
                .iter()
                .find(|(f, _)| f == &t.location)
                .expect("added")
                .1;
            if t.offset.checked_add(t.length).is_none_or(|end| end > size) {
                return Err(invalid(Error::InvalidModel {
                    source_name: None,
                    reason: format!(
                        "tensor `{}`: external data range (offset {}, length {}) is past the end \
                         of `{}` ({size} bytes)",
                        t.name, t.offset, t.length, t.location
                    ),
                }));
            }
        }
        self.push_object_set(name, &graph, folder, &files, options)
    }

    /// Pushes a model file as the next version of `name`, choosing how by size: a model whose
    /// side files (ONNX external data) and graph add up to more than `inline_limit` bytes is
    /// stored as an object set ([`Platform::push_model_file`]); any other as one self-contained
    /// object, its side files inlined ([`Platform::push_model`] of
    /// [`model_file::read_model_file`](super::model_file::read_model_file)). `inline_limit` is
    /// [`ModelOptions::inline_limit`]'s rule (default protobuf's 2 GiB, past which one object is
    /// impossible); a lower one is for tests and to bound the memory a push takes.
    ///
    /// Errors: as [`Platform::push_model_file`]; a sealed model file is
    /// [`Error::KeyRequired`] (open it with its key first).
    pub fn push_model_path(
        &self,
        name: &str,
        path: impl AsRef<FsPath>,
        inline_limit: u64,
        options: &PushOptions,
    ) -> Result<ModelInfo> {
        let path = path.as_ref();
        let (bytes, folder) = read_model_path(path)?;
        let external = !super::model_file::is_sealed(&bytes)
            && crate::model::external::has_external_data(&bytes).unwrap_or(false);
        let side = if external {
            crate::model::external::side_files_size(&bytes, folder).unwrap_or(0)
        } else {
            0
        };
        if side > 0 && side.saturating_add(bytes.len() as u64) > inline_limit {
            return self.push_read_model_file(name, path, bytes, folder, options);
        }
        self.push_model(
            name,
            &super::model_file::read_model_file(path, None)?,
            options,
        )
    }

    fn push_object_set(
        &self,
        name: &str,
        graph: &[u8],
        folder: &FsPath,
        files: &[(String, u64)],
        options: &PushOptions,
    ) -> Result<ModelInfo> {
        let (metadata, provenance, encrypt) = self.check_model_push(name, graph, options)?;
        block_on(async {
            let (root, version, dir) = self.claim_model_version(name).await?;
            let total: u64 = graph.len() as u64 + files.iter().map(|(_, s)| *s).sum::<u64>();
            let mut done = 0u64;
            report(&options.progress, 0, total)?;
            let key = self.key();
            let stored = self.store_graph(name, version, graph, encrypt)?;
            self.upload(
                &dir.clone().join(stored.object),
                stored.bytes.clone(),
                &None,
            )
            .await?;
            done += graph.len() as u64;
            report(&options.progress, done, total)?;
            let mut weights = Vec::new();
            for (file, size) in files {
                let path = folder.join(file);
                let mut offset = 0u64;
                while offset < *size || (*size == 0 && offset == 0) {
                    let len = WEIGHTS_PART.min(size - offset);
                    let plain = read_part(&path, offset, len)?;
                    let object = format!(
                        "weights-{:05}{}",
                        weights.len(),
                        if encrypt { ".sealed" } else { ".bin" }
                    );
                    let data = match key.filter(|_| encrypt) {
                        Some(k) => {
                            crypto::seal(k, &weights_context(name, version, &object), &plain)?
                        }
                        None => plain,
                    };
                    let data = Bytes::from(data);
                    weights.push(WeightsObject {
                        file: file.clone(),
                        offset,
                        size: len,
                        stored_bytes: data.len() as u64,
                        sha256: sha256_hex(&data),
                        object: object.clone(),
                    });
                    self.upload(&dir.clone().join(object.as_str()), data, &None)
                        .await?;
                    offset += len;
                    done += len;
                    report(&options.progress, done, total)?;
                    if len == 0 {
                        break;
                    }
                }
            }
            let info = ModelInfo::new(
                name,
                version,
                graph,
                &stored,
                metadata,
                provenance,
                Some(weights),
            );
            let info = self.commit_model(&root, info).await?;
            tracing::info!(
                name,
                version,
                encrypt,
                bytes = total,
                "pushed model object set"
            );
            Ok(info)
        })
    }

    /// The graph of an object-set model (decrypted in memory) and the tensors it keeps external.
    async fn object_set_graph(&self, info: &ModelInfo) -> Result<(Vec<u8>, Vec<ExternalTensor>)> {
        let stored = self.fetch_stored(info, true, &None).await?;
        let graph = self.decrypt(info, stored)?;
        let what = Self::model_what(&info.name, Some(info.version));
        // Every byte the graph takes from a side file must be in the listed objects, which cover
        // each side file from 0 without gaps.
        let mut ends: HashMap<&str, u64> = HashMap::new();
        for w in &info.weights {
            let end = ends.entry(w.file.as_str()).or_insert(0);
            if w.offset != *end {
                return Err(Error::Integrity {
                    what,
                    reason: format!(
                        "its manifest lists weights object {} at offset {} of `{}`, expected {}",
                        w.object, w.offset, w.file, end
                    ),
                });
            }
            *end += w.size;
        }
        let (graph, tensors) =
            split_external_data(graph, SideFiles::None, 0).map_err(|e| match e {
                Error::InvalidModel { reason, .. } => Error::InvalidModel {
                    source_name: Some(what.clone()),
                    reason,
                },
                other => other,
            })?;
        for t in &tensors {
            let size = ends.get(t.location.as_str()).copied().unwrap_or(0);
            if t.offset.checked_add(t.length).is_none_or(|end| end > size) {
                return Err(Error::Integrity {
                    what,
                    reason: format!(
                        "initializer `{}` needs bytes {}..{} of `{}`, its weights objects hold {size}",
                        t.name,
                        t.offset,
                        t.offset.saturating_add(t.length),
                        t.location
                    ),
                });
            }
        }
        Ok((graph, tensors))
    }

    /// Each weights object of `info`, fetched (through the cache), checked against the manifest
    /// hash and decrypted in memory, in order.
    async fn for_each_weights_object(
        &self,
        info: &ModelInfo,
        use_cache: bool,
        progress: &Option<ProgressFn>,
        mut each: impl FnMut(&WeightsObject, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let what = Self::model_what(&info.name, Some(info.version));
        let total: u64 = info.weights.iter().map(|w| w.size).sum();
        let mut done = 0u64;
        report(progress, 0, total)?;
        for w in &info.weights {
            let stored = self
                .object_bytes(info, &w.object, &w.sha256, None, use_cache, &None)
                .await?;
            let plain = if info.encrypted {
                let Some(key) = self.key() else {
                    return Err(self.missing_key(&what));
                };
                crypto::open(
                    key,
                    &weights_context(&info.name, info.version, &w.object),
                    &stored,
                    &format!("{what}, weights object {}", w.object),
                )?
            } else {
                stored
            };
            if plain.len() as u64 != w.size {
                return Err(Error::Integrity {
                    what,
                    reason: format!(
                        "weights object {} holds {} bytes, the manifest says {}",
                        w.object,
                        plain.len(),
                        w.size
                    ),
                });
            }
            done += w.size;
            each(w, plain)?;
            report(progress, done, total)?;
        }
        Ok(())
    }

    /// Re-reads every weights object from the store (not the cache): hash and decryption.
    pub(super) async fn object_set_bytes_verify(
        &self,
        info: &ModelInfo,
        progress: &Option<ProgressFn>,
    ) -> Result<()> {
        self.for_each_weights_object(info, false, progress, |_, _| Ok(()))
            .await
    }

    /// Loads an object-set model: the weights go to ONNX Runtime as external initializers.
    pub(crate) fn load_object_set(
        &self,
        info: &ModelInfo,
        options: &ModelOptions,
    ) -> Result<Model> {
        let what = Self::model_what(&info.name, Some(info.version));
        block_on(async {
            let (graph, tensors) = self.object_set_graph(info).await?;
            runtime::environment(options.runtime_path.as_deref())?;
            let mut filling = Filling::allocate(tensors)?;
            self.for_each_weights_object(info, true, &None, |w, plain| {
                filling.scatter(&w.file, w.offset, &plain);
                Ok(())
            })
            .await?;
            let initializers = filling.finish(&what)?;
            Model::from_graph(graph, initializers, Some(what), options)
        })
    }

    /// The self-contained ONNX bytes of an object-set model (its weights put inline), when they
    /// fit protobuf's 2 GiB limit; else [`Error::InvalidModel`] pointing to `load_model`.
    pub(crate) async fn object_set_bytes(
        &self,
        info: &ModelInfo,
        use_cache: bool,
        progress: &Option<ProgressFn>,
    ) -> Result<Vec<u8>> {
        let what = Self::model_what(&info.name, Some(info.version));
        let total = info.size + info.weights.iter().map(|w| w.size).sum::<u64>();
        if total > PROTOBUF_LIMIT as u64 {
            return Err(Error::InvalidModel {
                source_name: Some(what),
                reason: format!(
                    "with its weights the model is {total} bytes, over protobuf's 2 GiB limit, so \
                     it has no single-file form; load it with load_model (its weights then go to \
                     ONNX Runtime as external initializers)"
                ),
            });
        }
        let (graph, _) = self.object_set_graph(info).await?;
        let mut files: HashMap<String, Vec<u8>> = HashMap::new();
        self.for_each_weights_object(info, use_cache, progress, |w, plain| {
            files
                .entry(w.file.clone())
                .or_default()
                .extend_from_slice(&plain);
            Ok(())
        })
        .await?;
        inline_external_data(graph, SideFiles::Given(&files))
    }
}
