//! The mapping-key order of `yaml.v2`'s encoder, which sorts `map[interface{}]interface{}` keys
//! "naturally": letters before other characters, digit runs compared as numbers.

use std::cmp::Ordering;

/// `yaml.v2`'s `keyList.Less`, reproduced for string keys (quirks included: digit runs are
/// read from the first differing position, and a run after a non-zero digit is offset by one).
pub fn key_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let n = ar.len().min(br.len());
    for i in 0..n {
        if ar[i] == br[i] {
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// A total order built on [`key_less`], for `sort_by`.
pub fn key_cmp(a: &str, b: &str) -> Ordering {
    if key_less(a, b) {
        Ordering::Less
    } else if key_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_order() {
        // Order printed by `kubectl kustomize` (kustomize v5.5.0) for these keys.
        let want = ["_x", "1", "2", "10", "A", "a-b", "a_b", "a9", "a10", "ab", "z"];
        let mut keys = want.to_vec();
        keys.reverse();
        keys.sort_by(|a, b| key_cmp(a, b));
        assert_eq!(keys, want);
    }

    #[test]
    fn kubernetes_fields() {
        let mut keys = vec!["spec", "metadata", "kind", "apiVersion", "data"];
        keys.sort_by(|a, b| key_cmp(a, b));
        assert_eq!(keys, ["apiVersion", "data", "kind", "metadata", "spec"]);
    }
}
