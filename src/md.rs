//! Vocabulary of the kernel's md sysfs interface: the words of
//! `array_state`, `sync_action` and a member's `state`, and the numbers of
//! `resync_start`, `recovery_start` and `sync_completed`.
//!
//! Parsing is pure; the shell reads the attribute into a small buffer and
//! hands the bytes here.

/// "No position": `none` in `resync_start`/`recovery_start`; an operation is complete.
pub const MAX_SECTOR: u64 = u64::MAX;

/// The words of `md/array_state`, in the kernel's order (comparisons rely on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ArrayState {
    Clear,
    Inactive,
    Suspended,
    Readonly,
    ReadAuto,
    Clean,
    Active,
    WritePending,
    ActiveIdle,
    Broken,
    /// Unreadable or unknown word.
    Bad,
}

impl ArrayState {
    const WORDS: [(&'static str, ArrayState); 10] = [
        ("clear", ArrayState::Clear),
        ("inactive", ArrayState::Inactive),
        ("suspended", ArrayState::Suspended),
        ("readonly", ArrayState::Readonly),
        ("read-auto", ArrayState::ReadAuto),
        ("clean", ArrayState::Clean),
        ("active", ArrayState::Active),
        ("write-pending", ArrayState::WritePending),
        ("active-idle", ArrayState::ActiveIdle),
        ("broken", ArrayState::Broken),
    ];

    /// Parse the attribute text (trailing newline allowed).
    pub fn parse(text: &[u8]) -> ArrayState {
        let w = first_word(text);
        Self::WORDS.iter().find(|(s, _)| s.as_bytes() == w).map(|&(_, v)| v).unwrap_or(ArrayState::Bad)
    }

    /// The word to write to `array_state`.
    pub fn word(self) -> &'static str {
        Self::WORDS.iter().find(|(_, v)| *v == self).map(|&(s, _)| s).unwrap_or("")
    }

    /// True for states in which the array holds no unwritten data
    /// (`clear` .. `clean`): what upstream calls "curr_state <= clean".
    pub fn at_most_clean(self) -> bool {
        self <= ArrayState::Clean
    }
}

/// The words of `md/sync_action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SyncAction {
    Idle,
    Reshape,
    Resync,
    Recover,
    Check,
    Repair,
    /// `frozen`: user space stopped sync actions.
    Frozen,
    /// Unreadable or unknown word.
    Bad,
}

impl SyncAction {
    /// Parse the attribute text.
    pub fn parse(text: &[u8]) -> SyncAction {
        match first_word(text) {
            b"idle" => SyncAction::Idle,
            b"reshape" => SyncAction::Reshape,
            b"resync" => SyncAction::Resync,
            b"recover" => SyncAction::Recover,
            b"check" => SyncAction::Check,
            b"repair" => SyncAction::Repair,
            b"frozen" => SyncAction::Frozen,
            _ => SyncAction::Bad,
        }
    }

    /// True for the actions during which the kernel reports progress that
    /// mdmon checkpoints (upstream: `curr_action >= reshape`).
    pub fn is_sync(self) -> bool {
        !matches!(self, SyncAction::Idle)
    }
}

/// Flags of a member device's `state` attribute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DevState(pub u16);

impl DevState {
    pub const FAULTY: u16 = 1;
    pub const INSYNC: u16 = 2;
    pub const WRITE_MOSTLY: u16 = 4;
    pub const SPARE: u16 = 8;
    pub const BLOCKED: u16 = 16;
    pub const EXTERNAL_BB: u16 = 4096;

    /// Parse a comma-separated `state` value; unknown tokens are ignored.
    pub fn parse(text: &[u8]) -> DevState {
        let text = trim_newline(text);
        let mut v = 0;
        for tok in text.split(|&c| c == b',' || c == b' ') {
            v |= match tok {
                b"faulty" => Self::FAULTY,
                b"in_sync" => Self::INSYNC,
                b"write_mostly" => Self::WRITE_MOSTLY,
                b"spare" => Self::SPARE,
                b"blocked" => Self::BLOCKED,
                b"external_bbl" => Self::EXTERNAL_BB,
                _ => 0,
            };
        }
        DevState(v)
    }

    /// Whether every bit of `flag` is set.
    pub fn has(self, flag: u16) -> bool {
        self.0 & flag == flag
    }
}

/// Parse `resync_start`/`recovery_start`: `none` is [`MAX_SECTOR`];
/// `None` when the text is not a number (the caller keeps its old value).
pub fn parse_sector(text: &[u8]) -> Option<u64> {
    let w = first_word(text);
    if w == b"none" {
        return Some(MAX_SECTOR);
    }
    parse_u64(w)
}

/// Parse `sync_completed` (`N / M`): the first number, 0 for `none`,
/// `delayed` or anything unreadable.
pub fn parse_sync_completed(text: &[u8]) -> u64 {
    parse_u64(first_word(text)).unwrap_or(0)
}

/// Parse a numeric attribute that a reshape shows as `new (old)`
/// (`raid_disks`, `layout`, `chunk_size`): the current, new value, as
/// mdadm reads it.
pub fn parse_attr_num(text: &[u8]) -> Option<u64> {
    parse_u64(first_word(text))
}

/// Parse a decimal unsigned number that makes up the whole of `w`.
pub fn parse_u64(w: &[u8]) -> Option<u64> {
    if w.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in w {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// Parse `safe_mode_delay` (seconds with up to three decimals) into milliseconds.
pub fn parse_safe_mode_delay(text: &[u8]) -> Option<u64> {
    let w = first_word(text);
    let (int, frac) = match w.iter().position(|&c| c == b'.') {
        Some(p) => (&w[..p], &w[p + 1..]),
        None => (w, &b""[..]),
    };
    let secs = if int.is_empty() { 0 } else { parse_u64(int)? };
    let mut ms = 0u64;
    for i in 0..3 {
        let d = match frac.get(i) {
            Some(c) if c.is_ascii_digit() => u64::from(c - b'0'),
            Some(_) => return None,
            None => 0,
        };
        ms = ms * 10 + d;
    }
    secs.checked_mul(1000)?.checked_add(ms)
}

fn trim_newline(text: &[u8]) -> &[u8] {
    let mut t = text;
    while let Some((&last, rest)) = t.split_last() {
        if last == b'\n' || last == 0 {
            t = rest;
        } else {
            break;
        }
    }
    t
}

/// The first word of an attribute value: up to a space, comma or newline.
pub fn first_word(text: &[u8]) -> &[u8] {
    let end = text.iter().position(|&c| c == b' ' || c == b'\n' || c == b',' || c == 0).unwrap_or(text.len());
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_num_during_a_reshape() {
        assert_eq!(parse_attr_num(b"4 (3)\n"), Some(4));
        assert_eq!(parse_attr_num(b"4\n"), Some(4));
        assert_eq!(parse_attr_num(b"65536 (131072)"), Some(65536));
        assert_eq!(parse_attr_num(b"none\n"), None);
        assert_eq!(parse_attr_num(b"(3)"), None);
        assert_eq!(parse_attr_num(b""), None);
    }

    #[test]
    fn array_state_words_round_trip() {
        for (w, s) in ArrayState::WORDS {
            assert_eq!(ArrayState::parse(w.as_bytes()), s);
            assert_eq!(s.word(), w);
        }
        assert_eq!(ArrayState::parse(b"write-pending\n"), ArrayState::WritePending);
        assert_eq!(ArrayState::parse(b"bogus"), ArrayState::Bad);
        assert_eq!(ArrayState::parse(b""), ArrayState::Bad);
        assert!(ArrayState::Clean.at_most_clean());
        assert!(!ArrayState::Active.at_most_clean());
    }

    #[test]
    fn sync_action_words() {
        assert_eq!(SyncAction::parse(b"idle\n"), SyncAction::Idle);
        assert_eq!(SyncAction::parse(b"recover\n"), SyncAction::Recover);
        assert_eq!(SyncAction::parse(b"frozen\n"), SyncAction::Frozen);
        assert_eq!(SyncAction::parse(b"xyz"), SyncAction::Bad);
    }

    #[test]
    fn dev_state_tokens() {
        let s = DevState::parse(b"faulty,blocked,write_error,external_bbl\n");
        assert!(s.has(DevState::FAULTY));
        assert!(s.has(DevState::BLOCKED));
        assert!(s.has(DevState::EXTERNAL_BB));
        assert!(!s.has(DevState::INSYNC));
        assert_eq!(DevState::parse(b"in_sync\n").0, DevState::INSYNC);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_sector(b"none\n"), Some(MAX_SECTOR));
        assert_eq!(parse_sector(b"1234\n"), Some(1234));
        assert_eq!(parse_sector(b"x"), None);
        assert_eq!(parse_sync_completed(b"1024 / 32768\n"), 1024);
        assert_eq!(parse_sync_completed(b"none\n"), 0);
        assert_eq!(parse_sync_completed(b"delayed\n"), 0);
        assert_eq!(parse_u64(b"99999999999999999999999"), None);
        assert_eq!(parse_safe_mode_delay(b"0.201\n"), Some(201));
        assert_eq!(parse_safe_mode_delay(b"5.000\n"), Some(5000));
        assert_eq!(parse_safe_mode_delay(b"0.001\n"), Some(1));
        assert_eq!(parse_safe_mode_delay(b"4\n"), Some(4000));
        assert_eq!(parse_safe_mode_delay(b"a.b"), None);
    }
}
