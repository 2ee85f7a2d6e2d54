//! After an update pushed to a push branch: the pull request from it into the checkout branch,
//! opened or brought up to date through any [`PullRequestHost`].

use crate::git::pull_request::{self, PullRequest, PullRequestAction, PullRequestError, PullRequestHost};
use crate::update::message;
use crate::update::updater::UpdateOutcome;

/// Opens (or updates: one open request per push branch) the pull request for `outcome`'s
/// commit, its description listing every change and its provenance (`trailers`). Nothing to do
/// when nothing was pushed or the commit went straight to the checkout branch.
pub async fn open_or_update<H: PullRequestHost>(
    host: &H,
    outcome: &UpdateOutcome,
    trailers: &[(String, String)],
) -> Result<Option<(PullRequest, PullRequestAction)>, PullRequestError> {
    let Some(commit) = &outcome.commit else { return Ok(None) };
    if outcome.branch == outcome.checkout_branch {
        return Ok(None);
    }
    let title = format!("Image updates from {}", outcome.branch);
    let header = format!(
        "Image updates pushed by shipline to `{}` for `{}`, one entry per commit.",
        outcome.branch, outcome.checkout_branch
    );
    let entry = message::pull_request_entry(commit, &outcome.records, trailers);
    let describe = |previous: Option<&str>| pull_request::accumulate_description(previous, &header, commit, &entry);
    pull_request::open_or_update(host, &outcome.branch, &outcome.checkout_branch, &title, describe).await.map(Some)
}
