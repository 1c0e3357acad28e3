//! Tuning profiles in the registry: one per model version and machine fingerprint, at
//! `<prefix>/models/<name>/<version>/profiles/<fingerprint id>.json`.
//!
//! A profile only changes how a session is built (providers, threads, optimization level), never
//! what the model computes, so it is mutable (a new tune replaces it) and a bad or foreign one is
//! ignored rather than fatal. With a platform key it carries an HMAC, and a profile without a
//! valid one is ignored (whoever can write to the store can't pick a keyed user's providers).

use bytes::Bytes;
use object_store::{ObjectStoreExt, PutPayload};

use super::layout::{check_name, model_root, version_dir};
use super::{Platform, ProgressFn};
use crate::crypto;
use crate::model::tune::{GivenOptions, Profile};
use crate::model::{Fingerprint, Model, ModelOptions};
use crate::pools::block_on;
use crate::{Error, Result};

/// The folder of a version's profiles.
pub const PROFILES: &str = "profiles";
/// The purpose of the profile MAC subkey.
const PROFILE_MAC_PURPOSE: &[u8] = b"lepton-ai tuning profile mac v1";

fn profile_mac(key: &crypto::Key, name: &str, version: u64, profile: &Profile) -> String {
    let mut unsigned = profile.clone();
    unsigned.mac = None;
    let mut text = format!("{name}\0{version}\0").into_bytes();
    text.extend(serde_json::to_vec(&unsigned).expect("profiles serialize"));
    let k = key.derive(PROFILE_MAC_PURPOSE);
    hex::encode(crypto::kdf::hmac_sha256(k.as_bytes(), &text))
}

impl Platform {
    fn profile_path(&self, name: &str, version: u64, id: &str) -> object_store::path::Path {
        version_dir(&model_root(&self.prefix, name), version)
            .clone()
            .join(PROFILES)
            .join(format!("{id}.json"))
    }

    /// Stores `profile` for `name` at `version` (`None`: latest), replacing the one of the same
    /// fingerprint; returns the version it was stored under.
    ///
    /// Errors: the model or version does not exist ([`Error::NotFound`]); the fingerprint id is
    /// not 16 hex digits ([`Error::InvalidArgument`]).
    pub fn put_profile(&self, name: &str, version: Option<u64>, profile: &Profile) -> Result<u64> {
        check_name("model", name)?;
        self.check_writable()?;
        let id = &profile.fingerprint_id;
        if !valid_fingerprint_id(id) {
            return Err(Error::InvalidArgument(format!(
                "profile fingerprint id {id:?} is not 16 hex digits (use Fingerprint::id)"
            )));
        }
        let version = self.model_info(name, version)?.version;
        let mut profile = profile.clone();
        profile.mac = self.key().map(|k| profile_mac(k, name, version, &profile));
        let path = self.profile_path(name, version, id);
        block_on(async {
            self.bucket
                .store
                .put(
                    &path,
                    PutPayload::from_bytes(Bytes::from(profile.to_json())),
                )
                .await
                .map_err(|e| self.bucket.err(e))
        })?;
        tracing::info!(name, version, fingerprint = %id, "stored tuning profile");
        Ok(version)
    }

    /// The profile of `name` at `version` (`None`: latest) for the machine `fingerprint_id`, if
    /// one is stored and valid (readable, of that fingerprint, authenticated when the platform has
    /// a key); an invalid one is logged and ignored.
    pub fn profile(
        &self,
        name: &str,
        version: Option<u64>,
        fingerprint_id: &str,
    ) -> Result<Option<Profile>> {
        check_name("model", name)?;
        if !valid_fingerprint_id(fingerprint_id) {
            return Ok(None);
        }
        let version = self.model_info(name, version)?.version;
        self.block_on_store(self.profile_at(name, version, fingerprint_id))
    }

    /// [`profile`](Self::profile) of a resolved `version` (`fingerprint_id` already checked).
    async fn profile_at(
        &self,
        name: &str,
        version: u64,
        fingerprint_id: &str,
    ) -> Result<Option<Profile>> {
        let path = self.profile_path(name, version, fingerprint_id);
        let Some(bytes) = self.bucket.get_opt(&path).await? else {
            return Ok(None);
        };
        let profile = match std::str::from_utf8(&bytes)
            .map_err(|e| Error::InvalidArgument(e.to_string()))
            .and_then(Profile::from_json)
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(name, version, "ignoring an unreadable tuning profile: {e}");
                return Ok(None);
            }
        };
        if profile.fingerprint_id != fingerprint_id
            || profile.fingerprint.id() != profile.fingerprint_id
        {
            tracing::warn!(
                name,
                version,
                "ignoring a tuning profile filed under another machine"
            );
            return Ok(None);
        }
        if let Some(key) = self.key() {
            let want = profile_mac(key, name, version, &profile);
            if profile.mac.as_deref() != Some(want.as_str()) {
                tracing::warn!(
                    name,
                    version,
                    "ignoring a tuning profile not authenticated by this platform's key"
                );
                return Ok(None);
            }
        }
        Ok(Some(profile))
    }

    /// Loads `name` like [`Platform::load_model`], with the stored profile of this machine
    /// applied over `options` when there is one (returned with the model).
    pub fn load_tuned_model(
        &self,
        name: &str,
        version: Option<u64>,
        options: &ModelOptions,
    ) -> Result<(Model, Option<Profile>)> {
        let fingerprint = Fingerprint::current(options.runtime_path.as_deref())?;
        let tuning = Tuning {
            fingerprint_id: fingerprint.id(),
            given: GivenOptions::default(),
        };
        self.load_model_tuned(name, version, options, Some(&tuning), None)
    }

    /// Loads `name` at `version` (`None`: latest) in one pass: the manifest resolved once
    /// (latest, rollback check, MAC), this machine's profile looked up at that version when
    /// `tuning` asks for it and applied where `tuning.given` leaves the option to it, then the
    /// stored object fetched, verified and loaded as [`Platform::load_model`] does. Returns the
    /// model and the profile applied (`None`: none stored, or `tuning` is `None`).
    pub fn load_model_tuned(
        &self,
        name: &str,
        version: Option<u64>,
        options: &ModelOptions,
        tuning: Option<&Tuning>,
        progress: Option<ProgressFn>,
    ) -> Result<(Model, Option<Profile>)> {
        let (info, profile) = self.block_on_store(async {
            let info = self.model_info_async(name, version).await?;
            let profile = match tuning {
                Some(t) if valid_fingerprint_id(&t.fingerprint_id) => {
                    match self.profile_at(name, info.version, &t.fingerprint_id).await {
                        Ok(p) => p,
                        // Offline, a model served from the cache still loads: a profile only
                        // tunes options, and profiles are not cached.
                        Err(e @ Error::Unreachable { .. }) => {
                            tracing::info!(name, "no tuning profile applied: {e}");
                            None
                        }
                        Err(e) => return Err(e),
                    }
                }
                _ => None,
            };
            Ok::<_, Error>((info, profile))
        })?;
        let tuned = match (&profile, tuning) {
            (Some(p), Some(t)) => p.settings.apply_unless_given(options, t.given)?,
            _ => options.clone(),
        };
        let model = self.load_resolved(&info, &tuned, progress)?;
        Ok((model, profile))
    }
}

/// How a registry load applies this machine's tuning profile (see
/// [`Platform::load_model_tuned`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// This machine's [`Fingerprint::id`]: the profile looked up.
    pub fingerprint_id: String,
    /// The options the caller set, which the profile leaves as they are.
    pub given: GivenOptions,
}

/// Whether `id` can be a fingerprint id (16 hex digits, as [`Fingerprint::id`] makes them).
fn valid_fingerprint_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}
