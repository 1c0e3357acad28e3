//! Rollback detection: a registry that serves an older version as the latest than this client has
//! seen (a stale replica, or someone with write access hiding the newest version and moving
//! `LATEST` back) is `Error::Rollback`; pinned versions still read; a delete made through this
//! client is not a rollback. On a local folder and on S3 (moto).

mod common;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::get_hook::GetHook;
use common::{fixture, sized_model, Backend};
use lepton_core::dataset::{ColumnData, ReadOptions};
use lepton_core::object_store::memory::InMemory;
use lepton_core::object_store::path::Path;
use lepton_core::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use lepton_core::platform::{DatasetPushOptions, Platform, PlatformOptions, PushOptions};
use lepton_core::pools::block_on;
use lepton_core::store::StoreKind;
use lepton_core::Error;

/// What an attacker with write access does: remove the commit of `version` and point `LATEST`
/// at the one before.
fn hide_newest(p: &lepton_core::platform::Platform, root: &str, commit: &str, version: u64) {
    let store = p.store().clone();
    let prefix = p.prefix().clone();
    let at = |rel: &str| -> Path {
        rel.split('/')
            .fold(prefix.clone(), |path, part| path.join(part))
    };
    block_on(async {
        store
            .delete(&at(&format!("{root}/{version}/{commit}")))
            .await
            .unwrap();
        let latest = format!("{{\"version\":{}}}", version - 1);
        store
            .put(
                &at(&format!("{root}/LATEST")),
                PutPayload::from(Bytes::from(latest)),
            )
            .await
            .unwrap();
    });
}

/// `e` is the rollback from version 3 to 2 of `what`.
fn assert_rollback(e: Error, what: &str) {
    assert!(
        matches!(
            e,
            Error::Rollback {
                seen: 3,
                latest: 2,
                ..
            }
        ),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("rollback detected for {what}")),
        "{text}"
    );
}

/// `read_first`: the client reads the latest before the store hides it; else it only pushed
/// (its own pushes count as seen).
fn model_rollback_is_detected(backend: Backend, read_first: bool) {
    let f = fixture(backend);
    let p = f.writer(None);
    for i in 1..=3u8 {
        p.push_model("m", &sized_model(i, 64), &PushOptions::default())
            .unwrap();
    }
    if read_first {
        assert_eq!(p.model_info("m", None).unwrap().version, 3);
    }
    hide_newest(&p, "models/m", "manifest.json", 3);
    let e = p.model_info("m", None).unwrap_err();
    assert!(
        matches!(&e, Error::Rollback { available, .. } if *available == [1, 2]),
        "{e}"
    );
    assert_rollback(e, "model `m`");
    // a push is refused too, and the mark stays
    let pushed = p.push_model("m", &sized_model(9, 64), &PushOptions::default());
    assert_rollback(pushed.unwrap_err(), "model `m`");
    assert_rollback(p.model_info("m", None).unwrap_err(), "model `m`");
    // pinned versions are not affected
    assert_eq!(p.model_bytes("m", Some(2)).unwrap().1, sized_model(2, 64));
    // a delete through this client is not a rollback
    p.delete_model("m", Some(2)).unwrap();
    assert_eq!(p.model_info("m", None).unwrap().version, 1);
}

fn dataset_rollback_is_detected(backend: Backend, read_first: bool) {
    let f = fixture(backend);
    let p = f.writer(None);
    let push = |y: &[i64]| {
        let column = ColumnData::from_slice(y, &[]).unwrap();
        p.push_dataset(
            "d",
            "train",
            &[("y", column)],
            &DatasetPushOptions::default(),
        )
    };
    for i in 0..3i64 {
        push(&[i; 10]).unwrap();
    }
    let read = || p.load_dataset("d", "train", None, ReadOptions::default());
    if read_first {
        assert_eq!(read().unwrap().version(), 3);
    }
    let manifest = format!("manifests/{:020}.manifest", 3);
    hide_newest(&p, "datasets/d/train", &manifest, 3);
    assert_rollback(read().unwrap_err(), "dataset `d` split `train`");
    assert_rollback(push(&[9; 4]).unwrap_err(), "dataset `d` split `train`");
    assert!(p
        .load_dataset("d", "train", Some(2), ReadOptions::default())
        .is_ok());
}

/// A handle on `store` named `uri` (which picks its rollback marks), keeping marks as any
/// store but memory:// does.
fn handle(store: Arc<dyn ObjectStore>, uri: &str) -> Platform {
    let options = PlatformOptions {
        encrypt: Some(false),
        no_cache: true,
        ..Default::default()
    };
    Platform::with_store(store, Path::default(), uri, StoreKind::S3, options).unwrap()
}

/// Another client of this home commits, raising the shared mark, while this handle resolves the
/// latest: here, every time it reads or probes a manifest, after its listing. The resolve began
/// before that commit and may rightly miss it, which is not a rollback however often it
/// happens; nor is a push racing the same way. Once the commits stop, the newest is read.
#[test]
fn commits_racing_a_resolve_are_not_a_rollback() {
    let uri = format!("s3://race-{}", uuid::Uuid::new_v4().simple());
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let writer = Arc::new(handle(inner.clone(), &uri));
    let races = Arc::new(AtomicUsize::new(0));
    let hooked = GetHook::new(inner, {
        let (writer, races, seeds) = (writer.clone(), races.clone(), AtomicU8::new(0));
        move |location, _| {
            if location.filename() != Some("manifest.json") {
                return;
            }
            let race = races.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if race.is_ok() {
                // Another thread (this one is inside the reader's request); each model differs.
                let w = writer.clone();
                let model = sized_model(100 + seeds.fetch_add(1, Ordering::SeqCst), 64);
                std::thread::spawn(move || w.push_model("m", &model, &PushOptions::default()))
                    .join()
                    .unwrap()
                    .unwrap();
            }
        }
    });
    let reader = handle(Arc::new(hooked), &uri);
    writer
        .push_model("m", &sized_model(1, 64), &PushOptions::default())
        .unwrap();
    races.store(8, Ordering::SeqCst);
    let mut seen = Vec::new();
    while races.load(Ordering::SeqCst) > 0 {
        seen.push(reader.model_info("m", None).unwrap().version);
    }
    assert!(seen.is_sorted() && seen.len() > 1, "{seen:?}");
    assert_eq!(reader.model_info("m", None).unwrap().version, 9);
    races.store(1, Ordering::SeqCst);
    let pushed = reader
        .push_model("m", &sized_model(2, 64), &PushOptions::default())
        .unwrap()
        .version;
    assert_eq!(races.load(Ordering::SeqCst), 0, "the push raced a commit");
    assert_eq!(pushed, 11);
    assert_eq!(reader.model_info("m", None).unwrap().version, 11);
}

/// One named test per case: `name => check(backend, read_first)`.
macro_rules! cases {
    ($($name:ident => $check:ident($backend:ident, $read_first:literal);)*) => {
        $(
            #[test]
            fn $name() {
                $check(Backend::$backend, $read_first);
            }
        )*
    };
}

cases! {
    local_model_rollback_is_detected => model_rollback_is_detected(Local, true);
    local_model_rollback_after_only_pushing_is_detected => model_rollback_is_detected(Local, false);
    s3_model_rollback_is_detected => model_rollback_is_detected(S3, true);
    s3_model_rollback_after_only_pushing_is_detected => model_rollback_is_detected(S3, false);
    local_dataset_rollback_is_detected => dataset_rollback_is_detected(Local, true);
    local_dataset_rollback_after_only_pushing_is_detected => dataset_rollback_is_detected(Local, false);
    s3_dataset_rollback_is_detected => dataset_rollback_is_detected(S3, true);
    s3_dataset_rollback_after_only_pushing_is_detected => dataset_rollback_is_detected(S3, false);
}
