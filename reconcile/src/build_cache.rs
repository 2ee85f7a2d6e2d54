//! The last build of a sync, kept between reconciles of the same revision and variables.
//!
//! It is kept as one compact JSON buffer, not as object trees: a thousand parsed objects are
//! about a hundred thousand small heap blocks that live as long as the process, scattered over
//! pages that the rest of every reconcile fills and frees, so the allocator can hand none of
//! those pages back and the idle process stays at its peak. One buffer of about a kilobyte per
//! object is one allocation; parsing it again costs a few milliseconds per reconcile.

use crate::objects::DesiredObject;

/// A build, by the key that says when it can be reused (commit and variables).
pub(crate) struct CachedBuild {
    key: String,
    json: Box<[u8]>,
}

impl CachedBuild {
    /// Keeps `objects` under `key`; `None` when they cannot be serialised (never for objects
    /// parsed from JSON-compatible YAML: then the next reconcile simply builds again).
    pub(crate) fn new(key: String, objects: &[DesiredObject]) -> Option<Self> {
        let json = serde_json::to_vec(objects).ok()?.into_boxed_slice();
        Some(Self { key, json })
    }

    /// Whether this is the build for `key`.
    pub(crate) fn is_for(&self, key: &str) -> bool {
        self.key == key
    }

    /// The objects, parsed again; `None` if the buffer does not parse (never for one written by
    /// [`CachedBuild::new`]: then the caller builds again).
    pub(crate) fn objects(&self) -> Option<Vec<DesiredObject>> {
        serde_json::from_slice(&self.json).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_come_back_as_they_were_kept() {
        let stream = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, labels: {a: b}}\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers: [{name: c, image: i, resources: {requests: {cpu: 0.5}}, ports: [{containerPort: 80}]}]\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: ns}\nspec: {ratio: 0.1, big: 18446744073709551615, neg: -3, list: [true, null, 'x']}\n";
        let mut objects = crate::objects::desired_objects(stream).unwrap();
        objects[1].set_namespace(Some("default"));
        objects[2].masked = vec!["/spec/list/2".into()];
        let cached = CachedBuild::new("c0ffee:vars".into(), &objects).unwrap();
        assert!(cached.is_for("c0ffee:vars") && !cached.is_for("c0ffee:other"));
        assert!(cached.json.len() > 100);
        let back = cached.objects().unwrap();
        assert_eq!(back.len(), objects.len());
        for (a, b) in objects.iter().zip(&back) {
            assert_eq!(a.key, b.key);
            assert_eq!(a.api_version, b.api_version);
            assert_eq!(a.hash, b.hash);
            assert_eq!(a.masked, b.masked);
            assert_eq!(serde_json::to_value(&a.object).unwrap(), serde_json::to_value(&b.object).unwrap());
            // The hash still describes the object: content hashes decide what is re-applied.
            let mut rehashed = b.clone();
            rehashed.rehash();
            assert_eq!(rehashed.hash, b.hash, "{}", b.key);
        }
    }
}
