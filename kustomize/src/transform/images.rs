//! `images`: rewrite container image names, tags and digests.

use crate::fieldspec::{FieldSpec, visit};
use crate::kustomization::ImageSpec;
use crate::pattern::Matcher;
use crate::resource::Resource;
use crate::yaml::Value;

/// Splits an image reference into name, tag and digest (kustomize's `image.Split`).
pub fn split(image: &str) -> (&str, &str, &str) {
    let slash = image.find('/').filter(|&i| i > 0).unwrap_or(0);
    let search = &image[slash..];
    let id = search.find('@');
    let ic = search.find(':');
    match (ic, id) {
        (None, None) => (image, "", ""),
        (ic, Some(id)) if ic.is_none_or(|c| id < c) => {
            let id = id + slash;
            (&image[..id], "", &image[id + 1..])
        }
        (Some(ic), Some(id)) => {
            let (ic, id) = (ic + slash, id + slash);
            (&image[..ic], &image[ic + 1..id], &image[id + 1..])
        }
        (Some(ic), None) => {
            let ic = ic + slash;
            (&image[..ic], &image[ic + 1..], "")
        }
        (None, Some(_)) => unreachable!("handled by the digest-only arm"),
    }
}

/// The new image reference, or `None` when `image` does not match `spec.name`.
pub fn rewrite(image: &str, spec: &ImageSpec, matcher: &Matcher) -> Option<String> {
    if !matcher.is_match(image) {
        return None;
    }
    let (name, tag, digest) = split(image);
    let name = spec.new_name.as_deref().unwrap_or(name);
    let new_tag = spec.new_tag.as_deref().filter(|t| !t.is_empty());
    let new_digest = spec.digest.as_deref().filter(|d| !d.is_empty());
    let suffix = spec.tag_suffix.as_deref().filter(|s| !s.is_empty());
    let suffixed;
    let (tag, digest) = match (new_tag, new_digest, suffix) {
        (Some(t), Some(d), _) => (t, d),
        (Some(t), None, _) => (t, ""),
        (None, Some(d), _) => ("", d),
        // Measured (kubectl v5.5): without newTag or digest, `tagSuffix` is appended to the
        // current tag (even an empty one) and the digest is dropped.
        (None, None, Some(s)) => {
            suffixed = format!("{tag}{s}");
            (suffixed.as_str(), "")
        }
        (None, None, None) => (tag, digest),
    };
    let mut out = name.to_string();
    if !tag.is_empty() {
        out.push(':');
        out.push_str(tag);
    }
    if !digest.is_empty() {
        out.push('@');
        out.push_str(digest);
    }
    Some(out)
}

/// The matcher kustomize builds from an image name (the name is used as a regex, unescaped).
pub fn matcher(name: &str) -> Result<Matcher, String> {
    Matcher::image(name).map_err(|e| format!("invalid image name {name:?}: {e}"))
}

/// Applies one `images` entry to every `containers`/`initContainers` list anywhere in each resource.
/// `extra` are image field specs from `configurations`.
pub fn apply(resources: &mut [Resource], spec: &ImageSpec, extra: &[FieldSpec]) -> Result<(), String> {
    let m = matcher(&spec.name)?;
    // kustomize runs the image field specs (`spec/containers[]/image`, ... for any kind) and then
    // its walk over every `containers` list, so an image under those paths is rewritten twice.
    // That is invisible unless the rewrite is not idempotent, which only `tagSuffix` is
    // (measured: `nginx:1.2` with `tagSuffix: -x` becomes `nginx:1.2-x-x` in a Deployment,
    // `nginx:1.2-x` in a CronJob).
    let suffix_only = spec.tag_suffix.as_deref().is_some_and(|s| !s.is_empty())
        && spec.new_tag.as_deref().is_none_or(str::is_empty)
        && spec.digest.as_deref().is_none_or(str::is_empty);
    let default_specs: Vec<FieldSpec> = if suffix_only {
        ["spec/containers[]/image", "spec/initContainers[]/image"]
            .into_iter()
            .chain(["spec/template/spec/containers[]/image", "spec/template/spec/initContainers[]/image"])
            .map(|p| FieldSpec::any(p, false))
            .collect()
    } else {
        Vec::new()
    };
    for r in resources.iter_mut() {
        for fs in &default_specs {
            visit(&mut r.obj, fs.segments(), false, &mut |v| {
                if let Value::String(img) = v
                    && let Some(new) = rewrite(img, spec, &m)
                {
                    *v = Value::String(new);
                }
            });
        }
        for v in r.obj.values_mut() {
            walk(v, spec, &m);
        }
        let gvk = r.gvk();
        for fs in extra.iter().filter(|f| f.applies_to(&gvk)) {
            visit(&mut r.obj, fs.segments(), false, &mut |v| {
                if let Value::String(img) = v
                    && let Some(new) = rewrite(img, spec, &m)
                {
                    *v = Value::String(new);
                }
            });
        }
    }
    Ok(())
}

fn walk(v: &mut Value, spec: &ImageSpec, m: &Matcher) {
    match v {
        Value::Map(map) => {
            for (k, child) in map.iter_mut() {
                if (k == "containers" || k == "initContainers")
                    && let Value::Seq(items) = child
                {
                    for c in items.iter_mut().filter_map(Value::as_map_mut) {
                        if let Some(Value::String(img)) = c.get("image")
                            && let Some(new) = rewrite(img, spec, m)
                        {
                            c.insert("image".into(), Value::String(new));
                        }
                    }
                }
                walk(child, spec, m);
            }
        }
        Value::Seq(items) => items.iter_mut().for_each(|i| walk(i, spec, m)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_table() {
        assert_eq!(split("nginx"), ("nginx", "", ""));
        assert_eq!(split("nginx:1.0"), ("nginx", "1.0", ""));
        assert_eq!(split("nginx@sha256:abc"), ("nginx", "", "sha256:abc"));
        assert_eq!(split("nginx:1.0@sha256:abc"), ("nginx", "1.0", "sha256:abc"));
        assert_eq!(split("localhost:5000/app:2"), ("localhost:5000/app", "2", ""));
        assert_eq!(split("localhost:5000/app"), ("localhost:5000/app", "", ""));
    }

    #[test]
    fn rewrite_table() {
        let spec = ImageSpec { name: "nginx".into(), new_tag: Some("1.25".into()), ..Default::default() };
        let m = matcher("nginx").unwrap();
        assert_eq!(rewrite("nginx:1.0@sha256:x", &spec, &m).as_deref(), Some("nginx:1.25"));
        assert_eq!(rewrite("nginx-other", &spec, &m), None);
        assert_eq!(rewrite("docker.io/nginx", &spec, &m), None);
        let suffix = ImageSpec { name: "nginx".into(), tag_suffix: Some("-x".into()), ..Default::default() };
        assert_eq!(rewrite("nginx:1.2", &suffix, &m).as_deref(), Some("nginx:1.2-x"));
        assert_eq!(rewrite("nginx@sha256:abc", &suffix, &m).as_deref(), Some("nginx:-x"));
        let both = ImageSpec { new_tag: Some("3".into()), ..suffix };
        assert_eq!(rewrite("nginx:1.2", &both, &m).as_deref(), Some("nginx:3"));
    }
}
