//! Lambda event parsing: pure functions from JSON to typed events, no I/O.
//!
//! Two events are understood: EventBridge's `ECR Image Action` (`source: aws.ecr`) and the
//! CodePipeline Lambda invoke (`CodePipeline.job`). Everything else is [`EventError`]. Every
//! string taken from an event is checked against the limits AWS itself applies (repository name
//! 256, tag 300, CodePipeline `UserParameters` 1000 characters), so an oversized or malformed
//! payload is refused with a message naming the field, never a panic.
//!
//! This file depends only on `serde_json` and `thiserror` so that the fuzz crate
//! (`lambda/fuzz`) can compile it on its own.

use serde_json::Value;

/// Largest event accepted, in bytes: Lambda's limit for a synchronous invoke payload.
pub const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;
/// Longest ECR repository name.
pub const MAX_REPOSITORY_LEN: usize = 256;
/// Longest image tag ECR accepts (the OCI distribution spec says 128; ECR allows 300).
pub const MAX_TAG_LEN: usize = 300;
/// Longest image digest accepted (`sha512:` and 128 hex digits).
pub const MAX_DIGEST_LEN: usize = 135;
/// Longest CodePipeline `UserParameters` string.
pub const MAX_USER_PARAMETERS_LEN: usize = 1000;
/// Longest CodePipeline job id accepted (they are UUIDs).
pub const MAX_JOB_ID_LEN: usize = 128;
/// Longest full image repository URI accepted in `UserParameters`.
pub const MAX_IMAGE_URI_LEN: usize = 512;

/// Why an event cannot be used: which field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct EventError {
    /// The JSON path of the field (`detail.image-tag`, `CodePipeline.job.id`), or `payload` for the whole event.
    pub field: String,
    /// What is wrong, and what was expected.
    pub problem: String,
}

impl EventError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { field: field.into(), problem: problem.into() }
    }
}

/// A parsed Lambda event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An EventBridge `ECR Image Action`.
    Ecr(EcrImageAction),
    /// A CodePipeline job for this function.
    Job(CodePipelineJob),
    /// The template's schedule (`{"shipline": "scan"}`): update every policy from the tags ECR
    /// lists, catching pushes whose event was lost.
    Scan,
}

/// The payload the template's EventBridge Scheduler schedule sends.
pub const SCAN_PAYLOAD: &str = r#"{"shipline":"scan"}"#;

/// The fields of an `ECR Image Action` event that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImageAction {
    /// Account that emitted the event (the registry's account), when present.
    pub account: Option<String>,
    /// `detail.action-type`: `PUSH` or `DELETE`.
    pub action_type: String,
    /// `detail.result`: `SUCCESS` or `FAILURE`.
    pub result: String,
    /// `detail.repository-name`.
    pub repository_name: String,
    /// `detail.image-tag`; absent or empty for an untagged push.
    pub image_tag: Option<String>,
    /// `detail.image-digest`.
    pub image_digest: Option<String>,
}

/// An image to roll out: what a handled ECR push or a CodePipeline job names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// A repository name (`team/app`, as ECR events give it) or a full repository URI
    /// (`123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app`).
    pub repository: String,
    /// The registry account, when known (from the event's `account`).
    pub account: Option<String>,
    /// The tag.
    pub tag: String,
    /// The manifest digest, when known.
    pub digest: Option<String>,
}

/// A CodePipeline job, reduced to what the handler needs. The event's
/// `data.artifactCredentials` (temporary AWS keys) are deliberately not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodePipelineJob {
    /// `CodePipeline.job.id`, for `PutJobSuccessResult` / `PutJobFailureResult`.
    pub id: String,
    /// `data.actionConfiguration.configuration.UserParameters`, unparsed; see
    /// [`parse_user_parameters`].
    pub user_parameters: Option<String>,
    /// `data.continuationToken`: what this function handed CodePipeline to keep the job running
    /// (closed loop), back verbatim on the next invocation; untrusted, decoded by
    /// `closed_loop::Continuation::decode`.
    pub continuation_token: Option<String>,
}

/// Longest `continuationToken` CodePipeline accepts.
pub const MAX_CONTINUATION_TOKEN_LEN: usize = 2048;

/// What a job's `UserParameters` say about waiting for the cluster (closed loop).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitParameters {
    /// `waitForSync`: the sync to wait for.
    pub sync: Option<String>,
    /// `timeoutSeconds`: how long to wait, from the first invocation.
    pub timeout_seconds: Option<u64>,
}

/// Why an ECR event is not acted upon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// Not a push (a `DELETE`).
    NotAPush(String),
    /// The push failed.
    NotSuccessful(String),
    /// An untagged push (a manifest by digest only).
    Untagged,
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAPush(a) => write!(f, "action-type {a:?} is not PUSH"),
            Self::NotSuccessful(r) => write!(f, "result {r:?} is not SUCCESS"),
            Self::Untagged => f.write_str("untagged push: no image-tag to roll out"),
        }
    }
}

impl EcrImageAction {
    /// The image to roll out, or why this event is ignored.
    pub fn image(&self) -> Result<ImageSpec, Ignored> {
        if self.action_type != "PUSH" {
            return Err(Ignored::NotAPush(self.action_type.clone()));
        }
        if self.result != "SUCCESS" {
            return Err(Ignored::NotSuccessful(self.result.clone()));
        }
        let tag = self.image_tag.clone().ok_or(Ignored::Untagged)?;
        Ok(ImageSpec {
            repository: self.repository_name.clone(),
            account: self.account.clone(),
            tag,
            digest: self.image_digest.clone(),
        })
    }
}

/// Parses raw event bytes, refusing payloads over [`MAX_EVENT_BYTES`].
pub fn parse_slice(bytes: &[u8]) -> Result<Event, EventError> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(EventError::new(
            "payload",
            format!("{} bytes is over the {MAX_EVENT_BYTES}-byte limit", bytes.len()),
        ));
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| EventError::new("payload", format!("not JSON: {e}")))?;
    parse(&value)
}

/// Classifies and parses an event.
pub fn parse(event: &Value) -> Result<Event, EventError> {
    let Some(object) = event.as_object() else {
        return Err(EventError::new("payload", format!("expected a JSON object, got {}", kind(event))));
    };
    if let Some(job) = object.get("CodePipeline.job") {
        return parse_job(job).map(Event::Job);
    }
    if let Some(command) = object.get("shipline") {
        return match command.as_str() {
            Some("scan") => Ok(Event::Scan),
            Some(other) => Err(EventError::new(
                "shipline",
                format!("expected \"scan\", got {:?}", other.chars().take(40).collect::<String>()),
            )),
            None => Err(EventError::new("shipline", format!("expected \"scan\", got {}", kind(command)))),
        };
    }
    let source = object.get("source").and_then(Value::as_str);
    let detail_type = object.get("detail-type").and_then(Value::as_str);
    match (source, detail_type) {
        (Some("aws.ecr"), Some("ECR Image Action")) => parse_ecr(object).map(Event::Ecr),
        _ => Err(EventError::new(
            "payload",
            format!(
                "unsupported event (source {}, detail-type {}): expected an EventBridge ECR Image Action \
                 (source aws.ecr), a CodePipeline job (CodePipeline.job) or the schedule's {{\"shipline\": \"scan\"}}",
                shown(source),
                shown(detail_type)
            ),
        )),
    }
}

fn parse_ecr(event: &serde_json::Map<String, Value>) -> Result<EcrImageAction, EventError> {
    let detail = event.get("detail").ok_or_else(|| EventError::new("detail", "missing"))?;
    if !detail.is_object() {
        return Err(EventError::new("detail", format!("expected an object, got {}", kind(detail))));
    }
    let account = optional_str(event.get("account"), "account", 12)?;
    if let Some(a) = &account
        && !a.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(EventError::new("account", "expected a 12-digit AWS account id"));
    }
    let action_type = required_str(detail, "action-type", "detail.action-type", 32)?;
    let result = required_str(detail, "result", "detail.result", 32)?;
    let repository_name = required_str(detail, "repository-name", "detail.repository-name", MAX_REPOSITORY_LEN)?;
    check_repository_name(&repository_name, "detail.repository-name")?;
    let image_tag = optional_str(detail.get("image-tag"), "detail.image-tag", MAX_TAG_LEN)?.filter(|t| !t.is_empty());
    if let Some(tag) = &image_tag {
        check_tag(tag, "detail.image-tag")?;
    }
    let image_digest = optional_str(detail.get("image-digest"), "detail.image-digest", MAX_DIGEST_LEN)?;
    if let Some(digest) = &image_digest {
        check_digest(digest, "detail.image-digest")?;
    }
    Ok(EcrImageAction { account, action_type, result, repository_name, image_tag, image_digest })
}

fn parse_job(job: &Value) -> Result<CodePipelineJob, EventError> {
    if !job.is_object() {
        return Err(EventError::new("CodePipeline.job", format!("expected an object, got {}", kind(job))));
    }
    let id = required_str(job, "id", "CodePipeline.job.id", MAX_JOB_ID_LEN)?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(EventError::new("CodePipeline.job.id", "expected a job id (letters, digits, '-')"));
    }
    let field = "CodePipeline.job.data.actionConfiguration.configuration.UserParameters";
    let parameters = job.pointer("/data/actionConfiguration/configuration/UserParameters");
    let user_parameters = optional_str(parameters, field, MAX_USER_PARAMETERS_LEN)?;
    let continuation_token = optional_str(
        job.pointer("/data/continuationToken"),
        "CodePipeline.job.data.continuationToken",
        MAX_CONTINUATION_TOKEN_LEN,
    )?;
    Ok(CodePipelineJob { id, user_parameters, continuation_token })
}

/// Parses a job's `UserParameters`: a JSON object naming the image, either
/// `{"image": "REPOSITORY_URI:TAG"}` (optionally `@sha256:...` appended) or
/// `{"repositoryName": "team/app", "imageTag": "main-1f49071-24"}`, each with an optional
/// `"imageDigest"`.
pub fn parse_user_parameters(text: Option<&str>) -> Result<ImageSpec, EventError> {
    const FIELD: &str = "UserParameters";
    const EXPECTED: &str =
        r#"expected JSON such as {"image": "REPOSITORY_URI:TAG"} or {"repositoryName": "app", "imageTag": "TAG"}"#;
    let text =
        text.filter(|t| !t.trim().is_empty()).ok_or_else(|| EventError::new(FIELD, format!("missing: {EXPECTED}")))?;
    if text.len() > MAX_USER_PARAMETERS_LEN {
        return Err(EventError::new(FIELD, format!("longer than {MAX_USER_PARAMETERS_LEN} characters")));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| EventError::new(FIELD, format!("not JSON ({e}): {EXPECTED}")))?;
    if !value.is_object() {
        return Err(EventError::new(FIELD, format!("got {}: {EXPECTED}", kind(&value))));
    }
    let digest = optional_str(value.get("imageDigest"), "UserParameters.imageDigest", MAX_DIGEST_LEN)?;
    if let Some(image) = value.get("image") {
        let image = image.as_str().ok_or_else(|| {
            EventError::new("UserParameters.image", format!("expected a string, got {}", kind(image)))
        })?;
        return parse_image_reference(image, digest);
    }
    let repository = required_str(&value, "repositoryName", "UserParameters.repositoryName", MAX_REPOSITORY_LEN)?;
    check_repository_name(&repository, "UserParameters.repositoryName")?;
    let tag = required_str(&value, "imageTag", "UserParameters.imageTag", MAX_TAG_LEN)?;
    check_tag(&tag, "UserParameters.imageTag")?;
    if let Some(d) = &digest {
        check_digest(d, "UserParameters.imageDigest")?;
    }
    Ok(ImageSpec { repository, account: None, tag, digest })
}

/// Reads the closed-loop fields of a job's `UserParameters` (already accepted by
/// [`parse_user_parameters`]): `"waitForSync": "NAME"` and `"timeoutSeconds": N`, both optional.
pub fn parse_wait_parameters(text: Option<&str>) -> Result<WaitParameters, EventError> {
    let Some(value) = text.and_then(|t| serde_json::from_str::<Value>(t).ok()) else {
        return Ok(WaitParameters::default());
    };
    let sync = optional_str(value.get("waitForSync"), "UserParameters.waitForSync", 253)?;
    if let Some(s) = &sync {
        let ok = !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if !ok {
            return Err(EventError::new(
                "UserParameters.waitForSync",
                format!("{} is not a sync name (lower-case letters, digits, '-')", shown(Some(s))),
            ));
        }
    }
    let timeout_seconds = match value.get("timeoutSeconds") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|t| (1..=43_200).contains(&t)) => n.as_u64(),
        Some(other) => {
            let got = if other.is_number() { other.to_string() } else { kind(other).to_owned() };
            return Err(EventError::new(
                "UserParameters.timeoutSeconds",
                format!("expected whole seconds from 1 to 43200, got {got}"),
            ));
        }
    };
    Ok(WaitParameters { sync, timeout_seconds })
}

/// `REPOSITORY_URI:TAG[@DIGEST]` → its parts. A tag is required: a digest alone cannot be
/// ordered by any policy.
fn parse_image_reference(image: &str, digest: Option<String>) -> Result<ImageSpec, EventError> {
    const FIELD: &str = "UserParameters.image";
    if image.len() > MAX_IMAGE_URI_LEN + MAX_TAG_LEN + MAX_DIGEST_LEN + 2 {
        return Err(EventError::new(FIELD, "too long for an image reference"));
    }
    let (name_tag, inline_digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d.to_owned())),
        None => (image, None),
    };
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let Some(colon) = name_tag[last_slash..].rfind(':').map(|i| i + last_slash) else {
        return Err(EventError::new(FIELD, format!("{image:?} has no :TAG (expected REPOSITORY_URI:TAG)")));
    };
    let (repository, tag) = (&name_tag[..colon], &name_tag[colon + 1..]);
    if repository.is_empty() || repository.len() > MAX_IMAGE_URI_LEN || repository.chars().any(char::is_whitespace) {
        return Err(EventError::new(FIELD, format!("{image:?}: repository part is empty, too long or has spaces")));
    }
    check_tag(tag, FIELD)?;
    let digest = inline_digest.or(digest);
    if let Some(d) = &digest {
        check_digest(d, FIELD)?;
    }
    Ok(ImageSpec { repository: repository.to_owned(), account: None, tag: tag.to_owned(), digest })
}

fn required_str(object: &Value, key: &str, field: &str, max: usize) -> Result<String, EventError> {
    optional_str(object.get(key), field, max)?.ok_or_else(|| EventError::new(field, "missing"))
}

fn optional_str(value: Option<&Value>, field: &str, max: usize) -> Result<Option<String>, EventError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() > max => {
            Err(EventError::new(field, format!("{} bytes is longer than the limit of {max}", s.len())))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(EventError::new(field, format!("expected a string, got {}", kind(other)))),
    }
}

fn check_repository_name(name: &str, field: &str) -> Result<(), EventError> {
    let ok = !name.is_empty()
        && name.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b'/'))
        && !name.starts_with('/')
        && !name.ends_with('/');
    if ok {
        Ok(())
    } else {
        Err(EventError::new(field, format!("{name:?} is not an ECR repository name (a-z, 0-9, '.', '_', '-', '/')")))
    }
}

fn check_tag(tag: &str, field: &str) -> Result<(), EventError> {
    let mut bytes = tag.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    let ok = first_ok && tag.len() <= MAX_TAG_LEN && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok { Ok(()) } else { Err(EventError::new(field, format!("{tag:?} is not a valid image tag"))) }
}

fn check_digest(digest: &str, field: &str) -> Result<(), EventError> {
    let ok = digest.split_once(':').is_some_and(|(algorithm, hex)| {
        !algorithm.is_empty()
            && algorithm.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
            && hex.len() >= 32
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
    });
    if ok { Ok(()) } else { Err(EventError::new(field, format!("{digest:?} is not a digest (ALGORITHM:HEX)"))) }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A short, quoted rendering of an untrusted string for messages and logs.
fn shown(value: Option<&str>) -> String {
    match value {
        None => "absent".into(),
        Some(s) if s.len() > 64 => format!("{:?}...", s.chars().take(64).collect::<String>()),
        Some(s) => format!("{s:?}"),
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "events_fuzz_tests.rs"]
mod fuzz_tests;
