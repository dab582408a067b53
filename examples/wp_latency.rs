//! Benchmark: latency of a 4 KiB O_DIRECT write to a clean md array with
//! external metadata, i.e. the write-pending round trip through mdmon
//! (kernel → mdmon marks dirty and writes metadata → kernel resumes).
//!
//! usage: wp_latency /dev/mdX ROUNDS
//! Before each round it waits for `array_state` to read `clean` (set a short
//! `safe_mode_delay` first), then times one write. Prints each figure in
//! microseconds and a summary line: `median_us=… p90_us=… min_us=… max_us=…`.

use rustix::fs::{Mode, OFlags};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: wp_latency /dev/mdX ROUNDS");
        std::process::exit(2);
    }
    let dev = &args[1];
    let rounds: usize = args[2].parse().expect("ROUNDS");
    let devnm = dev.rsplit('/').next().unwrap_or(dev);
    let state_path = format!("/sys/block/{devnm}/md/array_state");
    let fd = rustix::fs::open(dev.as_str(), OFlags::WRONLY | OFlags::DIRECT, Mode::empty()).expect("open device");
    // A 4096-aligned buffer without unsafe: find the aligned window.
    let raw = vec![0xa5u8; 8192];
    let off = (4096 - raw.as_ptr() as usize % 4096) % 4096;
    let buf = &raw[off..off + 4096];
    let mut lat = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let t_wait = Instant::now();
        loop {
            let s = std::fs::read_to_string(&state_path).unwrap_or_default();
            if s.trim() == "clean" {
                break;
            }
            if t_wait.elapsed() > Duration::from_secs(30) {
                eprintln!("array never went clean (state {})", s.trim());
                std::process::exit(1);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let t0 = Instant::now();
        rustix::io::pwrite(&fd, buf, (r as u64 % 64) * 4096).expect("write");
        lat.push(t0.elapsed().as_micros() as u64);
    }
    let mut s = lat.clone();
    s.sort_unstable();
    let pick = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
    println!("samples_us={}", lat.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","));
    println!("median_us={} p90_us={} min_us={} max_us={} n={}", pick(0.5), pick(0.9), s[0], s[s.len() - 1], s.len());
}
