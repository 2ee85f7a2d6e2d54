//! The mapping-key order of `yaml.v2`'s encoder, which sorts `map[interface{}]interface{}` keys
//! "naturally": letters before other characters, digit runs compared as numbers.

use std::cmp::Ordering;

/// `yaml.v2`'s `keyList.Less`, reproduced for string keys (quirks included: digit runs are
/// read from the first differing position, and a run after a non-zero digit is offset by one).
pub fn key_less(a: &str, b: &str) -> bool {
    // Every key of every printed map is sorted with this: ASCII keys (nearly all) compare as
    // bytes, which are their characters, without collecting them first.
    if a.is_ascii() && b.is_ascii() {
        return less(a.as_bytes(), b.as_bytes());
    }
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    less(&ar, &br)
}

/// [`key_less`] over the characters of both keys (bytes of ASCII keys, or `char`s).
fn less<T: Copy + PartialEq + Into<char>>(ar: &[T], br: &[T]) -> bool {
    let c = |s: &[T], i: usize| -> char { s[i].into() };
    let n = ar.len().min(br.len());
    for i in 0..n {
        if ar[i] == br[i] {
            continue;
        }
        let al = c(ar, i).is_alphabetic();
        let bl = c(br, i).is_alphabetic();
        if al && bl {
            return c(ar, i) < c(br, i);
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if c(ar, i) == '0' || c(br, i) == '0' {
            let mut j = i;
            while j > 0 && c(ar, j - 1).is_ascii_digit() {
                j -= 1;
                if c(ar, j) != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && c(ar, ai).is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(c(ar, ai) as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && c(br, bi).is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(c(br, bi) as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return c(ar, i) < c(br, i);
    }
    ar.len() < br.len()
}

/// A total order built on [`key_less`], for `sort_by`.
pub fn key_cmp(a: &str, b: &str) -> Ordering {
    // Every key of every printed map is sorted with this. Nearly always the keys first differ
    // at a letter in both, where the order is the letters' (bytes of UTF-8 text that agree up
    // to an ASCII byte agree on every character before it), or one is a prefix of the other.
    let (x, y) = (a.as_bytes(), b.as_bytes());
    match x.iter().zip(y).position(|(p, q)| p != q) {
        None => return x.len().cmp(&y.len()),
        Some(i) if x[i].is_ascii_alphabetic() && y[i].is_ascii_alphabetic() => return x[i].cmp(&y[i]),
        Some(_) => {}
    }
    slow_cmp(a, b)
}

/// [`key_cmp`] from [`key_less`] both ways.
fn slow_cmp(a: &str, b: &str) -> Ordering {
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

    proptest::proptest! {
        /// The shortcut gives what comparing with `key_less` both ways gives.
        #[test]
        fn key_cmp_is_key_less_both_ways(a in "[a-cA-C0-2_.é-]{0,6}", b in "[a-cA-C0-2_.é-]{0,6}") {
            proptest::prop_assert_eq!(key_cmp(&a, &b), slow_cmp(&a, &b));
            let prefixed = format!("{a}{b}");
            proptest::prop_assert_eq!(key_cmp(&a, &prefixed), slow_cmp(&a, &prefixed));
        }
    }

    #[test]
    fn kubernetes_fields() {
        let mut keys = vec!["spec", "metadata", "kind", "apiVersion", "data"];
        keys.sort_by(|a, b| key_cmp(a, b));
        assert_eq!(keys, ["apiVersion", "data", "kind", "metadata", "spec"]);
    }
}
