//! Applying image updates to the text of one YAML file by splicing bytes: only the bytes of the
//! edited scalars change (and, for kustomization `images:` entries lacking a key, one inserted
//! line). Every edit is checked by re-parsing the result.

use std::collections::BTreeMap;

use super::marker::{PolicyRef, SetterField};
use super::scalar::{self, ScalarStyle};
use super::scan::{self, IgnoredMarker, ImagesEntry, ScalarSpan, SyntaxError};
use crate::image::ImageRef;

/// What the updater writes: new image references by policy (for markers) and by kustomize image
/// name (for `images:` entries without markers).
#[derive(Debug, Clone, Default)]
pub struct Updates {
    /// New reference for every scalar marked with this policy.
    pub by_policy: BTreeMap<PolicyRef, ImageRef>,
    /// New reference for kustomization `images:` entries with this `name`.
    pub by_image_name: BTreeMap<String, ImageRef>,
}

impl Updates {
    /// True when there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.by_policy.is_empty() && self.by_image_name.is_empty()
    }
}

/// Who asked for a change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// A setter marker naming this policy.
    Policy(PolicyRef),
    /// A kustomization `images:` entry with this name.
    ImageName(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Policy(p) => write!(f, "policy {p}"),
            Target::ImageName(n) => write!(f, "image {n}"),
        }
    }
}

/// One value changed (or a key added) in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// 1-based line of the value (for inserted keys, the line of the entry's last key).
    pub line: usize,
    /// Who asked for it.
    pub target: Target,
    /// The field written: `image`, `name`, `tag`, `digest`, or the `images:` key (`newTag`...).
    pub field: String,
    /// The value before; `None` when the key was inserted.
    pub old: Option<String>,
    /// The value after.
    pub new: String,
}

/// A change that was asked for and deliberately not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// 1-based line.
    pub line: usize,
    /// Who asked for it.
    pub target: Target,
    /// Why it was not made.
    pub reason: String,
}

/// The result of editing one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    /// The new text (equal to the input when `changes` is empty).
    pub text: String,
    /// What changed.
    pub changes: Vec<Change>,
    /// What was asked for but left alone (downgrades, missing digests).
    pub skipped: Vec<Skipped>,
    /// Marker-like comments that are not valid markers.
    pub ignored: Vec<IgnoredMarker>,
}

/// Why a file could not be edited. The caller adds the file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The file is not valid YAML.
    #[error("not valid YAML: {0}")]
    Syntax(#[from] SyntaxError),
    /// An edit would need a change we do not make blindly.
    #[error("line {line}: {reason}")]
    Unsupported {
        /// 1-based line.
        line: usize,
        /// What to do instead.
        reason: String,
    },
    /// The re-parse check failed: a bug, reported instead of writing a wrong file.
    #[error("internal check failed, file left unchanged: {0}")]
    Verify(String),
}

/// Decides whether a tag may replace another for a target; `false` means "that would be a
/// downgrade, leave it". Called only when both the current and the new value carry a tag.
pub type TagGuard<'a> = dyn Fn(&Target, &str, &str) -> bool + 'a;

struct Splice {
    start: usize,
    end: usize,
    replacement: String,
    /// The value a re-parse must find at this place.
    expect: Vec<String>,
}

/// Applies `updates` to `text`. `allow` is asked before a tag changes (never-downgrade policy).
/// `with_images` enables `images:` entry edits (for kustomization files).
pub fn edit_file(
    text: &str,
    updates: &Updates,
    with_images: bool,
    allow: &TagGuard<'_>,
) -> Result<FileEdit, EditError> {
    let scanned = scan::scan(text, with_images && !updates.by_image_name.is_empty())?;
    let mut splices = Vec::new();
    let mut edit = FileEdit { text: String::new(), changes: Vec::new(), skipped: Vec::new(), ignored: scanned.ignored };

    for m in &scanned.marked {
        let Some(image) = updates.by_policy.get(&m.marker.policy) else { continue };
        let target = Target::Policy(m.marker.policy.clone());
        let Some(new) = m.marker.field.value_for(image) else {
            edit.skipped.push(Skipped {
                line: m.scalar.line,
                target,
                reason: format!("{} has no {} to write", image, field_name(m.marker.field)),
            });
            continue;
        };
        let old_tag = tag_of(m.marker.field, &m.scalar.value);
        let new_tag = tag_of(m.marker.field, &new);
        if let (Some(old_tag), Some(new_tag)) = (old_tag, new_tag)
            && old_tag != new_tag
            && !allow(&target, &old_tag, &new_tag)
        {
            edit.skipped.push(Skipped {
                line: m.scalar.line,
                target,
                reason: format!("{old_tag} is not older than {new_tag}: not downgrading"),
            });
            continue;
        }
        replace(&mut splices, &mut edit.changes, &m.scalar, target, field_name(m.marker.field), &new);
    }

    let marked_starts: Vec<usize> = scanned.marked.iter().map(|m| m.scalar.start).collect();
    for entry in &scanned.images {
        let Some(name) = entry.field("name") else { continue };
        let Some(image) = updates.by_image_name.get(&name.value) else { continue };
        let target = Target::ImageName(name.value.clone());
        if let Some(skip) =
            images_entry_edits(text, entry, image, &target, &marked_starts, allow, &mut splices, &mut edit)?
        {
            edit.skipped.push(skip);
        }
    }

    splices.sort_by_key(|s| (s.start, s.end));
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    for s in &splices {
        out.push_str(&text[at..s.start]);
        out.push_str(&s.replacement);
        at = s.end;
    }
    out.push_str(&text[at..]);
    verify(&scanned.scalars, &out, &splices)?;
    edit.text = out;
    Ok(edit)
}

fn field_name(field: SetterField) -> &'static str {
    match field {
        SetterField::Image => "image",
        SetterField::Name => "name",
        SetterField::Tag => "tag",
        SetterField::Digest => "digest",
    }
}

/// The tag held by a value of `field`, for downgrade checks.
fn tag_of(field: SetterField, value: &str) -> Option<String> {
    match field {
        SetterField::Tag => Some(value.to_owned()),
        SetterField::Image => ImageRef::parse(value).ok()?.tag,
        SetterField::Name | SetterField::Digest => None,
    }
}

fn replace(
    splices: &mut Vec<Splice>,
    changes: &mut Vec<Change>,
    s: &ScalarSpan,
    target: Target,
    field: &str,
    new: &str,
) {
    if s.value == new {
        return;
    }
    let style = s.style.unwrap_or(ScalarStyle::DoubleQuoted);
    splices.push(Splice {
        start: s.start,
        end: s.end,
        replacement: scalar::render(new, style),
        expect: vec![new.to_owned()],
    });
    changes.push(Change {
        line: s.line,
        target,
        field: field.to_owned(),
        old: Some(s.value.clone()),
        new: new.to_owned(),
    });
}

#[allow(clippy::too_many_arguments)]
fn images_entry_edits(
    text: &str,
    entry: &ImagesEntry,
    image: &ImageRef,
    target: &Target,
    marked_starts: &[usize],
    allow: &TagGuard<'_>,
    splices: &mut Vec<Splice>,
    edit: &mut FileEdit,
) -> Result<Option<Skipped>, EditError> {
    let name = entry.field("name").expect("caller checked");
    let line = name.line;
    if entry.field("digest").is_some() && image.digest.is_none() {
        return Ok(Some(Skipped {
            line,
            target: target.clone(),
            reason: format!(
                "the entry pins a digest, which would override the new tag of {image}: remove `digest:` or update with a digest"
            ),
        }));
    }
    if let (Some(current), Some(new_tag)) = (entry.field("newTag"), &image.tag)
        && &current.value != new_tag
        && !allow(target, &current.value, new_tag)
    {
        return Ok(Some(Skipped {
            line: current.line,
            target: target.clone(),
            reason: format!("{} is not older than {new_tag}: not downgrading", current.value),
        }));
    }
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    if image.name != name.value || entry.field("newName").is_some() {
        wanted.push(("newName", &image.name));
    }
    if let Some(tag) = &image.tag {
        wanted.push(("newTag", tag));
    }
    if let Some(digest) = &image.digest {
        wanted.push(("digest", digest));
    }
    let mut inserted = String::new();
    let mut inserted_expect = Vec::new();
    let newline = if text[entry.insert_at.unwrap_or(0)..].starts_with("\r\n") { "\r\n" } else { "\n" };
    for (key, value) in wanted {
        match entry.field(key) {
            Some(s) if marked_starts.contains(&s.start) => {} // its marker decides
            Some(s) => replace(splices, &mut edit.changes, s, target.clone(), key, value),
            None => {
                if entry.insert_at.is_none() {
                    return Err(EditError::Unsupported {
                        line,
                        reason: format!(
                            "images entry {:?} is in flow style ({{...}}) and has no {key}: add `{key}:` to it or write it in block style",
                            name.value
                        ),
                    });
                }
                inserted.push_str(newline);
                inserted.push_str(&" ".repeat(entry.key_column));
                inserted.push_str(key);
                inserted.push_str(": ");
                inserted.push_str(&scalar::render(value, ScalarStyle::Plain));
                inserted_expect.extend([key.to_owned(), value.to_owned()]);
                edit.changes.push(Change {
                    line,
                    target: target.clone(),
                    field: key.to_owned(),
                    old: None,
                    new: value.to_owned(),
                });
            }
        }
    }
    if let (Some(at), false) = (entry.insert_at, inserted.is_empty()) {
        splices.push(Splice { start: at, end: at, replacement: inserted, expect: inserted_expect });
    }
    Ok(None)
}

/// Re-parses `new` and checks that every scalar outside the splices is unchanged and every
/// spliced region holds exactly the intended scalars.
fn verify(old_scalars: &[(usize, String)], new: &str, splices: &[Splice]) -> Result<(), EditError> {
    if splices.is_empty() {
        return Ok(());
    }
    let fail = |what: String| Err(EditError::Verify(what));
    let new_scalars =
        scan::scalar_values_at(new).map_err(|e| EditError::Verify(format!("edit broke the YAML: {e}")))?;
    // Expected scalars of the new text, in order: old ones, with spliced regions replaced.
    let mut expected: Vec<&str> = Vec::new();
    let mut old_iter = old_scalars.iter().peekable();
    for s in splices {
        while let Some((pos, v)) = old_iter.peek() {
            if *pos >= s.start {
                break;
            }
            expected.push(v);
            old_iter.next();
        }
        if s.start != s.end {
            match old_iter.next() {
                Some((pos, _)) if *pos == s.start => {}
                _ => return fail(format!("no scalar at byte {} of the original", s.start)),
            }
        }
        expected.extend(s.expect.iter().map(String::as_str));
    }
    expected.extend(old_iter.map(|(_, v)| v.as_str()));
    let got: Vec<&str> = new_scalars.iter().map(|(_, v)| v.as_str()).collect();
    if got != expected {
        let at = got.iter().zip(&expected).position(|(a, b)| a != b).unwrap_or(got.len().min(expected.len()));
        return fail(format!(
            "scalar #{at} reads {:?}, expected {:?}",
            got.get(at).copied().unwrap_or("<none>"),
            expected.get(at).copied().unwrap_or("<none>")
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "edit_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "fuzz_tests.rs"]
mod fuzz_tests;
