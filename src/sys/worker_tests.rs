//! Tests of the helper thread's jobs: the paths steps work on, the size of
//! a job (the channel holds `QUEUE` of them, locked in memory), and whole
//! jobs run on the real thread with its real stack size (in a debug build,
//! whose frames are larger than the release binary's).

use super::*;

fn job(dir: &str, member: &str) -> Job {
    Job::new(7, format_args!("{dir}"), format_args!("{member}")).expect("names fit")
}

#[test]
fn steps_work_on_the_array_the_member_or_its_directory() {
    let mut j = job("/sys/block/md126/md", "dev-sdb");
    j.steps.push(Step::new(Op::Write, true, "state", format_args!("remove")));
    j.steps.push(Step::new(Op::WaitGone { ms: 1 }, true, "", format_args!("")));
    j.steps.push(Step::new(Op::Write, false, "new_dev", format_args!("{}:{}", 8, 16)));
    let paths: Vec<_> = j.steps.iter().map(|s| j.path(s)).collect();
    assert_eq!(
        paths,
        ["/sys/block/md126/md/dev-sdb/state", "/sys/block/md126/md/dev-sdb", "/sys/block/md126/md/new_dev"]
    );
    assert_eq!(j.steps[2].value, "8:16");
}

#[test]
fn longest_names_and_values_fit() {
    // Device names are at most 32 bytes where the daemon keeps them.
    let devnm = "m".repeat(32);
    let kname = "k".repeat(32);
    let mut j = Job::new(1, format_args!("/sys/block/{devnm}/md"), format_args!("dev-{kname}")).expect("fits");
    j.steps.push(Step::new(Op::Write, true, "recovery_start", format_args!("{}", u64::MAX)));
    j.steps.push(Step::new(Op::Write, false, "new_dev", format_args!("{}:{}", u32::MAX, u32::MAX)));
    assert_eq!(j.path(&j.steps[0]).as_str(), format!("/sys/block/{devnm}/md/dev-{kname}/recovery_start"));
    assert_eq!(j.steps[0].value, u64::MAX.to_string().as_str());
    assert_eq!(j.steps[1].value, format!("{}:{}", u32::MAX, u32::MAX).as_str());
    // A longer name is refused, not cut.
    assert!(Job::new(1, format_args!("{}", "d".repeat(65)), format_args!("")).is_none());
}

#[test]
fn a_job_stays_small() {
    // 32 jobs of 2.2 KiB (a 160-byte path per step) made 70 KiB of channel.
    assert!(std::mem::size_of::<Job>() <= 800, "{}", std::mem::size_of::<Job>());
}

/// Wait for `n` results from the worker.
fn results(w: &Worker, n: usize) -> Vec<Done> {
    let mut out = Vec::new();
    let start = std::time::Instant::now();
    while out.len() < n && start.elapsed().as_secs() < 20 {
        match w.next_done() {
            Some(d) => out.push(d),
            None => std::thread::sleep(std::time::Duration::from_millis(2)),
        }
    }
    out
}

#[test]
fn jobs_run_on_the_helper_thread() {
    let dir = std::env::temp_dir().join(format!("mdmon-worker-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("dev-a")).unwrap();
    std::fs::write(dir.join("dev-a/state"), "").unwrap();
    std::fs::write(dir.join("dev-a/slot"), "").unwrap();
    let d = dir.to_str().unwrap();
    let w = Worker::start().expect("thread starts");
    let mut ok = job(d, "dev-a");
    ok.token = 1;
    ok.steps.push(Step::new(Op::Write, true, "state", format_args!("faulty")));
    ok.steps.push(Step::new(Op::WriteBusy { ms: 100 }, true, "state", format_args!("remove")));
    ok.steps.push(Step::new(Op::WaitGone { ms: 100 }, false, "dev-b", format_args!("")));
    let mut bad = job(d, "dev-a");
    bad.token = 2;
    bad.steps.push(Step::new(Op::Write, true, "slot", format_args!("x")));
    bad.steps.push(Step::new(Op::WaitGone { ms: 20 }, true, "", format_args!("")));
    assert!(w.submit(ok) && w.submit(bad));
    let mut r = results(&w, 2);
    r.sort_by_key(|d| d.token);
    let written = std::fs::read_to_string(dir.join("dev-a/state"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].result, Ok(()));
    assert_eq!(written.ok().as_deref(), Some("remove"));
    // dev-a still exists when the second step waits for it to go.
    assert_eq!(r[1].result, Err((1, Errno::TIMEDOUT)));
}

#[test]
fn a_failed_step_past_the_undo_point_runs_the_undo_step() {
    let dir = std::env::temp_dir().join(format!("mdmon-worker-undo-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("dev-a")).unwrap();
    std::fs::write(dir.join("dev-a/state"), "").unwrap();
    let d = dir.to_str().unwrap();
    let w = Worker::start().expect("thread starts");
    // Fails before the undo point: no undo.
    let mut early = job(d, "dev-a");
    early.token = 1;
    early.steps.push(Step::new(Op::WaitGone { ms: 10 }, true, "", format_args!("")));
    early.undo = Some((1, Step::new(Op::Write, true, "state", format_args!("early"))));
    // Fails at the undo point: undone.
    let mut late = job(d, "dev-a");
    late.token = 2;
    late.steps.push(Step::new(Op::Write, true, "state", format_args!("added")));
    late.steps.push(Step::new(Op::WaitGone { ms: 10 }, true, "", format_args!("")));
    late.undo = Some((1, Step::new(Op::Write, true, "state", format_args!("remove"))));
    assert!(w.submit(early));
    let r1 = results(&w, 1);
    let after_early = std::fs::read_to_string(dir.join("dev-a/state")).ok();
    assert!(w.submit(late));
    let r2 = results(&w, 1);
    let after_late = std::fs::read_to_string(dir.join("dev-a/state")).ok();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r1[0].result, Err((0, Errno::TIMEDOUT)));
    assert_eq!(after_early.as_deref(), Some(""));
    assert_eq!(r2[0].result, Err((1, Errno::TIMEDOUT)));
    assert_eq!(after_late.as_deref(), Some("remove"));
}
