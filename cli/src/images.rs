//! `shipline retag` and `shipline push`: images into ECR (or any registry) without a daemon.

use std::path::PathBuf;

use clap::Args;
use shipline_core::image::ci_context::{self, Lookup};
use shipline_core::image::ecr_images::{self, ImageSelector, TagOutcome};
use shipline_core::image::oci::{self, ImageBundle};
use shipline_core::image::push::{self, PushEvent, PushOptions};
use shipline_core::image::reference;
use shipline_core::image::registry::{RegistryAuth, RegistryClient, RepositoryAddress};
use shipline_core::secret::Secret;

/// Arguments of `shipline retag`.
#[derive(Debug, Args)]
#[command(after_help = "\
Copies the manifest's exact bytes and media type (BatchGetImage, then PutImage), so multi-arch
indexes stay multi-arch and the digest never changes; nothing is pulled. A tag that already
points at the image is success.

Examples:
  shipline retag --repository 123456789012.dkr.ecr.us-east-1.amazonaws.com/front-end \\
      --tag 1f49071c2e5d --new-tag main-1f49071-24
  shipline retag --repository front-end --digest sha256:... --new-tag release-2.0-1f49071-7 --dry-run")]
pub struct RetagArgs {
    /// ECR repository: name or full URI (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`).
    #[arg(long, value_name = "REPOSITORY")]
    repository: String,
    /// The image's current tag.
    #[arg(long, conflicts_with = "digest", required_unless_present = "digest")]
    tag: Option<String>,
    /// The image's manifest digest.
    #[arg(long, value_name = "sha256:...")]
    digest: Option<String>,
    /// Tag(s) to add.
    #[arg(long = "new-tag", required = true, value_name = "TAG")]
    new_tags: Vec<String>,
    /// Print the API calls that would be made; call nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `shipline push`.
#[derive(Debug, Args)]
#[command(after_help = "\
Uploads the blobs the registry does not have (HEAD first, cross-repository mount with
--mount-from, several at once), checks every digest, and writes the manifest last, so a tag
never points at missing content. ECR credentials come from GetAuthorizationToken (AWS
credentials of the environment); other registries take --username with SHIPLINE_REGISTRY_PASSWORD.
The default tag is the one `shipline tag` computes.

Examples:
  docker save app:latest -o app.tar
  shipline push --docker-archive app.tar --repository 123456789012.dkr.ecr.us-east-1.amazonaws.com/app
  buildah push app oci:./out && shipline push --oci-layout out --repository ghcr.io/org/app --tag v1")]
pub struct PushArgs {
    /// An OCI image layout directory (buildah, kaniko, skopeo).
    #[arg(long, value_name = "DIR", conflicts_with = "docker_archive", required_unless_present = "docker_archive")]
    oci_layout: Option<PathBuf>,
    /// A `docker save` archive.
    #[arg(long, value_name = "FILE.tar")]
    docker_archive: Option<PathBuf>,
    /// Which image of a layout or archive holding several (ref name or RepoTag).
    #[arg(long = "ref", value_name = "NAME")]
    reference: Option<String>,
    /// Target repository URI: `HOST/NAME` (HTTPS) or `http://HOST:PORT/NAME`.
    #[arg(long, value_name = "URI")]
    repository: String,
    /// Tag(s) to write [default: `shipline tag`].
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Registry user (not ECR); the password is read from SHIPLINE_REGISTRY_PASSWORD.
    #[arg(long, value_name = "USER")]
    username: Option<String>,
    /// Use ECR's GetAuthorizationToken for credentials [default for *.dkr.ecr.* hosts].
    #[arg(long)]
    ecr: bool,
    /// Talk to the registry at this base URL instead of the repository's host (VPC endpoints,
    /// local emulators).
    #[arg(long, env = "SHIPLINE_REGISTRY_ENDPOINT", value_name = "URL")]
    registry_endpoint: Option<String>,
    /// Mount blobs from this repository of the same registry when missing.
    #[arg(long, value_name = "NAME")]
    mount_from: Option<String>,
    /// Blobs uploaded at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Print what would be pushed; contact nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| e.to_string())
}

/// Runs `shipline retag`.
pub fn retag(args: &RetagArgs) -> Result<(), String> {
    let selector = match (&args.tag, &args.digest) {
        (Some(t), _) => ImageSelector::Tag(t.clone()),
        (None, Some(d)) if shipline_core::digest::is_sha256_digest(d) => ImageSelector::Digest(d.clone()),
        (None, Some(d)) => return Err(format!("--digest {d:?}: expected sha256: and 64 lower-case hex characters")),
        (None, None) => unreachable!("clap requires one"),
    };
    if let ImageSelector::Tag(t) = &selector {
        reference::check_tag(t).map_err(|e| format!("--tag {t:?}: {e}"))?;
    }
    for t in &args.new_tags {
        reference::check_tag(t).map_err(|e| format!("--new-tag {t:?}: {e}"))?;
    }
    reference::check_repository_uri(&args.repository).map_err(|e| format!("--repository: {e}"))?;
    if args.dry_run {
        if args.json {
            return crate::out::json(&serde_json::json!({
                "dryRun": true, "repository": args.repository, "source": selector.to_string(),
                "calls": std::iter::once(serde_json::json!({"api": "BatchGetImage"}))
                    .chain(args.new_tags.iter().map(|t| serde_json::json!({"api": "PutImage", "imageTag": t})))
                    .collect::<Vec<_>>(),
            }));
        }
        crate::out::line(&format!("would call ECR BatchGetImage repository={} {selector}", args.repository))?;
        for t in &args.new_tags {
            crate::out::line(&format!(
                "would call ECR PutImage repository={} imageTag={t} (same manifest bytes and media type)",
                args.repository
            ))?;
        }
        return Ok(());
    }
    let rt = runtime()?;
    let report = rt.block_on(async {
        let client = aws_sdk_ecr::Client::new(&shipline_core::aws::load_sdk_config().await);
        ecr_images::retag(&client, &args.repository, &selector, &args.new_tags).await
    });
    let report = report.map_err(|e| e.to_string())?;
    if args.json {
        let tags: Vec<_> = report
            .tags
            .iter()
            .map(|(t, o)| serde_json::json!({"tag": t, "created": *o == TagOutcome::Created}))
            .collect();
        crate::out::json(
            &serde_json::json!({"repository": report.repository, "digest": report.digest, "mediaType": report.media_type, "tags": tags}),
        )?;
    } else {
        for (tag, outcome) in &report.tags {
            let what = if *outcome == TagOutcome::Created { "tagged" } else { "already tagged" };
            crate::out::line(&format!("{what} {}:{tag} -> {}", report.repository, report.digest))?;
        }
    }
    Ok(())
}

fn load_bundle(args: &PushArgs) -> Result<ImageBundle, String> {
    let result = match (&args.oci_layout, &args.docker_archive) {
        (Some(dir), _) => oci::layout::read_dir(dir, args.reference.as_deref()),
        (None, Some(file)) => oci::archive::read_docker_archive(file, args.reference.as_deref()),
        (None, None) => unreachable!("clap requires one"),
    };
    result.map_err(|e| e.to_string())
}

/// The tag `shipline tag --no-lookup` would print: flags are absent, so the CodeBuild
/// environment, then the checkout in the working directory.
fn default_tag() -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let resolved = rt
        .block_on(ci_context::resolve_build_tag(
            &Default::default(),
            |name| std::env::var(name).ok(),
            std::path::Path::new("."),
            Lookup::Never,
        ))
        .map_err(|e| format!("no --tag given and {e}"))?;
    Ok(resolved.tag.to_string())
}

/// Runs `shipline push`.
pub fn push(args: &PushArgs) -> Result<(), String> {
    // Every name is checked before anything is read or sent: a bad tag must not cost an upload.
    let mut address = RepositoryAddress::parse(&args.repository).map_err(|e| e.to_string())?;
    for t in &args.tags {
        reference::check_tag(t).map_err(|e| format!("--tag {t:?}: {e}"))?;
    }
    if let Some(from) = &args.mount_from {
        reference::check_repository_name(from).map_err(|e| format!("--mount-from {from:?}: {e}"))?;
    }
    let bundle = load_bundle(args)?;
    let tags = if args.tags.is_empty() { vec![default_tag()?] } else { args.tags.clone() };
    let is_ecr = args.ecr || address.host().contains(".dkr.ecr.");
    if args.dry_run {
        if args.json {
            let blobs: Vec<_> =
                bundle.blobs.iter().map(|(d, (size, _))| serde_json::json!({"digest": d, "size": size})).collect();
            return crate::out::json(&serde_json::json!({
                "dryRun": true, "repository": address.to_string(), "digest": bundle.top.digest,
                "mediaType": bundle.top.media_type, "tags": tags, "blobs": blobs,
                "blobBytes": bundle.blob_bytes(), "childManifests": bundle.children.len(),
            }));
        }
        crate::out::line(&format!(
            "would push {} ({} blobs, {} bytes, {} child manifests) to {address} as {}",
            bundle.top.digest,
            bundle.blobs.len(),
            bundle.blob_bytes(),
            bundle.children.len(),
            tags.join(", ")
        ))?;
        for (digest, (size, _)) in &bundle.blobs {
            crate::out::line(&format!("  blob {digest} {size} bytes: HEAD, then upload if missing"))?;
        }
        crate::out::line(&format!(
            "  manifest {} ({}) last, under each tag",
            bundle.top.digest, bundle.top.media_type
        ))?;
        return Ok(());
    }
    let rt = runtime()?;
    let report = rt.block_on(async {
        let auth = if is_ecr {
            let client = aws_sdk_ecr::Client::new(&shipline_core::aws::load_sdk_config().await);
            ecr_images::registry_auth(&client, &args.repository).await.map_err(|e| e.to_string())?.0
        } else {
            match (&args.username, std::env::var("SHIPLINE_REGISTRY_PASSWORD")) {
                (Some(u), Ok(p)) => RegistryAuth::Basic { username: u.clone(), password: Secret::new(p) },
                (Some(_), Err(_)) => {
                    return Err("--username needs the password in SHIPLINE_REGISTRY_PASSWORD".to_owned());
                }
                (None, _) => RegistryAuth::Anonymous,
            }
        };
        if let Some(endpoint) = &args.registry_endpoint {
            let authority = endpoint.split_once("://").map_or(endpoint.as_str(), |(_, r)| r);
            if authority.split('/').next().unwrap_or_default().contains('@') {
                return Err(format!("--registry-endpoint: {}", reference::CREDENTIALS_IN_URL));
            }
            address.base = endpoint.trim_end_matches('/').to_owned();
        }
        let client = RegistryClient::new(address.clone(), auth).map_err(|e| e.to_string())?;
        let options =
            PushOptions { tags: tags.clone(), concurrency: args.concurrency, mount_from: args.mount_from.clone() };
        let progress = progress_bar(bundle.blob_bytes());
        let on_event = |event: &PushEvent| {
            if let (Some(bar), PushEvent::Blob { size, .. }) = (&progress, event) {
                bar.inc(*size);
            }
        };
        let report = push::push(&client, &bundle, &options, &on_event).await.map_err(|e| e.to_string());
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        report
    })?;
    if args.json {
        crate::out::json(
            &serde_json::json!({"repository": address.to_string(), "digest": report.digest, "tags": report.tags,
            "uploaded": report.uploaded, "uploadedBytes": report.uploaded_bytes, "present": report.present, "mounted": report.mounted}),
        )
    } else {
        crate::out::line(&format!(
            "pushed {} as {} ({} uploaded, {} bytes; {} present; {} mounted)",
            report.digest,
            report.tags.join(", "),
            report.uploaded,
            report.uploaded_bytes,
            report.present,
            report.mounted
        ))
    }
}

fn progress_bar(total: u64) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}
