//! One store-error story: every store operation (get, put, list, head, delete, conditional put)
//! maps failures the same way, for datasets and the registry alike.
//!
//! - 403 for every operation: an S3 client pointed at a tiny local HTTP server that answers every
//!   request `403 AccessDenied` (as S3 does under a deny policy). A stand-in, because the shared
//!   moto server runs without IAM enforcement, and turning it on would deny every other test.
//! - a missing object, on memory, a local folder and S3 (moto); a missing bucket on S3 (moto).
//! - no credentials, a plain `http://` endpoint without `allow_http`, a refused connection.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{closed_port, fixture, Backend};
use lepton_core::dataset::{Dataset, ReadOptions};
use lepton_core::object_store::path::Path;
use lepton_core::object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use lepton_core::platform::{Platform, PlatformOptions, PushOptions};
use lepton_core::pools::block_on;
use lepton_core::store::open_uri;
use lepton_core::Error;

/// A local server answering every request with S3's 403 `AccessDenied`; returns its endpoint.
fn deny_all_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                // Read the head and any body (Content-Length) so the client sees a clean answer.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Ok(n) = conn.read(&mut chunk) else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
                let body =
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>\
                            <Message>Access Denied</Message></Error>";
                let _ = write!(
                    conn,
                    "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    endpoint
}

fn s3_options(endpoint: &str) -> Vec<(String, String)> {
    [
        ("aws_endpoint", endpoint.to_string()),
        ("aws_allow_http", "true".into()),
        ("aws_access_key_id", "test".into()),
        ("aws_secret_access_key", "test".into()),
        ("aws_region", "us-east-1".into()),
        ("aws_conditional_put", "etag".into()),
        ("connect_timeout", "1s".into()),
        ("timeout", "2s".into()),
        ("max_retries", "0".into()),
        ("retry_timeout", "1s".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Every store operation, each mapped with the one mapping.
fn every_op(store: &dyn ObjectStore, path: &Path, endpoint: &str) -> Vec<(&'static str, Error)> {
    let map = |r: Result<(), lepton_core::object_store::Error>| {
        Error::from_store(r.expect_err("the operation should fail"), endpoint)
    };
    block_on(async {
        vec![
            ("get", map(store.get(path).await.map(|_| ()))),
            ("head", map(store.head(path).await.map(|_| ()))),
            (
                "put",
                map(store
                    .put(path, PutPayload::from_static(b"x"))
                    .await
                    .map(|_| ())),
            ),
            (
                "conditional put",
                map(store
                    .put_opts(
                        path,
                        PutPayload::from_static(b"x"),
                        PutOptions {
                            mode: PutMode::Create,
                            ..Default::default()
                        },
                    )
                    .await
                    .map(|_| ())),
            ),
            ("delete", map(store.delete(path).await)),
            (
                "list",
                map({
                    use futures::TryStreamExt;
                    store
                        .list(Some(path))
                        .try_collect::<Vec<_>>()
                        .await
                        .map(|_| ())
                }),
            ),
        ]
    })
}

#[test]
fn forbidden_is_permission_denied_for_every_operation_datasets_and_registry() {
    let endpoint = deny_all_server();
    let uri = "s3://locked/reg";
    let loc = open_uri(uri, &s3_options(&endpoint)).unwrap();
    for (op, e) in every_op(loc.store.as_ref(), &Path::from("reg/x"), uri) {
        assert!(matches!(e, Error::PermissionDenied { .. }), "{op}: {e}");
        assert!(
            e.to_string().starts_with("permission denied for "),
            "{op}: {e}"
        );
    }
    // The registry's calls and a dataset URI, which gave a generic storage error before.
    let p = Platform::open(
        Some(uri),
        PlatformOptions {
            no_cache: true,
            encrypt: Some(false),
            storage_options: s3_options(&endpoint),
            ..Default::default()
        },
    )
    .unwrap();
    let registry_calls: Vec<(&str, Error)> = vec![
        ("list_models", p.list_models().unwrap_err()),
        ("list_datasets", p.list_datasets().unwrap_err()),
        ("model_bytes", p.model_bytes("m", None).unwrap_err()),
        (
            "push_model",
            p.push_model("m", &common::onnx_holding(b"x"), &PushOptions::default())
                .unwrap_err(),
        ),
        ("delete_model", p.delete_model("m", None).unwrap_err()),
        (
            "load_dataset",
            p.load_dataset("d", "train", None, ReadOptions::default())
                .unwrap_err(),
        ),
        (
            "Dataset::open",
            Dataset::open(
                loc.store.clone(),
                loc.prefix.clone(),
                None,
                ReadOptions::default(),
            )
            .unwrap_err(),
        ),
    ];
    for (call, e) in registry_calls {
        assert!(matches!(e, Error::PermissionDenied { .. }), "{call}: {e}");
    }
}

#[test]
fn a_missing_object_is_not_found_on_every_backend() {
    for backend in [Backend::Memory, Backend::Local, Backend::S3] {
        let f = fixture(backend);
        let loc = open_uri(&f.uri, &[]).unwrap();
        let path = loc.prefix.clone().join("nothing-here");
        for (op, r) in block_on(async {
            vec![
                ("get", loc.store.get(&path).await.map(|_| ())),
                ("head", loc.store.head(&path).await.map(|_| ())),
            ]
        }) {
            let e = Error::from_store(r.unwrap_err(), &f.uri);
            assert!(
                matches!(&e, Error::NotFound { what, .. } if what.ends_with("nothing-here")),
                "{backend:?} {op}: {e}"
            );
        }
    }
}

#[test]
fn a_missing_bucket_is_not_found_naming_the_bucket() {
    common::s3_bucket(); // needs moto
    let bucket = format!("no-such-bucket-{}", uuid::Uuid::new_v4().simple());
    let uri = format!("s3://{bucket}/reg");
    let p = Platform::open(
        Some(&uri),
        PlatformOptions {
            no_cache: true,
            encrypt: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    for (call, e) in [
        ("list_models", p.list_models().unwrap_err()),
        ("list_datasets", p.list_datasets().unwrap_err()),
        ("model_bytes", p.model_bytes("m", None).unwrap_err()),
    ] {
        assert!(matches!(e, Error::NotFound { .. }), "{call}: {e}");
        assert_eq!(
            e.to_string(),
            format!(
                "bucket `{bucket}` (of {uri}) not found; create the bucket, or check its name in \
                 the URI"
            ),
            "{call}"
        );
    }
}

/// Set in the child process of [`no_credentials_says_none_were_found_and_how_to_give_them`].
const NO_CREDS_CHILD: &str = "LEPTON_TEST_NO_CREDENTIALS_CHILD";

#[test]
fn no_credentials_says_none_were_found_and_how_to_give_them() {
    if std::env::var_os(NO_CREDS_CHILD).is_none() {
        // The S3 builder reads AWS_* variables (scripts/moto.sh sets keys): run this case again
        // in a child process without any, bounded in time.
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .args([
                "--exact",
                "no_credentials_says_none_were_found_and_how_to_give_them",
                "--nocapture",
            ])
            .env(NO_CREDS_CHILD, "1");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AWS_") {
                child.env_remove(k);
            }
        }
        let out = child.output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    // No keys in the options or the environment: the client falls back to the instance metadata
    // service, here a closed local port (off EC2 it never answers).
    let mut opts: Vec<(String, String)> =
        s3_options(&format!("http://127.0.0.1:{}", closed_port()))
            .into_iter()
            .filter(|(k, _)| k != "aws_access_key_id" && k != "aws_secret_access_key")
            .collect();
    opts.push((
        "aws_metadata_endpoint".into(),
        format!("http://127.0.0.1:{}", closed_port()),
    ));
    let loc = open_uri("s3://b/reg", &opts).unwrap();
    let t = Instant::now();
    let e = Error::from_store(
        block_on(loc.store.get(&Path::from("reg/x"))).unwrap_err(),
        "s3://b/reg",
    );
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    let text = e.to_string();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{text}");
    assert!(
        text.starts_with("permission denied for s3://b/reg: no credentials were found"),
        "{text}"
    );
    assert!(text.contains("AWS_ACCESS_KEY_ID"), "{text}");
}

#[test]
fn plain_http_endpoint_without_allow_http_names_the_option() {
    let mut opts = s3_options("http://127.0.0.1:9");
    opts.retain(|(k, _)| k != "aws_allow_http");
    // AWS_ALLOW_HTTP from the environment (scripts/moto.sh sets it) would allow it: say false.
    opts.push(("aws_allow_http".into(), "false".into()));
    let e = open_uri("s3://b/reg", &opts).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert_eq!(
        e.to_string(),
        "endpoint http://127.0.0.1:9 is plain http://, which is refused unless allowed: set the \
         storage option allow_http=true (or AWS_ALLOW_HTTP=true in the environment), or use https://"
    );
    let e = open_uri("http://127.0.0.1:9/reg", &[]).unwrap_err();
    assert!(e.to_string().contains("allow_http=true"), "{e}");
}

#[test]
fn refused_connection_is_unreachable() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let loc = open_uri("s3://b/reg", &s3_options(&endpoint)).unwrap();
    for (op, e) in every_op(loc.store.as_ref(), &Path::from("reg/x"), "s3://b/reg") {
        assert!(matches!(e, Error::Unreachable { .. }), "{op}: {e}");
    }
}

/// A dead network is `Unreachable` for a dataset read too, as for the registry (one mapping of
/// store errors), and the message names the bucket.
#[test]
fn refused_connection_is_unreachable_for_a_dataset_read() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let loc = open_uri("s3://no-such-bucket/ds", &s3_options(&endpoint)).unwrap();
    let e = Dataset::open(loc.store, loc.prefix, None, ReadOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("no-such-bucket"), "{e}");
}
