//! Flux's own `ImagePolicy` (`image.toolkit.fluxcd.io/v1beta2` and `v1`, whose specs are the
//! same for what matters here) as serde types, and their conversion to an [`ImagePolicy`].
//!
//! Only the fields that decide the newest tag are modelled; the rest (`digestReflectionPolicy`,
//! `interval`, `suspend`, `status`, labels…) is ignored on reading. Parsing the YAML is the
//! caller's job (serde-saphyr).

use serde::{Deserialize, Serialize};

use super::{Choice, ImagePolicy, Order, PolicyError};

/// The `apiVersion`s whose `ImagePolicy` this module reads.
pub const API_VERSIONS: [&str; 2] = ["image.toolkit.fluxcd.io/v1beta2", "image.toolkit.fluxcd.io/v1"];

/// A whole Flux `ImagePolicy` manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FluxImagePolicy {
    /// `image.toolkit.fluxcd.io/v1beta2` or `image.toolkit.fluxcd.io/v1`.
    pub api_version: String,
    /// `ImagePolicy`.
    pub kind: String,
    /// Name and namespace.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The policy proper.
    pub spec: ImagePolicySpec,
}

impl FluxImagePolicy {
    /// Checks `apiVersion` and `kind`, then converts the spec.
    pub fn to_policy(&self) -> Result<ImagePolicy, PolicyError> {
        if self.kind != "ImagePolicy" || !API_VERSIONS.contains(&self.api_version.as_str()) {
            return Err(PolicyError::UnsupportedManifest {
                api_version: self.api_version.clone(),
                kind: self.kind.clone(),
            });
        }
        self.spec.to_policy()
    }
}

/// The part of `metadata` that identifies the object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// `metadata.name`.
    #[serde(default)]
    pub name: String,
    /// `metadata.namespace`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `spec` of an `ImagePolicy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicySpec {
    /// The `ImageRepository` whose tags are scanned.
    pub image_repository_ref: NamespacedObjectReference,
    /// How the tags are ordered.
    pub policy: ImagePolicyChoice,
    /// Which tags take part, and what part of them is ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tags: Option<TagFilter>,
}

impl ImagePolicySpec {
    /// Builds the policy the spec describes.
    ///
    /// Unlike Flux, which silently takes the first of `semver`, `alphabetical`, `numerical` that
    /// is set, a spec setting several is an error.
    pub fn to_policy(&self) -> Result<ImagePolicy, PolicyError> {
        let ImagePolicyChoice { semver, alphabetical, numerical } = &self.policy;
        let set: Vec<&str> = [
            semver.as_ref().map(|_| "semver"),
            alphabetical.as_ref().map(|_| "alphabetical"),
            numerical.as_ref().map(|_| "numerical"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if set.len() > 1 {
            return Err(PolicyError::AmbiguousPolicyChoice(set.join(", ")));
        }
        let choice = match (semver, alphabetical, numerical) {
            (Some(s), _, _) => Choice::Semver { range: s.range.clone() },
            (_, Some(a), _) => Choice::Alphabetical(a.order),
            (_, _, Some(n)) => Choice::Numerical(n.order),
            (None, None, None) => return Err(PolicyError::NoPolicyChoice),
        };
        let filter = self.filter_tags.as_ref();
        ImagePolicy::new(choice, filter.map(|f| f.pattern.as_str()), filter.map(|f| f.extract.as_str()))
    }
}

impl TryFrom<&ImagePolicySpec> for ImagePolicy {
    type Error = PolicyError;

    fn try_from(spec: &ImagePolicySpec) -> Result<Self, Self::Error> {
        spec.to_policy()
    }
}

/// A reference to an object by name, in the referrer's namespace unless one is given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespacedObjectReference {
    /// The object's name.
    pub name: String,
    /// The object's namespace, when not the referrer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `spec.policy`: exactly one of the fields should be set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePolicyChoice {
    /// Highest semantic version within a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<SemVerPolicy>,
    /// Byte-wise string order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphabetical: Option<AlphabeticalPolicy>,
    /// Numeric order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerical: Option<NumericalPolicy>,
}

/// `spec.policy.semver`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SemVerPolicy {
    /// A Masterminds/semver range, e.g. `>=1.0.0 <2.0.0`.
    pub range: String,
}

/// `spec.policy.alphabetical`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlphabeticalPolicy {
    /// `asc` (the default) or `desc`.
    #[serde(default)]
    pub order: Order,
}

/// `spec.policy.numerical`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumericalPolicy {
    /// `asc` (the default) or `desc`.
    #[serde(default)]
    pub order: Order,
}

/// `spec.filterTags`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagFilter {
    /// A regular expression a tag must match to take part; empty matches every tag.
    #[serde(default)]
    pub pattern: String,
    /// A template over the pattern's groups (`$ts`, `${1}`) giving the value to order; empty
    /// orders the whole tag.
    #[serde(default)]
    pub extract: String,
}
