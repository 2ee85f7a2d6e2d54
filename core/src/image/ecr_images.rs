//! ECR image operations: re-tagging by manifest (BatchGetImage + PutImage with the exact bytes
//! and media type, so single images, OCI indexes and manifest lists keep their digest) and
//! registry credentials (GetAuthorizationToken).

use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::ImageIdentifier;

use crate::image::ecr::split_repository_uri;
use crate::image::oci;
use crate::image::registry::{RegistryAuth, RegistryError, ecr_token_auth};

/// Which image to re-tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSelector {
    /// By tag.
    Tag(String),
    /// By manifest digest.
    Digest(String),
}

impl std::fmt::Display for ImageSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageSelector::Tag(t) => write!(f, "tag {t}"),
            ImageSelector::Digest(d) => write!(f, "digest {d}"),
        }
    }
}

/// What happened to each new tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagOutcome {
    /// The tag now points at the image.
    Created,
    /// The tag already pointed at this image.
    AlreadyThere,
}

/// The result of a re-tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetagReport {
    /// Repository name.
    pub repository: String,
    /// The image's manifest digest.
    pub digest: String,
    /// Its manifest media type.
    pub media_type: String,
    /// Each new tag and what happened.
    pub tags: Vec<(String, TagOutcome)>,
}

/// Why a re-tag failed. Messages name the repository, tag and registry.
#[derive(Debug, thiserror::Error)]
pub enum EcrImageError {
    /// The source image does not exist.
    #[error("ECR repository {repository} (registry {registry}): no image with {selector}")]
    NotFound {
        /// Repository.
        repository: String,
        /// Registry id or `default`.
        registry: String,
        /// What was asked for.
        selector: ImageSelector,
    },
    /// The repository is immutable and the tag is taken by another image.
    #[error(
        "ECR repository {repository} (registry {registry}) has immutable tags and {tag} already names image {held_by}, not {digest}: choose a new tag"
    )]
    TagTaken {
        /// Repository.
        repository: String,
        /// Registry.
        registry: String,
        /// The tag.
        tag: String,
        /// The image being tagged.
        digest: String,
        /// The image the tag names (`unknown` when it could not be read).
        held_by: String,
    },
    /// Any other API failure.
    #[error("ECR {operation} on repository {repository} (registry {registry}): {message}")]
    Api {
        /// The API call.
        operation: &'static str,
        /// Repository.
        repository: String,
        /// Registry.
        registry: String,
        /// The service's message.
        message: String,
    },
}

fn api_error<E: std::error::Error>(
    operation: &'static str,
    repository: &str,
    registry: &Option<String>,
    e: E,
) -> EcrImageError {
    EcrImageError::Api {
        operation,
        repository: repository.to_owned(),
        registry: registry.clone().unwrap_or_else(|| "default".into()),
        message: aws_sdk_ecr::error::DisplayErrorContext(e).to_string(),
    }
}

/// Points each of `new_tags` at the image `selector` names in the repository at `uri`. A tag
/// that already points there is success (idempotent).
pub async fn retag(
    client: &Client,
    uri: &str,
    selector: &ImageSelector,
    new_tags: &[String],
) -> Result<RetagReport, EcrImageError> {
    let (registry, repository) = split_repository_uri(uri);
    let id = match selector {
        ImageSelector::Tag(t) => ImageIdentifier::builder().image_tag(t).build(),
        ImageSelector::Digest(d) => ImageIdentifier::builder().image_digest(d).build(),
    };
    let got = get_images(client, &repository, &registry, id).await?;
    let Some(image) = got.first() else {
        return Err(EcrImageError::NotFound {
            repository,
            registry: registry.unwrap_or_else(|| "default".into()),
            selector: selector.clone(),
        });
    };
    let manifest = image.image_manifest().unwrap_or_default().to_owned();
    let media_type = image.image_manifest_media_type().map(str::to_owned).unwrap_or_else(|| media_type_of(&manifest));
    let digest = image
        .image_id()
        .and_then(|i| i.image_digest())
        .map(str::to_owned)
        .unwrap_or_else(|| crate::digest::sha256_digest(manifest.as_bytes()));
    let mut tags = Vec::new();
    for tag in new_tags {
        // A tag already on the image needs no PutImage (real ECR would answer
        // ImageAlreadyExistsException, some emulators succeed silently): ask first, one tag per
        // call, because the imageId an answer carries may name another tag of the same image.
        let current =
            get_images(client, &repository, &registry, ImageIdentifier::builder().image_tag(tag).build()).await?;
        if current.iter().any(|i| i.image_id().and_then(|id| id.image_digest()) == Some(digest.as_str())) {
            tags.push((tag.clone(), TagOutcome::AlreadyThere));
            continue;
        }
        let put = client
            .put_image()
            .repository_name(&repository)
            .set_registry_id(registry.clone())
            .image_manifest(&manifest)
            .image_manifest_media_type(&media_type)
            .image_digest(&digest)
            .image_tag(tag)
            .send()
            .await;
        match put {
            Ok(_) => tags.push((tag.clone(), TagOutcome::Created)),
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_image_already_exists_exception() => tags.push((tag.clone(), TagOutcome::AlreadyThere)),
                Some(s) if s.is_image_tag_already_exists_exception() => {
                    let held_by = current
                        .iter()
                        .find_map(|i| i.image_id().and_then(|id| id.image_digest()))
                        .unwrap_or("unknown")
                        .to_owned();
                    return Err(EcrImageError::TagTaken {
                        repository,
                        registry: registry.unwrap_or_else(|| "default".into()),
                        tag: tag.clone(),
                        digest: digest.clone(),
                        held_by,
                    });
                }
                _ => return Err(api_error("PutImage", &repository, &registry, e)),
            },
        }
    }
    Ok(RetagReport { repository, digest, media_type, tags })
}

async fn get_images(
    client: &Client,
    repository: &str,
    registry: &Option<String>,
    id: ImageIdentifier,
) -> Result<Vec<aws_sdk_ecr::types::Image>, EcrImageError> {
    let got = client
        .batch_get_image()
        .repository_name(repository)
        .set_registry_id(registry.clone())
        .image_ids(id)
        .set_accepted_media_types(Some(oci::MANIFEST_TYPES.iter().map(|s| s.to_string()).collect()))
        .send()
        .await
        .map_err(|e| api_error("BatchGetImage", repository, registry, e))?;
    Ok(got.images().to_vec())
}

fn media_type_of(manifest: &str) -> String {
    serde_json::from_str::<serde_json::Value>(manifest)
        .ok()
        .and_then(|v| v.get("mediaType").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| oci::DOCKER_MANIFEST.to_owned())
}

/// Registry credentials and endpoint from `GetAuthorizationToken`.
pub async fn registry_auth(client: &Client, uri: &str) -> Result<(RegistryAuth, String), EcrImageError> {
    let (registry, repository) = split_repository_uri(uri);
    let out = client
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| api_error("GetAuthorizationToken", &repository, &registry, e))?;
    let data = out.authorization_data().first().ok_or_else(|| EcrImageError::Api {
        operation: "GetAuthorizationToken",
        repository: repository.clone(),
        registry: registry.clone().unwrap_or_else(|| "default".into()),
        message: "no authorization data returned".into(),
    })?;
    let auth = ecr_token_auth(data.authorization_token().unwrap_or_default()).map_err(|e: RegistryError| {
        EcrImageError::Api {
            operation: "GetAuthorizationToken",
            repository: repository.clone(),
            registry: registry.clone().unwrap_or_else(|| "default".into()),
            message: e.to_string(),
        }
    })?;
    Ok((auth, data.proxy_endpoint().unwrap_or_default().to_owned()))
}
