"""The runtime thread pool of compiled code, written in LLVM IR and linked into every module
that runs kernels on several threads (JIT and packages alike: a package needs only libc).

`convert-to-llvm` turns `cpu.parallel_call @body(args) {iterations = N}` into

    tc_parallel(@body__thunk, ctx, N, threads)     ; ctx = the args, thunk(ctx, lo, hi)

and `codegen.optimize` links `POOL_IR` in. The pool:

- starts its workers on first use (`threads` of the module - 1; 0 = one per online CPU),
  and again in a forked child (the pid is checked on every call);
- splits [0, N) into up to 8 chunks per thread; the calling thread and the workers
  *claim* chunks with a compare-and-swap on one word holding (job epoch, next
  chunk), so the caller never waits for a worker that is not running (an
  oversubscribed machine degrades to fewer threads instead of stalling on a
  barrier) and a late worker cannot claim chunks of a newer job;
- the caller returns when every chunk is done (it spins briefly, then sleeps on a
  futex that the worker finishing the last chunk wakes: a preempted worker gets
  the core back sooner); idle workers spin briefly, then sleep on a futex (woken
  by the next job);
- worker i takes part in a job only if i < threads - 1 of that job: after a
  smaller thread count is set, the surplus workers sleep instead of claiming chunks;
- one job at a time: a caller that finds the pool busy (another thread of the
  process is running a job of the same module, e.g. two `Model`s of one package
  loaded from the same library) runs its own job alone on its thread. Outputs do
  not depend on the thread count, so this only costs speed.

`tc_set_threads(n)` (exported by packages) sets the thread count of later jobs at
run time, over the module's compile-time `threads`: n >= 1 threads (at most
MAX_THREADS), 0 = one per online CPU, < 0 = back to the compile-time value; it
returns the value now in force (-1: the compile-time one). The runtime loader
(`runtime/package.py`) calls it for `load(path, threads=N)`.

`tc_pool_shutdown()` stops and joins the workers (the JIT calls it before it frees
the code the workers run).
"""

from __future__ import annotations

#: spins of an idle worker before it sleeps (each a `pause`, ~20-60 ns)
WORKER_SPINS = 8000
#: spins of the caller waiting for the last chunk before it sleeps (woken by the worker finishing it)
JOIN_SPINS = 2000
MAX_THREADS = 64

#: the symbol that sets the thread count at run time (exported by packages that link the pool)
SET_THREADS = "tc_set_threads"


def pool_ir(triple: str) -> str:
    x86 = triple.startswith(("x86_64", "i686", "i386"))
    pause = "call void @llvm.x86.sse2.pause()" if x86 else ""
    decl = "declare void @llvm.x86.sse2.pause()\n" if x86 else ""
    return decl + _POOL.replace("@PAUSE@", pause).replace("@SPINS@", str(WORKER_SPINS)).replace(
        "@MAXT@", str(MAX_THREADS)).replace("@JOINSPINS@", str(JOIN_SPINS))


_POOL = r"""
@tc_pool_state = internal global i64 0, align 64
@tc_pool_done = internal global i32 0, align 64
@tc_pool_joining = internal global i32 0, align 64
@tc_pool_epoch = internal global i32 0, align 64
@tc_pool_sleepers = internal global i32 0, align 64
@tc_pool_fn = internal global ptr null, align 8
@tc_pool_ctx = internal global ptr null, align 8
@tc_pool_niters = internal global i64 0, align 8
@tc_pool_nchunks = internal global i64 0, align 8
@tc_pool_quit = internal global i32 0, align 4
@tc_pool_workers = internal global i32 0, align 4
@tc_pool_pid = internal global i32 0, align 4
@tc_pool_tids = internal global [@MAXT@ x i64] zeroinitializer, align 8
@tc_pool_want = internal global i32 -1, align 4      ; tc_set_threads (-1 = not set)
@tc_pool_active = internal global i32 0, align 4     ; workers taking part in the current job
@tc_pool_busy = internal global i32 0, align 64      ; a job is in flight

declare i32 @pthread_create(ptr, ptr, ptr, ptr)
declare i32 @pthread_join(i64, ptr)
declare i64 @sysconf(i32)
declare i64 @syscall(i64, ...)
declare i32 @getpid()
declare i32 @sched_yield()

; claim and run chunks of job `epoch` until none is left (or a newer job started)
define internal void @tc_pool_run(i32 %epoch) {
entry:
  %ep = zext i32 %epoch to i64
  br label %claim
claim:
  %s = load atomic i64, ptr @tc_pool_state acquire, align 8
  %se = lshr i64 %s, 32
  %same = icmp eq i64 %se, %ep
  br i1 %same, label %check, label %out
check:
  %idx = and i64 %s, 4294967295
  %nch = load i64, ptr @tc_pool_nchunks, align 8
  %left = icmp ult i64 %idx, %nch
  br i1 %left, label %cas, label %out
cas:
  %s1 = add i64 %s, 1
  %r = cmpxchg ptr @tc_pool_state, i64 %s, i64 %s1 acq_rel acquire
  %ok = extractvalue { i64, i1 } %r, 1
  br i1 %ok, label %work, label %claim
work:
  %n = load i64, ptr @tc_pool_niters, align 8
  %fn = load ptr, ptr @tc_pool_fn, align 8
  %ctx = load ptr, ptr @tc_pool_ctx, align 8
  %a = mul i64 %idx, %n
  %lo = udiv i64 %a, %nch
  %idx1 = add i64 %idx, 1
  %b = mul i64 %idx1, %n
  %hi = udiv i64 %b, %nch
  call void %fn(ptr %ctx, i64 %lo, i64 %hi)
  %d = atomicrmw add ptr @tc_pool_done, i32 1 seq_cst
  %d1 = add i32 %d, 1
  %d64 = zext i32 %d1 to i64
  %last = icmp eq i64 %d64, %nch
  br i1 %last, label %maybe_wake, label %claim
maybe_wake:
  %j = load atomic i32, ptr @tc_pool_joining seq_cst, align 4
  %sleeping = icmp ne i32 %j, 0
  br i1 %sleeping, label %wake_caller, label %claim
wake_caller:
  %wk = call i64 (i64, ...) @syscall(i64 202, ptr @tc_pool_done, i32 129, i32 1)
  br label %claim
out:
  ret void
}

define internal ptr @tc_pool_worker(ptr %arg) {
entry:
  br label %wait
wait:
  %seen = phi i32 [ 0, %entry ], [ %seen, %sleep ], [ %e, %run ], [ %e, %idle_done ]
  br label %spin
spin:
  %i = phi i32 [ 0, %wait ], [ %i1, %spin_next ]
  %e0 = load atomic i32, ptr @tc_pool_epoch acquire, align 4
  %new0 = icmp ne i32 %e0, %seen
  br i1 %new0, label %got, label %spin_next
spin_next:
  @PAUSE@
  %i1 = add i32 %i, 1
  %more = icmp ult i32 %i1, @SPINS@
  br i1 %more, label %spin, label %sleep_enter
sleep_enter:
  %x = atomicrmw add ptr @tc_pool_sleepers, i32 1 seq_cst
  %e1 = load atomic i32, ptr @tc_pool_epoch seq_cst, align 4
  %still = icmp eq i32 %e1, %seen
  br i1 %still, label %futex, label %sleep
futex:
  %fw = call i64 (i64, ...) @syscall(i64 202, ptr @tc_pool_epoch, i32 128, i32 %seen, ptr null)
  br label %sleep
sleep:
  %y = atomicrmw sub ptr @tc_pool_sleepers, i32 1 seq_cst
  br label %wait
got:
  %e = phi i32 [ %e0, %spin ]
  %q = load atomic i32, ptr @tc_pool_quit acquire, align 4
  %quit = icmp ne i32 %q, 0
  br i1 %quit, label %done, label %member
member:
  %act = load atomic i32, ptr @tc_pool_active acquire, align 4
  %me = ptrtoint ptr %arg to i32
  %wanted = icmp slt i32 %me, %act
  br i1 %wanted, label %run, label %idle
run:
  call void @tc_pool_run(i32 %e)
  br label %wait
idle:
  ; not one of this job's threads (a smaller count was set): sleep until the next job
  %ix = atomicrmw add ptr @tc_pool_sleepers, i32 1 seq_cst
  %e2 = load atomic i32, ptr @tc_pool_epoch seq_cst, align 4
  %same2 = icmp eq i32 %e2, %e
  br i1 %same2, label %idle_futex, label %idle_done
idle_futex:
  %fi = call i64 (i64, ...) @syscall(i64 202, ptr @tc_pool_epoch, i32 128, i32 %e, ptr null)
  br label %idle_done
idle_done:
  %iy = atomicrmw sub ptr @tc_pool_sleepers, i32 1 seq_cst
  br label %wait
done:
  ret ptr null
}

; start the workers for `want` threads in all (0 = one per online CPU); returns the threads
define internal i32 @tc_pool_start(i32 %want0) {
entry:
  %pid = call i32 @getpid()
  %owner = load i32, ptr @tc_pool_pid, align 4
  %forked = icmp ne i32 %owner, %pid
  br i1 %forked, label %reset, label %size
reset:
  store i32 0, ptr @tc_pool_workers, align 4
  store i32 %pid, ptr @tc_pool_pid, align 4
  br label %size
size:
  %auto = icmp eq i32 %want0, 0
  br i1 %auto, label %ncpu, label %have
ncpu:
  %c = call i64 @sysconf(i32 84)
  %c32 = trunc i64 %c to i32
  br label %have
have:
  %want1 = phi i32 [ %want0, %size ], [ %c32, %ncpu ]
  %lo1 = icmp slt i32 %want1, 1
  %want2 = select i1 %lo1, i32 1, i32 %want1
  %hi1 = icmp sgt i32 %want2, @MAXT@
  %want = select i1 %hi1, i32 @MAXT@, i32 %want2
  %need = sub i32 %want, 1
  br label %loop
loop:
  %w = load i32, ptr @tc_pool_workers, align 4
  %short = icmp slt i32 %w, %need
  br i1 %short, label %spawn, label %ready
spawn:
  %w64 = sext i32 %w to i64
  %slot = getelementptr inbounds [@MAXT@ x i64], ptr @tc_pool_tids, i64 0, i64 %w64
  %index = inttoptr i32 %w to ptr
  %rc = call i32 @pthread_create(ptr %slot, ptr null, ptr @tc_pool_worker, ptr %index)
  %failed = icmp ne i32 %rc, 0
  br i1 %failed, label %ready, label %spawned
spawned:
  %w1 = add i32 %w, 1
  store i32 %w1, ptr @tc_pool_workers, align 4
  br label %loop
ready:
  %wf = load i32, ptr @tc_pool_workers, align 4
  %all = add i32 %wf, 1
  %cap = icmp slt i32 %all, %want
  %t = select i1 %cap, i32 %all, i32 %want
  ret i32 %t
}

; fn(ctx, lo, hi) over chunks covering [0, n), on `threads` threads (0 = all cores)
define void @tc_parallel(ptr %fn, ptr %ctx, i64 %n, i32 %threads0) {
entry:
  %want = load atomic i32, ptr @tc_pool_want monotonic, align 4
  %set = icmp sge i32 %want, 0
  %threads = select i1 %set, i32 %want, i32 %threads0
  %small = icmp ule i64 %n, 1
  %one = icmp eq i32 %threads, 1
  %serial0 = or i1 %small, %one
  br i1 %serial0, label %serial, label %acquire
acquire:
  ; one job at a time: if another thread's job holds the pool, run this one alone
  %b = cmpxchg ptr @tc_pool_busy, i32 0, i32 1 acquire monotonic
  %mine = extractvalue { i32, i1 } %b, 1
  br i1 %mine, label %start, label %serial
start:
  %t = call i32 @tc_pool_start(i32 %threads)
  %lone = icmp sle i32 %t, 1
  br i1 %lone, label %release_serial, label %publish
release_serial:
  store atomic i32 0, ptr @tc_pool_busy release, align 4
  br label %serial
serial:
  call void %fn(ptr %ctx, i64 0, i64 %n)
  ret void
publish:
  %act = sub i32 %t, 1
  store atomic i32 %act, ptr @tc_pool_active monotonic, align 4
  %t64 = sext i32 %t to i64
  %c4 = mul i64 %t64, 8
  %fewer = icmp ult i64 %n, %c4
  %nch = select i1 %fewer, i64 %n, i64 %c4
  store ptr %fn, ptr @tc_pool_fn, align 8
  store ptr %ctx, ptr @tc_pool_ctx, align 8
  store i64 %n, ptr @tc_pool_niters, align 8
  store i64 %nch, ptr @tc_pool_nchunks, align 8
  store atomic i32 0, ptr @tc_pool_done release, align 4
  %old = load i32, ptr @tc_pool_epoch, align 4
  %e = add i32 %old, 1
  %e64 = zext i32 %e to i64
  %st = shl i64 %e64, 32
  store atomic i64 %st, ptr @tc_pool_state release, align 8
  store atomic i32 %e, ptr @tc_pool_epoch seq_cst, align 4
  %sl = load atomic i32, ptr @tc_pool_sleepers seq_cst, align 4
  %any = icmp ne i32 %sl, 0
  br i1 %any, label %wake, label %run
wake:
  %wk = call i64 (i64, ...) @syscall(i64 202, ptr @tc_pool_epoch, i32 129, i32 2147483647)
  br label %run
run:
  call void @tc_pool_run(i32 %e)
  br label %join
join:
  %k = phi i32 [ 0, %run ], [ %k1, %join_next ]
  %d = load atomic i32, ptr @tc_pool_done acquire, align 4
  %d64 = zext i32 %d to i64
  %fin = icmp uge i64 %d64, %nch
  br i1 %fin, label %exit, label %join_next
join_next:
  @PAUSE@
  %k1 = add i32 %k, 1
  %spun = icmp ugt i32 %k1, @JOINSPINS@
  br i1 %spun, label %sleep, label %join
sleep:
  ; a worker still holds a chunk (maybe preempted): sleep until the last chunk is done
  store atomic i32 1, ptr @tc_pool_joining seq_cst, align 4
  br label %recheck
recheck:
  %d2 = load atomic i32, ptr @tc_pool_done seq_cst, align 4
  %d2w = zext i32 %d2 to i64
  %fin2 = icmp uge i64 %d2w, %nch
  br i1 %fin2, label %woken, label %futex
futex:
  %fw = call i64 (i64, ...) @syscall(i64 202, ptr @tc_pool_done, i32 128, i32 %d2, ptr null)
  br label %recheck
woken:
  store atomic i32 0, ptr @tc_pool_joining seq_cst, align 4
  br label %exit
exit:
  store atomic i32 0, ptr @tc_pool_busy release, align 4
  ret void
}

; the thread count of later jobs: n >= 1 threads, 0 = one per online CPU, < 0 = the
; compile-time value; returns the setting now in force (-1 = the compile-time value)
define i32 @tc_set_threads(i32 %n) {
entry:
  %neg = icmp slt i32 %n, 0
  %big = icmp sgt i32 %n, @MAXT@
  %capped = select i1 %big, i32 @MAXT@, i32 %n
  %v = select i1 %neg, i32 -1, i32 %capped
  store atomic i32 %v, ptr @tc_pool_want monotonic, align 4
  ret i32 %v
}

; stop and join the workers (before the code they run is freed)
define void @tc_pool_shutdown() {
entry:
  %pid = call i32 @getpid()
  %owner = load i32, ptr @tc_pool_pid, align 4
  %mine = icmp eq i32 %owner, %pid
  %w = load i32, ptr @tc_pool_workers, align 4
  %some = icmp sgt i32 %w, 0
  %go = and i1 %mine, %some
  br i1 %go, label %stop, label %exit
stop:
  store atomic i32 1, ptr @tc_pool_quit seq_cst, align 4
  %old = load i32, ptr @tc_pool_epoch, align 4
  %e = add i32 %old, 1
  store atomic i32 %e, ptr @tc_pool_epoch seq_cst, align 4
  %wk = call i64 (i64, ...) @syscall(i64 202, ptr @tc_pool_epoch, i32 129, i32 2147483647)
  br label %join
join:
  %i = phi i32 [ 0, %stop ], [ %i1, %join ]
  %i64 = sext i32 %i to i64
  %slot = getelementptr inbounds [@MAXT@ x i64], ptr @tc_pool_tids, i64 0, i64 %i64
  %tid = load i64, ptr %slot, align 8
  %jr = call i32 @pthread_join(i64 %tid, ptr null)
  %i1 = add i32 %i, 1
  %more = icmp slt i32 %i1, %w
  br i1 %more, label %join, label %reset
reset:
  store i32 0, ptr @tc_pool_workers, align 4
  store atomic i32 0, ptr @tc_pool_quit seq_cst, align 4
  br label %exit
exit:
  ret void
}
"""
