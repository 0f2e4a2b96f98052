/* corio — the process pool's fork server and worker processes.
 *
 * corio_process_pool_create forks the fork server once. The fork server is
 * a single-threaded copy of the application at that moment: it owns no
 * loops, no io_uring, no other threads. It waits for SPAWN requests on its
 * control socket, forks a worker for each, learns of their exits through a
 * signalfd for SIGCHLD (blocked in itself only), reaps them with waitpid and
 * reports each exit status. It also sends the signals the pool asks for:
 * being the workers' parent, it cannot hit a recycled pid, because a pid
 * stays reserved until its parent reaps it. Workers are
 * therefore children of the fork server, never of the application: the
 * application's SIGCHLD disposition and its waitpid(-1) calls are never
 * involved.
 *
 * A worker runs the initializer, then reads job frames from its job pipe,
 * runs them in order and writes one result frame per job. It exits (with
 * _exit, so the application's atexit handlers and stdio buffers inherited
 * from the parent never run twice) when the parent closes its job pipe, or
 * when a pipe fails.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wire.h"

int corio__pp_worker_fd = -1;

/* Receive buffer of a worker; a larger frame gets a buffer of its own size. */
#define WORKER_RBUF (64 * 1024)
/* Payloads above this are written straight from the job's buffer. */
#define WORKER_DIRECT_BYTES (64 * 1024)

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Write all of iov; a worker's result pipe is blocking. Returns 0 or -errno. */
static int writev_all(int fd, struct iovec *iov, int cnt) {
    while (cnt > 0) {
        ssize_t n = writev(fd, iov, cnt);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* ---- worker ------------------------------------------------------------------ */

/* The worker's output buffer of result frames not yet written. */
typedef struct obuf {
    unsigned char *p; /* buffer */
    size_t len;       /* bytes used */
    size_t cap;       /* bytes allocated */
} obuf;

static void *ob_room(obuf *b, size_t n) {
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap - b->len < n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p)
            _exit(120); /* out of memory in a worker: the parent sees a crash */
        b->p = p;
        b->cap = cap;
    }
    void *r = b->p + b->len;
    b->len += n;
    return r;
}

static void ob_put(obuf *b, const void *src, size_t n) {
    if (n)
        memcpy(ob_room(b, n), src, n);
}

static void ob_flush(int fd, obuf *b) {
    if (!b->len)
        return;
    struct iovec iov = {b->p, b->len};
    if (writev_all(fd, &iov, 1) < 0)
        _exit(3); /* the parent is gone */
    b->len = 0;
}

/* Run fn on arg; fill *out, *code and the message (task-local, "" if none). */
static void run_one(corio_fn fn, void *arg, corio_value *out, int *code) {
    memset(out, 0, sizeof *out);
    corio__task_msg_clear();
    int r = fn(arg, out);
    if (r >= 0 && out->len && !out->ptr) {
        r = corio_task_fail(-EINVAL, "result has a length (%zu) but no pointer", out->len);
    } else if (r >= 0 && out->len > CORIO__WIRE_MAX_PAYLOAD) {
        r = corio_task_fail(-EMSGSIZE, "result of %zu bytes is over the %llu-byte limit",
                            out->len, (unsigned long long)CORIO__WIRE_MAX_PAYLOAD);
    }
    if (r < 0) {
        if (out->dtor)
            out->dtor(out->ptr);
        memset(out, 0, sizeof *out);
    }
    *code = r < 0 ? r : 0;
}

static void release(corio_value *v) {
    if (v->dtor)
        v->dtor(v->ptr);
    memset(v, 0, sizeof *v);
}

/* Run one job frame and queue (or write) its result frame. Returns the time
 * the job ran. */
static int64_t run_frame(int fd, const corio__job_hdr *h, const unsigned char *body, obuf *ob) {
    corio_fn fn = (corio_fn)(uintptr_t)h->fn;
    corio__res_hdr rh = {.magic = CORIO__RES_MAGIC, .seq = h->seq};
    if (h->kind == CORIO__JOB_PTR || h->kind == CORIO__JOB_BYTES) {
        corio_value arg = {(void *)body, h->len, NULL}, out;
        int code;
        void *a = h->kind == CORIO__JOB_PTR ? (void *)(uintptr_t)h->arg : (void *)&arg;
        int64_t t0 = mono_ns();
        run_one(fn, a, &out, &code);
        int64_t dt = mono_ns() - t0;
        const char *msg = code < 0 ? corio__task_msg() : "";
        rh.kind = CORIO__RES_ONE;
        rh.code = code;
        rh.msglen = (uint32_t)strlen(msg);
        rh.len = out.len;
        rh.ptr = out.len ? 0 : (uint64_t)(uintptr_t)out.ptr;
        rh.ns = (uint64_t)dt;
        if (out.len > WORKER_DIRECT_BYTES) {
            /* Large: no copy into the buffer, and a larger pipe (once; best
             * effort, as the parent does for its job pipe). */
            static int big_pipe;
            if (!big_pipe) {
                big_pipe = 1;
                fcntl(fd, F_SETPIPE_SZ, 1024 * 1024);
            }
            ob_flush(fd, ob);
            struct iovec iov[3] = {{&rh, sizeof rh}, {out.ptr, out.len}, {(void *)msg, rh.msglen}};
            if (writev_all(fd, iov, 3) < 0)
                _exit(3);
        } else {
            ob_put(ob, &rh, sizeof rh);
            ob_put(ob, out.ptr, out.len);
            ob_put(ob, msg, rh.msglen);
        }
        release(&out);
        return dt;
    }
    /* A map chunk: n items, answered as one frame: n bare result words
     * while every item succeeds with a pointer (wire.h's compact form),
     * switching to full items at the first that does not. */
    size_t n = (size_t)h->arg;
    size_t hdr_at = ob->len;
    ob_room(ob, sizeof rh);
    size_t payload_at = ob->len;
    int compact = 1;
    ob_room(ob, n * sizeof(uint64_t)); /* the compact answer, reserved */
    const uint64_t *words = (const uint64_t *)(const void *)body;
    const unsigned char *data = body + n * sizeof(uint64_t);
    int64_t t0 = mono_ns(); /* one clock pair per chunk, not per item */
    for (size_t i = 0; i < n; i++) {
        uint64_t w;
        memcpy(&w, &words[i], sizeof w);
        corio_value arg, out;
        void *a;
        if (h->kind == CORIO__JOB_BATCH_BYTES) {
            arg.ptr = (void *)data;
            arg.len = (size_t)w;
            arg.dtor = NULL;
            data += w;
            a = &arg;
        } else {
            a = (void *)(uintptr_t)w;
        }
        int code;
        run_one(fn, a, &out, &code);
        if (compact && code == 0 && out.len == 0) {
            uint64_t word = (uint64_t)(uintptr_t)out.ptr;
            memcpy(ob->p + payload_at + i * sizeof word, &word, sizeof word);
            release(&out);
            continue;
        }
        if (compact) {
            /* Rewrite the i words so far as full items, from the last
             * (an item is 24 bytes, so none overwrites a word not yet
             * moved), then go on with full items. */
            compact = 0;
            ob->len = payload_at;
            ob_room(ob, i * sizeof(corio__res_item));
            for (size_t k = i; k-- > 0;) {
                uint64_t word;
                memcpy(&word, ob->p + payload_at + k * sizeof word, sizeof word);
                corio__res_item full = {0, 0, word, 0};
                memcpy(ob->p + payload_at + k * sizeof full, &full, sizeof full);
            }
        }
        const char *msg = code < 0 ? corio__task_msg() : "";
        corio__res_item it = {code, (uint32_t)strlen(msg), out.len ? 0 : (uint64_t)(uintptr_t)out.ptr,
                              out.len};
        ob_put(ob, &it, sizeof it);
        ob_put(ob, out.ptr, out.len);
        ob_put(ob, msg, it.msglen);
        release(&out);
    }
    rh.kind = CORIO__RES_BATCH;
    rh.ptr = n;
    rh.len = ob->len - payload_at;
    rh.ns = (uint64_t)(mono_ns() - t0);
    memcpy(ob->p + hdr_at, &rh, sizeof rh);
    return (int64_t)rh.ns;
}

/* How long an idle worker polls its job pipe before it blocks in poll():
 * a waiting application that submits its next job within this time finds
 * the worker awake (no wake-up, which costs 5-20 µs on a VM). */
#define SPIN_NS 50000

/* Poll fd (non-blocking) for up to SPIN_NS, if no other worker of the pool
 * is polling. Returns what read returned; -1 with EAGAIN when nothing came
 * (or polling was not allowed) and the caller should block. */
static ssize_t poll_for_job(int fd, void *buf, size_t len, corio__pp_shared *shm) {
    errno = EAGAIN;
    if (!shm)
        return -1;
    static int32_t me;
    if (!me)
        me = (int32_t)getpid();
    int32_t none = 0;
    if (!atomic_compare_exchange_strong(&shm->spinner, &none, me))
        return -1;
    int64_t until = mono_ns() + SPIN_NS;
    ssize_t n;
    for (;;) {
        n = read(fd, buf, len);
        if (n >= 0 || errno != EAGAIN || mono_ns() >= until)
            break;
        for (int i = 0; i < 32; i++) {
            corio__cpu_relax();
        }
    }
    int e = errno;
    atomic_store(&shm->spinner, 0);
    errno = e;
    return n;
}

/* The worker's result pipe while its initializer runs, else -1 (init_exit_hook). */
static int init_fd = -1;

/* atexit handler of a worker: when the initializer calls exit(), report an
 * initializer failure to the pool and leave at once. */
static void init_exit_hook(void) {
    if (init_fd < 0)
        return;
    static const char msg[] = "the initializer called exit()";
    corio__res_hdr rh = {.magic = CORIO__RES_MAGIC,
                         .kind = CORIO__RES_INIT_FAIL,
                         .code = CORIO_ETASK,
                         .msglen = (uint32_t)(sizeof msg - 1)};
    struct iovec iov[2] = {{&rh, sizeof rh}, {(void *)msg, rh.msglen}};
    writev_all(init_fd, iov, 2);
    _exit(1);
}

/* Block until the job pipe (non-blocking) is readable, then read it. */
static ssize_t read_job(int in, void *buf, size_t len) {
    for (;;) {
        ssize_t n = read(in, buf, len);
        if (n >= 0 || errno != EAGAIN)
            return n;
        struct pollfd pf = {.fd = in, .events = POLLIN};
        if (poll(&pf, 1, -1) < 0 && errno != EINTR)
            return -1;
    }
}

/* The worker's main loop; never returns. It reads job frames from `in`,
 * the read end of its job pipe (non-blocking: it polls it), and writes
 * result frames to `fd`, the write end of its result pipe (blocking). */
static _Noreturn void worker_main(int in, int fd, const corio__fs_config *cfg) {
    corio__pp_worker_fd = fd;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    obuf ob = {0};
    if (cfg->initializer) {
        corio__task_msg_clear();
        /* An initializer that calls exit() must read as a failed start,
         * not as a crash: init_exit_hook reports it, then _exits before
         * the application's own atexit handlers run in this copy. */
        init_fd = fd;
        atexit(init_exit_hook);
        int r = cfg->initializer(cfg->initargs);
        init_fd = -1;
        if (r < 0) {
            const char *msg = corio__task_msg();
            corio__res_hdr rh = {.magic = CORIO__RES_MAGIC,
                                 .kind = CORIO__RES_INIT_FAIL,
                                 .code = r,
                                 .msglen = (uint32_t)strlen(msg)};
            struct iovec iov[2] = {{&rh, sizeof rh}, {(void *)msg, rh.msglen}};
            writev_all(fd, iov, 2);
            _exit(1);
        }
    }
    size_t cap = WORKER_RBUF, len = 0;
    unsigned char *rb = malloc(cap);
    if (!rb)
        _exit(120);
    for (;;) {
        size_t pos = 0;
        while (len - pos >= sizeof(corio__job_hdr)) {
            corio__job_hdr h;
            memcpy(&h, rb + pos, sizeof h);
            if (h.magic != CORIO__JOB_MAGIC || h.len > CORIO__WIRE_MAX_PAYLOAD)
                _exit(4); /* cannot happen: the parent wrote it */
            if (len - pos - sizeof h < h.len)
                break;
            /* Send the answers of the jobs already run before starting
             * another: this one may run long (or wait for something the
             * parent does once it sees those answers), and a finished job
             * must not look unfinished meanwhile. */
            ob_flush(fd, &ob);
            run_frame(fd, &h, rb + pos + sizeof h, &ob);
            pos += sizeof h + (size_t)h.len;
        }
        memmove(rb, rb + pos, len - pos);
        len -= pos;
        /* Every complete job has run: answer before blocking for more. */
        ob_flush(fd, &ob);
        size_t need = cap;
        if (len >= sizeof(corio__job_hdr)) {
            corio__job_hdr h;
            memcpy(&h, rb, sizeof h);
            need = sizeof h + (size_t)h.len;
        }
        if (need > cap || (len == 0 && cap > WORKER_RBUF)) {
            /* Grow for a large frame, or shrink back once it has run. */
            size_t ncap = need > WORKER_RBUF ? need : WORKER_RBUF;
            unsigned char *nb = realloc(rb, ncap);
            if (!nb)
                _exit(120);
            rb = nb;
            cap = ncap;
        }
        ssize_t n = poll_for_job(in, rb + len, cap - len, cfg->shm);
        if (n < 0 && errno == EAGAIN)
            n = read_job(in, rb + len, cap - len);
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        /* End of input (the pool retires this worker) or a dead parent. */
        free(rb);
        free(ob.p);
        fflush(stdout);
        fflush(stderr);
        _exit(n == 0 ? 0 : 2);
    }
}

/* ---- fork server ---------------------------------------------------------------- */

/* Close io_uring instances inherited from the application: a copy of a ring
 * fd would keep the ring (and its registered files) alive after the
 * application closes it. */
static void close_rings(int keep) {
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dfd || fd == keep)
            continue;
        char path[64], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, "anon_inode:[io_uring]") == 0)
            close(fd);
    }
    closedir(d);
}

static void send_msg(int ctl, const corio__fs_msg *m) {
    while (send(ctl, m, sizeof *m, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

/* Live workers: pids not yet reaped. */
typedef struct kids {
    pid_t *pid; /* array */
    size_t n;   /* used */
    size_t cap; /* allocated */
} kids;

static int kids_has(const kids *k, pid_t pid) {
    for (size_t i = 0; i < k->n; i++)
        if (k->pid[i] == pid)
            return 1;
    return 0;
}

/* Reap every exited worker and report it (when the pool still listens). */
static void reap(kids *k, int ctl) {
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
            return;
        corio__fs_msg m = {.type = CORIO__FS_EXITED,
                           .pid = si.si_pid,
                           .how = si.si_code,
                           .status = si.si_status};
        if (ctl >= 0)
            send_msg(ctl, &m);
        for (size_t i = 0; i < k->n; i++) {
            if (k->pid[i] == si.si_pid) {
                k->pid[i] = k->pid[--k->n];
                break;
            }
        }
    }
}

_Noreturn void corio__fork_server_main(int ctl, const corio__fs_config *cfg) {
    /* A clean process: default signal handlers (the application's handlers
     * are not ours to run), SIGCHLD at SIG_DFL so the workers' statuses are
     * kept for waitid, every signal unblocked but SIGCHLD, which arrives
     * through the signalfd. The application's stdio buffers are discarded
     * so a worker never writes them a second time. */
    for (int s = 1; s < NSIG; s++) {
        struct sigaction sa;
        if (s == SIGKILL || s == SIGSTOP || sigaction(s, NULL, &sa) < 0)
            continue;
        if (sa.sa_handler != SIG_DFL && (s == SIGCHLD || sa.sa_handler != SIG_IGN)) {
            sa.sa_handler = SIG_DFL;
            sa.sa_flags = 0;
            sigaction(s, &sa, NULL);
        }
    }
    sigset_t none, chld;
    sigemptyset(&none);
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_SETMASK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        _exit(123);
    __fpurge(stdout);
    __fpurge(stderr);
    corio__pp_close_registered();
    close_rings(ctl);

    kids k = {0};
    int open = 1;
    while (open || k.n) {
        struct pollfd pf[2] = {{.fd = sfd, .events = POLLIN},
                               {.fd = open ? ctl : -1, .events = POLLIN}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(122);
        }
        /* Reap first, so an EXITED report always follows its SPAWNED one. */
        if (pf[0].revents) {
            struct signalfd_siginfo ssi;
            while (read(sfd, &ssi, sizeof ssi) > 0)
                ;
            reap(&k, open ? ctl : -1);
        }
        if (!open || !pf[1].revents)
            continue;

        corio__fs_msg m;
        union {
            char buf[CMSG_SPACE(2 * sizeof(int))];
            struct cmsghdr align;
        } u;
        struct iovec iov = {&m, sizeof m};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                            .msg_controllen = sizeof u.buf};
        ssize_t n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* The pool is gone (destroyed, or the application died): stop
             * the workers that remain, reap them, and leave. */
            open = 0;
            close(ctl);
            for (size_t i = 0; i < k.n; i++)
                kill(k.pid[i], SIGKILL);
            continue;
        }
        /* SPAWN passes the worker's two pipe ends: jobs in, results out. */
        int wfd[2] = {-1, -1};
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            memcpy(wfd, CMSG_DATA(c), (nfd < 2 ? nfd : 2) * sizeof(int));
        }
        if ((size_t)n == sizeof m && m.type == CORIO__FS_KILL) {
            /* Only a live, unreaped child: its pid cannot have been reused. */
            if (kids_has(&k, (pid_t)m.pid))
                kill((pid_t)m.pid, m.status);
            continue;
        }
        if ((size_t)n != sizeof m || m.type != CORIO__FS_SPAWN || wfd[0] < 0 || wfd[1] < 0) {
            if (wfd[0] >= 0)
                close(wfd[0]);
            if (wfd[1] >= 0)
                close(wfd[1]);
            continue;
        }
        if (k.n == k.cap) {
            k.cap = k.cap ? 2 * k.cap : 16;
            k.pid = realloc(k.pid, k.cap * sizeof *k.pid);
            if (!k.pid)
                _exit(121);
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(ctl);
            close(sfd);
            free(k.pid);
            sigprocmask(SIG_SETMASK, &none, NULL);
            worker_main(wfd[0], wfd[1], cfg);
        }
        int err = errno;
        close(wfd[0]);
        close(wfd[1]);
        if (pid < 0) {
            corio__fs_msg r = {.type = CORIO__FS_SPAWN_FAILED, .err = -err, .token = m.token};
            send_msg(ctl, &r);
            continue;
        }
        k.pid[k.n++] = pid;
        corio__fs_msg r = {.type = CORIO__FS_SPAWNED, .token = m.token, .pid = pid};
        send_msg(ctl, &r);
    }
    free(k.pid);
    _exit(0);
}
