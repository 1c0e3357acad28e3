//! What a failed store call was about, read from an `object_store` error: the HTTP status, a
//! missing bucket, missing credentials. [`crate::Error::from_store`] uses these to map every
//! store operation (get, put, list, head, delete, conditional put) the same way.
//!
//! `object_store` keeps the status of a failed request in a crate-private type, and maps it to a
//! typed variant (`PermissionDenied`, `NotFound`...) only for some operations (a failed list or
//! credential fetch comes back as `Generic`). So the status is read from the error's text, where
//! `object_store` always prints it ("Server returned non-2xx status code: 403 Forbidden").

/// Every message in `e`'s source chain, joined by `": "` (each only once).
pub(crate) fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        src = s.source();
    }
    text
}

/// The HTTP status the store answered with, when the error text names one.
pub(crate) fn http_status(text: &str) -> Option<u16> {
    const MARK: &str = "status code: ";
    let at = text.find(MARK)? + MARK.len();
    text[at..].get(..3)?.parse().ok()
}

/// Whether the request failed because no credentials were configured: with none in the
/// environment or the options, the S3 client falls back to the EC2 instance metadata service,
/// which answers only on EC2.
pub(crate) fn is_missing_credentials(text: &str) -> bool {
    text.contains("/latest/api/token")
        || text.contains("/latest/meta-data/iam/security-credentials")
}

/// The bucket an S3-style `NoSuchBucket` answer names (from its XML body, else from `endpoint`,
/// the registry URI), when the error is one.
pub(crate) fn missing_bucket(text: &str, endpoint: &str) -> Option<String> {
    if !text.contains("NoSuchBucket") && !text.contains("ContainerNotFound") {
        return None;
    }
    let from_body = text.split_once("<BucketName>").and_then(|(_, rest)| {
        rest.split_once("</BucketName>")
            .map(|(name, _)| name.to_string())
    });
    from_body.or_else(|| {
        url::Url::parse(endpoint)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
    })
}

/// The message of a store call made without credentials.
pub(crate) fn missing_credentials_reason(endpoint: &str) -> String {
    let how = if endpoint.starts_with("s3://") || endpoint.starts_with("s3a://") {
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or a web identity), \
         or pass aws_access_key_id / aws_secret_access_key in storage_options"
    } else {
        "set the store's credential environment variables, or pass them in storage_options"
    };
    format!(
        "no credentials were found (none in the environment or the storage options, and no cloud \
         instance metadata service answered); {how}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_bucket_and_credentials() {
        assert_eq!(
            http_status("Error performing GET http://h/b in 1ms - Server returned non-2xx status code: 403 Forbidden: <Error>"),
            Some(403)
        );
        assert_eq!(http_status("connection refused"), None);
        let body = "status code: 404 Not Found: <Error><Code>NoSuchBucket</Code><BucketName>data</BucketName></Error>";
        assert_eq!(
            missing_bucket(body, "s3://other/p").as_deref(),
            Some("data")
        );
        assert_eq!(
            missing_bucket("status code: 404 Not Found: NoSuchBucket", "s3://other/p").as_deref(),
            Some("other")
        );
        assert_eq!(
            missing_bucket("status code: 404 Not Found", "s3://b/p"),
            None
        );
        assert!(is_missing_credentials(
            "Error performing PUT http://169.254.169.254/latest/api/token in 1s"
        ));
    }
}
