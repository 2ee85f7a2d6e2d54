//! Amazon ECR reads the updater needs: the tags of a repository.

use aws_sdk_ecr::Client;

use crate::image::Candidate;

/// Why listing failed. Messages name the repository.
#[derive(Debug, thiserror::Error)]
pub enum EcrError {
    /// The API call failed.
    #[error("ECR DescribeImages for repository {repository} (registry {registry}): {message}")]
    Api {
        /// Repository name.
        repository: String,
        /// Registry id, or `default`.
        registry: String,
        /// The service's message.
        message: String,
    },
}

/// Splits an ECR image repository URI into registry id and repository name:
/// `123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app` → (`Some("123456789012")`,
/// `team/app`). Other hosts (emulators, pull-through caches) give no registry id.
pub fn split_repository_uri(uri: &str) -> (Option<String>, String) {
    match uri.split_once('/') {
        Some((host, name)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            let registry = host.split('.').next().filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()));
            let registry = registry.filter(|_| host.contains(".dkr.ecr."));
            (registry.map(str::to_owned), name.to_owned())
        }
        _ => (None, uri.to_owned()),
    }
}

/// An ECR client on a shared SDK configuration, for callers that hold no `aws-sdk-ecr`
/// dependency of their own (the Lambda's schedule).
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    Client::new(sdk)
}

/// Every tagged image of the repository at `uri`, following pagination. An image with several
/// tags gives one candidate per tag, each with the image's digest.
pub async fn list_candidates(client: &Client, uri: &str) -> Result<Vec<Candidate>, EcrError> {
    list_candidates_paged(client, uri, None).await
}

/// [`list_candidates`] with an explicit page size (1 to 1000; ECR's default is 100).
pub async fn list_candidates_paged(
    client: &Client,
    uri: &str,
    page_size: Option<i32>,
) -> Result<Vec<Candidate>, EcrError> {
    let (registry, repository) = split_repository_uri(uri);
    let mut pages = client
        .describe_images()
        .repository_name(&repository)
        .set_registry_id(registry.clone())
        .set_max_results(page_size)
        .filter(
            aws_sdk_ecr::types::DescribeImagesFilter::builder()
                .tag_status(aws_sdk_ecr::types::TagStatus::Tagged)
                .build(),
        )
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| EcrError::Api {
            repository: repository.clone(),
            registry: registry.clone().unwrap_or_else(|| "default".into()),
            message: aws_sdk_ecr::error::DisplayErrorContext(&e).to_string(),
        })?;
        for image in page.image_details() {
            for tag in image.image_tags() {
                out.push(Candidate { tag: tag.clone(), digest: image.image_digest().map(str::to_owned) });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_repository_uri_table() {
        let cases = [
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app", (Some("123456789012"), "team/app")),
            ("123456789012.dkr.ecr.eu-west-1.amazonaws.com.cn/app", (Some("123456789012"), "app")),
            ("localhost:4566/app", (None, "app")),
            ("ghcr.io/org/app", (None, "org/app")),
            ("app", (None, "app")),
            ("team/app", (None, "team/app")),
        ];
        for (uri, (registry, name)) in cases {
            let (r, n) = split_repository_uri(uri);
            assert_eq!((r.as_deref(), n.as_str()), (registry, name), "{uri}");
        }
    }
}
