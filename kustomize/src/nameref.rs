//! Name references: after renames (prefix, suffix, hash), fields that name another resource
//! (a ConfigMap in `envFrom`, a ServiceAccount in a RoleBinding, ...) follow the new name.
//! The candidate sieve follows kustomize's `nameref` filter step by step.

use std::collections::HashMap;

use crate::config::NameRef;
use crate::fieldspec::visit;
use crate::resid::{Gvk, ResId};
use crate::resource::Resource;
use crate::yaml::{Map, Value};

/// Rewrites every configured reference to the current name of the resource it designates.
pub fn fix(resources: &mut [Resource], configs: &[NameRef]) -> Result<(), String> {
    // Referrals are read from a snapshot: a referrer's edits never change who it can refer to.
    // Candidates are only ever read for their ids, names, prefixes and suffixes: the current ids
    // are taken before any edit, and the objects are moved out while references are rewritten,
    // so the resources themselves serve as the snapshot (no copy of any of them).
    // Each referrer's pool key is read from its own object before any rewrite. Ids and keys
    // are worked out per object, over pieces of the list on the build's threads.
    let prepared = crate::parallel::chunks_mut(resources, |piece| {
        let prepared = piece.iter_mut().map(|r| {
            let id = r.cur_id();
            let refers = configs.iter().any(|c| c.referrers.iter().any(|s| s.applies_to(&id.gvk)));
            let key = refers.then(|| pool_key(&id, &r.obj));
            (id, key, std::mem::take(&mut r.obj))
        });
        prepared.collect::<Vec<_>>()
    });
    let (mut ids, mut keys, mut objs) = (Vec::new(), Vec::new(), Vec::new());
    for (id, key, obj) in prepared.into_iter().flatten() {
        ids.push(id);
        keys.push(key);
        objs.push(obj);
    }
    let result = fix_objects(resources, &ids, &keys, &mut objs, configs);
    for (r, obj) in resources.iter_mut().zip(objs) {
        r.obj = obj;
    }
    result
}

/// [`fix`] over `objs` (the objects of `res`, whose current ids are `ids`; `keys`: each
/// referrer's pool key, `None` for objects that refer to nothing).
fn fix_objects(
    res: &[Resource],
    ids: &[ResId],
    keys: &[Option<Result<PoolKey, String>>],
    objs: &mut [Map],
    configs: &[NameRef],
) -> Result<(), String> {
    // The referral pool depends only on the referrer's scope, namespace and ServiceAccount
    // subject namespaces; building it once per distinct scope (not once per referrer) keeps
    // this pass linear in the number of resources.
    let mut pools: HashMap<&PoolKey, Pool> = HashMap::new();
    for key in keys.iter().flatten().flatten() {
        pools.entry(key).or_insert_with(|| Pool::new(res, could_be_referenced_by(ids, key)));
    }
    // A referrer rewrites only its own object and reads the others' ids, so pieces of the list
    // run on the build's threads; each piece stops at its first error, and the first piece's
    // error is the one a single pass in order meets first.
    let mut referrers: Vec<(usize, &mut Map)> = objs.iter_mut().enumerate().collect();
    let done = crate::parallel::chunks_mut(&mut referrers, |piece| {
        piece.iter_mut().try_for_each(|(i, obj)| match &keys[*i] {
            None => Ok(()),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(key)) => rewrite(res, ids, *i, obj, configs, &pools[key]),
        })
    });
    done.into_iter().collect()
}

/// Rewrites the references of referrer `me` (object `obj`) to resources of its `pool`.
fn rewrite(
    res: &[Resource],
    ids: &[ResId],
    me: usize,
    obj: &mut Map,
    configs: &[NameRef],
    pool: &Pool,
) -> Result<(), String> {
    let gvk = &ids[me].gvk;
    let role_ref = role_ref_gvk(obj);
    for cfg in configs {
        for spec in cfg.referrers.iter().filter(|s| s.applies_to(gvk)) {
            let ctx = Ctx {
                cfg,
                res,
                ids,
                me,
                role_ref: if spec.path.ends_with("roleRef/name") { role_ref.clone() } else { None },
                all: &pool.all,
                named: &pool.named,
            };
            let mut failure = None;
            visit(obj, spec.segments(), false, &mut |v| {
                if let Err(e) = ctx.update(v) {
                    failure = Some(e);
                }
            });
            if let Some(e) = failure {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// What decides a referrer's pool: `None` for a cluster-scoped referrer (it sees everything),
/// else its effective namespace and its ServiceAccount subjects' namespaces.
type PoolKey = Option<(String, Vec<String>)>;

/// The resources a referrer may refer to (indices), in build order, and the same indexed by
/// every name they had before (kustomize sieves candidates by previous names first).
struct Pool<'a> {
    all: Vec<usize>,
    named: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Pool<'a> {
    fn new(res: &'a [Resource], all: Vec<usize>) -> Pool<'a> {
        let mut named: HashMap<&str, Vec<usize>> = HashMap::new();
        for &r in &all {
            let mut seen: Vec<&str> = Vec::new();
            for id in &res[r].prev {
                if !seen.contains(&id.name.as_str()) {
                    seen.push(&id.name);
                    named.entry(id.name.as_str()).or_default().push(r);
                }
            }
        }
        Pool { all, named }
    }
}

/// The [`PoolKey`] of a referrer: kustomize reads every RoleBinding subject's `namespace` as a
/// string and fails on any other value (`namespace:` left blank, a number).
fn pool_key(rid: &ResId, referrer: &Map) -> Result<PoolKey, String> {
    if !rid.gvk.is_namespaceable() {
        return Ok(None);
    }
    let mut sa_namespaces = Vec::new();
    if rid.gvk.kind == "RoleBinding"
        && let Some(Value::Seq(subjects)) = referrer.get("subjects")
    {
        for s in subjects {
            if let Some(ns) = s.get("namespace")
                && !matches!(ns, Value::String(_))
            {
                return Err(format!("Invalid Input: namespace is blank for resource {rid}"));
            }
            if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                && let Some(ns) = s.get("namespace").and_then(Value::as_str)
            {
                sa_namespaces.push(ns.to_string());
            }
        }
    }
    Ok(Some((rid.effective_namespace().to_string(), sa_namespaces)))
}

/// kustomize's `SubsetThatCouldBeReferencedByResource`: a namespaced referrer sees cluster-scoped
/// resources, its own namespace, and (for a RoleBinding) its ServiceAccount subjects' namespaces.
fn could_be_referenced_by(ids: &[ResId], key: &PoolKey) -> Vec<usize> {
    let Some((namespace, sa_namespaces)) = key else {
        return (0..ids.len()).collect();
    };
    (0..ids.len())
        .filter(|&i| {
            let id = &ids[i];
            !id.gvk.is_namespaceable() || id.effective_namespace() == namespace || sa_namespaces.contains(&id.namespace)
        })
        .collect()
}

fn role_ref_gvk(obj: &Map) -> Option<Gvk> {
    let rr = obj.get("roleRef")?;
    Some(Gvk {
        group: rr.get("apiGroup")?.as_str()?.to_string(),
        version: String::new(),
        kind: rr.get("kind")?.as_str()?.to_string(),
    })
}

struct Ctx<'a> {
    cfg: &'a NameRef,
    /// Every resource (objects moved out: read ids, prefixes and suffixes only) and its id
    /// before any reference was rewritten.
    res: &'a [Resource],
    ids: &'a [ResId],
    /// The referrer's index.
    me: usize,
    role_ref: Option<Gvk>,
    all: &'a [usize],
    /// `all` by previous name.
    named: &'a HashMap<&'a str, Vec<usize>>,
}

impl Ctx<'_> {
    /// The candidates that once had the name `old` (the first step of [`Ctx::select`]'s sieve,
    /// done by look-up), in build order.
    fn named(&self, old: &str) -> Vec<usize> {
        self.named.get(old).cloned().unwrap_or_default()
    }

    fn update(&self, v: &mut Value) -> Result<(), String> {
        match v {
            Value::String(old) => {
                if let Some(c) = self.select(old, self.named(old), false)? {
                    *old = self.ids[c].name.clone();
                }
            }
            Value::Seq(items) => {
                for item in items.iter_mut() {
                    if matches!(item, Value::Map(_)) {
                        self.update_map(item)?;
                    } else if let Value::String(old) = item
                        && let Some(c) = self.select(old, self.named(old), false)?
                    {
                        *old = self.ids[c].name.clone();
                    }
                }
            }
            Value::Map(_) => self.update_map(v)?,
            _ => {}
        }
        Ok(())
    }

    /// A `{name, namespace}` block (RBAC subjects, webhook services): candidates are narrowed by
    /// the block's namespace (original namespaces first), and both fields are written back.
    fn update_map(&self, v: &mut Value) -> Result<(), String> {
        let Value::Map(m) = v else { return Ok(()) };
        let Some(Value::String(old)) = m.get("name") else {
            return Err("path config error; no 'name' field in node".into());
        };
        let candidates: Vec<usize> = match m.get("namespace").and_then(Value::as_str) {
            None => self.named(old),
            // Grouped by effective namespace, so "default" also matches resources without one.
            Some(ns) => {
                let by_orig: Vec<usize> = self
                    .all
                    .iter()
                    .copied()
                    .filter(|&r| {
                        self.res[r].orig.gvk.is_namespaceable() && self.res[r].orig.effective_namespace() == ns
                    })
                    .collect();
                if by_orig.is_empty() {
                    self.all
                        .iter()
                        .copied()
                        .filter(|&r| {
                            let c = &self.ids[r];
                            c.gvk.is_namespaceable() && c.effective_namespace() == ns
                        })
                        .collect()
                } else {
                    by_orig
                }
            }
        };
        let Some(c) = self.select(old, candidates, true)? else { return Ok(()) };
        let (name, ns) = (self.ids[c].name.clone(), self.ids[c].namespace.clone());
        if name == *old && ns.is_empty() {
            return Ok(());
        }
        m.insert("name".into(), Value::String(name));
        if !ns.is_empty() {
            m.insert("namespace".into(), Value::String(ns));
        }
        Ok(())
    }

    fn select(&self, old: &str, candidates: Vec<usize>, with_ns: bool) -> Result<Option<usize>, String> {
        let target = |id: &ResId| {
            id.gvk.kind == self.cfg.kind
                && (self.cfg.group.is_empty() || id.gvk.group == self.cfg.group)
                && (self.cfg.version.is_empty() || id.gvk.version == self.cfg.version)
        };
        let (res, ids) = (self.res, self.ids);
        let referrer = &ids[self.me];
        let me = &res[self.me];
        let mut c: Vec<usize> = candidates
            .into_iter()
            // kustomize sieves by previous ids only (`PrevIds`): a resource never renamed or
            // moved is no referral, so references to it are left alone (measured: a subject
            // without a namespace stays so when nothing transformed the ServiceAccount).
            .filter(|&r| res[r].prev.iter().any(|id| id.name == old))
            .filter(|&r| res[r].prev.iter().any(target))
            .filter(|&r| {
                self.role_ref
                    .as_ref()
                    .is_none_or(|g| res[r].prev.iter().any(|id| id.gvk.kind == g.kind && id.gvk.group == g.group))
            })
            .filter(|&r| {
                let cur = &ids[r];
                !referrer.gvk.is_namespaceable()
                    || !cur.gvk.is_namespaceable()
                    || cur.gvk.kind == "ServiceAccount"
                    || cur.effective_namespace() == referrer.effective_namespace()
            })
            .collect();
        if c.len() == 1 {
            return Ok(Some(c[0]));
        }
        let before = c.clone();
        c.retain(|&r| res[r].same_prefixes_suffixes(me));
        if before.len() > 1 && c.is_empty() {
            // Measured (krusty `TestPrefixSuffix`): when no candidate has both the referrer's
            // prefixes and suffixes, kustomize takes the one that shares either.
            let either: Vec<usize> = before.iter().copied().filter(|&r| res[r].same_prefixes_or_suffixes(me)).collect();
            if let [one] = either.as_slice() {
                return Ok(Some(*one));
            }
            let before = before.len();
            // Other cases are not understood; refusing beats leaving a reference silently
            // unchanged.
            return Err(format!(
                "{} {old:?} referenced by {referrer} matches {before} resources, none with the referrer's name prefixes and suffixes; this engine does not reproduce kustomize's choice here",
                self.cfg.kind
            ));
        }
        let identical =
            |a: usize, b: usize| ids[a].name == ids[b].name && (!with_ns || ids[a].namespace == ids[b].namespace);
        match c.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            [first, rest @ ..] if rest.iter().all(|&r| identical(*first, r)) => Ok(Some(*first)),
            many => Err(format!(
                "found multiple possible referrals for {} {old:?} referenced by {referrer}: {}",
                self.cfg.kind,
                many.iter().map(|&r| ids[r].to_string()).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}
