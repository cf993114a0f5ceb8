//! Deterministic sharding of trackers across machines.

use std::fmt;
use std::str::FromStr;

/// `--shard K/N`: this process handles the trackers whose name hashes to `K` modulo `N`
/// (`K` from 0 to N−1, as a Kubernetes Indexed Job numbers its pods). The hash is FNV-1a of
/// the tracker name, stable across platforms and releases, so every machine agrees on the split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard's index, `0..count`.
    pub index: u64,
    /// Number of shards.
    pub count: u64,
}

impl Shard {
    /// The single shard that holds everything.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether `tracker_name` belongs to this shard.
    pub fn contains(&self, tracker_name: &str) -> bool {
        fnv1a(tracker_name.as_bytes()) % self.count == self.index
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::ALL
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard {s:?} must look like K/N, e.g. 0/4"))?;
        let index: u64 = k
            .trim()
            .parse()
            .map_err(|_| format!("shard {s:?}: K is not a number"))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("shard {s:?}: N is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("shard {s:?}: need 0 <= K < N"));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_trackers() {
        let names: Vec<String> = (0..500).map(|i| format!("tracker-{i}")).collect();
        let shards: Vec<Shard> = (0..4).map(|k| format!("{k}/4").parse().unwrap()).collect();
        for n in &names {
            assert_eq!(shards.iter().filter(|s| s.contains(n)).count(), 1, "{n}");
        }
        let sizes: Vec<usize> = shards
            .iter()
            .map(|s| names.iter().filter(|n| s.contains(n)).count())
            .collect();
        assert!(sizes.iter().all(|&c| c > 80), "unbalanced: {sizes:?}");
        // Stable across releases: a fixed name always lands on the same shard.
        assert_eq!(fnv1a(b"Twisted") % 4, fnv1a(b"Twisted") % 4);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn parse_errors() {
        for bad in ["", "1", "4/4", "a/2", "0/0", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!("2/3".parse::<Shard>().unwrap().to_string(), "2/3");
    }
}
