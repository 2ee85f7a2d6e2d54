//! `shipline update --git URL`: the full flow against the microservices repository.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use shipline_core::git::{self, GitAuth};
use shipline_core::image::{Candidate, ImageRef};
use shipline_core::secret::Secret;
use shipline_core::update::updater::{self, UpdateOutcome, UpdateRequest, WriteOptions};

/// Options of `shipline update` that only apply with `--git`.
#[derive(Debug, Args)]
pub struct GitArgs {
    /// Clone, update, commit and push this repository (HTTPS or SSH URL, no credentials in it).
    #[arg(long, value_name = "URL")]
    pub git: Option<String>,
    /// Branch to clone and update [default: the configuration's, else main].
    #[arg(long, value_name = "NAME", requires = "git")]
    branch: Option<String>,
    /// Push the commit to this branch instead (Flux's push.branch): created from --branch when
    /// missing, updated on top of itself when present [default: the configuration's].
    #[arg(long, value_name = "NAME", requires = "git")]
    push_branch: Option<String>,
    /// Also push this refspec SRC:DST (Flux's push.refspec), as a compare-and-swap, never forced.
    #[arg(long, value_name = "SRC:DST", requires = "git")]
    push_refspec: Option<String>,
    /// Sign commits with this key: an OpenSSH ed25519 private key, an armored OpenPGP private key
    /// (signed by gpg), or Flux's signingKey Secret manifest (git.asc, passphrase). An OpenPGP
    /// passphrase is read from SHIPLINE_SIGNING_PASSPHRASE.
    #[arg(long, value_name = "FILE", requires = "git")]
    signing_key: Option<PathBuf>,
    /// After pushing to a push branch, open (or update: one per push branch) a pull request into
    /// the checkout branch on this host, listing every change and its provenance.
    #[arg(long, value_name = "HOST", value_parser = ["codecommit"], requires = "git")]
    pull_request: Option<String>,
    /// Configuration inside the repository: shipline.yaml, or a directory of Flux image manifests.
    #[arg(long, value_name = "PATH", default_value = "shipline.yaml", requires = "git")]
    config: String,
    /// A pushed image to consider (repeatable): REPOSITORY:TAG[@sha256:...].
    #[arg(long, value_name = "REF", requires = "git")]
    candidate: Vec<String>,
    /// Also list every tag of each policy's repository from Amazon ECR (DescribeImages).
    #[arg(long, requires = "git")]
    from_ecr: bool,
    /// HTTPS user name; the password is read from SHIPLINE_GIT_PASSWORD.
    #[arg(long, env = "SHIPLINE_GIT_USERNAME", value_name = "USER", requires = "git")]
    git_username: Option<String>,
    /// Sign in to CodeCommit over HTTPS with the AWS credentials of the environment (role, IRSA,
    /// profile): SigV4, as `aws codecommit credential-helper` does; no stored git password.
    #[arg(long, requires = "git", conflicts_with_all = ["git_username", "ssh_key"])]
    codecommit_iam: bool,
    /// SSH private key for SSH URLs.
    #[arg(long, value_name = "FILE", requires = "git")]
    ssh_key: Option<PathBuf>,
    /// known_hosts file the SSH server's key must be listed in [default: ~/.ssh/known_hosts].
    #[arg(long, value_name = "FILE", requires = "git")]
    known_hosts: Option<PathBuf>,
    /// Extra CA certificates (PEM) to trust for the HTTPS git server.
    #[arg(long, value_name = "FILE", requires = "git")]
    ca_file: Option<PathBuf>,
    /// Commit author as `NAME <EMAIL>` [default: the repository configuration's].
    #[arg(long, value_name = "NAME <EMAIL>", requires = "git")]
    author: Option<String>,
    /// A `Key: value` trailer for the commit message (repeatable), e.g. CodeBuild-Build-Arn=...
    #[arg(long, value_name = "KEY=VALUE", requires = "git")]
    trailer: Vec<String>,
}

fn auth(args: &GitArgs, url: &str) -> Result<GitAuth, String> {
    if args.codecommit_iam {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        return rt.block_on(async {
            let sdk = shipline_core::aws::load_sdk_config().await;
            shipline_core::git::codecommit::git_auth(url, &sdk).await.map_err(|e| e.to_string())
        });
    }
    if git::ssh_host_port(url).is_some() {
        let private_key = args.ssh_key.clone().ok_or("an SSH URL needs --ssh-key FILE")?;
        let known_hosts = match &args.known_hosts {
            Some(k) => k.clone(),
            None => PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".ssh/known_hosts"),
        };
        return Ok(GitAuth::SshKey { username: None, private_key, known_hosts });
    }
    match (&args.git_username, std::env::var("SHIPLINE_GIT_PASSWORD")) {
        (Some(username), Ok(password)) => {
            Ok(GitAuth::UserPassword { username: username.clone(), password: Secret::new(password) })
        }
        (Some(_), Err(_)) => Err("--git-username needs the password in SHIPLINE_GIT_PASSWORD".into()),
        (None, _) => Ok(GitAuth::Anonymous),
    }
}

fn signing_key(path: &std::path::Path) -> Result<git::SigningKey, String> {
    let shown = format!("--signing-key {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let passphrase = std::env::var("SHIPLINE_SIGNING_PASSPHRASE").ok().filter(|p| !p.is_empty()).map(Secret::new);
    git::SigningKey::parse(&text, &shown, passphrase).map_err(|e| e.to_string())
}

fn parse_author(raw: &str) -> Result<(String, String), String> {
    let bad = || format!("--author {raw:?}: expected NAME <EMAIL>");
    let (name, rest) = raw.split_once('<').ok_or_else(bad)?;
    let email = rest.strip_suffix('>').ok_or_else(bad)?.trim();
    let name = name.trim();
    if name.is_empty() || !email.contains('@') {
        return Err(bad());
    }
    Ok((name.to_owned(), email.to_owned()))
}

fn candidates(raw: &[String]) -> Result<BTreeMap<String, Vec<Candidate>>, String> {
    let mut out: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for r in raw {
        let image = ImageRef::parse(r).map_err(|e| format!("--candidate {r:?}: {e}"))?;
        let tag = image.tag.ok_or_else(|| format!("--candidate {r:?}: needs a tag"))?;
        out.entry(image.name).or_default().push(Candidate { tag, digest: image.digest });
    }
    Ok(out)
}

/// Runs the git flow and reports it; `dry_run` plans without committing.
pub fn run(args: &GitArgs, url: &str, dry_run: bool, json: bool) -> Result<(), String> {
    if let Some(ca) = &args.ca_file {
        git::trust_ca_file(ca).map_err(|e| e.to_string())?;
    }
    let trailers = args
        .trailer
        .iter()
        .map(|t| {
            t.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| format!("--trailer {t:?}: expected KEY=VALUE"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (key, value) in &trailers {
        updater::check_trailer(key, value).map_err(|e| format!("--trailer {key}={value:?}: {e}"))?;
    }
    let req = UpdateRequest {
        url: url.to_owned(),
        auth: auth(args, url)?,
        branch: args.branch.clone(),
        config_path: args.config.clone(),
        candidates: candidates(&args.candidate)?,
        trailers,
        dry_run,
        author: args.author.as_deref().map(parse_author).transpose()?,
        write: WriteOptions {
            push_branch: args.push_branch.clone(),
            push_refspec: args.push_refspec.clone(),
            signing_key: args.signing_key.as_deref().map(signing_key).transpose()?,
        },
    };
    if let Some(b) = req.write.push_branch.as_deref().filter(|b| !git::is_valid_branch_name(b)) {
        return Err(format!("--push-branch {b:?}: not a valid branch name"));
    }
    if let Some(r) = &req.write.push_refspec {
        git::parse_push_refspec(r).map_err(|e| format!("--push-refspec {r:?}: {e}"))?;
    }
    if req.candidates.is_empty() && !args.from_ecr {
        return Err("no candidates: pass --candidate REPOSITORY:TAG or --from-ecr".into());
    }
    let outcome = if args.from_ecr {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let client = rt.block_on(async { aws_sdk_ecr::Client::new(&shipline_core::aws::load_sdk_config().await) });
        let lookup =
            |cfg: &shipline_core::update::config::UpdateConfig| rt.block_on(updater::candidates_from_ecr(&client, cfg));
        updater::run(&req, Some(&lookup))
    } else {
        updater::run(&req, None)
    }
    .map_err(|e| e.to_string())?;
    let pull_request = match (&args.pull_request, dry_run) {
        (Some(_), false) => pull_request(url, &outcome, &req.trailers)?,
        _ => None,
    };
    report(&outcome, dry_run, json, pull_request.as_ref())
}

/// The CodeCommit repository name of an HTTPS or SSH CodeCommit URL (`.../v1/repos/NAME`).
fn codecommit_repository(url: &str) -> Result<String, String> {
    let name = url.trim_end_matches('/').rsplit_once("/repos/").map(|(_, n)| n.trim_end_matches(".git"));
    name.filter(|n| !n.is_empty() && !n.contains('/'))
        .map(str::to_owned)
        .ok_or_else(|| format!("--pull-request codecommit: {url:?} is not a CodeCommit URL (.../v1/repos/NAME)"))
}

fn pull_request(
    url: &str,
    outcome: &UpdateOutcome,
    trailers: &[(String, String)],
) -> Result<Option<(String, &'static str)>, String> {
    let repository = codecommit_repository(url)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let sdk = shipline_core::aws::load_sdk_config().await;
        let host = git::pull_request::CodeCommit::from_sdk(&repository, &sdk).await.map_err(|e| e.to_string())?;
        let done = shipline_core::update::review::open_or_update(&host, outcome, trailers).await;
        let done =
            done.map_err(|e| format!("{e} (the commit {} was pushed)", outcome.commit.as_deref().unwrap_or("")))?;
        Ok(done.map(|(pr, action)| {
            let action = match action {
                git::pull_request::PullRequestAction::Created => "created",
                git::pull_request::PullRequestAction::Updated => "updated",
                git::pull_request::PullRequestAction::Unchanged => "unchanged",
            };
            (pr.id, action)
        }))
    })
}

fn report(
    outcome: &UpdateOutcome,
    dry_run: bool,
    json: bool,
    pull_request: Option<&(String, &'static str)>,
) -> Result<(), String> {
    for file in &outcome.files {
        for ignored in &file.edit.ignored {
            tracing::warn!("{}:{}: ignored marker: {}", file.path.display(), ignored.line, ignored.reason);
        }
    }
    if json {
        let files: Vec<serde_json::Value> = outcome
            .files
            .iter()
            .filter(|f| f.is_changed())
            .map(|f| {
                serde_json::json!({
                    "path": f.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                    "changes": f.edit.changes.iter().map(|c| serde_json::json!({"line": c.line, "target": c.target.to_string(), "field": c.field, "old": c.old, "new": c.new})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let out = serde_json::json!({
            "commit": outcome.commit, "branch": outcome.branch, "attempts": outcome.attempts,
            "chosen": outcome.chosen, "changed": outcome.changed(), "dry_run": dry_run, "files": files,
            "checkout_branch": outcome.checkout_branch,
            "pull_request": pull_request.map(|(id, action)| serde_json::json!({"id": id, "action": action})),
        });
        return crate::out::json(&out);
    }
    if dry_run {
        for file in outcome.files.iter().filter(|f| f.is_changed()) {
            let base = file.path.ancestors().find(|p| p.join(".git").exists()).unwrap_or(std::path::Path::new("/"));
            crate::out::text(&file.unified_diff(base))?;
        }
        return Ok(());
    }
    match &outcome.commit {
        Some(commit) => {
            crate::out::line(&format!("pushed {commit} to {} ({} attempt(s))", outcome.branch, outcome.attempts))?;
            match pull_request {
                Some((id, action)) => crate::out::line(&format!("pull request {id} {action}")),
                None => Ok(()),
            }
        }
        None => crate::out::line("no changes"),
    }
}
