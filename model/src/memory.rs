//! The memory guard: a search stops, with what it found so far and the reason, before the
//! process runs out of memory, instead of ending in an allocation abort or the kernel's OOM
//! killer.
//!
//! The allowance is the lowest of `--max-memory` (default: half the machine's physical
//! memory, so the rest stays usable) and the cgroup's `memory.max`; the search watches the
//! memory it has *committed* (the allocator's figure where the binary provides it, else the
//! resident set) against it. Under an address-space limit (`ulimit -v`) it also watches the
//! address space the process has mapped, leaving room for the allocator's next reservation.
//! Either way it leaves room for the visited table to double: a hash table that grows
//! allocates its new array while the old one is still alive.

use std::fmt;
use std::str::FromStr;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Bytes per state the visited table may need at its next growth: stateright keeps a
/// fingerprint (and, breadth first, its parent's) per state in a table sharded 8 ways here,
/// whose entries take at most 32 bytes at its lowest load; a shard that doubles holds its old
/// and new arrays at once, a quarter of the table in the worst case. Twice that, for safety.
const GROWTH_BYTES_PER_STATE: u64 = 16;
/// Room for everything else: thread stacks, the report, the search for a shortest trace.
const SLACK: u64 = 128 * MIB;
/// The allocator (mimalloc) reserves address space up to 1 GiB at a time.
const RESERVATION: u64 = GIB;

/// A size in bytes, as `--max-memory` takes it: `12G`, `512MiB`, `4000000K`, `1073741824`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl FromStr for Bytes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let unit_bytes = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => KIB,
            "m" | "mb" | "mib" => MIB,
            "g" | "gb" | "gib" => GIB,
            "t" | "tb" | "tib" => GIB * KIB,
            _ => 0,
        };
        let n: Option<u64> = digits.parse().ok();
        match n.and_then(|n| n.checked_mul(unit_bytes)).filter(|b| *b > 0) {
            Some(b) => Ok(Bytes(b)),
            None => Err(format!(
                "'{s}' is not a size: give a whole number with an optional unit, K, M, G or T \
                 (powers of 1024), e.g. 12G or 512M"
            )),
        }
    }
}

/// As `--max-memory` takes it back (`12052M`), for `--help`'s default.
impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            b if b % GIB == 0 => write!(f, "{}G", b / GIB),
            b if b % MIB == 0 => write!(f, "{}M", b / MIB),
            b if b % KIB == 0 => write!(f, "{}K", b / KIB),
            b => write!(f, "{b}"),
        }
    }
}

impl Bytes {
    /// For people: `1.5 GiB`.
    pub fn human(self) -> String {
        let b = self.0 as f64;
        match self.0 {
            b0 if b0 >= GIB => format!("{:.1} GiB", b / GIB as f64),
            b0 if b0 >= MIB => format!("{:.0} MiB", b / MIB as f64),
            _ => format!("{:.0} KiB", b / KIB as f64),
        }
    }
}

/// The machine's physical memory (`MemTotal`), if Linux says.
pub fn physical() -> Option<u64> {
    proc_kib("/proc/meminfo", "MemTotal:")
}

/// `--max-memory`'s default: half the physical memory, in whole MiB (4 GiB where it cannot
/// be read).
pub fn default_allowance() -> Bytes {
    Bytes(physical().map_or(4 * GIB, |p| p / 2 / MIB * MIB))
}

/// A `kB` figure from a `/proc` file of `Name:   value kB` lines.
fn proc_kib(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..].split_whitespace().next()?.parse().ok()?;
    kib.checked_mul(KIB)
}

/// The process's resident set.
pub fn resident() -> Option<u64> {
    proc_kib("/proc/self/status", "VmRSS:")
}

/// The process's peak resident set, in bytes (Linux: VmHWM), where the system says.
pub fn peak_resident() -> Option<u64> {
    proc_kib("/proc/self/status", "VmHWM:")
}

/// The address space the process has mapped.
pub fn mapped() -> Option<u64> {
    proc_kib("/proc/self/status", "VmSize:")
}

/// The soft address-space limit (`ulimit -v`), if one is set.
pub fn address_space_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max address space"))?;
    line["Max address space".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The memory limit of the process's cgroup (v2 `memory.max`, or v1
/// `memory.limit_in_bytes`), if one is set.
pub fn cgroup_limit() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroups.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let file = match controllers {
            "" => format!("/sys/fs/cgroup{path}/memory.max"),
            c if c.split(',').any(|c| c == "memory") => {
                format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")
            }
            _ => return None,
        };
        let limit: u64 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
        // v1 writes "no limit" as a huge number.
        (limit < 1 << 60).then_some(limit)
    })
}

/// How the guard reads the memory the process has committed.
pub type Committed = fn() -> Option<u64>;

/// Stops a search before it runs out of memory.
#[derive(Clone, Debug)]
pub struct Guard {
    /// Committed memory must stay below this, less the room to grow.
    allowance: u64,
    /// What set the allowance, for the message.
    source: &'static str,
    address_space: Option<u64>,
    committed: Committed,
}

impl Guard {
    /// A guard for `max_memory` (or the default), lowered to the cgroup's limit and watching
    /// the address-space limit; `committed` reads the allocator's figure (the resident set
    /// where it gives none).
    pub fn new(max_memory: Option<Bytes>, committed: Committed) -> Guard {
        let (mut allowance, mut source) = match max_memory {
            Some(b) => (b.0, "--max-memory"),
            None => (
                default_allowance().0,
                "--max-memory's default, half the physical memory",
            ),
        };
        if let Some(c) = cgroup_limit().filter(|c| *c < allowance) {
            allowance = c;
            source = "the cgroup's memory.max";
        }
        Guard {
            allowance,
            source,
            address_space: address_space_limit(),
            committed,
        }
    }

    /// The guard's allowance in bytes.
    pub fn allowance(&self) -> Bytes {
        Bytes(self.allowance)
    }

    /// `Err(why)` once a search that has stored `states` states must stop to stay within the
    /// allowance (and the address-space limit).
    pub fn check(&self, states: usize) -> Result<(), String> {
        let room = (states as u64).saturating_mul(GROWTH_BYTES_PER_STATE) + SLACK;
        let committed = (self.committed)().or_else(resident).unwrap_or(0);
        if committed.saturating_add(room) >= self.allowance {
            return Err(format!(
                "memory: {} committed, and a search this size needs {} more to grow, of the {} \
                 allowed by {}; raise --max-memory or bound the model",
                Bytes(committed).human(),
                Bytes(room).human(),
                Bytes(self.allowance).human(),
                self.source
            ));
        }
        if let (Some(limit), Some(mapped)) = (self.address_space, mapped()) {
            if mapped.saturating_add(room + RESERVATION) >= limit {
                return Err(format!(
                    "memory: {} of address space mapped, near the process's address-space limit \
                     of {} (ulimit -v); raise it or bound the model",
                    Bytes(mapped).human(),
                    Bytes(limit).human()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units_and_bad_ones_say_what_is_expected() {
        assert_eq!("12G".parse(), Ok(Bytes(12 * GIB)));
        assert_eq!("512MiB".parse(), Ok(Bytes(512 * MIB)));
        assert_eq!("4000000k".parse(), Ok(Bytes(4_000_000 * KIB)));
        assert_eq!("1024".parse(), Ok(Bytes(1024)));
        for bad in ["", "G", "12X", "-1G", "0", "99999999999T"] {
            let err = bad.parse::<Bytes>().unwrap_err();
            assert!(err.contains("e.g. 12G"), "{bad}: {err}");
        }
        assert_eq!(Bytes(3 * GIB / 2).human(), "1.5 GiB");
        for b in [
            Bytes(12 * GIB),
            Bytes(12052 * MIB),
            Bytes(5 * KIB),
            Bytes(1000),
        ] {
            assert_eq!(b.to_string().parse(), Ok(b));
        }
    }

    #[test]
    fn this_machine_reports_its_memory() {
        assert!(physical().is_some_and(|p| p > 0));
        assert!(resident().is_some_and(|r| r > 0));
        assert!(mapped() >= resident());
    }

    #[test]
    fn the_guard_stops_when_committed_memory_and_room_to_grow_reach_the_allowance() {
        let guard = |committed: Committed, max: u64| Guard {
            allowance: max,
            source: "--max-memory",
            address_space: None,
            committed,
        };
        let gib: Committed = || Some(GIB);
        assert!(guard(gib, 2 * GIB).check(1000).is_ok());
        let err = guard(gib, GIB + SLACK).check(0).unwrap_err();
        assert!(err.contains("--max-memory"), "{err}");
        // Room for the visited table to double: 100 M states need 1.5 GiB more.
        assert!(guard(gib, 2 * GIB).check(100_000_000).is_err());
        // No allocator figure: the resident set.
        assert!(guard(|| None, 64 * GIB).check(0).is_ok());
        assert!(guard(|| None, KIB).check(0).is_err());
    }
}
