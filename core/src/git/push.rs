//! Pushing to a branch other than the one cloned, and to explicit refspecs, always as a
//! compare-and-swap on the value the remote had when we looked ("force with lease"): never a
//! plain force push, never backwards.

use std::cell::Cell;

use git2::{Direction, Oid, PushOptions, Repository};

use super::{GitError, Remote};

/// Whether `name` is a branch name git accepts (`git check-ref-format --branch`).
pub fn is_valid_branch_name(name: &str) -> bool {
    !name.starts_with('-') && git2::Reference::is_valid_name(&format!("refs/heads/{name}"))
}

/// A push refspec `SRC:DST` split into full ref names: a branch name is read as
/// `refs/heads/NAME`. A leading `+` (force) is refused: shipline never force-pushes.
pub fn parse_push_refspec(refspec: &str) -> Result<(String, String), String> {
    if refspec.starts_with('+') {
        return Err("a forced refspec (leading +) is refused: shipline never force-pushes".into());
    }
    let (src, dst) = refspec.split_once(':').ok_or("expected SRC:DST")?;
    let full = |r: &str| if r.starts_with("refs/") || r == "HEAD" { r.to_owned() } else { format!("refs/heads/{r}") };
    let (src, dst) = (full(src), full(dst));
    for r in [&src, &dst] {
        if r != "HEAD" && !git2::Reference::is_valid_name(r) {
            return Err(format!("{r:?} is not a valid ref name"));
        }
    }
    if dst == "HEAD" {
        return Err("the destination must be a ref, not HEAD".into());
    }
    Ok((src, dst))
}

/// One ref update of a push: the local commit, the remote ref, and the value the remote ref must
/// still have (`Oid::ZERO_SHA1`: it must not exist).
#[derive(Debug, Clone)]
pub struct LeasedUpdate {
    /// The commit to push.
    pub commit: Oid,
    /// The remote ref, e.g. `refs/heads/image-updates`.
    pub remote_ref: String,
    /// What the remote ref must still point at.
    pub expected: Oid,
}

impl Remote<'_> {
    /// The remote's refs and what they point at (`git ls-remote`).
    pub fn list_refs(&self, repo: &Repository) -> Result<Vec<(String, Oid)>, GitError> {
        self.attempts.set(0);
        let mut remote = repo.remote_anonymous(self.url).map_err(|e| self.error("listing refs of", e))?;
        let connection = remote
            .connect_auth(Direction::Fetch, Some(self.callbacks()), None)
            .map_err(|e| self.error("listing refs of", e))?;
        let heads = connection.list().map_err(|e| self.error("listing refs of", e))?;
        Ok(heads.iter().map(|h| (h.name().to_owned(), h.oid())).collect())
    }

    /// Pushes each update only if its remote ref still has the expected value. Nothing is
    /// forced: a value that moved is a [`GitError::PushRejected`], and the server's own refusal
    /// (a hook, a protected branch) is reported as it words it.
    pub fn push_leased(&self, repo: &Repository, updates: &[LeasedUpdate]) -> Result<(), GitError> {
        self.attempts.set(0);
        let shown = repo.workdir().unwrap_or_else(|| repo.path()).display().to_string();
        let mut refspecs = Vec::new();
        for (i, u) in updates.iter().enumerate() {
            // A temporary local ref per update, so any commit can go to any remote ref.
            let local = format!("refs/shipline/push/{i}");
            repo.reference(&local, u.commit, true, "shipline push").map_err(|source| GitError::Remote {
                action: "preparing the push in",
                url: shown.clone(),
                source,
            })?;
            refspecs.push(format!("{local}:{}", u.remote_ref));
        }
        let mut remote = repo.remote_anonymous(self.url).map_err(|e| self.error("push to", e))?;
        let rejected: Cell<Option<(String, String)>> = Cell::new(None);
        let mut callbacks = self.callbacks();
        callbacks.push_negotiation(|negotiated| {
            for n in negotiated {
                let Some(u) = updates.iter().find(|u| n.dst_refname().ok() == Some(u.remote_ref.as_str())) else {
                    continue;
                };
                if n.src() != u.expected {
                    let was = if u.expected.is_zero() { "absent".to_owned() } else { u.expected.to_string() };
                    let now = if n.src().is_zero() { "absent".to_owned() } else { n.src().to_string() };
                    rejected
                        .set(Some((u.remote_ref.clone(), format!("it moved from {was} to {now} since it was read"))));
                    return Err(git2::Error::from_str("remote ref moved"));
                }
            }
            Ok(())
        });
        callbacks.push_update_reference(|reference, status| {
            if let Some(reason) = status {
                rejected.set(Some((reference.to_owned(), reason.to_owned())));
            }
            Ok(())
        });
        let mut opts = PushOptions::new();
        opts.remote_callbacks(callbacks);
        let specs: Vec<&str> = refspecs.iter().map(String::as_str).collect();
        let result = remote.push(&specs, Some(&mut opts));
        for i in 0..updates.len() {
            if let Ok(mut r) = repo.find_reference(&format!("refs/shipline/push/{i}")) {
                let _ = r.delete();
            }
        }
        if let Some((reference, reason)) = rejected.take() {
            return Err(GitError::PushRejected { url: self.shown_url(), reference, reason });
        }
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.code() == git2::ErrorCode::NotFastForward => Err(GitError::PushRejected {
                url: self.shown_url(),
                reference: refspecs.join(" "),
                reason: e.message().to_owned(),
            }),
            Err(e) => Err(self.error("push to", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refspecs() {
        let ok = [
            ("auto:review", ("refs/heads/auto", "refs/heads/review")),
            ("refs/heads/a:refs/heads/b", ("refs/heads/a", "refs/heads/b")),
            ("HEAD:refs/for/main", ("HEAD", "refs/for/main")),
        ];
        for (spec, (src, dst)) in ok {
            assert_eq!(parse_push_refspec(spec).unwrap(), (src.to_owned(), dst.to_owned()), "{spec}");
        }
        for bad in ["+a:b", "a", "a:HEAD", "a..b:c", "a:b c"] {
            assert!(parse_push_refspec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn branch_names() {
        for ok in ["main", "image-updates", "flux/auto-1"] {
            assert!(is_valid_branch_name(ok), "{ok}");
        }
        for bad in ["", "-x", "a..b", "a b", "a~1", "end."] {
            assert!(!is_valid_branch_name(bad), "{bad}");
        }
    }
}
