//! The per-process pools after `fork()`: a child gets fresh, small pools and never blocks on
//! state its parent's threads held at the moment of the fork. Unix only; one test per binary so
//! that no other test's threads are running.

#![cfg(unix)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lepton_core::rt;

/// Forks; the child runs `f` and exits 0 if it returns true. Returns whether the child
/// succeeded within 20 s (a hung child is killed and counts as a failure).
fn in_child(f: impl FnOnce() -> bool) -> bool {
    // SAFETY: the child only calls into lepton (which is what is tested) and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(false);
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let start = Instant::now();
    loop {
        let mut status = 0;
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        }
        if start.elapsed() > Duration::from_secs(20) {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn forked_children_get_fresh_small_pools_while_the_parent_is_busy() {
    assert_eq!(rt::cpu().install(|| 6 * 7), 42);
    // Parent threads hammer the pools while we fork, so forks land mid-call.
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..3)
        .map(|i| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if i % 2 == 0 {
                        rt::cpu().install(|| ());
                    } else {
                        rt::block_on(async {});
                    }
                }
            })
        })
        .collect();
    for round in 0..30 {
        let ok = in_child(move || {
            if round == 0 {
                std::env::set_var("LEPTON_NUM_THREADS", "1");
            }
            let want = if round == 0 {
                1
            } else {
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .min(2)
            };
            rt::cpu().current_num_threads() == want
                && rt::cpu().install(|| 6 * 7) == 42
                && rt::block_on(async { 7 }) == 7
        });
        assert!(
            ok,
            "fork round {round}: the child hung or got the wrong pools"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in busy {
        t.join().unwrap();
    }
}
